//! Checks a parsed `#[subscription]` and decides how its handler receives
//! messages.

use super::parse::{HandlerSig, MessageParam, SubscriptionArgs};
use crate::errors::{source_text, Errors};
use crate::handler;
use crate::handler::validate::Role;
use crate::names;
use crate::symbol;
use proc_macro2::Span;

/// How the generated wrapper turns a stored message into the handler's
/// first argument.
pub enum Decoding<'a> {
    /// The stored message goes through raw, as a `beckett::Envelope`.
    Raw,
    /// The one listed type is decoded; the parameter must be of that type.
    One {
        /// The listed type.
        message: &'a syn::Path,
    },
    /// The parameter's type is a message set covering the listed types.
    Set {
        /// The parameter's type.
        param: &'a syn::Type,
        /// The listed types.
        messages: &'a [syn::Path],
    },
}

/// Reports every mistake in the options and the signature, and returns
/// how the handler receives messages; that answer means something only when
/// nothing was reported.
pub fn check<'a>(
    args: &'a SubscriptionArgs,
    sig: &HandlerSig<'a>,
    errors: &mut Errors,
) -> Decoding<'a> {
    check_options(args, errors);
    check_signature(sig, errors);
    decoding(args, sig, errors)
}

/// Required options, names the runtime can store, and a usable list of
/// messages.
fn check_options(args: &SubscriptionArgs, errors: &mut Errors) {
    // The attribute itself: in an attribute macro, the call site.
    let attribute = Span::call_site();
    if args.complete && args.group.is_none() {
        errors.push(syn::Error::new(
            attribute,
            format!(
                "missing option `{}`: add `{0} = \"...\"`, the group whose processes run this \
                 subscription",
                symbol::GROUP
            ),
        ));
    }
    if args.complete && args.messages.is_none() && args.category.is_none() {
        errors.push(syn::Error::new(
            attribute,
            format!(
                "a subscription needs `{}(...)`, `{} = \"...\"` or both, to say which messages \
                 it handles",
                symbol::MESSAGES,
                symbol::CATEGORY
            ),
        ));
    }
    if let Some(group) = &args.group {
        names::check("group", group, errors);
    }
    if let Some(name) = &args.name {
        names::check("subscription name", name, errors);
    }
    if let Some(category) = &args.category {
        names::check("category", category, errors);
        if category.value().contains('-') {
            errors.spanned(
                category,
                "a category is the part of a stream name before the first `-`, so it cannot \
                 contain `-`",
            );
        }
    }
    if let Some(list) = &args.messages {
        if list.types.is_empty() {
            errors.spanned(
                &list.keyword,
                format!(
                    "`{}()` lists no types; list the message types this subscription handles, \
                     like `{0}(OrderPlaced)`",
                    symbol::MESSAGES
                ),
            );
        }
        let written: Vec<String> = list.types.iter().map(source_text).collect();
        for (i, ty) in list.types.iter().enumerate() {
            if written[..i].contains(&written[i]) {
                errors.spanned(
                    ty,
                    format!(
                        "`{}` is listed twice in `{}(...)`",
                        written[i],
                        symbol::MESSAGES
                    ),
                );
            }
        }
    }
}

/// How the shared checks name a subscription's handler.
const ROLE: Role = Role {
    what: "a subscription handler",
    called_with: "one message type and `beckett::Context`",
};

/// A handler is a free, safe, non-generic `async fn` taking the message
/// and optionally the context, returning a `Result`.
fn check_signature(sig: &HandlerSig<'_>, errors: &mut Errors) {
    handler::validate::check_shape(&sig.signature, &ROLE, errors);
    if sig.message.is_none() && sig.signature.receiver.is_none() {
        errors.push(syn::Error::new(
            sig.signature.parens,
            "a subscription handler takes the message as its first parameter and, optionally, \
             `beckett::Context` as its second: `(placed: OrderPlaced, ctx: Context)`",
        ));
    }
    if let Some(first) = sig.extra.first() {
        errors.spanned(
            first,
            "a subscription handler takes at most two parameters: the message and \
             `beckett::Context`",
        );
    }
    handler::validate::check_output(&sig.signature, &ROLE, errors);
}

/// How the first parameter receives what the options select. A handler of
/// a whole category takes the raw envelope; only listed types can be
/// decoded. Where there is no sensible answer, the mistake has been
/// reported (here or by the other checks) and `Raw` stands in.
fn decoding<'a>(
    args: &'a SubscriptionArgs,
    sig: &HandlerSig<'a>,
    errors: &mut Errors,
) -> Decoding<'a> {
    let messages = args
        .messages
        .as_ref()
        .map_or(&[][..], |list| &list.types[..]);
    let Some(first) = sig.message else {
        return Decoding::Raw;
    };
    match (first, messages) {
        (MessageParam::Envelope(_), _) => Decoding::Raw,
        (MessageParam::Decoded(_), [message]) => Decoding::One { message },
        (MessageParam::Decoded(param), [_, _, ..]) => Decoding::Set { param, messages },
        (MessageParam::Decoded(param), []) => {
            if args.messages.is_none() && args.category.is_some() {
                errors.spanned(
                    param,
                    format!(
                        "a subscription to a whole category receives each message raw: take \
                         `beckett::Envelope`, or list the types to decode with `{}(...)`",
                        symbol::MESSAGES
                    ),
                );
            }
            Decoding::Raw
        }
    }
}
