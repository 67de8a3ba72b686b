use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderShipped {
    order_id: u64,
}

#[beckett::subscription(group = "Billing", messages(OrderPlaced))]
async fn request_invoice(shipped: OrderShipped) -> beckett::Result<()> {
    let _ = shipped.order_id;
    Ok(())
}

fn main() {}
