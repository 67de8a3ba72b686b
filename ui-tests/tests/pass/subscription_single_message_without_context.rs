use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

mod handlers {
    use super::OrderPlaced;

    // A private fn in a module, with a name that a macro might have used
    // for its own locals, returning a std error.
    #[beckett::subscription(group = "Audit", name = "log_order", messages(super::OrderPlaced))]
    async fn message(message: OrderPlaced) -> Result<(), std::io::Error> {
        println!("order {}", message.order_id);
        Ok(())
    }
}

fn main() {}
