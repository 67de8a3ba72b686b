//! What `#[subscription]` and `#[recurring]` share about the `async fn`
//! they register: its signature as the macros see it, the checks both make
//! of it, the options both take for how it runs, and the pieces of the
//! generated wrapper that calls it and of the descriptor that registers it.

pub mod expand;
pub mod parse;
pub mod validate;

use proc_macro2::TokenStream;
use quote::quote;

/// Runs an attribute that goes on an `async fn`. `expand` parses and checks
/// the attribute's arguments and the function, and expands them, or
/// returns every mistake combined; the output is then the function
/// unchanged followed by the errors, so editors still see the function. On
/// an item that is not a function, the output is the item after
/// `misplaced` as an error.
pub fn attribute(
    item: TokenStream,
    misplaced: &str,
    expand: impl FnOnce(&syn::ItemFn) -> syn::Result<TokenStream>,
) -> TokenStream {
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error =
                syn::Error::new(proc_macro2::Span::call_site(), misplaced).into_compile_error();
            return quote! { #error #item };
        }
    };
    expand(&function).unwrap_or_else(|errors| {
        let errors = errors.into_compile_error();
        quote! { #function #errors }
    })
}
