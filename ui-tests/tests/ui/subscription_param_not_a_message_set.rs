use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderShipped {
    order_id: u64,
}

// Two types listed, but the handler takes one of them rather than an enum
// deriving `MessageSet`.
#[beckett::subscription(group = "Shipping", messages(OrderPlaced, OrderShipped))]
async fn track(placed: OrderPlaced) -> beckett::Result<()> {
    let _ = placed.order_id;
    Ok(())
}

fn main() {}
