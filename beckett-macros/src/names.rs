//! Checks for the names the runtime stores and matches: message wire names,
//! groups, subscription names and categories.

use crate::errors::Errors;
use syn::ext::IdentExt;

/// The name to register: the one given, else the item's identifier
/// without `r#`, spanned at it.
pub fn given_or_ident(given: Option<&syn::LitStr>, ident: &syn::Ident) -> syn::LitStr {
    given
        .cloned()
        .unwrap_or_else(|| syn::LitStr::new(&ident.unraw().to_string(), ident.span()))
}

/// Reports `lit` unless it is a usable name: non-empty, without surrounding
/// whitespace or control characters. `what` names it in the message
/// ("message name", "group").
pub fn check(what: &str, lit: &syn::LitStr, errors: &mut Errors) {
    let name = lit.value();
    let problem = if name.is_empty() {
        format!("{what} must not be empty")
    } else if name.trim() != name {
        format!("{what} `{name}` must not start or end with whitespace")
    } else if name.chars().any(char::is_control) {
        format!("{what} must not contain control characters")
    } else {
        return;
    };
    errors.spanned(lit, problem);
}
