//! Turns the input of `#[derive(MessageSet)]` into a [`MessageSetEnum`].

use crate::errors::Errors;

/// An enum deriving `MessageSet`.
pub struct MessageSetEnum<'a> {
    /// The enum's name.
    pub ident: &'a syn::Ident,
    /// Its generics, which a message set cannot have.
    pub generics: &'a syn::Generics,
    /// Its variants, in order.
    pub variants: Vec<SetVariant<'a>>,
}

/// A variant wrapping one message type: `Placed(OrderPlaced)`.
pub struct SetVariant<'a> {
    /// The variant's name.
    pub ident: &'a syn::Ident,
    /// The message type it wraps.
    pub ty: &'a syn::Type,
}

impl<'a> MessageSetEnum<'a> {
    /// Reads the enum, reporting to `errors` every variant that does not
    /// wrap exactly one type. An input that is not an enum is an error
    /// returned at once: there is nothing more to check.
    pub fn parse(input: &'a syn::DeriveInput, errors: &mut Errors) -> syn::Result<Self> {
        let data = match &input.data {
            syn::Data::Enum(data) => data,
            syn::Data::Struct(data) => {
                return Err(not_an_enum(data.struct_token, &input.ident));
            }
            syn::Data::Union(data) => return Err(not_an_enum(data.union_token, &input.ident)),
        };
        let variants = data
            .variants
            .iter()
            .filter_map(|variant| SetVariant::parse(variant, errors))
            .collect();
        Ok(Self {
            ident: &input.ident,
            generics: &input.generics,
            variants,
        })
    }
}

impl<'a> SetVariant<'a> {
    /// Reads a variant, reporting it unless it is a tuple variant with one
    /// field.
    fn parse(variant: &'a syn::Variant, errors: &mut Errors) -> Option<Self> {
        let ident = &variant.ident;
        let expected = format!(
            "each variant of a message set wraps exactly one message type, like \
             `{ident}(OrderPlaced)`"
        );
        match &variant.fields {
            syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Some(Self {
                ident,
                ty: &fields.unnamed[0].ty,
            }),
            syn::Fields::Unnamed(fields) => {
                let count = fields.unnamed.len();
                errors.spanned(
                    fields,
                    format!("variant `{ident}` wraps {count} types; {expected}"),
                );
                None
            }
            syn::Fields::Named(fields) => {
                errors.spanned(
                    fields,
                    format!("variant `{ident}` has named fields; {expected}"),
                );
                None
            }
            syn::Fields::Unit => {
                errors.spanned(
                    ident,
                    format!("variant `{ident}` wraps no message; {expected}"),
                );
                None
            }
        }
    }
}

/// The error for a struct or union deriving `MessageSet`, spanned at its
/// `struct` or `union` keyword.
fn not_an_enum(keyword: impl quote::ToTokens, ident: &syn::Ident) -> syn::Error {
    syn::Error::new_spanned(
        keyword,
        format!(
            "`MessageSet` can only be derived for an enum whose variants each wrap one message \
             type, like `enum {ident} {{ Placed(OrderPlaced), Shipped(OrderShipped) }}`"
        ),
    )
}
