//! Appends a few messages to an order stream and reads them back, by stream
//! and in global order.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Keeps the messages in the SQLite file `beckett.db`, or in the database
//! `DATABASE_URL` names (`postgres://…` or `sqlite:…`).

use beckett::{ExpectedVersion, GlobalCursor, Message, NewMessage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Message, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: Uuid,
    customer: String,
}

#[derive(Debug, Message, Serialize, Deserialize)]
#[message(name = "order_item_added")]
struct OrderItemAdded {
    order_id: Uuid,
    product: String,
    quantity: i32,
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    let storage = beckett::open_from_env().await?;
    let store = &**storage.messages();

    let order_id = Uuid::now_v7();
    let stream = format!("Order-{order_id}");
    let placed = NewMessage::new(&OrderPlaced {
        order_id,
        customer: "Ada".to_owned(),
    })?;
    let items = [("keyboard", 1), ("cable", 3)].map(|(product, quantity)| {
        NewMessage::new(&OrderItemAdded {
            order_id,
            product: product.to_owned(),
            quantity,
        })
    });
    store
        .append(&stream, ExpectedVersion::NoStream, vec![placed])
        .await?;
    let appended = store
        .append(
            &stream,
            ExpectedVersion::Exact(1),
            items.into_iter().collect::<Result<_, _>>()?,
        )
        .await?;
    println!(
        "appended to {stream}: now at version {}, global positions {:?}",
        appended.stream_version, appended.global_positions
    );

    for envelope in store.read_stream(&stream, 1, 100).await? {
        match envelope.message_type.as_str() {
            OrderPlaced::NAME => println!(
                "  #{} {:?}",
                envelope.position,
                envelope.decode::<OrderPlaced>()?
            ),
            _ => println!(
                "  #{} {:?}",
                envelope.position,
                envelope.decode::<OrderItemAdded>()?
            ),
        }
    }

    let mut cursor = GlobalCursor::START;
    let mut total = 0;
    loop {
        let read = store.read_global(&cursor, 1000).await?;
        if read.messages.is_empty() {
            break;
        }
        total += read.messages.len();
        cursor = read.cursor;
    }
    println!("the store holds {total} messages in global order");
    Ok(())
}
