use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[beckett::subscription(group = "Billing", messages(OrderPlaced))]
async fn request_invoice(placed: OrderPlaced, ctx: &beckett::Context) -> beckett::Result<()> {
    let _ = (placed, ctx);
    Ok(())
}

fn main() {}
