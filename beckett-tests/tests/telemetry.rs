//! OpenTelemetry, with the SDK's in-memory exporters: one trace runs from
//! an append through two handlers that append in turn, each span named and
//! attributed by the messaging conventions, and the engine's metrics count
//! what it did.

use beckett::testing::TestRun;
use beckett::{Beckett, Context, ExpectedVersion, Message, MessageStorage, NewMessage};
use opentelemetry::trace::{SpanKind, TracerProvider};
use opentelemetry::Value;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Message, Serialize, Deserialize)]
struct OrderPlaced {
    total: u32,
}

#[derive(Debug, Message, Serialize, Deserialize)]
struct InvoiceIssued {
    total: u32,
}

#[derive(Debug, Message, Serialize, Deserialize)]
struct InvoiceMailed {}

#[beckett::subscription(group = "Traced", messages(OrderPlaced))]
async fn invoice(order: OrderPlaced, ctx: Context) -> beckett::Result<()> {
    let issued = InvoiceIssued { total: order.total };
    ctx.append("Invoice-1", ExpectedVersion::Any, issued)
        .await?;
    Ok(())
}

#[beckett::subscription(group = "Traced", messages(InvoiceIssued))]
async fn mail(_: InvoiceIssued, ctx: Context) -> beckett::Result<()> {
    ctx.append("Mail-1", ExpectedVersion::Any, InvoiceMailed {})
        .await?;
    Ok(())
}

/// The one span named `name`.
fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let named: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(named.len(), 1, "one span `{name}` among {names:?}");
    named[0]
}

/// A span's attribute.
fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// The sum a counter reached, over all its attributes.
fn counted(metrics: &InMemoryMetricExporter, name: &str) -> u64 {
    let exported = metrics.get_finished_metrics().unwrap();
    let last = exported.last().expect("metrics were exported");
    let metric = last
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no metric `{name}`"));
    match metric.data() {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum.data_points().map(|p| p.value()).sum(),
        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
            histogram.data_points().map(|p| p.count()).sum()
        }
        other => panic!("`{name}` is {other:?}"),
    }
}

#[tokio::test]
async fn one_trace_runs_from_an_append_through_two_handlers() {
    let spans = InMemorySpanExporter::default();
    let tracing = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let metrics = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(meters.clone());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracing.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let run = TestRun::start(Beckett::builder().groups(["Traced"]))
        .await
        .unwrap();
    let order = NewMessage::new(&OrderPlaced { total: 30 }).unwrap();
    let order_id = order.id();
    run.store()
        .append("Order-1", ExpectedVersion::Any, vec![order])
        .instrument(tracing::info_span!("checkout"))
        .await
        .unwrap();
    run.settle().await;
    run.stop().await.unwrap();
    tracing.force_flush().unwrap();
    meters.force_flush().unwrap();

    let spans = spans.get_finished_spans().unwrap();
    let checkout = span(&spans, "checkout");
    let chain = [
        "send Order-1",
        "process Order-1",
        "send Invoice-1",
        "process Invoice-1",
        "send Mail-1",
    ];
    let mut parent = checkout;
    for name in chain {
        let this = span(&spans, name);
        assert_eq!(
            this.span_context.trace_id(),
            checkout.span_context.trace_id(),
            "`{name}` is in the trace of the append"
        );
        assert_eq!(
            this.parent_span_id,
            parent.span_context.span_id(),
            "`{name}` is a child of `{}`",
            parent.name
        );
        let (kind, operation) = match name.starts_with("send") {
            true => (SpanKind::Producer, "send"),
            false => (SpanKind::Consumer, "process"),
        };
        assert_eq!(this.span_kind, kind, "`{name}`'s kind");
        assert_eq!(attribute(this, "messaging.system"), Some("beckett".into()));
        assert_eq!(
            attribute(this, "messaging.operation.type"),
            Some(operation.into()),
            "`{name}`'s operation"
        );
        let stream = name.split_once(' ').unwrap().1.to_owned();
        assert_eq!(
            attribute(this, "messaging.destination.name"),
            Some(stream.into())
        );
        parent = this;
    }
    let handled = span(&spans, "process Invoice-1");
    assert_eq!(
        attribute(handled, "messaging.consumer.group.name"),
        Some("Traced".into())
    );
    assert_eq!(
        attribute(handled, "beckett.subscription"),
        Some("mail".into())
    );
    assert_eq!(
        attribute(handled, "messaging.message.conversation_id"),
        Some(order_id.to_string().into()),
        "the conversation is the order's"
    );
    let first = span(&spans, "process Order-1");
    assert_eq!(
        attribute(first, "messaging.message.id"),
        Some(order_id.to_string().into())
    );

    assert_eq!(counted(&metrics, "beckett.messages.handled"), 2);
    assert_eq!(counted(&metrics, "beckett.messages.appended"), 3);
    assert_eq!(counted(&metrics, "beckett.handler.duration"), 2);
}
