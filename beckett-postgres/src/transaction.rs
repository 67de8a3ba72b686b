//! [`PostgresTransaction`]: a `transactional` handler's transaction.

use crate::error::db;
use crate::store::PostgresStore;
use beckett_core::scheduling::Due;
use beckett_core::state::{Reservation, StateTransaction};
use beckett_core::{Appended, ExpectedVersion, NewMessage, Result};
use sqlx::{PgConnection, Postgres, Transaction};
use std::ops::{Deref, DerefMut};
use std::time::Duration;
use uuid::Uuid;

/// The transaction a `transactional` handler shares with its checkpoint:
/// dereferences to the connection, so `&mut **tx` runs queries in it.
///
/// ```no_run
/// # async fn demo(ctx: beckett::Context) -> Result<(), beckett::BoxError> {
/// use beckett::postgres::PostgresTransaction;
///
/// let mut guard = ctx.transaction().expect("a transactional subscription");
/// let tx = guard.downcast_mut::<PostgresTransaction>().expect("on Postgres");
/// sqlx::query("UPDATE stock SET reserved = reserved + 1").execute(&mut **tx).await?;
/// # Ok(()) }
/// ```
pub struct PostgresTransaction {
    store: PostgresStore,
    transaction: Transaction<'static, Postgres>,
}

impl PostgresTransaction {
    pub(crate) async fn begin(store: &PostgresStore) -> Result<Self> {
        Ok(Self {
            transaction: store.pool.begin().await.map_err(db)?,
            store: store.clone(),
        })
    }
}

impl Deref for PostgresTransaction {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.transaction
    }
}

impl DerefMut for PostgresTransaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.transaction
    }
}

#[async_trait::async_trait]
impl StateTransaction for PostgresTransaction {
    async fn advance(
        &mut self,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool> {
        let conn = Some(&mut *self.transaction);
        let checkpoints = &self.store.checkpoints;
        checkpoints
            .advance(conn, group, reservation, position, keep)
            .await
    }

    async fn append(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Option<Result<Appended>> {
        let conn = &mut *self.transaction;
        Some(self.store.append_in(conn, stream, expected, messages).await)
    }

    async fn schedule(&mut self, stream: &str, message: NewMessage, due: Due) -> Result<Uuid> {
        let conn = &mut *self.transaction;
        self.store.schedule_in(conn, stream, message, due).await
    }

    async fn cancel_scheduled(&mut self, id: Uuid) -> Result<bool> {
        let conn = &mut *self.transaction;
        self.store.cancel_scheduled_in(conn, id).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.transaction.commit().await.map_err(db)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.transaction.rollback().await.map_err(db)
    }
}
