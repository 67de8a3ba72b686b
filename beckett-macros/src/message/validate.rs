//! Checks a parsed `#[derive(Message)]` before anything is generated.

use super::parse::MessageArgs;
use crate::errors::Errors;
use crate::names;

/// Rejects what cannot carry a stable wire name: generic types, unions and
/// names the store would refuse.
pub fn check(input: &syn::DeriveInput, args: &MessageArgs, errors: &mut Errors) {
    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            "`Message` cannot be derived for a generic type: every instantiation would share \
             one wire name; derive it on a concrete type instead",
        );
    }
    if let syn::Data::Union(data) = &input.data {
        errors.spanned(
            data.union_token,
            "`Message` cannot be derived for a union; use a struct or an enum",
        );
    }
    if let Some(name) = &args.name {
        names::check("message name", name, errors);
    }
}
