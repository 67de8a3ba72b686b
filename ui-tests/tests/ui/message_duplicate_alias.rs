use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
#[message(name = "order_placed", aliases("PlacedOrder", "Placed", "PlacedOrder"))]
struct OrderPlaced {
    order_id: u64,
}

fn main() {}
