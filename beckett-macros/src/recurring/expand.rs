//! Writes the expansion of `#[recurring]`: the user's function unchanged,
//! then, in a `const _: () = { ... };` block so no name leaks, a wrapper
//! that skips superseded occurrences and calls the function for the
//! others, and the registration of the job with the subscription that runs
//! its occurrences.

use super::parse::{JobSig, RecurringArgs};
use crate::handler::expand;
use crate::names;
use proc_macro2::TokenStream;
use quote::quote;

/// The category of the streams recurring jobs' occurrences are appended
/// to: a job's stream is `Recurring-{group}.{name}`.
const STREAM_CATEGORY: &str = "Recurring";

/// The whole expansion. Validation has made sure the expression and the
/// group are given; `schedule` is the expression as the `cron` crate reads
/// it. A parameter of another type than its place says (the occurrence,
/// the context) is reported at its type, an error type that does not
/// convert at the return type.
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
    let name = names::given_or_ident(args.name.as_ref(), sig.signature.ident);
    let stream = syn::LitStr::new(
        &format!("{STREAM_CATEGORY}-{}.{}", group.value(), name.value()),
        group.span(),
    );
    let schedule = syn::LitStr::new(schedule, cron.span());
    let subscription = expand::Descriptor {
        group,
        name,
        messages: vec![quote!(::beckett::__private::Occurrence)],
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

/// `fn(Envelope, Context) -> HandlerFuture`: returns at once when a newer
/// occurrence follows this one in the job's stream, so a backlog runs the
/// job once, for the newest; else calls the job with the occurrence
/// decoded from the envelope and the context, each when it takes it,
/// converting its error into a `BoxError`.
fn wrapper(wrapper: &syn::Ident, sig: &JobSig<'_>) -> TokenStream {
    let envelope = expand::local("envelope");
    let occurrence = expand::local("occurrence");
    let ctx = expand::local("ctx");
    let decode = sig.occurrence.map(|_| {
        quote! {
            let #occurrence = ::beckett::__private::decode::<
                ::beckett::__private::Occurrence
            >(&#envelope)?;
        }
    });
    // A parameter of another type reads "expected `u32`, found `Context`"
    // at the parameter.
    let call = expand::bind_and_call(
        &sig.signature,
        [
            (expand::local("occurrence_arg"), &occurrence, sig.occurrence),
            (expand::local("ctx_arg"), &ctx, sig.context),
        ],
    );
    let body = quote! {
        if ::beckett::__private::superseded(&#envelope, &#ctx).await? {
            return ::core::result::Result::Ok(());
        }
        #decode
        #call
    };
    expand::wrapper(wrapper, Some(&envelope), Some(&ctx), &body)
}
