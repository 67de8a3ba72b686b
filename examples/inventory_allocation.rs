//! The warehouse example: each `OrderItemAdded` allocates inventory for its
//! product, appending `InventoryAllocated` to the product's stream. Each
//! order also gets a payment reminder, scheduled for two seconds later and
//! cancelled when the order is paid first; every two seconds a recurring
//! job reports the allocations this process made so far.
//!
//! ```sh
//! cargo run --example inventory_allocation              # produce orders and handle them here
//! cargo run --example inventory_allocation -- worker    # a worker; run as many as you like
//! cargo run --example inventory_allocation -- produce 1000      # as fast as it can
//! cargo run --example inventory_allocation -- produce 1000 20   # one every 20 ms
//! ```
//!
//! Keeps everything in the SQLite file `beckett.db`, or in the database
//! `DATABASE_URL` names (`postgres://…` or `sqlite:…`).

use beckett::state::Storage;
use beckett::{Beckett, Context, ExpectedVersion, Message, NewMessage};
use chrono::TimeDelta;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Message, Serialize, Deserialize)]
pub struct OrderItemAdded {
    pub order_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i32,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Message, Serialize, Deserialize)]
#[message(name = "inventory_allocated")]
pub struct InventoryAllocated {
    pub product_id: Uuid,
    pub order_id: Uuid,
    pub quantity: i32,
}

#[derive(Debug, Message, Serialize, Deserialize)]
pub struct PaymentReminder {
    pub order_id: Uuid,
    pub due_at: DateTime<Utc>,
}

/// How long after an order its payment reminder is due.
const PAYMENT_DUE_IN: TimeDelta = TimeDelta::seconds(2);

/// Allocations and reminders handled by this process, for the demo's
/// summary.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static REMINDED: AtomicUsize = AtomicUsize::new(0);

#[beckett::subscription(group = "InventoryAllocation", messages(OrderItemAdded))]
async fn allocate_inventory(item: OrderItemAdded, ctx: Context) -> beckett::Result<()> {
    // Appended with causation and correlation ids taken from the order item.
    let allocated = InventoryAllocated {
        product_id: item.product_id,
        order_id: item.order_id,
        quantity: item.quantity,
    };
    ctx.append(
        &format!("Inventory-{}", item.product_id),
        ExpectedVersion::Any,
        allocated,
    )
    .await?;
    let latency = (Utc::now() - item.added_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    ALLOCATED.fetch_add(1, Ordering::Relaxed);
    println!(
        "allocated {} of product {} for order {} ({latency:.1} ms after it was added)",
        item.quantity, item.product_id, item.order_id
    );
    Ok(())
}

#[beckett::subscription(group = "Billing", messages(PaymentReminder))]
async fn send_payment_reminder(reminder: PaymentReminder) -> beckett::Result<()> {
    let late = (Utc::now() - reminder.due_at)
        .num_microseconds()
        .unwrap_or(0) as f64
        / 1000.0;
    REMINDED.fetch_add(1, Ordering::Relaxed);
    println!(
        "reminded the customer of order {} to pay ({late:.1} ms after it was due)",
        reminder.order_id
    );
    Ok(())
}

/// Every two seconds, in one process of the group at a time.
#[beckett::recurring("*/2 * * * * *", group = "Reporting")]
async fn stock_report(ctx: Context) -> beckett::Result<()> {
    println!(
        "stock report #{}: {} allocations so far in this process",
        ctx.position(),
        ALLOCATED.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Appends `count` order items over 10 products, one order stream each,
/// and schedules a payment reminder for each order; every other order is
/// paid at once, which cancels its reminder.
async fn produce(storage: &Storage, count: usize, pause: Duration) -> beckett::Result<()> {
    let products: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    for i in 0..count {
        let order_id = Uuid::now_v7();
        let item = OrderItemAdded {
            order_id,
            product_id: products[i % products.len()],
            quantity: 1 + (i % 3) as i32,
            added_at: Utc::now(),
        };
        let stream = format!("Order-{order_id}");
        storage
            .messages()
            .append(
                &stream,
                ExpectedVersion::NoStream,
                vec![NewMessage::new(&item)?],
            )
            .await?;
        let due_at = Utc::now() + PAYMENT_DUE_IN;
        let reminder = NewMessage::new(&PaymentReminder { order_id, due_at })?;
        let reminder = storage
            .engine()
            .schedule(&stream, reminder, due_at.into())
            .await?;
        if i % 2 == 1 {
            // Paid before the reminder was due.
            storage.engine().cancel_scheduled(reminder).await?;
        }
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    // beckett logs through `tracing`; RUST_LOG=beckett=info shows more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["worker"] => beckett::run().await,
        ["produce", count, pause @ ..] if pause.len() <= 1 => {
            let count = count.parse().unwrap_or_else(|_| usage());
            let pause = pause
                .first()
                .map_or(Ok(0), |p| p.parse())
                .unwrap_or_else(|_| usage());
            let storage = beckett::open_from_env().await?;
            produce(&storage, count, Duration::from_millis(pause)).await
        }
        [] => demo().await,
        _ => usage(),
    }
}

/// Produces 20 order items while every group runs in this process, and
/// stops once they are all allocated and the unpaid ones reminded.
async fn demo() -> beckett::Result<()> {
    const ORDERS: usize = 20;
    let storage = beckett::open_from_env().await?;
    let producer = storage.clone();
    let started = Instant::now();
    let done = async move {
        produce(&producer, ORDERS, Duration::from_millis(100))
            .await
            .expect("orders are appended");
        while (ALLOCATED.load(Ordering::Relaxed) < ORDERS
            || REMINDED.load(Ordering::Relaxed) < ORDERS / 2)
            && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    Beckett::builder()
        .storage(storage)
        .build()?
        .run_until(done)
        .await?;
    println!(
        "{} order items allocated and {} unpaid orders reminded in {:.1?}",
        ALLOCATED.load(Ordering::Relaxed),
        REMINDED.load(Ordering::Relaxed),
        started.elapsed()
    );
    Ok(())
}

fn usage() -> ! {
    eprintln!("usage: inventory_allocation [worker | produce COUNT [PAUSE_MS]]");
    std::process::exit(2)
}
