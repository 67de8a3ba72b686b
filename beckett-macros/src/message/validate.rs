//! Checks a parsed `#[derive(Message)]` before anything is generated.

use super::parse::MessageArgs;

/// Rejects what cannot carry a stable wire name: generic types, unions and
/// names the store would refuse.
pub fn check(input: &syn::DeriveInput, args: &MessageArgs) -> syn::Result<()> {
    let mut errors = Vec::new();
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &input.generics,
            "`Message` cannot be derived for a generic type: every instantiation would share \
             one wire name; derive it on a concrete type instead",
        ));
    }
    if let syn::Data::Union(data) = &input.data {
        errors.push(syn::Error::new_spanned(
            data.union_token,
            "`Message` cannot be derived for a union; use a struct or an enum",
        ));
    }
    if let Some(name) = &args.name {
        if let Err(problem) = check_name(&name.value()) {
            errors.push(syn::Error::new_spanned(name, problem));
        }
    }
    errors
        .into_iter()
        .reduce(|mut all, e| {
            all.combine(e);
            all
        })
        .map_or(Ok(()), Err)
}

/// A wire name is stored with each message and matched when it is read back:
/// it must be non-empty and printable, without surrounding whitespace.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("message name must not be empty".to_owned());
    }
    if name.trim() != name {
        return Err(format!(
            "message name `{name}` must not start or end with whitespace"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("message name must not contain control characters".to_owned());
    }
    Ok(())
}
