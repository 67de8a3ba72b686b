//! A program that links two subscriptions of one name into one group:
//! `beckett::run()` must refuse to start, naming both.

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

    #[beckett::subscription(group = "Pings", name = "answer", messages(Ping))]
    async fn answer(_: Ping) -> beckett::Result<()> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    beckett::run().await
}
