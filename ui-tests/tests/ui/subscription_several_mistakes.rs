use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

// Every mistake is reported in one compile.
#[beckett::subscription(group = "", messages(), start = "now", transactional = true)]
fn request_invoice(placed: OrderPlaced) {
    let _ = placed.order_id;
}

fn main() {}
