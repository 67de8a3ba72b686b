//! Writes the `beckett::Message` implementation and registers the type.

use super::parse::MessageArgs;
use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;

/// The implementation of `Message` for the input type, and the submission
/// of its wire name to the registry, which refuses two types sharing one
/// name when the program starts. Names the runtime only through
/// `::beckett::__private`.
pub fn message_impl(input: &syn::DeriveInput, args: &MessageArgs) -> TokenStream {
    let ident = &input.ident;
    let rust_name = ident.unraw().to_string();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| syn::LitStr::new(&rust_name, ident.span()));
    quote! {
        impl ::beckett::__private::Message for #ident {
            const NAME: &'static str = #name;
        }

        ::beckett::__private::inventory::submit! {
            ::beckett::__private::MessageTypeDescriptor {
                name: #name,
                rust_type: ::core::concat!(::core::module_path!(), "::", #rust_name),
            }
        }
    }
}
