//! `#[subscription(...)]`: registers an `async fn` as the handler of a
//! subscription. Parse the options and the signature, validate them,
//! expand to the function unchanged, a wrapper that decodes each message
//! and calls it, and the registration of both.

mod expand;
mod parse;
mod validate;

use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::quote;

/// Runs the attribute. On mistakes, the output is the user's function
/// unchanged followed by every error, so editors still see the function.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[subscription]` goes on an `async fn`, the handler of the subscription",
            )
            .into_compile_error();
            return quote! { #error #item };
        }
    };
    let mut errors = Errors::default();
    let args = parse::SubscriptionArgs::parse(args, &mut errors);
    let sig = parse::HandlerSig::parse(&function.sig);
    let decoding = validate::check(&args, &sig, &mut errors);
    match errors.finish() {
        Ok(()) => expand::subscription(&function, &args, &sig, &decoding),
        Err(errors) => {
            let errors = errors.into_compile_error();
            quote! { #function #errors }
        }
    }
}
