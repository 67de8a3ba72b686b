//! Turns `#[subscription(...)]` and the function under it into a typed
//! description: [`SubscriptionArgs`] and [`HandlerSig`]. Values with a
//! syntax of their own (`start`, `timeout`, `max_retries`) are read here;
//! whether the description makes sense is for `validate`.

use crate::errors::Errors;
use crate::handler;
use crate::options::OptionParser;
use crate::symbol;
use proc_macro2::TokenStream;
use syn::parse::Parser;

/// The options of `#[subscription(...)]`.
#[derive(Default)]
pub struct SubscriptionArgs {
    /// `group = "..."`.
    pub group: Option<syn::LitStr>,
    /// `name = "..."`.
    pub name: Option<syn::LitStr>,
    /// `messages(A, B, ...)`.
    pub messages: Option<MessageList>,
    /// `category = "..."`.
    pub category: Option<syn::LitStr>,
    /// `start = "beginning" | "end"`.
    pub start: Option<Start>,
    /// `max_retries = N`.
    pub max_retries: Option<u32>,
    /// `timeout = "30s"`, in milliseconds.
    pub timeout: Option<u64>,
    /// `transactional`.
    pub transactional: bool,
    /// Whether every option was read without a mistake. When not, an option
    /// that seems missing may just be misspelt, so it is not reported.
    pub complete: bool,
}

/// `messages(A, B, ...)`: the message types a subscription handles.
pub struct MessageList {
    /// The `messages` keyword, for errors about the list as a whole.
    pub keyword: syn::Path,
    /// The listed types, in order.
    pub types: Vec<syn::Path>,
}

/// Where a new subscription starts reading.
#[derive(Clone, Copy)]
pub enum Start {
    /// `start = "beginning"`: from the first message in the store.
    Beginning,
    /// `start = "end"`: from messages appended after it first runs.
    End,
}

impl SubscriptionArgs {
    /// Reads the attribute's arguments, reporting each mistake to `errors`.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Self::default();
        let mut options = OptionParser::new(symbol::SUBSCRIPTION_OPTIONS, errors);
        let syntax = syn::meta::parser(|meta| {
            let Some(option) = options.option(&meta)? else {
                return Ok(());
            };
            // `option` returns only the names in SUBSCRIPTION_OPTIONS.
            if option == symbol::GROUP {
                args.group = options.string(option, &meta)?;
            } else if option == symbol::NAME {
                args.name = options.string(option, &meta)?;
            } else if option == symbol::MESSAGES {
                args.messages = options.list(option, &meta)?.map(|types| MessageList {
                    keyword: meta.path.clone(),
                    types,
                });
            } else if option == symbol::CATEGORY {
                args.category = options.string(option, &meta)?;
            } else if option == symbol::START {
                if let Some(lit) = options.string(option, &meta)? {
                    args.start = options.accept(Start::parse(&lit));
                }
            } else if option == symbol::MAX_RETRIES {
                if let Some(lit) = options.integer(option, &meta)? {
                    args.max_retries = options.accept(handler::parse::max_retries(&lit));
                }
            } else if option == symbol::TIMEOUT {
                if let Some(lit) = options.string(option, &meta)? {
                    args.timeout = options.accept(handler::parse::timeout(&lit));
                }
            } else if option == symbol::TRANSACTIONAL {
                args.transactional = options.flag(option, &meta)?;
            }
            Ok(())
        })
        .parse2(tokens);
        args.complete = options.finish(syntax);
        args
    }
}

impl Start {
    /// `"beginning"` or `"end"`.
    fn parse(lit: &syn::LitStr) -> syn::Result<Self> {
        let value = lit.value();
        if value == symbol::START_BEGINNING.as_str() {
            Ok(Self::Beginning)
        } else if value == symbol::START_END.as_str() {
            Ok(Self::End)
        } else {
            Err(syn::Error::new_spanned(
                lit,
                format!(
                    "`{}` must be \"{}\" or \"{}\", not {value:?}",
                    symbol::START,
                    symbol::START_BEGINNING,
                    symbol::START_END
                ),
            ))
        }
    }
}

/// The signature of the function under `#[subscription]`.
pub struct HandlerSig<'a> {
    /// What every registered function's signature records.
    pub signature: handler::parse::Signature<'a>,
    /// The first parameter: what the handler receives.
    pub message: Option<MessageParam<'a>>,
    /// The type of the second parameter, which must be `beckett::Context`.
    pub context: Option<&'a syn::Type>,
    /// Parameters after the second, which a handler cannot have.
    pub extra: Vec<&'a syn::Type>,
}

/// How a handler takes its message, told by its first parameter's type.
#[derive(Clone, Copy)]
pub enum MessageParam<'a> {
    /// A type whose last path segment is `Envelope`: the stored message,
    /// raw.
    Envelope(&'a syn::Type),
    /// Any other type: a message type, or a message set.
    Decoded(&'a syn::Type),
}

impl<'a> MessageParam<'a> {
    fn new(ty: &'a syn::Type) -> Self {
        match ty {
            syn::Type::Path(path)
                if path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == symbol::ENVELOPE) =>
            {
                Self::Envelope(ty)
            }
            _ => Self::Decoded(ty),
        }
    }

    /// The parameter's type.
    pub fn ty(self) -> &'a syn::Type {
        match self {
            Self::Envelope(ty) | Self::Decoded(ty) => ty,
        }
    }
}

impl<'a> HandlerSig<'a> {
    /// Describes a function's signature; never fails, as everything a
    /// handler must not have is recorded for `validate` to report.
    pub fn parse(sig: &'a syn::Signature) -> Self {
        let signature = handler::parse::Signature::parse(sig);
        let mut params = signature.params.clone().into_iter();
        Self {
            message: params.next().map(MessageParam::new),
            context: params.next(),
            extra: params.collect(),
            signature,
        }
    }
}
