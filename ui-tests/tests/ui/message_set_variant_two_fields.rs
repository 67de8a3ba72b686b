use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderShipped {
    order_id: u64,
}

#[derive(beckett::MessageSet)]
enum OrderEvent {
    Placed(OrderPlaced),
    Shipped(OrderShipped, String),
}

fn main() {}
