//! Checks a parsed `#[recurring]` and turns its cron expression into the
//! schedule the runtime reads.

use super::cron;
use super::parse::{JobSig, RecurringArgs};
use crate::errors::Errors;
use crate::handler;
use crate::handler::validate::Role;
use crate::names;
use crate::symbol;
use proc_macro2::Span;

/// How the shared checks name a recurring job.
const ROLE: Role = Role {
    what: "a recurring job",
    called_with: "`beckett::Context` or nothing",
};

/// Reports every mistake in the arguments and the signature, and returns
/// the schedule as the `cron` crate reads it; the answer means something
/// only when nothing was reported.
pub fn check(args: &RecurringArgs, sig: &JobSig<'_>, errors: &mut Errors) -> String {
    let schedule = check_cron(args, errors);
    check_options(args, errors);
    check_signature(sig, errors);
    schedule
}

/// The expression is given, and is one the scheduler can run. Each of its
/// mistakes is reported at the string.
fn check_cron(args: &RecurringArgs, errors: &mut Errors) -> String {
    let Some(lit) = &args.cron else {
        if !args.cron_attempted {
            errors.push(syn::Error::new(
                Span::call_site(),
                "a cron expression string must come first: \
                 `#[recurring(\"0 9 * * *\", group = \"...\")]` runs at 09:00 UTC every day",
            ));
        }
        return String::new();
    };
    match cron::normalise(&lit.value()) {
        Ok(schedule) => schedule,
        Err(messages) => {
            for message in messages {
                errors.spanned(lit, message);
            }
            String::new()
        }
    }
}

/// Required options and names the runtime can store.
fn check_options(args: &RecurringArgs, errors: &mut Errors) {
    if args.complete && args.group.is_none() {
        errors.push(syn::Error::new(
            Span::call_site(),
            format!(
                "missing option `{}`: add `{0} = \"...\"`, the group whose processes run this \
                 recurring job",
                symbol::GROUP
            ),
        ));
    }
    if let Some(group) = &args.group {
        names::check("group", group, errors);
    }
    if let Some(name) = &args.name {
        names::check("recurring job name", name, errors);
    }
}

/// A job is a free, safe, non-generic `async fn` taking nothing or the
/// context, returning a `Result`. That the one parameter is the context is
/// left to the compiler, which reports a mismatch at its type.
fn check_signature(sig: &JobSig<'_>, errors: &mut Errors) {
    handler::validate::check_shape(&sig.signature, &ROLE, errors);
    if let Some(first) = sig.extra.first() {
        errors.spanned(
            first,
            "a recurring job takes at most one parameter, `beckett::Context`",
        );
    }
    handler::validate::check_output(&sig.signature, &ROLE, errors);
}
