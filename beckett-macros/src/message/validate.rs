//! Checks a parsed `#[derive(Message)]` before anything is generated.

use super::parse::MessageArgs;
use crate::errors::Errors;
use crate::names;
use crate::symbol;

/// Rejects what cannot carry a stable wire name: generic types, unions,
/// names the store would refuse, and aliases that are the type's name or
/// listed twice.
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
    let name = names::given_or_ident(args.name.as_ref(), &input.ident).value();
    for (i, alias) in args.aliases.iter().enumerate() {
        names::check("message alias", alias, errors);
        let value = alias.value();
        if value == name {
            errors.spanned(
                alias,
                format!(
                    "`{value}` is this type's wire name, not a former one; remove it from \
                     `{}(...)`",
                    symbol::ALIASES
                ),
            );
        } else if args.aliases[..i].iter().any(|a| a.value() == value) {
            errors.spanned(
                alias,
                format!("`{value}` is listed twice in `{}(...)`", symbol::ALIASES),
            );
        }
    }
}
