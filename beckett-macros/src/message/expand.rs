//! Writes the `beckett::Message` implementation.

use super::parse::MessageArgs;
use proc_macro2::TokenStream;
use quote::quote;

/// The implementation of `Message` for the input type, naming the runtime
/// only through `::beckett::__private`.
pub fn message_impl(input: &syn::DeriveInput, args: &MessageArgs) -> TokenStream {
    let ident = &input.ident;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| syn::LitStr::new(&ident.to_string(), ident.span()));
    quote! {
        impl ::beckett::__private::Message for #ident {
            const NAME: &'static str = #name;
        }
    }
}
