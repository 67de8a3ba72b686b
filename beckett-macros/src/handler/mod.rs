//! What `#[subscription]` and `#[recurring]` share about the `async fn`
//! they register: its signature as the macros see it, the checks both make
//! of it, the options both take for how it runs, and the pieces of the
//! generated wrapper that calls it and of the descriptor that registers it.

pub mod expand;
pub mod parse;
pub mod validate;
