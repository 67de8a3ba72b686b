//! `#[derive(MessageSet)]`: an enum whose variants each wrap one message
//! type, decoded from a stored message by its type name. Parse the enum,
//! validate it, expand to an implementation of `beckett::MessageSet`.

mod expand;
mod parse;
mod validate;

use crate::errors::Errors;
use proc_macro2::TokenStream;

/// Runs the derive, turning every mistake into a compile error.
pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let set = match parse::MessageSetEnum::parse(input, &mut errors) {
        Ok(set) => set,
        Err(error) => return error.into_compile_error(),
    };
    validate::check(&set, &mut errors);
    match errors.finish() {
        Ok(()) => expand::message_set_impl(&set),
        Err(errors) => errors.into_compile_error(),
    }
}
