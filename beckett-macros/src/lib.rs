//! Procedural macros for `beckett`.
//!
//! Use them through the `beckett` crate (`#[derive(beckett::Message)]`,
//! `#[beckett::subscription(...)]`, `#[beckett::recurring(...)]`), never by
//! depending on this crate
//! directly: generated code names the runtime as `::beckett::__private`,
//! which only the `beckett` crate provides.
//!
//! Each macro is a thin entry point here. Its module parses the input into a
//! typed description, validates it, then expands it; every mistake found is
//! reported in one compile, spanned at the offending token. Checks only the
//! type system can make (is this type a message?) are generated as static
//! assertions spanned at the user's token.

mod assertions;
mod errors;
mod handler;
mod message;
mod message_set;
mod names;
mod options;
mod recurring;
mod subscription;
mod symbol;

use proc_macro::TokenStream;

/// Derives `beckett::Message`, giving a type a stable wire name.
///
/// ```ignore
/// #[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
/// #[message(name = "order_placed", aliases("OrderPlaced", "PlacedOrder"))]
/// struct OrderPlaced {
///     order_id: u64,
/// }
/// ```
///
/// # Options
///
/// - `name = "..."`: the wire name stored with each message; defaults to
///   the type's identifier. Set it so renaming the Rust type does not break
///   stored messages.
/// - `aliases("...", ...)`: former wire names. Messages stored under one
///   decode to this type and are handed to the subscriptions that list it;
///   new messages are stored under the name. Add the old name here when a
///   type was renamed without `name`. An alias cannot be the type's name,
///   nor be listed twice.
///
/// Each type is also registered, so that `beckett::run()` refuses to start
/// when two types share one wire name, as their names or aliases.
///
/// See the documentation of the `beckett::Message` trait for examples.
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive(&input).into()
}

/// Derives `beckett::MessageSet` for an enum whose variants each wrap one
/// message type, so one handler can take several message types.
///
/// ```ignore
/// #[derive(beckett::MessageSet)]
/// enum OrderEvent {
///     Placed(OrderPlaced),
///     Shipped(OrderShipped),
/// }
///
/// #[beckett::subscription(group = "Shipping", messages(OrderPlaced, OrderShipped))]
/// async fn track(event: OrderEvent) -> beckett::Result<()> {
///     match event {
///         OrderEvent::Placed(placed) => { /* ... */ }
///         OrderEvent::Shipped(shipped) => { /* ... */ }
///     }
///     Ok(())
/// }
/// ```
///
/// A stored message is decoded into the variant whose type's wire name, or
/// one of its aliases, it carries. Every wrapped type must implement
/// `beckett::Message`; a subscription taking the set checks at compile time
/// that the set wraps exactly the types it lists.
#[proc_macro_derive(MessageSet)]
pub fn derive_message_set(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message_set::derive(&input).into()
}

/// Registers an `async fn` as the handler of a subscription.
///
/// ```ignore
/// #[beckett::subscription(group = "Billing", messages(OrderPlaced))]
/// async fn request_invoice(placed: OrderPlaced, ctx: beckett::Context) -> beckett::Result<()> {
///     // ...
///     Ok(())
/// }
/// ```
///
/// # Options
///
/// - `group = "..."` (required): the group whose processes run it.
/// - `name = "..."`: its name, unique in its group; defaults to the
///   function's name.
/// - `messages(A, B, ...)`: the message types it handles.
/// - `category = "Order"`: only messages of streams in this category.
///   At least one of `messages` and `category` is required.
/// - `start = "beginning" | "end"`: where it starts reading when new;
///   `"beginning"` by default. From the end, it handles the messages
///   appended after it first runs, in new streams and in old ones alike.
/// - `max_retries = N`: retries after the first attempt before a stream is
///   failed (`max_retries = 2` tries a message up to three times),
///   overriding the configured default.
/// - `timeout = "30s"`: how long one call may take (`ms`, `s`, `m`, `h`).
/// - `transactional`: the handler's writes through the context share one
///   transaction with the subscription's checkpoint.
///
/// # The handler
///
/// An `async fn` whose first parameter is
/// - the listed type, when `messages` lists one;
/// - an enum deriving `beckett::MessageSet` that wraps exactly the listed
///   types, when it lists several;
/// - `beckett::Envelope`, the stored message raw (required for a category
///   without `messages`).
///
/// An optional second parameter is `beckett::Context`. It returns
/// `Result<(), E>` for any `E` that converts into `beckett::BoxError`
/// (`beckett::Error`, `std::io::Error`, `String`, `anyhow::Error`, ...).
///
/// The function stays as written and can still be called directly.
#[proc_macro_attribute]
pub fn subscription(args: TokenStream, item: TokenStream) -> TokenStream {
    subscription::attribute(args.into(), item.into()).into()
}

