//! [`Lanes`]: connections of the store's own that appends run on, kept
//! open between them.

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a kept connection may sit unused before it is pinged on its
/// next use: long enough that a busy store never pings, short enough that
/// connections a server restart left dead are found before an append.
const IDLE: Duration = Duration::from_secs(1);

/// The connections appends outside a transaction run on.
///
/// A checkout from the pool costs two round trips beside the append's own:
/// the pool pings a connection when it hands it out and again when it takes
/// it back. A kept connection is pinged only after it sat idle for a
/// second. Up to a quarter of the pool's size (at least one) is kept,
/// opened with the pool's connect options when first needed; appends beyond
/// that many at once take a connection from the pool. Cheap to clone:
/// clones share the connections.
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    pool: PgPool,
    idle: Arc<Mutex<Vec<Idle>>>,
    permits: Arc<Semaphore>,
}

/// A kept connection not in use, and since when.
#[derive(Debug)]
struct Idle {
    connection: PgConnection,
    since: Instant,
}

/// A connection an append runs on: a kept one, or the pool's.
#[derive(Debug)]
pub(crate) enum Lane {
    /// Kept by [`Lanes`], holding one of its permits while in use.
    Kept(PgConnection, OwnedSemaphorePermit),
    /// Checked out of the pool, as no kept connection was free.
    Pooled(PoolConnection<Postgres>),
}

impl Lanes {
    /// Lanes for appends on `pool`'s server, none open yet.
    pub fn new(pool: PgPool) -> Self {
        let kept = (pool.options().get_max_connections() / 4).max(1);
        Self {
            pool,
            idle: Arc::default(),
            permits: Arc::new(Semaphore::new(kept as usize)),
        }
    }

    /// A connection to append on: the kept connection used last if one is
    /// free (pinged first if it sat idle, replaced if the ping fails), a new
    /// one if fewer than the limit are open, the pool's otherwise or when a
    /// new one cannot be opened.
    pub async fn take(&self) -> sqlx::Result<Lane> {
        if self.pool.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Ok(Lane::Pooled(self.pool.acquire().await?));
        };
        let idle = self.idle.lock().expect("no thread panics holding it").pop();
        let alive = match idle {
            Some(Idle { connection, since }) if since.elapsed() < IDLE => Some(connection),
            Some(Idle { mut connection, .. }) => connection.ping().await.ok().map(|()| connection),
            None => None,
        };
        let connection = match alive {
            Some(connection) => connection,
            None => match PgConnection::connect_with(&self.pool.connect_options()).await {
                Ok(connection) => connection,
                // The server may be at its limit of connections, or down
                // for a moment: the pool waits and retries as configured.
                Err(error) => {
                    tracing::debug!(%error, "cannot open a connection for appends; using the pool");
                    return Ok(Lane::Pooled(self.pool.acquire().await?));
                }
            },
        };
        Ok(Lane::Kept(connection, permit))
    }

    /// Keeps `lane`'s connection for the next append, after an append on it
    /// ended in a known state. A lane dropped instead closes its connection.
    pub fn give_back(&self, lane: Lane) {
        if let Lane::Kept(connection, _permit) = lane {
            let idle = Idle {
                connection,
                since: Instant::now(),
            };
            self.idle
                .lock()
                .expect("no thread panics holding it")
                .push(idle);
        }
    }
}

impl Deref for Lane {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Lane::Kept(connection, _) => connection,
            Lane::Pooled(connection) => connection,
        }
    }
}

impl DerefMut for Lane {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Lane::Kept(connection, _) => connection,
            Lane::Pooled(connection) => connection,
        }
    }
}
