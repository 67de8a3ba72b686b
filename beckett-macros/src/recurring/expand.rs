//! Writes the expansion of `#[recurring]`: the user's function unchanged,
//! then, in a `const _: () = { ... };` block so no name leaks, a wrapper
//! that calls the function and the registration of the job with the
//! subscription that runs its occurrences.

use super::parse::{JobSig, RecurringArgs};
use crate::handler::expand;
use proc_macro2::TokenStream;
use quote::quote;

/// The category of the streams recurring jobs' occurrences are appended
/// to: a job's stream is `Recurring-{group}.{name}`.
const STREAM_CATEGORY: &str = "Recurring";

/// The whole expansion. Validation has made sure the expression and the
/// group are given; `schedule` is the expression as the `cron` crate reads
/// it. A parameter that is not the context is reported at its type, an
/// error type that does not convert at the return type.
pub fn recurring(
    function: &syn::ItemFn,
    args: &RecurringArgs,
    sig: &JobSig<'_>,
    schedule: &str,
) -> TokenStream {
    let (Some(cron), Some(group)) = (&args.cron, &args.group) else {
        return quote!(#function);
    };
    let wrapper_ident = expand::wrapper_ident();
    let wrapper = wrapper(&wrapper_ident, sig);
    let name = expand::name(args.name.as_ref(), sig.signature.ident);
    let stream = syn::LitStr::new(
        &format!("{STREAM_CATEGORY}-{}.{}", group.value(), name.value()),
        group.span(),
    );
    let schedule = syn::LitStr::new(schedule, cron.span());
    let subscription = expand::Descriptor {
        group,
        name,
        messages: vec![quote! {
            <::beckett::__private::Occurrence as ::beckett::__private::Message>::NAME
        }],
        category: None,
        stream: Some(stream),
        start: quote!(::beckett::__private::Start::Beginning),
        max_retries: args.max_retries,
        timeout: args.timeout,
        transactional: false,
        handler: &wrapper_ident,
    };
    quote! {
        #function

        const _: () = {
            #wrapper
            ::beckett::__private::inventory::submit! {
                ::beckett::__private::RecurringDescriptor {
                    cron: #cron,
                    schedule: #schedule,
                    subscription: #subscription,
                }
            }
        };
    }
}

/// `fn(Envelope, Context) -> HandlerFuture`: calls the job, with the
/// context when it takes it, converting its error into a `BoxError`. The
/// envelope, holding the occurrence, is not passed on.
fn wrapper(wrapper: &syn::Ident, sig: &JobSig<'_>) -> TokenStream {
    let ctx = expand::local("ctx");
    let ctx_arg = expand::local("ctx_arg");
    // The context is bound to the parameter's type before the call, the
    // value located at that type: a parameter of another type reads
    // "expected `u32`, found `Context`" at the parameter.
    let (binding, args) = match sig.context {
        Some(ty) => (expand::bind(&ctx_arg, &ctx, ty), vec![ctx_arg]),
        None => (TokenStream::new(), Vec::new()),
    };
    let call = expand::call(sig.signature.ident, &args, sig.signature.output);
    let body = quote! {
        #binding
        #call
    };
    expand::wrapper(wrapper, None, sig.context.map(|_| &ctx), &body)
}
