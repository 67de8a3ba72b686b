//! Writes the expansion of `#[subscription]`: the user's function
//! unchanged, then, in a `const _: () = { ... };` block so no name leaks, a
//! wrapper that decodes each message and calls the function, static checks
//! of the types, and the registration of the subscription.

use super::parse::{HandlerSig, MessageParam, Start, SubscriptionArgs};
use super::validate::Decoding;
use crate::assertions;
use crate::errors::source_text;
use crate::handler::expand;
use crate::names;
use crate::symbol;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

/// The whole expansion. Type errors the compiler finds in generated code
/// point at the user's tokens they come from: a listed type that is not a
/// message at the type, a parameter that does not fit at the parameter, a
/// return type that does not convert at the return type.
pub fn subscription(
    function: &syn::ItemFn,
    args: &SubscriptionArgs,
    sig: &HandlerSig<'_>,
    decoding: &Decoding<'_>,
) -> TokenStream {
    let listed = args.messages.iter().flat_map(|list| &list.types);
    let message_checks = listed.clone().map(assertions::is_message);
    let set_check = match decoding {
        Decoding::Set { param, messages } => same_names_check(param, messages),
        Decoding::Raw | Decoding::One { .. } => TokenStream::new(),
    };
    let wrapper_ident = expand::wrapper_ident();
    let wrapper = wrapper(&wrapper_ident, sig, decoding);
    let descriptor = descriptor(args, sig, listed, &wrapper_ident);
    quote! {
        #function

        const _: () = {
            #(#message_checks)*
            #set_check
            #wrapper
            ::beckett::__private::inventory::submit! { #descriptor }
        };
    }
}

/// `fn(Envelope, Context) -> HandlerFuture`: decodes the message as
/// `decoding` says and calls the handler, converting its error into a
/// `BoxError`.
fn wrapper(wrapper: &syn::Ident, sig: &HandlerSig<'_>, decoding: &Decoding<'_>) -> TokenStream {
    let envelope = expand::local("envelope");
    let message = expand::local("message");
    let ctx = expand::local("ctx");
    let decode = match decoding {
        Decoding::Raw => quote! { let #message = #envelope; },
        Decoding::One { message: ty } => {
            // Reading the name first makes a listed type that is not a
            // message fail here as everywhere else in the expansion, rather
            // than at `decode`'s bound, so the compiler reports it once.
            let name = assertions::message_name(ty);
            quote! {
                let _: &str = #name;
                let #message = ::beckett::__private::decode::<#ty>(&#envelope)?;
            }
        }
        Decoding::Set { param, .. } => quote_spanned! {param.span()=>
            let #message = <#param as ::beckett::__private::MessageSet>::decode(&#envelope)?;
        },
    };
    // A mismatch reads "expected `OrderShipped`, found `OrderPlaced`" or
    // "expected `&Context`, found `Context`" at the parameter.
    let call = expand::bind_and_call(
        &sig.signature,
        [
            (
                expand::local("message_arg"),
                &message,
                sig.message.map(MessageParam::ty),
            ),
            (expand::local("ctx_arg"), &ctx, sig.context),
        ],
    );
    let body = quote! {
        #decode
        #call
    };
    expand::wrapper(wrapper, Some(&envelope), sig.context.map(|_| &ctx), &body)
}

/// A compile-time check that the message set `param` wraps exactly the
/// listed types, failing at `param`.
fn same_names_check(param: &syn::Type, messages: &[syn::Path]) -> TokenStream {
    let names = messages.iter().map(assertions::message_name);
    let listed = messages
        .iter()
        .map(source_text)
        .collect::<Vec<_>>()
        .join(", ");
    // `assert!` reads its message as a format string.
    let message = format!(
        "the message set `{}` must wrap exactly the types listed in {}({listed}): one \
         variant for each listed type, and no other",
        source_text(param),
        symbol::MESSAGES,
    )
    .replace('{', "{{")
    .replace('}', "}}");
    quote_spanned! {param.span()=>
        const _: () = ::core::assert!(
            ::beckett::__private::same_names(
                <#param as ::beckett::__private::MessageSet>::NAMES,
                &[#(#names),*],
            ),
            #message,
        );
    }
}

/// The `SubscriptionDescriptor` the runtime collects. Validation has made
/// sure `group` is given.
fn descriptor<'a>(
    args: &'a SubscriptionArgs,
    sig: &HandlerSig<'_>,
    listed: impl Iterator<Item = &'a syn::Path>,
    wrapper: &'a syn::Ident,
) -> TokenStream {
    let Some(group) = &args.group else {
        return TokenStream::new();
    };
    let start = match args.start.unwrap_or(Start::Beginning) {
        Start::Beginning => quote!(::beckett::__private::Start::Beginning),
        Start::End => quote!(::beckett::__private::Start::End),
    };
    expand::Descriptor {
        group,
        name: names::given_or_ident(args.name.as_ref(), sig.signature.ident),
        messages: listed.map(ToTokens::to_token_stream).collect(),
        category: args.category.as_ref(),
        stream: None,
        start,
        max_retries: args.max_retries,
        timeout: args.timeout,
        transactional: args.transactional,
        handler: wrapper,
    }
    .into_token_stream()
}
