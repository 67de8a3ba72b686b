//! Writes the `beckett::MessageSet` implementation.

use super::parse::MessageSetEnum;
use crate::assertions;
use proc_macro2::TokenStream;
use quote::quote;

/// The implementation of `MessageSet`: the wrapped types' names, and a
/// decoder that picks the variant whose type's name or alias is the stored
/// type name. Each wrapped type is checked to be a `Message`, the error
/// pointing at it.
pub fn message_set_impl(set: &MessageSetEnum<'_>) -> TokenStream {
    let ident = set.ident;
    let types: Vec<_> = set.variants.iter().map(|v| v.ty).collect();
    let variants = set.variants.iter().map(|v| v.ident);
    let names: Vec<_> = types.iter().map(assertions::message_name).collect();
    let aliases = types.iter().map(assertions::message_aliases);
    let checks = types.iter().map(assertions::is_message);
    quote! {
        impl ::beckett::__private::MessageSet for #ident {
            const NAMES: &'static [&'static str] = &[#(#names),*];

            fn decode(
                envelope: &::beckett::__private::Envelope,
            ) -> ::core::result::Result<Self, ::beckett::Error> {
                #(
                    if ::beckett::__private::is_name_or_alias(
                        &envelope.message_type,
                        #names,
                        #aliases,
                    ) {
                        ::beckett::__private::decode::<#types>(envelope).map(Self::#variants)
                    } else
                )* {
                    ::core::result::Result::Err(
                        ::beckett::__private::unknown_type(envelope, Self::NAMES),
                    )
                }
            }
        }

        #(#checks)*
    }
}
