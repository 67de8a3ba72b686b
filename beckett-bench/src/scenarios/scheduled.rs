//! `scheduled`: pings, each for a stream of its own, scheduled through the
//! API for tomorrow, then all made due at one moment by SQL before the
//! worker starts; the time from that moment until the last is handled, and
//! each one's delay from the moment to its handler's start.

use super::jobs::wait_until_handled;
use super::latency::delays;
use crate::database::{BenchDatabase, BenchResult};
use crate::handlers::{self, Ping};
use crate::report;
use crate::workers::Worker;
use beckett::NewMessage;
use chrono::{TimeDelta, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;

/// Tasks scheduling the pings.
const SCHEDULERS: u64 = 8;
/// How far ahead the moment the pings fall due is set: time for the
/// worker to start and settle first.
const LEAD: TimeDelta = TimeDelta::seconds(3);

pub async fn run(database: &BenchDatabase, messages: usize) -> BenchResult<()> {
    let scheduling = Instant::now();
    let tomorrow = Utc::now() + TimeDelta::days(1);
    let tasks: Vec<_> = (0..SCHEDULERS)
        .map(|task| {
            let state = database.storage.engine().clone();
            tokio::spawn(async move {
                for seq in (task..messages as u64).step_by(SCHEDULERS as usize) {
                    let ping = NewMessage::new(&Ping { seq })?;
                    state
                        .schedule(&format!("Ping-{seq}"), ping, tomorrow.into())
                        .await?;
                }
                Ok::<_, beckett::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let scheduling = scheduling.elapsed();

    let moment = Utc::now() + LEAD;
    database.all_due_at(moment).await?;
    let worker = Worker::start(database, handlers::LATENCY)?;
    wait_until_handled(database, handlers::LATENCY, messages).await?;
    let elapsed = (database.finished_at(handlers::LATENCY).await? - moment).to_std()?;

    let peak_rss = worker.peak_rss()? / (1024 * 1024);
    let due: HashMap<u64, i64> = (0..messages as u64)
        .map(|seq| (seq, moment.timestamp_micros()))
        .collect();
    let mut extra = delays(&worker.stop().await?, &due)?;
    extra["peak_rss_mib"] = json!([peak_rss]);
    extra["schedule_seconds"] = json!(report::seconds(scheduling));
    let parameters = json!({ "scheduled": messages, "due_at_once": true });
    report::emit("scheduled", parameters, messages, elapsed, extra);
    Ok(())
}
