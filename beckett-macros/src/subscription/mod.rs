//! `#[subscription(...)]`: registers an `async fn` as the handler of a
//! subscription. Parse the options and the signature, validate them,
//! expand to the function unchanged, a wrapper that decodes each message
//! and calls it, and the registration of both.

mod expand;
mod parse;
mod validate;

use crate::errors::Errors;
use crate::handler;
use proc_macro2::TokenStream;

/// Runs the attribute. On mistakes, the output is the user's function
/// unchanged followed by every error, so editors still see the function.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::attribute(
        item,
        "`#[subscription]` goes on an `async fn`, the handler of the subscription",
        |function| {
            let mut errors = Errors::default();
            let args = parse::SubscriptionArgs::parse(args, &mut errors);
            let sig = parse::HandlerSig::parse(&function.sig);
            let decoding = validate::check(&args, &sig, &mut errors);
            errors.finish()?;
            Ok(expand::subscription(function, &args, &sig, &decoding))
        },
    )
}
