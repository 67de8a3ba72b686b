//! Writes the expansion of `#[subscription]`: the user's function
//! unchanged, then, in a `const _: () = { ... };` block so no name leaks, a
//! wrapper that decodes each message and calls the function, static checks
//! of the types, and the registration of the subscription.

use super::parse::{HandlerSig, MessageParam, Start, SubscriptionArgs};
use super::validate::Decoding;
use crate::assertions;
use crate::errors::source_text;
use crate::symbol;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
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
    let wrapper_ident = syn::Ident::new(symbol::WRAPPER.as_str(), Span::call_site());
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
    // Mixed-site names cannot clash with the user's function or its types.
    let local = |name: &str| syn::Ident::new(name, Span::mixed_site());
    let envelope = local("envelope");
    let message = local("message");
    let ctx = local("ctx");
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
    // Each argument is bound to its parameter's type before the call, the
    // value located at that type: a mismatch reads "expected `OrderShipped`,
    // found `OrderPlaced`" or "expected `&Context`, found `Context`" at the
    // parameter.
    let params = [
        (
            local("message_arg"),
            &message,
            sig.message.map(MessageParam::ty),
        ),
        (local("ctx_arg"), &ctx, sig.context),
    ];
    let mut bindings = Vec::new();
    let mut args = Vec::new();
    for (arg, value, ty) in params {
        if let Some(ty) = ty {
            let value = located_at(value, ty);
            bindings.push(quote! { let #arg: #ty = #value; });
            args.push(arg);
        }
    }
    let ctx_pattern = if sig.context.is_some() {
        quote!(#ctx)
    } else {
        quote!(_)
    };
    let handler = sig.ident;
    let call = quote_spanned! {error_type_span(sig.output)=>
        ::core::result::Result::map_err(
            #handler(#(#args),*).await,
            ::core::convert::Into::<::beckett::__private::BoxError>::into,
        )
    };
    quote! {
        fn #wrapper(
            #envelope: ::beckett::__private::Envelope,
            #ctx_pattern: ::beckett::__private::Context,
        ) -> ::beckett::__private::HandlerFuture {
            ::beckett::__private::Box::pin(async move {
                #decode
                #(#bindings)*
                #call
            })
        }
    }
}

/// Where an error about the handler's error type should point: the last
/// type argument of the return type (`InvoiceError` in
/// `Result<(), InvoiceError>`), else the return type.
fn error_type_span(output: Option<&syn::Type>) -> Span {
    let Some(output) = output else {
        return Span::call_site();
    };
    let last_argument = match output {
        syn::Type::Path(path) => {
            path.path
                .segments
                .last()
                .and_then(|segment| match &segment.arguments {
                    syn::PathArguments::AngleBracketed(args) => args.args.last(),
                    _ => None,
                })
        }
        _ => None,
    };
    last_argument.map_or_else(|| output.span(), Spanned::span)
}

/// `ident`, resolved where it was made but reported at the last token of
/// `ty` (its name, in `&beckett::Context`).
fn located_at(ident: &syn::Ident, ty: &syn::Type) -> syn::Ident {
    let last = ty
        .to_token_stream()
        .into_iter()
        .last()
        .map_or_else(|| ty.span(), |token| token.span());
    let mut ident = ident.clone();
    ident.set_span(ident.span().located_at(last));
    ident
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
    args: &SubscriptionArgs,
    sig: &HandlerSig<'_>,
    listed: impl Iterator<Item = &'a syn::Path>,
    wrapper: &syn::Ident,
) -> TokenStream {
    let group = &args.group;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| syn::LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()));
    let category = optional(args.category.as_ref().map(|c| quote!(#c)));
    let start = match args.start.unwrap_or(Start::Beginning) {
        Start::Beginning => quote!(::beckett::__private::Start::Beginning),
        Start::End => quote!(::beckett::__private::Start::End),
    };
    let max_retries = optional(args.max_retries.map(|n| quote!(#n)));
    let timeout = optional(
        args.timeout
            .map(|millis| quote!(::beckett::__private::Duration::from_millis(#millis))),
    );
    let transactional = args.transactional;
    let names = listed.map(assertions::message_name);
    quote! {
        ::beckett::__private::SubscriptionDescriptor {
            group: #group,
            name: #name,
            messages: &[#(#names),*],
            category: #category,
            start: #start,
            max_retries: #max_retries,
            timeout: #timeout,
            transactional: #transactional,
            handler: #wrapper,
            location: ::core::concat!(::core::file!(), ":", ::core::line!()),
        }
    }
}

/// `Some(value)` or `None`, by absolute path.
fn optional(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}
