//! Checks a parsed `#[recurring]` and turns its cron expression into the
//! schedule the runtime reads.

use super::cron;
use super::parse::{self, JobSig, RecurringArgs};
use crate::errors::Errors;
use crate::handler;
use crate::handler::validate::Role;
use crate::names;
use crate::symbol;
use proc_macro2::Span;

/// How the shared checks name a recurring job.
const ROLE: Role = Role {
    what: "a recurring job",
    called_with: "an optional `beckett::recurring::Occurrence` and an optional \
                  `beckett::Context`",
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
        check_no_dot(name, args.group.as_ref(), errors);
    }
}

/// A job's stream is `Recurring-{group}.{name}`: a dot in the name would
/// let two jobs share one (group `A.b` with name `c`, group `A` with name
/// `b.c`), where a dot in the group cannot, as the name follows the last.
fn check_no_dot(name: &syn::LitStr, group: Option<&syn::LitStr>, errors: &mut Errors) {
    let name_text = name.value();
    let Some((before, after)) = name_text.rsplit_once('.') else {
        return;
    };
    let group_text = group.map_or_else(|| "{group}".to_owned(), syn::LitStr::value);
    let stream = format!("the job's stream would be `Recurring-{group_text}.{name_text}`");
    let why = if after.is_empty() {
        format!("{stream}, read as group and name at its last `.`")
    } else {
        format!(
            "{stream}, which is also the stream of a job named `{after}` in the group \
             `{group_text}.{before}`"
        )
    };
    errors.spanned(
        name,
        format!(
            "recurring job name `{name_text}` must not contain `.`: {why}; write `{}` instead",
            name_text.replace('.', "_")
        ),
    );
}

/// A job is a free, safe, non-generic `async fn` taking an optional
/// occurrence then an optional context, returning a `Result`. That each
/// parameter has the type its place says is left to the compiler, which
/// reports a mismatch at the type; two written the wrong way round are
/// reported here, where the fix can be named.
fn check_signature(sig: &JobSig<'_>, errors: &mut Errors) {
    handler::validate::check_shape(&sig.signature, &ROLE, errors);
    if let (Some(first), Some(second)) = (sig.occurrence, sig.context) {
        if parse::names(first, symbol::CONTEXT) || parse::names(second, symbol::OCCURRENCE) {
            errors.spanned(
                first,
                "a recurring job takes the `Occurrence` first and the `Context` second: \
                 `(occurrence: Occurrence, ctx: Context)`",
            );
        }
    }
    if let Some(first) = sig.extra.first() {
        errors.spanned(
            first,
            "a recurring job takes at most two parameters, a `beckett::recurring::Occurrence` \
             then a `beckett::Context`",
        );
    }
    handler::validate::check_output(&sig.signature, &ROLE, errors);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages `check_no_dot` reports for `name` in `group`.
    fn dot_errors(name: &str, group: Option<&str>) -> Vec<String> {
        let lit = |text: &str| syn::LitStr::new(text, Span::call_site());
        let mut errors = Errors::default();
        check_no_dot(&lit(name), group.map(lit).as_ref(), &mut errors);
        errors
            .finish()
            .err()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn names_without_dots() {
        assert!(dot_errors("digest", Some("Reporting")).is_empty());
        // Dots in the group are fine: the name follows the last one.
        assert!(dot_errors("digest", Some("Reporting.eu")).is_empty());
    }

    #[test]
    fn a_dot_in_the_name() {
        assert_eq!(
            dot_errors("daily.digest", Some("Reporting")),
            [
                "recurring job name `daily.digest` must not contain `.`: the job's stream would \
                 be `Recurring-Reporting.daily.digest`, which is also the stream of a job named \
                 `digest` in the group `Reporting.daily`; write `daily_digest` instead"
            ]
        );
        let without_group = dot_errors("a.b.c", None);
        assert_eq!(without_group.len(), 1);
        assert!(
            without_group[0].contains("a job named `c` in the group `{group}.a.b`"),
            "{without_group:?}"
        );
        let trailing = dot_errors("digest.", Some("Reporting"));
        assert_eq!(trailing.len(), 1);
        assert!(
            trailing[0].contains("read as group and name at its last `.`"),
            "{trailing:?}"
        );
    }
}
