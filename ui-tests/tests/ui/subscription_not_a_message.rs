use serde::{Deserialize, Serialize};

// Forgot `#[derive(beckett::Message)]`.
#[derive(Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[beckett::subscription(group = "Billing", messages(OrderPlaced))]
async fn request_invoice(placed: OrderPlaced) -> beckett::Result<()> {
    let _ = placed.order_id;
    Ok(())
}

fn main() {}
