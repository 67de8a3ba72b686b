//! Traces and metrics, named and attributed by OpenTelemetry's messaging
//! conventions.
//!
//! Every append runs in a producer span, `send {stream}`, and every handler
//! call in a consumer span, `process {stream}`, both `tracing` spans that
//! an OpenTelemetry layer (`tracing-opentelemetry`) exports. With the
//! `opentelemetry` feature, an append also writes its span's W3C trace
//! context into each message's metadata (`traceparent`), a handler's span
//! is a child of the span that appended its message, so one trace runs
//! from an append through every handler it sets off and what they append
//! in turn, and the engine records metrics through OpenTelemetry's global
//! meter provider (install it before the engine starts):
//!
//! | metric | kind | attributes |
//! |---|---|---|
//! | `beckett.messages.appended` | counter | `messaging.destination.name` (the category) |
//! | `beckett.messages.handled` | counter | `messaging.consumer.group.name`, `beckett.subscription` |
//! | `beckett.handler.duration` | histogram, seconds | the same, and `beckett.outcome` (`ok`, `error`) |
//! | `beckett.handler.retries` | counter | the same as handled |
//! | `beckett.messages.failed` | counter | the same: streams failed past their retries |
//! | `beckett.subscription.lagging` | gauge | the same: streams with messages to handle |
//! | `beckett.subscription.behind` | gauge | the same: stream positions still to handle |

use crate::error::Result;
use crate::store::Envelope;
use std::future::Future;
use tracing::Instrument;

/// Runs an append of `messages` messages to `stream` in its producer span:
/// what every store's append runs in, so that the messages it encodes carry
/// the span's trace context.
pub async fn appending<T>(
    stream: &str,
    messages: usize,
    append: impl Future<Output = Result<T>>,
) -> Result<T> {
    let span = tracing::info_span!(
        "send",
        otel.name = format!("send {stream}"),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "beckett",
        messaging.operation.type = "send",
        messaging.operation.name = "append",
        messaging.destination.name = stream,
        messaging.batch.message_count = messages,
    );
    let appended = append.instrument(span.clone()).await;
    match &appended {
        Ok(_) => metrics::appended(stream, messages),
        Err(_) => {
            span.record("otel.status_code", "error");
        }
    }
    appended
}

/// The consumer span of a handler's call of `message` for `subscription`
/// of `group`: a child of the span that appended it, where the message
/// carries that span's trace context.
pub(crate) fn processing(group: &str, subscription: &str, message: &Envelope) -> tracing::Span {
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {}", message.stream),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "beckett",
        messaging.operation.type = "process",
        messaging.operation.name = "handle",
        messaging.destination.name = %message.stream,
        messaging.message.id = %message.id,
        messaging.message.conversation_id = message.metadata.correlation_id.map(tracing::field::display),
        messaging.consumer.group.name = group,
        beckett.subscription = subscription,
        beckett.stream.position = message.position,
    );
    context::adopt(&span, message.metadata.traceparent.as_deref());
    span
}

/// Marks a span failed.
pub(crate) fn failed(span: &tracing::Span) {
    span.record("otel.status_code", "error");
}

/// The W3C trace context of the current span, for a message's metadata;
/// `None` without the `opentelemetry` feature or outside a sampled trace.
pub(crate) fn traceparent() -> Option<String> {
    context::current()
}

#[cfg(feature = "opentelemetry")]
pub(crate) use metrics::lag;
pub(crate) use metrics::{handled, retried, stream_failed};

#[cfg(feature = "opentelemetry")]
mod context {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The current span's context as a W3C `traceparent`.
    pub fn current() -> Option<String> {
        let context = tracing::Span::current().context();
        let span = context.span();
        let span = span.span_context();
        span.is_valid().then(|| {
            format!(
                "00-{}-{}-{:02x}",
                span.trace_id(),
                span.span_id(),
                span.trace_flags().to_u8()
            )
        })
    }

