use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderShipped {
    order_id: u64,
}

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderCancelled {
    order_id: u64,
}

// The set lacks a variant for OrderCancelled.
#[derive(beckett::MessageSet)]
enum OrderEvent {
    Placed(OrderPlaced),
    Shipped(OrderShipped),
}

#[beckett::subscription(group = "Shipping", messages(OrderPlaced, OrderShipped, OrderCancelled))]
async fn track(event: OrderEvent) -> beckett::Result<()> {
    let _ = event;
    Ok(())
}

fn main() {}
