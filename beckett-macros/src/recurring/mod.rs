//! `#[recurring("<cron>", ...)]`: registers an `async fn` as a job run on
//! a cron schedule. Parse the expression, the options and the signature,
//! validate them (checking the expression and rewriting it for the `cron`
//! crate), expand to the function unchanged, a wrapper that skips
//! superseded occurrences and calls it with the occurrence and the context
//! it takes, and the registration of the job with the subscription that
//! runs it.

mod cron;
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
        "`#[recurring]` goes on an `async fn`, the job to run on the schedule",
        |function| {
            let mut errors = Errors::default();
            let args = parse::RecurringArgs::parse(args, &mut errors);
            let sig = parse::JobSig::parse(&function.sig);
            let schedule = validate::check(&args, &sig, &mut errors);
            errors.finish()?;
            Ok(expand::recurring(function, &args, &sig, &schedule))
        },
    )
}
