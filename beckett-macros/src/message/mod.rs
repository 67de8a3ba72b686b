//! `#[derive(Message)]`: parse the attributes, validate them, expand to an
//! implementation of `beckett::Message` and its registration.

mod expand;
mod parse;
mod validate;

use crate::errors::Errors;
use proc_macro2::TokenStream;

/// Runs the derive, turning every mistake into a compile error.
pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse::MessageArgs::parse(input, &mut errors);
    validate::check(input, &args, &mut errors);
    match errors.finish() {
        Ok(()) => expand::message_impl(input, &args),
        Err(errors) => errors.into_compile_error(),
    }
}
