//! Procedural macros for `beckett`.
//!
//! Use them through the `beckett` crate (`#[derive(beckett::Message)]`), never
//! by depending on this crate directly: generated code names the runtime as
//! `::beckett::__private`, which only the `beckett` crate provides.
//!
//! Each macro is a thin entry point here. Its module parses the input into a
//! typed description, validates it, then expands it; every mistake found is
//! reported in one compile, spanned at the offending token.

mod message;
mod symbol;

use proc_macro::TokenStream;

/// Derives `beckett::Message`, giving a type a stable wire name.
///
/// See the documentation of `beckett::Message` for the options.
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive(input).into()
}
