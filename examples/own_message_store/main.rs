//! Subscriptions on a message store of the application's own: the
//! application keeps its messages in a file of JSON lines
//! (`json_lines.rs`, a complete [`MessageStorage`]), and beckett keeps only
//! its own state (cursors, checkpoints, scheduled messages) in SQLite
//! beside it.
//!
//! ```sh
//! cargo run --example own_message_store
//! ```
//!
//! Each run records a few page visits; a subscription counts them per page
//! and marks a page popular at its tenth visit. The files `pages.jsonl`
//! (the messages) and `pages-state.db` (beckett's state) persist between
//! runs: a page becomes popular in whichever run brings its tenth visit,
//! and no visit is counted twice.

mod json_lines;

use beckett::{Beckett, Context, ExpectedVersion, Message, MessageStorage, NewMessage};
use json_lines::JsonLinesStore;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Message, Serialize, Deserialize)]
struct PageVisited {
    page: String,
}

#[derive(Debug, Message, Serialize, Deserialize)]
struct PageBecamePopular {
    page: String,
}

/// The visit that makes a page popular.
const POPULAR_AT: i64 = 10;

/// The visits this run recorded and counted.
static COUNTED: AtomicUsize = AtomicUsize::new(0);

/// Counts a visit: a page's stream holds its visits, so the visit's
/// position is the page's count.
#[beckett::subscription(group = "Pages", messages(PageVisited))]
async fn count_visit(visit: PageVisited, ctx: Context) -> beckett::Result<()> {
    if ctx.position() == POPULAR_AT {
        let popular = PageBecamePopular {
            page: visit.page.clone(),
        };
        let stream = format!("Popular-{}", visit.page);
        ctx.append(&stream, ExpectedVersion::NoStream, popular)
            .await?;
        println!("{} is popular: {POPULAR_AT} visits", visit.page);
    }
    COUNTED.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    let messages = Arc::new(JsonLinesStore::open("pages.jsonl")?);
    let beckett = Beckett::builder()
        .database_url("sqlite:pages-state.db")
        .message_store(messages.clone())
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(beckett.run_until(async {
        let _ = stopped.await;
    }));

    let visits = [("home", 4), ("pricing", 3), ("docs", 2)];
    for (page, count) in visits {
        for _ in 0..count {
            let visit = NewMessage::new(&PageVisited {
                page: page.to_owned(),
            })?;
            let stream = format!("Page-{page}");
            messages
                .append(&stream, ExpectedVersion::Any, vec![visit])
                .await?;
        }
    }
    let recorded: usize = visits.iter().map(|(_, count)| count).sum();
    println!("recorded {recorded} visits");

    let deadline = Instant::now() + Duration::from_secs(10);
    while COUNTED.load(Ordering::Relaxed) < recorded && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("counted {} visits", COUNTED.load(Ordering::Relaxed));
    for (page, _) in visits {
        let stream = format!("Page-{page}");
        let total = messages
            .last_message(&stream)
            .await?
            .map_or(0, |m| m.envelope.position);
        println!("  {page}: {total} visits in all runs");
    }

    let _ = stop.send(());
    running.await.expect("the run does not panic")
}
