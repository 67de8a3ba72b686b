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

// Renamed from `Cancelled`, then given a stable name.
#[derive(Message, Serialize, Deserialize)]
#[message(name = "order_cancelled", aliases("OrderCancelled", "Cancelled"))]
struct OrderCancelled {
    order_id: u64,
}

// Renamed from `Refunded`; the name is still the identifier.
#[derive(Message, Serialize, Deserialize)]
#[message(aliases("Refunded"))]
struct OrderRefunded {
    order_id: u64,
}

fn main() {
    assert_eq!(OrderPlaced::NAME, "OrderPlaced");
    assert!(OrderPlaced::ALIASES.is_empty());
    assert_eq!(OrderShipped::NAME, "order_shipped.v2");
    assert_eq!(OrderCancelled::NAME, "order_cancelled");
    assert_eq!(OrderCancelled::ALIASES, ["OrderCancelled", "Cancelled"]);
    assert_eq!(OrderRefunded::NAME, "OrderRefunded");
    assert_eq!(OrderRefunded::ALIASES, ["Refunded"]);
}
