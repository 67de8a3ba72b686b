//! [`Announcer`]: tells the consumers listening that messages were
//! appended.

use crate::sql::channel;
use beckett_core::Schema;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The announcer's states: nothing on its way, a notification on its way,
/// and one on its way with another asked for.
const IDLE: u8 = 0;
const SENDING: u8 = 1;
const SENDING_AGAIN: u8 = 2;

/// Sends the notification of new messages, one at a time, after appends
/// that committed. Cheap to clone: clones share their state.
///
/// It sends on a connection of its own, opened when first needed, rather
/// than one from the pool: a checkout costs the pool's pings, two round
/// trips beside the one that notifies.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    pool: PgPool,
    statement: Arc<str>,
    announcing: Arc<AtomicU8>,
    connection: Arc<Mutex<Option<PgConnection>>>,
}

impl Announcer {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            statement: format!("NOTIFY \"{}\"", channel(schema, "messages")).into(),
            announcing: Arc::default(),
            connection: Arc::default(),
        }
    }

    /// The statement that announces new messages when the transaction it
    /// runs in commits, and not at all if it rolls back.
    pub fn statement(&self) -> &str {
        &self.statement
    }

    /// Announces new messages to the consumers listening, after they
    /// committed. One notification is on its way at a time: an append that
    /// commits while one is sent asks for one more, sent when that one is
    /// done, so every append is followed by a notification sent after its
    /// commit, a burst of appends costs a few, and no commit waits on one.
    pub fn announce(&self) {
        let mut state = self.announcing.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SENDING,
                SENDING => SENDING_AGAIN,
                _ => return,
            };
            match self
                .announcing
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if state == IDLE => break,
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        let announcer = self.clone();
        tokio::spawn(async move {
            let mut connection = announcer.connection.lock().await;
            loop {
                if let Err(error) = announcer.send(&mut connection).await {
                    *connection = None;
                    tracing::debug!(%error, "cannot announce new messages; consumers poll for them");
                }
                let done = announcer.announcing.compare_exchange(
                    SENDING,
                    IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if done.is_ok() {
                    return;
                }
                announcer.announcing.store(SENDING, Ordering::Release);
            }
        });
    }

    /// Notifies on `connection`, opening it first if it is not open. The
    /// server may have closed it since the last notification, so a failure
    /// there is tried once more on a fresh one.
    async fn send(&self, connection: &mut Option<PgConnection>) -> sqlx::Result<()> {
        if let Some(open) = connection {
            if open.execute(&*self.statement).await.is_ok() {
                return Ok(());
            }
        }
        let fresh = PgConnection::connect_with(&self.pool.connect_options()).await;
        let open = connection.insert(fresh?);
        open.execute(&*self.statement).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Announcer;
    use crate::sql::channel;
    use beckett_core::Schema;
    use sqlx::postgres::PgListener;
    use sqlx::PgPool;
    use std::time::Duration;

    /// Whether a notification reaches `listener` within 5 s.
    async fn heard(listener: &mut PgListener) -> bool {
        let wait = tokio::time::timeout(Duration::from_secs(5), listener.recv());
        wait.await.is_ok_and(|received| received.is_ok())
    }

    /// An announcement after the server closed the announcer's connection
    /// still reaches the listeners.
    #[sqlx::test(migrations = false)]
    async fn announces_after_its_connection_was_closed(pool: PgPool) {
        let schema = Schema::default();
        let mut listener = PgListener::connect_with(&pool).await.unwrap();
        listener
            .listen(&channel(&schema, "messages"))
            .await
            .unwrap();
        let announcer = Announcer::new(pool.clone(), &schema);
        announcer.announce();
        assert!(heard(&mut listener).await, "the first announcement");

        let closed: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'NOTIFY%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(closed, 1, "the announcer's connection was closed");
        announcer.announce();
        assert!(
            heard(&mut listener).await,
            "the announcement after the connection was closed"
        );
    }
}