/// Registers an `async fn` as a recurring job, run on a cron schedule by
/// one process of its group at each occurrence.
///
/// ```ignore
/// use beckett::recurring::Occurrence;
/// use beckett::Context;
///
/// /// At 09:00 UTC, Monday to Friday.
/// #[beckett::recurring("0 9 * * MON-FRI", group = "Reporting")]
/// async fn daily_digest(occurrence: Occurrence, ctx: Context) -> beckett::Result<()> {
///     // The digest of the day the occurrence was due, even when it runs late.
///     let day = occurrence.scheduled_at.date_naive();
///     // ...
///     Ok(())
/// }
///
/// /// Every 30 seconds, with neither the occurrence nor the context.
/// #[beckett::recurring("*/30 * * * * *", group = "Reporting", name = "heartbeat", timeout = "5s")]
/// async fn beat() -> Result<(), std::io::Error> {
///     Ok(())
/// }
/// ```
///
/// Each occurrence is appended to the job's own stream,
/// `Recurring-{group}.{name}`, and run by a subscription of the same group
/// and name reading that stream, so a job is retried, failed, and retried
/// or skipped by an operator like any subscription.
///
/// A backlog of occurrences runs the job once, for the newest: an
/// occurrence already followed by a newer one in the job's stream (after
/// the stream failed and was retried, or when a run lasted longer than the
/// period) is skipped without calling the function, and counts as handled.
///
/// # The schedule
///
/// The first argument, required, is a cron expression in a string literal,
/// read in UTC:
///
/// - 5 fields, as in crontab: `minute hour day-of-month month
///   day-of-week`;
/// - 6 fields, with seconds first: `second minute hour day-of-month month
///   day-of-week`;
/// - 7 fields: the 6 fields, then a year (1970-2100);
/// - or a shorthand: `@yearly`, `@monthly`, `@weekly`, `@daily`,
///   `@hourly`.
///
/// A field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`
/// (from `a` to the field's end), or a comma-separated list of these.
/// Months may be written `JAN`-`DEC`, days of week `SUN`-`SAT` (in any
/// case; full names work too).
///
/// Days of week are numbered as in crontab, in every form: 0 or 7 is
/// Sunday, 1 is Monday, ..., 6 is Saturday, so `1-5` is Monday to Friday
/// and `5-7` Friday to Sunday.
///
/// An expression restricting both the day of month and the day of week
/// (neither `*` nor `?`) does not compile: crontab runs it when either
/// matches, beckett only when both do, so restrict one and write `*` for
/// the other. Nor does an expression that never fires, such as
/// `"0 0 31 2 *"` (February 31st). Every mistake in the expression is
/// reported at the string, naming the field and the values it takes.
///
/// # Options
///
/// - `group = "..."` (required): the group whose processes run it.
/// - `name = "..."`: its name, unique in its group; defaults to the
///   function's name. It cannot contain `.`: with the job's stream named
///   `Recurring-{group}.{name}`, group `A.b` with name `c` and group `A`
///   with name `b.c` would share one. The group may contain dots.
/// - `max_retries = N`: retries of one occurrence after its first run
///   before the job is failed, overriding the configured default.
/// - `timeout = "30s"`: how long one run may take (`ms`, `s`, `m`, `h`).
///
/// # The job
///
/// An `async fn` taking, in this order, an optional
/// `beckett::recurring::Occurrence` and an optional `beckett::Context`,
/// each by value: `()`, `(ctx: Context)`, `(occurrence: Occurrence)` or
/// `(occurrence: Occurrence, ctx: Context)`. Of two parameters the first is
/// the occurrence; a single one is the occurrence when its type is named
/// `Occurrence`, else the context. A parameter of another type is a compile
/// error at its type.
///
/// The occurrence names the job and the time it was due by the schedule,
/// `occurrence.scheduled_at`, which a run that was delayed or retried sees
/// unchanged.
///
/// It returns `Result<(), E>` for any `E` that converts into
/// `beckett::BoxError` (`beckett::Error`, `std::io::Error`, `String`,
/// `anyhow::Error`, ...).
///
/// The function stays as written and can still be called directly.
#[proc_macro_attribute]
pub fn recurring(args: TokenStream, item: TokenStream) -> TokenStream {
    recurring::attribute(args.into(), item.into()).into()
}
