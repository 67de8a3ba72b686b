//! `#[derive(Message)]`: parse the attributes, validate them, expand to an
//! implementation of `beckett::Message`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// Runs the derive, turning every mistake into a compile error.
pub fn derive(input: syn::DeriveInput) -> TokenStream {
    parse::MessageArgs::parse(&input)
        .and_then(|args| validate::check(&input, &args).map(|()| args))
        .map(|args| expand::message_impl(&input, &args))
        .unwrap_or_else(syn::Error::into_compile_error)
}
