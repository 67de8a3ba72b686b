//! A program that links two subscriptions of one name into one group, and
//! two message types of one wire name: `beckett::run()` must refuse to
//! start, naming both sides of each conflict.

use beckett::Message;
use serde::{Deserialize, Serialize};

#[derive(Debug, Message, Serialize, Deserialize)]
struct Ping {}

#[beckett::subscription(group = "Pings", name = "answer", messages(Ping))]
async fn answer(_: Ping) -> beckett::Result<()> {
    Ok(())
}

mod again {
    use super::Ping;
    use serde::{Deserialize, Serialize};

    /// Another type that claims the wire name `Ping`; only its
    /// registration matters.
    #[allow(dead_code)]
    #[derive(Debug, beckett::Message, Serialize, Deserialize)]
    #[message(name = "Ping")]
    struct Pong {}

    #[beckett::subscription(group = "Pings", name = "answer", messages(Ping))]
    async fn answer(_: Ping) -> beckett::Result<()> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    beckett::run().await
}
