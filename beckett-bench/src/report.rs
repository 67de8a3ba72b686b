//! Results as one JSON line, and the percentiles they quote.

use serde_json::{json, Value};
use std::time::Duration;

/// Prints one result line.
pub fn emit(scenario: &str, parameters: Value, messages: usize, elapsed: Duration, extra: Value) {
    let mut line = json!({
        "scenario": scenario,
        "parameters": parameters,
        "messages": messages,
        "seconds": seconds(elapsed),
        "messages_per_second": (messages as f64 / elapsed.as_secs_f64()).round(),
    });
    if let (Value::Object(line), Value::Object(extra)) = (&mut line, extra) {
        line.extend(extra);
    }
    println!("{line}");
}

/// The p50, p90 and p99 of `samples` (milliseconds), as JSON.
pub fn latency(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        (samples[index] * 100.0).round() / 100.0
    };
    json!({ "p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99) })
}

/// One measurement, before it is printed.
pub struct Measurement {
    pub parameters: Value,
    pub messages: usize,
    pub elapsed: Duration,
    pub extra: Value,
}

impl Measurement {
    /// Messages handled per second.
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    /// Prints it as `scenario`'s result line.
    pub fn emit(self, scenario: &str) {
        emit(
            scenario,
            self.parameters,
            self.messages,
            self.elapsed,
            self.extra,
        );
    }
}

/// Seconds, to the millisecond.
pub fn seconds(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1000.0).round() / 1000.0
}
