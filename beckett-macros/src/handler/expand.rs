//! Pieces of the expansion shared by `#[subscription]` and `#[recurring]`:
//! the wrapper the runtime calls, how it passes arguments to and converts
//! the error of the user's function, and the `SubscriptionDescriptor` that
//! registers it.

use crate::assertions;
use crate::handler::parse::Signature;
use crate::symbol;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

/// A name for a local of the generated code. Mixed-site names cannot clash
/// with the user's function or its types.
pub fn local(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// The name of the generated wrapper, in the block that holds it.
pub fn wrapper_ident() -> syn::Ident {
    syn::Ident::new(symbol::WRAPPER.as_str(), Span::call_site())
}

/// `fn wrapper(Envelope, Context) -> HandlerFuture`, running `body` in a
/// boxed `async move` block. A parameter without a name is ignored.
pub fn wrapper(
    wrapper: &syn::Ident,
    envelope: Option<&syn::Ident>,
    ctx: Option<&syn::Ident>,
    body: &TokenStream,
) -> TokenStream {
    let pattern = |name: Option<&syn::Ident>| name.map_or_else(|| quote!(_), |name| quote!(#name));
    let envelope = pattern(envelope);
    let ctx = pattern(ctx);
    quote! {
        fn #wrapper(
            #envelope: ::beckett::__private::Envelope,
            #ctx: ::beckett::__private::Context,
        ) -> ::beckett::__private::HandlerFuture {
            ::beckett::__private::Box::pin(async move {
                #body
            })
        }
    }
}

/// An argument the wrapper may pass: the local it is bound to, the value
/// it takes, and the type of the user's parameter, if the function has one.
pub type Arg<'a> = (syn::Ident, &'a syn::Ident, Option<&'a syn::Type>);

/// Binds each argument the function takes to its parameter's type, then
/// calls the function with them and converts its error into a `BoxError`.
///
/// A value bound as `let arg: ty = value;` is reported at `ty`: when it does
/// not fit, the compiler's "expected `&Context`, found `Context`" points at
/// the parameter's type. An error type that does not convert is reported at
/// the error type of the written return type.
pub fn bind_and_call(signature: &Signature<'_>, args: [Arg<'_>; 2]) -> TokenStream {
    let mut bindings = Vec::new();
    let mut passed = Vec::new();
    for (arg, value, ty) in args {
        if let Some(ty) = ty {
            let value = located_at(value, ty);
            bindings.push(quote! { let #arg: #ty = #value; });
            passed.push(arg);
        }
    }
    let handler = signature.ident;
    let call = quote_spanned! {error_type_span(signature.output)=>
        ::core::result::Result::map_err(
            #handler(#(#passed),*).await,
            ::core::convert::Into::<::beckett::__private::BoxError>::into,
        )
    };
    quote! {
        #(#bindings)*
        #call
    }
}

/// Where an error about the function's error type should point: the last
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

/// The fields of a `SubscriptionDescriptor`, as written into the
/// expansion.
pub struct Descriptor<'a> {
    /// `group = "..."`.
    pub group: &'a syn::LitStr,
    /// The name in the group, given or defaulted.
    pub name: syn::LitStr,
    /// The handled message types, as written, so that an error about one
    /// points at it.
    pub messages: Vec<TokenStream>,
    /// The stream category it is limited to.
    pub category: Option<&'a syn::LitStr>,
    /// The one stream it reads, if it reads only one.
    pub stream: Option<syn::LitStr>,
    /// A `::beckett::__private::Start` value.
    pub start: TokenStream,
    /// `max_retries = N`.
    pub max_retries: Option<u32>,
    /// `timeout = "..."`, in milliseconds.
    pub timeout: Option<u64>,
    /// `transactional`.
    pub transactional: bool,
    /// The generated wrapper.
    pub handler: &'a syn::Ident,
}

impl ToTokens for Descriptor<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Self {
            group,
            name,
            messages,
            category,
            stream,
            start,
            max_retries,
            timeout,
            transactional,
            handler,
        } = self;
        let names = messages.iter().map(assertions::message_name);
        let aliases = messages.iter().map(assertions::message_aliases);
        let category = optional(category.map(ToTokens::to_token_stream));
        let stream = optional(stream.as_ref().map(ToTokens::to_token_stream));
        let max_retries = optional(max_retries.map(|n| quote!(#n)));
        let timeout = optional(
            timeout.map(|millis| quote!(::beckett::__private::Duration::from_millis(#millis))),
        );
        tokens.extend(quote! {
            ::beckett::__private::SubscriptionDescriptor {
                group: #group,
                name: #name,
                // Every name and alias of the types, built at compile time;
                // prefixed so as not to shadow a listed type.
                messages: {
                    const __BECKETT_TYPES: &[(&str, &[&str])] = &[#((#names, #aliases)),*];
                    const __BECKETT_WIRE_NAMES: [
                        &str;
                        ::beckett::__private::wire_name_count(__BECKETT_TYPES)
                    ] = ::beckett::__private::wire_names(__BECKETT_TYPES);
                    &__BECKETT_WIRE_NAMES
                },
                category: #category,
                stream: #stream,
                start: #start,
                max_retries: #max_retries,
                timeout: #timeout,
                transactional: #transactional,
                handler: #handler,
                location: ::core::concat!(::core::file!(), ":", ::core::line!()),
            }
        });
    }
}

/// `Some(value)` or `None`, by absolute path.
fn optional(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}
