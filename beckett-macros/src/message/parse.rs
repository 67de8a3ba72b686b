//! Turns `#[message(...)]` attributes into [`MessageArgs`].

use crate::symbol;
use syn::spanned::Spanned;

/// What the user asked of `#[derive(Message)]`.
pub struct MessageArgs {
    /// The wire name given with `#[message(name = "...")]`, if any.
    pub name: Option<syn::LitStr>,
}

impl MessageArgs {
    /// Reads every `#[message(...)]` attribute of the item, reporting all
    /// mistakes at once.
    pub fn parse(input: &syn::DeriveInput) -> syn::Result<Self> {
        let mut name: Option<syn::LitStr> = None;
        let mut errors: Option<syn::Error> = None;
        let mut push = |error: syn::Error| match &mut errors {
            Some(errors) => errors.combine(error),
            None => errors = Some(error),
        };
        for attr in input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident(symbol::MESSAGE))
        {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(symbol::NAME) {
                    let value: syn::LitStr = meta.value()?.parse()?;
                    if name.is_some() {
                        push(syn::Error::new(
                            meta.path.span(),
                            format!("duplicate option `{}`", symbol::NAME),
                        ));
                    } else {
                        name = Some(value);
                    }
                    Ok(())
                } else {
                    let option = meta
                        .path
                        .get_ident()
                        .map_or_else(|| "this path".to_owned(), |i| format!("`{i}`"));
                    Err(meta.error(format!(
                        "unknown option {option}; expected: {}",
                        symbol::NAME
                    )))
                }
            });
            if let Err(error) = parsed {
                push(error);
            }
        }
        match errors {
            Some(errors) => Err(errors),
            None => Ok(Self { name }),
        }
    }
}
