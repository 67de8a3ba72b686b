//! The warehouse example: each `OrderItemAdded` allocates inventory for its
//! product, appending `InventoryAllocated` to the product's stream.
//!
//! ```sh
//! cargo run --example inventory_allocation              # produce orders and handle them here
//! cargo run --example inventory_allocation -- worker    # a worker; run as many as you like
//! cargo run --example inventory_allocation -- produce 1000
//! ```
//!
//! Connects to `DATABASE_URL`.

use beckett::{
    Beckett, Context, ExpectedVersion, Message, MessageStorage, NewMessage, PostgresStore,
};
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

/// Allocations made by this process, for the demo's summary.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

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

/// Appends `count` order items over 10 products, one order stream each.
async fn produce(store: &PostgresStore, count: usize, pause: Duration) -> beckett::Result<()> {
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
        store
            .append(
                &stream,
                ExpectedVersion::NoStream,
                vec![NewMessage::new(&item)?],
            )
            .await?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["worker"] => beckett::run().await,
        ["produce", count] => {
            let count = count.parse().unwrap_or_else(|_| usage());
            let store = store().await?;
            produce(&store, count, Duration::ZERO).await
        }
        [] => demo().await,
        _ => usage(),
    }
}

async fn store() -> beckett::Result<PostgresStore> {
    let pool = beckett::connect_from_env().await?;
    beckett::migrate(&pool).await?;
    Ok(PostgresStore::new(pool))
}

/// Produces 20 order items while a worker runs in this process, and stops
/// once they are all allocated.
async fn demo() -> beckett::Result<()> {
    const ORDERS: usize = 20;
    let store = store().await?;
    let producer = store.clone();
    let started = Instant::now();
    let done = async move {
        produce(&producer, ORDERS, Duration::from_millis(100))
            .await
            .expect("orders are appended");
        while ALLOCATED.load(Ordering::Relaxed) < ORDERS
            && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    Beckett::builder()
        .pool(store.pool().clone())
        .groups(["InventoryAllocation"])
        .build()?
        .run_until(done)
        .await?;
    println!(
        "{} order items allocated in {:.1?}",
        ALLOCATED.load(Ordering::Relaxed),
        started.elapsed()
    );
    Ok(())
}

fn usage() -> ! {
    eprintln!("usage: inventory_allocation [worker | produce COUNT]");
    std::process::exit(2)
}
