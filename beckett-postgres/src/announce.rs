//! [`Announcer`]: tells the consumers listening that messages were
//! appended.

use crate::sql::channel;
use beckett_core::Schema;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The announcer's states: nothing on its way, a notification on its way,
/// and one on its way with another asked for.
const IDLE: u8 = 0;
const SENDING: u8 = 1;
const SENDING_AGAIN: u8 = 2;

/// Sends the notification of new messages, one at a time, after appends
/// that committed. Cheap to clone: clones share their state.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    pool: PgPool,
    statement: Arc<str>,
    announcing: Arc<AtomicU8>,
}

impl Announcer {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            statement: format!("NOTIFY \"{}\"", channel(schema, "messages")).into(),
            announcing: Arc::default(),
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
        let (pool, statement, announcing) = (
            self.pool.clone(),
            self.statement.clone(),
            self.announcing.clone(),
        );
        tokio::spawn(async move {
            loop {
                if let Err(error) = sqlx::query(&statement).execute(&pool).await {
                    tracing::debug!(%error, "cannot announce new messages; consumers poll for them");
                }
                let done =
                    announcing.compare_exchange(SENDING, IDLE, Ordering::AcqRel, Ordering::Acquire);
                if done.is_ok() {
                    return;
                }
                announcing.store(SENDING, Ordering::Release);
            }
        });
    }
}
