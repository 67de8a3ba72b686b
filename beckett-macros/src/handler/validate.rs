//! The checks every registered function must pass, whatever registers it.

use super::parse::Signature;
use crate::errors::Errors;

/// How the messages of the shared checks name the function.
pub struct Role {
    /// The function as the messages name it: "a subscription handler".
    pub what: &'static str,
    /// What the runtime calls it with, for why it cannot be generic: "one
    /// message type and `beckett::Context`".
    pub called_with: &'static str,
}

/// A registered function is a free, safe, non-generic `async fn`.
pub fn check_shape(sig: &Signature<'_>, role: &Role, errors: &mut Errors) {
    let what = role.what;
    if sig.asyncness.is_none() {
        errors.spanned(sig.fn_token, format!("{what} must be an `async fn`"));
    }
    if let Some(unsafety) = sig.unsafety {
        errors.spanned(unsafety, format!("{what} cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            sig.generics,
            format!(
                "{what} cannot be generic: the runtime calls it with {}",
                role.called_with
            ),
        );
    }
    if let Some(receiver) = sig.receiver {
        errors.spanned(
            receiver,
            format!("{what} cannot take `self`; make it a free function"),
        );
    }
}

/// A registered function returns `Result<(), E>`. Only that a return type
/// is written is checked here; the compiler checks the type itself where
/// the generated wrapper converts the error.
pub fn check_output(sig: &Signature<'_>, role: &Role, errors: &mut Errors) {
    if sig.output.is_none() {
        errors.spanned(
            sig.ident,
            format!(
                "{} returns `Result<(), E>` with an error type that converts into \
                 `beckett::BoxError`; add a return type, like `-> beckett::Result<()>`",
                role.what
            ),
        );
    }
}
