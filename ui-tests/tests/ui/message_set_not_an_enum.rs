use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(beckett::MessageSet)]
struct OrderEvent {
    placed: OrderPlaced,
}

fn main() {}
