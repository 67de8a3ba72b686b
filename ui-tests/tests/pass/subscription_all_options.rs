use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct StockReserved {
    sku: String,
}

#[derive(beckett::Message, Serialize, Deserialize)]
struct StockReleased {
    sku: String,
}

#[beckett::subscription(
    group = "Inventory",
    name = "stock_projection",
    messages(StockReserved, StockReleased),
    category = "Stock",
    start = "end",
    max_retries = 3,
    timeout = "1500ms",
    transactional
)]
async fn project_stock(
    envelope: beckett::Envelope,
    ctx: beckett::Context,
) -> Result<(), beckett::BoxError> {
    let in_transaction = ctx.transaction().is_some();
    println!("{} (in transaction: {in_transaction})", envelope.message_type);
    Ok(())
}

fn main() {}
