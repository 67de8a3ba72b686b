//! The scenarios' subscriptions, each in a group of its own, and what they
//! report: a worker process (`beckett::run()`, the groups picked with
//! `BECKETT_GROUPS`) prints it on stdout when it exits; handlers in the
//! harness's own process hand it over directly.

use beckett::{Context, Message};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A job whose handler does nothing.
#[derive(Message, Serialize, Deserialize)]
pub struct Job {
    pub n: u64,
}

/// A message whose handler checks it arrives in stream order.
#[derive(Message, Serialize, Deserialize)]
pub struct Step {
    pub n: u64,
}

/// A message each of the [`FANOUT`] group's subscriptions handles.
#[derive(Message, Serialize, Deserialize)]
pub struct Fan {
    pub n: u64,
}

/// A message whose handler reports when it started.
#[derive(Message, Serialize, Deserialize)]
pub struct Ping {
    pub seq: u64,
}

pub const JOBS: &str = "Jobs";
pub const ORDERED: &str = "Ordered";
pub const LATENCY: &str = "Latency";
pub const FANOUT: &str = "Fanout";

/// How many subscriptions of the [`FANOUT`] group select each [`Fan`].
pub const FANNED: usize = 10;

/// One no-op subscription of the [`FANOUT`] group per name.
macro_rules! fanned {
    ($($name:ident),*) => {$(
        #[beckett::subscription(group = "Fanout", messages(Fan))]
        async fn $name(_: Fan) -> beckett::Result<()> {
            Ok(())
        }
    )*};
}

fanned!(fan_0, fan_1, fan_2, fan_3, fan_4, fan_5, fan_6, fan_7, fan_8, fan_9);

/// The name `#[subscription]` gives the [`JOBS`] group's handler.
pub const NO_OP: &str = "no_op";

#[beckett::subscription(group = "Jobs", messages(Job))]
async fn no_op(_: Job) -> beckett::Result<()> {
    Ok(())
}

/// The position each stream was last handled at, in this process.
static HANDLED: Mutex<Option<HashMap<String, i64>>> = Mutex::new(None);
/// Messages handled at another position than the one after the last.
static OUT_OF_ORDER: AtomicU64 = AtomicU64::new(0);

#[beckett::subscription(group = "Ordered", messages(Step))]
async fn in_order(_: Step, ctx: Context) -> beckett::Result<()> {
    let mut handled = HANDLED.lock().expect("no handler panics holding it");
    let last = handled
        .get_or_insert_with(HashMap::new)
        .insert(ctx.stream().to_owned(), ctx.position())
        .unwrap_or(0);
    if ctx.position() != last + 1 {
        OUT_OF_ORDER.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// When each ping's handler started, by sequence number.
static STARTED: Mutex<Vec<(u64, i64)>> = Mutex::new(Vec::new());

#[beckett::subscription(group = "Latency", messages(Ping))]
async fn pong(ping: Ping) -> beckett::Result<()> {
    let started = unix_micros();
    STARTED
        .lock()
        .expect("no handler panics holding it")
        .push((ping.seq, started));
    Ok(())
}

/// Microseconds since the Unix epoch, by this machine's clock.
pub fn unix_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Runs until SIGTERM, then reports what it saw.
pub async fn work() -> beckett::Result<()> {
    beckett::run().await?;
    print!("{}", report());
    Ok(())
}

/// What the handlers saw since the last report, a line each: `started SEQ
/// MICROS` per ping, then `out_of_order N`. Handlers in the harness's own
/// process serve one scenario after another, so each report starts afresh.
pub fn report() -> String {
    let started = std::mem::take(&mut *STARTED.lock().expect("no handler panics holding it"));
    let mut report: String = started
        .iter()
        .map(|(seq, at)| format!("started {seq} {at}\n"))
        .collect();
    report.push_str(&format!(
        "out_of_order {}\n",
        OUT_OF_ORDER.swap(0, Ordering::Relaxed)
    ));
    *HANDLED.lock().expect("no handler panics holding it") = None;
    report
}
