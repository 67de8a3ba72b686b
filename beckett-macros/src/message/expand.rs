//! Writes the `beckett::Message` implementation and registers the type.

use super::parse::MessageArgs;
use crate::names;
use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;

/// The implementation of `Message` for the input type, and the submission
/// of its wire name and aliases to the registry, which refuses two types
/// sharing one when the program starts. Names the runtime only through
/// `::beckett::__private`.
pub fn message_impl(input: &syn::DeriveInput, args: &MessageArgs) -> TokenStream {
    let ident = &input.ident;
    let rust_name = ident.unraw().to_string();
    let name = names::given_or_ident(args.name.as_ref(), ident);
    let aliases = &args.aliases;
    quote! {
        impl ::beckett::__private::Message for #ident {
            const NAME: &'static str = #name;
            const ALIASES: &'static [&'static str] = &[#(#aliases),*];
        }

        ::beckett::__private::inventory::submit! {
            ::beckett::__private::MessageTypeDescriptor {
                name: #name,
                aliases: <#ident as ::beckett::__private::Message>::ALIASES,
                rust_type: ::core::concat!(::core::module_path!(), "::", #rust_name),
            }
        }
    }
}
