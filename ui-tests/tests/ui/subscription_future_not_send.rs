use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[beckett::subscription(group = "Billing", messages(OrderPlaced))]
async fn request_invoice(placed: OrderPlaced) -> beckett::Result<()> {
    // Held across an await: the handler's future is not `Send`.
    let shared = std::rc::Rc::new(placed);
    std::future::ready(()).await;
    let _ = shared.order_id;
    Ok(())
}

fn main() {}
