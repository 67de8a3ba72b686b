//! `loaded-latency`: `latency`'s single appends, 500 of them 20 ms apart,
//! while a background load of 5,000 jobs a second (a stream of 50 every
//! 10 ms) flows to the same worker; the time from each ping's commit to
//! its handler's start.

use super::jobs::wait_until_handled;
use super::latency::{delays, pings, wait_until_idle};
use crate::database::{BenchDatabase, BenchResult};
use crate::handlers::{self, Job};
use crate::report;
use crate::workers::Worker;
use beckett::{ExpectedVersion, MessageStorage, NewMessage};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PINGS: u64 = 500;
const INTERVAL: Duration = Duration::from_millis(20);
/// Jobs in each background append.
const LOAD_BATCH: u64 = 50;
/// Time between background appends: 50 jobs every 10 ms is 5,000 a second.
const LOAD_INTERVAL: Duration = Duration::from_millis(10);

pub async fn run(database: &BenchDatabase) -> BenchResult<()> {
    let store = database.storage.messages();
    let worker = Worker::start(
        database,
        &format!("{},{}", handlers::LATENCY, handlers::JOBS),
    )?;
    wait_until_idle(database).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(background(store.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let committed = pings(store, PINGS, INTERVAL).await?;
    stop.store(true, Ordering::Relaxed);
    let (jobs, loaded_for) = load.await??;
    wait_until_handled(database, handlers::LATENCY, PINGS as usize).await?;
    let pinged_in = started.elapsed();
    wait_until_handled(database, handlers::JOBS, jobs).await?;

    let peak_rss = worker.peak_rss()? / (1024 * 1024);
    let mut extra = delays(&worker.stop().await?, &committed)?;
    extra["peak_rss_mib"] = json!([peak_rss]);
    extra["background_per_second"] = json!((jobs as f64 / loaded_for.as_secs_f64()).round());
    let parameters = json!({
        "appends": PINGS,
        "interval_ms": INTERVAL.as_millis(),
        "background_batch": LOAD_BATCH,
        "background_interval_ms": LOAD_INTERVAL.as_millis(),
    });
    report::emit(
        "loaded-latency",
        parameters,
        PINGS as usize,
        pinged_in,
        extra,
    );
    Ok(())
}

/// Appends [`LOAD_BATCH`] jobs to a new stream every [`LOAD_INTERVAL`]
/// until told to stop, catching up when an append is late; returns how
/// many it appended, and in what time.
async fn background(
    store: Arc<dyn MessageStorage>,
    stop: Arc<AtomicBool>,
) -> BenchResult<(usize, Duration)> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(LOAD_INTERVAL);
    let mut batches = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let jobs = (0..LOAD_BATCH)
            .map(|n| NewMessage::new(&Job { n }))
            .collect::<beckett::Result<Vec<_>>>()?;
        store
            .append(&format!("Load-{batches}"), ExpectedVersion::Any, jobs)
            .await?;
        batches += 1;
    }
    Ok((batches * LOAD_BATCH as usize, started.elapsed()))
}
