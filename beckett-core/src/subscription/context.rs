//! [`Context`]: what a handler knows besides its message.

use crate::error::Result;
use crate::message::{Message, NewMessage};
use crate::scheduling::Due;
use crate::state::{StateTransaction, Storage};
use crate::store::{Appended, Envelope, MessageStorage};
use crate::version::ExpectedVersion;
use std::any::Any;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The transaction a `transactional` handler shares with its checkpoint.
pub(crate) type SharedTransaction = Arc<Mutex<Option<Box<dyn StateTransaction>>>>;

/// What a handler gets beside its message: the store, the handled message's
/// ids and attempt number, a shutdown signal, and, for `transactional`
/// subscriptions, the transaction in which its checkpoint advances.
///
/// Appends through the context carry the handled message's id as their
/// causation id and its correlation id (or, if it has none, its id).
///
/// ```no_run
/// use beckett::{Context, ExpectedVersion, Message};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: u64 }
/// #[derive(Message, Serialize, Deserialize)]
/// struct InvoiceRequested { order_id: u64 }
///
/// #[beckett::subscription(group = "Billing", messages(OrderPlaced))]
/// async fn request_invoice(placed: OrderPlaced, ctx: Context) -> beckett::Result<()> {
///     let stream = format!("Invoice-{}", placed.order_id);
///     ctx.append(&stream, ExpectedVersion::Any, InvoiceRequested { order_id: placed.order_id })
///         .await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Context {
    storage: Storage,
    message_id: Uuid,
    correlation_id: Uuid,
    stream: Arc<str>,
    position: i64,
    attempt: u32,
    shutdown: CancellationToken,
    transaction: Option<SharedTransaction>,
}

impl Context {
    pub(crate) fn new(
        storage: Storage,
        envelope: &Envelope,
        attempt: u32,
        shutdown: CancellationToken,
        transaction: Option<SharedTransaction>,
    ) -> Self {
        Self {
            storage,
            message_id: envelope.id,
            correlation_id: envelope.metadata.correlation_id.unwrap_or(envelope.id),
            stream: envelope.stream.as_str().into(),
            position: envelope.position,
            attempt,
            shutdown,
            transaction,
        }
    }

    /// The message store.
    ///
    /// ```no_run
    /// # async fn demo(ctx: beckett::Context) -> beckett::Result<()> {
    /// let history = ctx.store().read_stream(ctx.stream(), 1, 100).await?;
    /// # Ok(()) }
    /// ```
    pub fn store(&self) -> &dyn MessageStorage {
        &**self.storage.messages()
    }

    /// The id of the message being handled.
    ///
    /// ```no_run
    /// # fn demo(ctx: beckett::Context) {
    /// println!("handling {}", ctx.message_id());
    /// # }
    /// ```
    pub fn message_id(&self) -> Uuid {
        self.message_id
    }

