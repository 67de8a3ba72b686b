//! Wake-ups by LISTEN/NOTIFY: appends announce new messages, leaders
//! announce lagging checkpoints, scheduling announces messages due soon.

use crate::sql::channel;
use beckett_core::state::Wakeup;
use beckett_core::{Backoff, Schema};
use futures_util::stream::{self, BoxStream, StreamExt};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

/// The store's notifications as wake-ups, until the stream is dropped. A
/// lost connection is made again, after a backoff while it fails, and
/// each time says [`Wakeup::Missed`]: notifications sent meanwhile are
/// lost.
pub(crate) fn wakeups(pool: &PgPool, schema: &Schema) -> BoxStream<'static, Wakeup> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let channels = [
        channel(schema, "messages"),
        channel(schema, "checkpoints"),
        channel(schema, "scheduled"),
    ];
    // A listener keeps its connection for good: it gets a pool of its own
    // rather than holding one of the store's.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    tokio::spawn(async move {
        let mut backoff = Backoff::reconnecting();
        loop {
            let listening = listen(&own, &channels, &sender);
            let result = tokio::select! {
                result = listening => result,
                () = sender.closed() => return,
            };
            if let Err(error) = result {
                tracing::warn!(%error, "lost the notification connection; polling until it is back");
                if sender.send(Wakeup::Missed).is_err() {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff.next()) => {}
                    () = sender.closed() => return,
                }
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move {
        let wakeup = receiver.recv().await?;
        Some((wakeup, receiver))
    })
    .boxed()
}

/// Listens on `channels` and passes each notification on as a wake-up,
/// until the connection fails or nobody listens any more.
async fn listen(
    pool: &PgPool,
    [messages, checkpoints, scheduled]: &[String; 3],
    sender: &mpsc::UnboundedSender<Wakeup>,
) -> sqlx::Result<()> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([messages.as_str(), checkpoints, scheduled])
        .await?;
    let mut wakeup = Wakeup::Missed;
    loop {
        if sender.send(wakeup).is_err() {
            return Ok(());
        }
        // `None`: the connection was lost and is being made again, with
        // the notifications sent meanwhile lost.
        wakeup = match listener.try_recv().await? {
            None => {
                tracing::debug!("notification connection lost and remade");
                Wakeup::Missed
            }
            Some(n) if n.channel() == messages => Wakeup::Messages,
            Some(n) if n.channel() == scheduled => Wakeup::Scheduled,
            Some(n) => Wakeup::Checkpoints(n.payload().to_owned()),
        };
    }
}
