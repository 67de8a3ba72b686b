//! Wake-ups on SQLite: in the process, sent as writes commit; from other
//! processes sharing the file, found by a short poll.

use crate::open::{reader, Location};
use beckett_core::state::Wakeup;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How often the file is looked at for other processes' commits.
const POLL: Duration = Duration::from_millis(100);

/// The process's wake-ups and, for a file, a [`Wakeup::Missed`] whenever
/// another connection committed since the last look (SQLite's
/// `data_version`); until the stream is dropped.
pub(crate) fn follow(
    mut local: broadcast::Receiver<Wakeup>,
    file: Option<Location>,
) -> BoxStream<'static, Wakeup> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut version, mut probe) = (None, None);
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wakeup = tokio::select! {
                received = local.recv() => match received {
                    Ok(wakeup) => wakeup,
                    Err(broadcast::error::RecvError::Lagged(_)) => Wakeup::Missed,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = poll.tick(), if file.is_some() => {
                    let location = file.clone().expect("polled only for a file");
                    let looked = tokio::task::spawn_blocking(move || {
                        let probe = probe.or_else(|| reader(location.as_str()).ok());
                        let version = probe.as_ref().and_then(data_version);
                        (probe, version)
                    });
                    let Ok((kept, now)) = looked.await else { return };
                    probe = kept;
                    match now {
                        Some(now) if version.replace(now).is_some_and(|was| was != now) => {
                            Wakeup::Missed
                        }
                        _ => continue,
                    }
                }
                () = sender.closed() => return,
            };
            if sender.send(wakeup).is_err() {
                return;
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move {
        let wakeup = receiver.recv().await?;
        Some((wakeup, receiver))
    })
    .boxed()
}

/// The `data_version` of the probe's file, which changes when another
/// connection commits; `None` if it cannot be read now.
fn data_version(probe: &rusqlite::Connection) -> Option<i64> {
    probe
        .query_row("PRAGMA data_version", [], |row| row.get(0))
        .ok()
}
