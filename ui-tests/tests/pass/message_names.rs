use beckett::Message;
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(Message, Serialize, Deserialize)]
#[message(name = "order_shipped.v2")]
enum OrderShipped {
    ByPost { tracking: String },
    Collected,
}

fn main() {
    assert_eq!(OrderPlaced::NAME, "OrderPlaced");
    assert_eq!(OrderShipped::NAME, "order_shipped.v2");
}
