use serde::{Deserialize, Serialize};

// The alias repeats the name it defaults to, the type's identifier.
#[derive(beckett::Message, Serialize, Deserialize)]
#[message(aliases("PlacedOrder", "OrderPlaced"))]
struct OrderPlaced {
    order_id: u64,
}

fn main() {}
