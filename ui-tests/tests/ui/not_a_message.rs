use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

fn main() {
    let _ = beckett::NewMessage::new(&OrderPlaced { order_id: 1 });
}
