use beckett::{Context, Message, MessageSet};
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize)]
pub struct OrderPlaced {
    order_id: u64,
}

#[derive(Message, Serialize, Deserialize)]
#[message(name = "order_shipped.v2", aliases("OrderShipped"))]
pub struct OrderShipped {
    order_id: u64,
}

#[derive(MessageSet)]
pub enum OrderEvent {
    Placed(OrderPlaced),
    Shipped(OrderShipped),
}

// Listed in another order than the variants: the set must cover the same
// types, in any order.
#[beckett::subscription(group = "Shipping", messages(OrderShipped, OrderPlaced))]
pub async fn track(event: OrderEvent, _ctx: Context) -> Result<(), String> {
    match event {
        OrderEvent::Placed(placed) => println!("placed {}", placed.order_id),
        OrderEvent::Shipped(shipped) => {
            return Err(format!("order {} shipped twice", shipped.order_id));
        }
    }
    Ok(())
}

fn main() {
    // The names only: aliases decode, but are not names of the set.
    assert_eq!(OrderEvent::NAMES, ["OrderPlaced", "order_shipped.v2"]);
}
