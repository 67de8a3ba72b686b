//! [`Engine`]: what every task of a running process shares.

use super::held::Held;
use super::signals::Signals;
use super::supervisor::Supervisor;
use super::tally::Tally;
use crate::backoff::Backoff;
use crate::config::Config;
use crate::error::Result;
use crate::state::Storage;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The state every consumer task of the process shares.
pub(crate) struct Engine {
    pub config: Config,
    pub storage: Storage,
    pub signals: Signals,
    /// One permit per handler call allowed in flight.
    pub permits: Semaphore,
    /// Reservations this process holds, kept alive by the heartbeat and
    /// released at shutdown.
    pub held: Held,
    pub shutdown: CancellationToken,
    /// Stops the process when one of its tasks panics.
    pub supervisor: Supervisor,
    /// What the process's handlers did, not yet recorded.
    pub tally: Tally,
}

impl Engine {
    /// Releases reservations, not to be reserved again for `pause`,
    /// retrying a few times: after the database drops connections the pool
    /// may hand out a dead one first, and a reservation left behind holds
    /// its stream back until it expires.
    pub async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()> {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let mut attempt = 1;
        loop {
            match self.storage.engine().release(tokens, pause).await {
                Err(_) if attempt < 5 => {
                    tokio::time::sleep(backoff.next()).await;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }
}
