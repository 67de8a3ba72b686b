use beckett::{Context, ExpectedVersion, Message};
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(Message, Serialize, Deserialize)]
struct InvoiceRequested {
    order_id: u64,
}

#[beckett::subscription(group = "Billing", messages(OrderPlaced))]
async fn request_invoice(placed: OrderPlaced, ctx: Context) -> beckett::Result<()> {
    let stream = format!("Invoice-{}", placed.order_id);
    let requested = InvoiceRequested {
        order_id: placed.order_id,
    };
    ctx.append(&stream, ExpectedVersion::Any, requested).await?;
    Ok(())
}

fn main() {}