    /// Makes `span` a child of the one `traceparent` names, if it names
    /// one: `00-{trace id}-{parent id}-{flags}`.
    pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
        let Some(parent) = traceparent.and_then(parse) else {
            return;
        };
        let context = opentelemetry::Context::new().with_remote_span_context(parent);
        // A span no OpenTelemetry layer records has no parent to take.
        let _ = span.set_parent(context);
    }

    fn parse(traceparent: &str) -> Option<SpanContext> {
        let mut parts = traceparent.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 {
            return None;
        }
        let trace = TraceId::from_hex(trace).ok()?;
        let span = SpanId::from_hex(span).ok()?;
        let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
        let context = SpanContext::new(trace, span, flags, true, TraceState::default());
        context.is_valid().then_some(context)
    }

    #[cfg(test)]
    mod tests {
        use super::parse;

        #[test]
        fn traceparents_parse_as_w3c_says() {
            let context = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
            assert_eq!(
                context.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
            assert!(context.is_sampled() && context.is_remote());
            for bad in [
                "",
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            ] {
                assert!(parse(bad).is_none(), "{bad}");
            }
        }
    }
}

#[cfg(not(feature = "opentelemetry"))]
mod context {
    pub fn current() -> Option<String> {
        None
    }

    pub fn adopt(_: &tracing::Span, _: Option<&str>) {}
}

#[cfg(feature = "opentelemetry")]
mod metrics {
    use crate::store::category;
    use opentelemetry::metrics::{Counter, Gauge, Histogram};
    use opentelemetry::KeyValue;
    use std::sync::OnceLock;
    use std::time::Duration;

    /// The instruments, made from the global meter provider on first use.
    struct Instruments {
        appended: Counter<u64>,
        handled: Counter<u64>,
        duration: Histogram<f64>,
        retries: Counter<u64>,
        failed: Counter<u64>,
        lagging: Gauge<u64>,
        behind: Gauge<i64>,
    }

    fn instruments() -> &'static Instruments {
        static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
        INSTRUMENTS.get_or_init(|| {
            let meter = opentelemetry::global::meter("beckett");
            Instruments {
                appended: meter
                    .u64_counter("beckett.messages.appended")
                    .with_description("Messages appended")
                    .build(),
                handled: meter
                    .u64_counter("beckett.messages.handled")
                    .with_description("Messages handled")
                    .build(),
                duration: meter
                    .f64_histogram("beckett.handler.duration")
                    .with_unit("s")
                    .with_description("How long handler calls took")
                    .build(),
                retries: meter
                    .u64_counter("beckett.handler.retries")
                    .with_description("Failed handler calls to be retried")
                    .build(),
                failed: meter
                    .u64_counter("beckett.messages.failed")
                    .with_description("Streams failed past their retries")
                    .build(),
                lagging: meter
                    .u64_gauge("beckett.subscription.lagging")
                    .with_description("Streams with messages to handle")
                    .build(),
                behind: meter
                    .i64_gauge("beckett.subscription.behind")
                    .with_description("Stream positions still to handle")
                    .build(),
            }
        })
    }

    fn of(group: &str, subscription: &str) -> [KeyValue; 2] {
        [
            KeyValue::new("messaging.consumer.group.name", group.to_owned()),
            KeyValue::new("beckett.subscription", subscription.to_owned()),
        ]
    }

    pub fn appended(stream: &str, messages: usize) {
        let destination = KeyValue::new("messaging.destination.name", category(stream).to_owned());
        instruments().appended.add(messages as u64, &[destination]);
    }

    /// A handler call's outcome and how long it took.
    pub fn handled(group: &str, subscription: &str, took: Duration, ok: bool) {
        let [g, s] = of(group, subscription);
        let outcome = KeyValue::new("beckett.outcome", if ok { "ok" } else { "error" });
        let instruments = instruments();
        instruments
            .duration
            .record(took.as_secs_f64(), &[g.clone(), s.clone(), outcome]);
        if ok {
            instruments.handled.add(1, &[g, s]);
        }
    }

    pub fn retried(group: &str, subscription: &str) {
        instruments().retries.add(1, &of(group, subscription));
    }

    pub fn stream_failed(group: &str, subscription: &str) {
        instruments().failed.add(1, &of(group, subscription));
    }

    /// A subscription's lag: streams lagging, and positions behind.
    pub fn lag(group: &str, subscription: &str, lagging: u64, behind: i64) {
        let attributes = of(group, subscription);
        instruments().lagging.record(lagging, &attributes);
        instruments().behind.record(behind, &attributes);
    }
}

#[cfg(not(feature = "opentelemetry"))]
mod metrics {
    use std::time::Duration;

    pub fn appended(_: &str, _: usize) {}
    pub fn handled(_: &str, _: &str, _: Duration, _: bool) {}
    pub fn retried(_: &str, _: &str) {}
    pub fn stream_failed(_: &str, _: &str) {}
}
