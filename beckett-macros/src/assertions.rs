//! Static assertions: checks only the type system can make, generated as
//! code whose tokens carry the span of the user's token, so the compiler's
//! error points at that token rather than at the macro.

use proc_macro2::TokenStream;
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;

/// Fails to compile unless `ty` implements `beckett::Message`. The error is
/// the trait's `on_unimplemented` message ("`Foo` is not a Beckett
/// message"), pointing at `ty`.
///
/// The check reads the type's `NAME`, as the rest of the generated code
/// does: rustc reports identical errors once, so a type that is not a
/// message gets one error however often the expansion names it.
pub fn is_message<T: ToTokens + Spanned>(ty: &T) -> TokenStream {
    let name = message_name(ty);
    quote_spanned! {ty.span()=>
        const _: &str = #name;
    }
}

/// `<ty as Message>::NAME`, spanned at `ty`: every use of a listed type's
/// name goes through here so that their errors are identical.
pub fn message_name<T: ToTokens + Spanned>(ty: &T) -> TokenStream {
    quote_spanned! {ty.span()=>
        <#ty as ::beckett::__private::Message>::NAME
    }
}

/// `<ty as Message>::ALIASES`, spanned at `ty` like [`message_name`], so
/// a type that is not a message still gets one error.
pub fn message_aliases<T: ToTokens + Spanned>(ty: &T) -> TokenStream {
    quote_spanned! {ty.span()=>
        <#ty as ::beckett::__private::Message>::ALIASES
    }
}
