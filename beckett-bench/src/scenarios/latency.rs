//! `latency`: an idle worker; 200 single appends 20 ms apart; the time
//! from each append's commit to its handler's start. Then 200 messages
//! scheduled to fall due 20 ms apart; the time from each one's due time to
//! its handler's start.

use super::jobs::wait_until_handled;
use crate::database::{BenchDatabase, BenchResult};
use crate::handlers::{self, unix_micros, Ping};
use crate::report;
use crate::workers::Worker;
use beckett::{ExpectedVersion, MessageStorage, NewMessage};
use chrono::{TimeDelta, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const APPENDS: u64 = 200;
const INTERVAL: Duration = Duration::from_millis(20);

pub async fn run(database: &BenchDatabase) -> BenchResult<()> {
    let (store, state) = (&database.storage.messages(), &database.storage.engine());
    let worker = Worker::start(database, handlers::LATENCY)?;
    wait_until_idle(database).await?;

    let started = Instant::now();
    let committed = pings(store, APPENDS, INTERVAL).await?;
    wait_until_handled(database, handlers::LATENCY, APPENDS as usize).await?;
    let appended_in = started.elapsed();

    let started = Instant::now();
    let first_due = Utc::now() + TimeDelta::seconds(1);
    let mut due = HashMap::new();
    for n in 0..APPENDS {
        let seq = APPENDS + n;
        let at = first_due + INTERVAL * n as u32;
        let ping = NewMessage::new(&Ping { seq })?;
        state
            .schedule(&format!("Ping-{seq}"), ping, at.into())
            .await?;
        due.insert(seq, at.timestamp_micros());
    }
    wait_until_handled(database, handlers::LATENCY, 2 * APPENDS as usize).await?;
    let scheduled_in = started.elapsed();

    let peak_rss = json!([worker.peak_rss()? / (1024 * 1024)]);
    let output = worker.stop().await?;
    let mut extra = delays(&output, &committed)?;
    extra["peak_rss_mib"] = peak_rss.clone();
    let parameters = json!({ "appends": APPENDS, "interval_ms": INTERVAL.as_millis() });
    report::emit("latency", parameters, APPENDS as usize, appended_in, extra);
    let mut extra = delays(&output, &due)?;
    extra["peak_rss_mib"] = peak_rss;
    let parameters = json!({ "scheduled": APPENDS, "interval_ms": INTERVAL.as_millis() });
    report::emit("latency", parameters, APPENDS as usize, scheduled_in, extra);
    Ok(())
}

/// Appends `count` pings, each to a stream of its own, `interval` apart;
/// returns when each one's append committed, by sequence number.
pub(super) async fn pings(
    store: &Arc<dyn MessageStorage>,
    count: u64,
    interval: Duration,
) -> BenchResult<HashMap<u64, i64>> {
    let mut committed = HashMap::new();
    for seq in 0..count {
        let ping = NewMessage::new(&Ping { seq })?;
        store
            .append(&format!("Ping-{seq}"), ExpectedVersion::Any, vec![ping])
            .await?;
        committed.insert(seq, unix_micros());
        tokio::time::sleep(interval).await;
    }
    Ok(committed)
}

/// The percentiles of the time from `since` (microseconds, by message
/// number) to the handler's start the worker reported for each of them.
pub(super) fn delays(output: &str, since: &HashMap<u64, i64>) -> BenchResult<serde_json::Value> {
    let delays: Vec<f64> = output
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("started ")?.split(' ');
            let seq: u64 = words.next()?.parse().ok()?;
            let at: i64 = words.next()?.parse().ok()?;
            Some((at - since.get(&seq)?) as f64 / 1000.0)
        })
        .collect();
    if delays.len() != since.len() {
        let expected = since.len();
        return Err(format!("{} of {expected} handler starts reported", delays.len()).into());
    }
    Ok(report::latency(delays))
}

/// Waits until the worker has registered its subscription, then a moment
/// more for its consumers to settle.
pub(super) async fn wait_until_idle(database: &BenchDatabase) -> BenchResult<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !database.registered(handlers::LATENCY).await? {
        if Instant::now() > deadline {
            return Err("the worker did not start within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}
