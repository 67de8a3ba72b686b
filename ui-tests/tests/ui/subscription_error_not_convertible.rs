use serde::{Deserialize, Serialize};

#[derive(beckett::Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(Debug)]
struct InvoiceError;

// Not a std error, so it does not convert into `beckett::BoxError`.
#[beckett::subscription(group = "Billing", messages(OrderPlaced))]
async fn request_invoice(placed: OrderPlaced) -> Result<(), InvoiceError> {
    let _ = placed.order_id;
    Err(InvoiceError)
}

fn main() {}
