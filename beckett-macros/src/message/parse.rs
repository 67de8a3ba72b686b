//! Turns `#[message(...)]` attributes into [`MessageArgs`].

use crate::errors::Errors;
use crate::options::OptionParser;
use crate::symbol;

/// What the user asked of `#[derive(Message)]`.
pub struct MessageArgs {
    /// The wire name given with `#[message(name = "...")]`, if any.
    pub name: Option<syn::LitStr>,
    /// The former wire names given with `#[message(aliases("...", ...))]`.
    pub aliases: Vec<syn::LitStr>,
}

impl MessageArgs {
    /// Reads every `#[message(...)]` attribute of the item, reporting each
    /// mistake to `errors`.
    pub fn parse(input: &syn::DeriveInput, errors: &mut Errors) -> Self {
        let mut name = None;
        let mut aliases = Vec::new();
        let mut options = OptionParser::new(symbol::MESSAGE_OPTIONS, errors);
        for attr in input
            .attrs
            .iter()
            .filter(|attr| *attr.path() == symbol::MESSAGE)
        {
            let syntax = attr.parse_nested_meta(|meta| {
                match options.option(&meta)? {
                    Some(symbol::NAME) => name = options.string(symbol::NAME, &meta)?,
                    Some(symbol::ALIASES) => {
                        aliases = options.strings(symbol::ALIASES, &meta)?.unwrap_or_default();
                    }
                    _ => {}
                }
                Ok(())
            });
            options.accept(syntax);
        }
        Self { name, aliases }
    }
}
