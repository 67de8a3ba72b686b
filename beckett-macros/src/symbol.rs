//! Attribute, option and type names, kept in one place so parsing and error
//! messages agree.

use std::fmt::{self, Display};

/// A name the macros look for in the user's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol(&'static str);

impl Symbol {
    /// The name as written in source.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<Symbol> for syn::Ident {
    fn eq(&self, symbol: &Symbol) -> bool {
        self == symbol.0
    }
}

impl PartialEq<Symbol> for syn::Path {
    fn eq(&self, symbol: &Symbol) -> bool {
        self.is_ident(symbol.0)
    }
}

/// The attribute that configures `#[derive(Message)]`.
pub const MESSAGE: Symbol = Symbol("message");

/// `name`: a message's wire name, or a subscription's name in its group.
pub const NAME: Symbol = Symbol("name");

/// `aliases("...", ...)`: a message's former wire names.
pub const ALIASES: Symbol = Symbol("aliases");

/// The options of `#[message(...)]`.
pub const MESSAGE_OPTIONS: &[Symbol] = &[NAME, ALIASES];

/// `group = "..."`: the group whose processes run a subscription.
pub const GROUP: Symbol = Symbol("group");
/// `messages(A, B)`: the message types a subscription handles.
pub const MESSAGES: Symbol = Symbol("messages");
/// `category = "..."`: the stream category a subscription is limited to.
pub const CATEGORY: Symbol = Symbol("category");
/// `start = "beginning" | "end"`: where a new subscription starts reading.
pub const START: Symbol = Symbol("start");
/// `max_retries = N`: retries before a stream is failed.
pub const MAX_RETRIES: Symbol = Symbol("max_retries");
/// `timeout = "30s"`: how long one call of the handler may take.
pub const TIMEOUT: Symbol = Symbol("timeout");
/// `transactional`: the handler shares a transaction with its checkpoint.
pub const TRANSACTIONAL: Symbol = Symbol("transactional");

/// The options of `#[subscription(...)]`, in the order the docs list them.
pub const SUBSCRIPTION_OPTIONS: &[Symbol] = &[
    GROUP,
    NAME,
    MESSAGES,
    CATEGORY,
    START,
    MAX_RETRIES,
    TIMEOUT,
    TRANSACTIONAL,
];

/// The options of `#[recurring("<cron>", ...)]`, after the expression.
pub const RECURRING_OPTIONS: &[Symbol] = &[GROUP, NAME, MAX_RETRIES, TIMEOUT];

/// `start = "beginning"`.
pub const START_BEGINNING: Symbol = Symbol("beginning");
/// `start = "end"`.
pub const START_END: Symbol = Symbol("end");

/// The last path segment that makes a handler take the raw stored message.
pub const ENVELOPE: Symbol = Symbol("Envelope");

/// The last path segment that makes a recurring job's one parameter the
/// occurrence rather than the context.
pub const OCCURRENCE: Symbol = Symbol("Occurrence");

/// The last path segment of `beckett::Context`, for telling a recurring
/// job's parameters written the wrong way round.
pub const CONTEXT: Symbol = Symbol("Context");

/// The generated wrapper that decodes a message and calls the handler.
/// Unique enough not to shadow a user's function inside the block that
/// holds it.
pub const WRAPPER: Symbol = Symbol("__beckett_handler");
