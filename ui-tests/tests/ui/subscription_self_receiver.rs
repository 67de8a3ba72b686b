use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

struct Billing;

impl Billing {
    #[beckett::subscription(group = "Billing", messages(OrderPlaced))]
    async fn request_invoice(&self, placed: OrderPlaced) -> beckett::Result<()> {
        let _ = placed.order_id;
        Ok(())
    }
}

fn main() {}
