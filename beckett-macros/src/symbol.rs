//! Attribute and option names, kept in one place so parsing and error
//! messages agree.

/// The attribute that configures `#[derive(Message)]`.
pub const MESSAGE: &str = "message";
/// The wire name option of `#[message(...)]`.
pub const NAME: &str = "name";