    /// The correlation id of the message being handled, or its id when it
    /// has none: the conversation it belongs to.
    ///
    /// ```no_run
    /// # fn demo(ctx: beckett::Context) {
    /// println!("in conversation {}", ctx.correlation_id());
    /// # }
    /// ```
    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }

    /// The stream of the message being handled.
    ///
    /// ```no_run
    /// # fn demo(ctx: beckett::Context) {
    /// assert_eq!(beckett::category(ctx.stream()), "Order");
    /// # }
    /// ```
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The position of the message being handled in its stream.
    ///
    /// ```no_run
    /// # fn demo(ctx: beckett::Context) {
    /// println!("{} #{}", ctx.stream(), ctx.position());
    /// # }
    /// ```
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Which attempt this is at handling the message: 1 the first time, 2
    /// on the first retry, and so on.
    ///
    /// ```no_run
    /// # fn demo(ctx: beckett::Context) {
    /// if ctx.attempt() > 1 {
    ///     println!("retrying");
    /// }
    /// # }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Cancelled when the process is shutting down; long handlers can stop
    /// early (returning an error retries the message later).
    ///
    /// ```no_run
    /// # async fn demo(ctx: beckett::Context) {
    /// tokio::select! {
    ///     _ = ctx.shutdown().cancelled() => {}
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
    /// }
    /// # }
    /// ```
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The transaction in which a `transactional` subscription's checkpoint
    /// advances; `None` for other subscriptions. Writes made in it commit
    /// exactly when the message counts as handled.
    ///
    /// One guard exists at a time, and appending, scheduling and cancelling
    /// through the context use it too: drop the guard before asking again or
    /// writing through the context.
    ///
    /// ```no_run
    /// # async fn demo(ctx: beckett::Context) -> Result<(), beckett::BoxError> {
    /// use beckett::postgres::PostgresTransaction;
    ///
    /// if let Some(mut tx) = ctx.transaction() {
    ///     let tx = tx.downcast_mut::<PostgresTransaction>().expect("on Postgres");
    ///     beckett::postgres::sqlx::query("UPDATE stock SET reserved = reserved + 1").execute(&mut **tx).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    ///
    /// If a guard from an earlier call is still alive: waiting for it would
    /// never end. The panic fails the handler call, naming the mistake.
    pub fn transaction(&self) -> Option<TransactionGuard> {
        let guard = self
            .transaction
            .clone()?
            .try_lock_owned()
            .unwrap_or_else(|_| {
                panic!(
                    "the handler's transaction is still in use: drop the guard from \
                 ctx.transaction() before asking for it again or writing through the context"
                )
            });
        guard.is_some().then_some(TransactionGuard(guard))
    }

    /// Appends a message caused by the one being handled: its causation id
    /// is that message's id, its correlation id that message's correlation
    /// id. In a `transactional` handler it joins the handler's transaction
    /// when one store holds the messages and the engine's state (see
    /// [`Storage::together`](crate::state::Storage::together)).
    ///
    /// ```no_run
    /// # #[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
    /// # struct Shipped { order_id: u64 }
    /// # async fn demo(ctx: beckett::Context) -> beckett::Result<()> {
    /// use beckett::ExpectedVersion;
    /// ctx.append("Shipment-7", ExpectedVersion::Any, Shipped { order_id: 7 }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn append<M: Message>(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        message: M,
    ) -> Result<Appended> {
        self.append_messages(stream, expected, vec![NewMessage::new(&message)?])
            .await
    }

    /// Appends several messages caused by the one being handled, in one
    /// atomic write, with causation and correlation ids set as
    /// [`append`](Self::append) does.
    ///
    /// ```no_run
    /// # async fn demo(ctx: beckett::Context) -> beckett::Result<()> {
    /// use beckett::{ExpectedVersion, NewMessage};
    /// let pings = (0..3).map(|n| NewMessage::from_json("Ping", serde_json::json!({ "n": n })));
    /// ctx.append_messages("Pinger-1", ExpectedVersion::Any, pings.collect()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn append_messages(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        mut messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        for message in &mut messages {
            self.caused(message);
        }
        // A message store elsewhere is outside the transaction.
        let transaction = self.storage.holds_together().then(|| self.transaction());
        if let Some(mut tx) = transaction.flatten() {
            if let Some(appended) = tx.append(stream, expected, messages.clone()).await {
                return appended;
            }
        }
        self.storage
            .messages()
            .append(stream, expected, messages)
            .await
    }

    /// Schedules a message caused by the one being handled, as
    /// [`EngineStorage::schedule`](crate::state::EngineStorage::schedule)
    /// does, with causation and correlation ids set as
    /// [`append`](Self::append) does. In a `transactional` handler it joins
    /// the handler's transaction.
    ///
    /// ```no_run
    /// # #[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
    /// # struct PaymentReminder { order_id: u64 }
    /// # async fn demo(ctx: beckett::Context) -> beckett::Result<()> {
    /// use std::time::Duration;
    /// let reminder = PaymentReminder { order_id: 7 };
    /// let id = ctx.schedule("Order-7", reminder, Duration::from_secs(3 * 24 * 3600)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn schedule<M: Message>(
        &self,
        stream: &str,
        message: M,
        due: impl Into<Due>,
    ) -> Result<Uuid> {
        let mut message = NewMessage::new(&message)?;
        self.caused(&mut message);
        let due = due.into().check(stream)?;
        match self.transaction() {
            Some(mut tx) => tx.schedule(stream, message, due).await,
            None => self.storage.engine().schedule(stream, message, due).await,
        }
    }

    /// Cancels a scheduled message that is still waiting, as
    /// [`EngineStorage::cancel_scheduled`](crate::state::EngineStorage::cancel_scheduled)
    /// does. In a `transactional` handler it joins the handler's
    /// transaction.
    ///
    /// ```no_run
    /// # async fn demo(ctx: beckett::Context, reminder: uuid::Uuid) -> beckett::Result<()> {
    /// let was_waiting = ctx.cancel_scheduled(reminder).await?;
    /// # Ok(()) }
    /// ```
    pub async fn cancel_scheduled(&self, id: Uuid) -> Result<bool> {
        match self.transaction() {
            Some(mut tx) => tx.cancel_scheduled(id).await,
            None => self.storage.engine().cancel_scheduled(id).await,
        }
    }

    /// Marks `message` as caused by the one being handled.
    fn caused(&self, message: &mut NewMessage) {
        let metadata = message.metadata_mut();
        metadata.causation_id = Some(self.message_id);
        metadata.correlation_id = Some(self.correlation_id);
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("message_id", &self.message_id)
            .field("stream", &self.stream)
            .field("position", &self.position)
            .field("attempt", &self.attempt)
            .field("transactional", &self.transaction.is_some())
            .finish()
    }
}

/// The handler's share of a `transactional` subscription's transaction.
/// It dereferences to the state store's [`StateTransaction`]; the
/// backend's own transaction, to run queries in, is
/// [`downcast_mut`](Self::downcast_mut)'s.
pub struct TransactionGuard(OwnedMutexGuard<Option<Box<dyn StateTransaction>>>);

impl TransactionGuard {
    /// The backend's transaction, if it is a `T`: a
    /// `beckett::postgres::PostgresTransaction` on Postgres, a
    /// `beckett::sqlite::SqliteTransaction` on SQLite.
    ///
    /// ```no_run
    /// # async fn demo(ctx: beckett::Context) -> Result<(), beckett::BoxError> {
    /// use beckett::postgres::PostgresTransaction;
    ///
    /// let mut guard = ctx.transaction().expect("a transactional subscription");
    /// let tx = guard.downcast_mut::<PostgresTransaction>().expect("on Postgres");
    /// beckett::postgres::sqlx::query("UPDATE stock SET reserved = reserved + 1").execute(&mut **tx).await?;
    /// # Ok(()) }
    /// ```
    pub fn downcast_mut<T: StateTransaction>(&mut self) -> Option<&mut T> {
        (&mut **self as &mut dyn Any).downcast_mut()
    }
}

impl Deref for TransactionGuard {
    type Target = dyn StateTransaction;

    fn deref(&self) -> &Self::Target {
        &**self.0.as_ref().expect("checked when the guard was made")
    }
}

impl DerefMut for TransactionGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut **self.0.as_mut().expect("checked when the guard was made")
    }
}

/// Takes the transaction back from the handler's context once it is done.
pub(crate) async fn take_transaction(shared: &SharedTransaction) -> Box<dyn StateTransaction> {
    shared
        .lock()
        .await
        .take()
        .expect("only the runtime takes the transaction out")
}
