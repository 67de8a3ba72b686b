use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
#[message(nmae = "order_placed")]
struct OrderPlaced {
    order_id: u64,
}

fn main() {}
