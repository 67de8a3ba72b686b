use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[beckett::subscription(group = "Billing", messages(OrderPlaced), group = "Invoicing")]
async fn request_invoice(placed: OrderPlaced) -> beckett::Result<()> {
    let _ = placed.order_id;
    Ok(())
}

fn main() {}
