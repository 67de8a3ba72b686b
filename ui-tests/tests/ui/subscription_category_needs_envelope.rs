use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[beckett::subscription(group = "Audit", category = "Order")]
async fn audit(placed: OrderPlaced) -> beckett::Result<()> {
    let _ = placed.order_id;
    Ok(())
}

fn main() {}
