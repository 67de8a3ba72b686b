//! Checks a parsed `#[derive(MessageSet)]` before anything is generated.

use super::parse::MessageSetEnum;
use crate::errors::{source_text, Errors};

/// Rejects generic enums, enums without variants, and a message type
/// wrapped by two variants (the second could never be decoded into).
pub fn check(set: &MessageSetEnum<'_>, errors: &mut Errors) {
    if !set.generics.params.is_empty() {
        errors.spanned(
            set.generics,
            "`MessageSet` cannot be derived for a generic enum: its message names must be \
             known when it is compiled; wrap concrete message types instead",
        );
    }
    if set.variants.is_empty() {
        errors.spanned(
            set.ident,
            "a message set needs at least one variant wrapping a message type",
        );
    }
    let mut seen: Vec<(String, &syn::Ident)> = Vec::new();
    for variant in &set.variants {
        let ty = source_text(variant.ty);
        if let Some((_, first)) = seen.iter().find(|(other, _)| *other == ty) {
            errors.spanned(
                variant.ty,
                format!(
                    "`{ty}` is already wrapped by variant `{first}`; a message set wraps each \
                     message type once"
                ),
            );
        } else {
            seen.push((ty, variant.ident));
        }
    }
}
