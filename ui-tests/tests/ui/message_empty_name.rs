use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
#[message(name = "")]
struct OrderPlaced {
    order_id: u64,
}

fn main() {}
