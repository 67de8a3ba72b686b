//! Reading messages back as `Message` types, and the errors when they do
//! not fit.

mod common;

use beckett::{
    Context, DecodeError, Error, ExpectedVersion, Message, MessageSet, MessageStorage, NewMessage,
};
use common::{eventually, store, Counted, ItemAdded};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;

/// A type stored as `PlacedOrder`, then as `OrderPlaced` once renamed,
/// before it got a stable wire name.
#[derive(Debug, Clone, PartialEq, Message, Serialize, Deserialize)]
#[message(name = "order_placed", aliases("OrderPlaced", "PlacedOrder"))]
struct OrderPlaced {
    order_id: i64,
}

#[derive(Debug, PartialEq, MessageSet)]
enum CartEvent {
    Added(ItemAdded),
    Placed(OrderPlaced),
}

#[beckett::subscription(group = "Renamed", messages(OrderPlaced))]
async fn record_placed(placed: OrderPlaced, ctx: Context) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO placed (order_id) VALUES ($1)")
        .bind(placed.order_id)
        .execute(common::pool(&ctx))
        .await
        .map(drop)
}

#[sqlx::test(migrations = false)]
async fn messages_decode_into_their_types(pool: PgPool) {
    let store = store(pool).await;
    let added = ItemAdded {
        sku: "kb-1".to_owned(),
        quantity: 2,
    };
    let messages = vec![
        NewMessage::new(&Counted { n: 7 }).unwrap(),
        NewMessage::new(&added).unwrap(),
    ];
    store
        .append("Cart-1", ExpectedVersion::Any, messages)
        .await
        .unwrap();

    let read = store.read_stream("Cart-1", 1, 10).await.unwrap();
    assert_eq!(read[0].message_type, "Counted");
    assert_eq!(read[0].decode::<Counted>().unwrap(), Counted { n: 7 });
    assert_eq!(
        read[1].message_type, "item_added",
        "the wire name, not the ident"
    );
    assert_eq!(read[1].decode::<ItemAdded>().unwrap(), added);
    assert_eq!(read[1].data, json!({ "sku": "kb-1", "quantity": 2 }));
}

#[sqlx::test(migrations = false)]
async fn decoding_as_another_type_names_the_message(pool: PgPool) {
    let store = store(pool).await;
    let message = NewMessage::from_json("Refunded", json!({ "n": 1 }));
    store
        .append("Cart-1", ExpectedVersion::Any, vec![message])
        .await
        .unwrap();

    let read = store.read_stream("Cart-1", 1, 10).await.unwrap();
    let error = read[0].decode::<Counted>().unwrap_err();
    assert!(matches!(
        &error,
        Error::Decode { stream, position: 1, message_type, source: DecodeError::UnknownType { expected } }
            if stream == "Cart-1" && message_type == "Refunded" && expected == &["Counted"]
    ));
    assert_eq!(
        error.to_string(),
        "cannot decode message at position 1 of stream `Cart-1` (type `Refunded`): \
         unknown message type; expected Counted"
    );
}

#[sqlx::test(migrations = false)]
async fn data_that_does_not_fit_names_the_message(pool: PgPool) {
    let store = store(pool).await;
    let messages = vec![
        NewMessage::from_json("item_added", json!({ "sku": "kb-1", "quantity": 1 })),
        NewMessage::from_json("item_added", json!({ "sku": "kb-1", "quantity": "two" })),
        NewMessage::from_json("item_added", json!({ "sku": "kb-1" })),
        NewMessage::from_json("item_added", json!("not an object")),
    ];
    store
        .append("Cart-2", ExpectedVersion::Any, messages)
        .await
        .unwrap();

    let read = store.read_stream("Cart-2", 1, 10).await.unwrap();
    assert!(read[0].decode::<ItemAdded>().is_ok());
    for (envelope, problem) in
        read[1..]
            .iter()
            .zip(["invalid type", "missing field `quantity`", "invalid type"])
    {
        let error = envelope.decode::<ItemAdded>().unwrap_err();
        assert!(
            matches!(
                error,
                Error::Decode {
                    source: DecodeError::Json(_),
                    ..
                }
            ),
            "{error}"
        );
        let text = error.to_string();
        let place = format!(
            "position {} of stream `Cart-2` (type `item_added`)",
            envelope.position
        );
        assert!(text.contains(&place) && text.contains(problem), "{text}");
    }
}

#[sqlx::test(migrations = false)]
async fn metadata_written_by_others_that_does_not_fit_names_the_message(pool: PgPool) {
    let store = store(pool.clone()).await;
    store
        .append(
            "Cart-3",
            ExpectedVersion::Any,
            vec![NewMessage::new(&Counted { n: 1 }).unwrap()],
        )
        .await
        .unwrap();
    sqlx::query(r#"UPDATE beckett.messages SET metadata = '{"correlation_id": "not-a-uuid"}'"#)
        .execute(&pool)
        .await
        .unwrap();

    let error = store.read_stream("Cart-3", 1, 10).await.unwrap_err();
    assert!(
        matches!(error, Error::Decode { position: 1, .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("stream `Cart-3`") && text.contains("type `Counted`"),
        "{text}"
    );
}

#[sqlx::test(migrations = false)]
async fn messages_stored_under_an_alias_decode_to_the_renamed_type(pool: PgPool) {
    let store = store(pool).await;
    let added = ItemAdded {
        sku: "kb-1".to_owned(),
        quantity: 2,
    };
    let messages = vec![
        NewMessage::from_json("PlacedOrder", json!({ "order_id": 1 })),
        NewMessage::from_json("OrderPlaced", json!({ "order_id": 2 })),
        NewMessage::new(&OrderPlaced { order_id: 3 }).unwrap(),
        NewMessage::new(&added).unwrap(),
    ];
    store
        .append("Cart-4", ExpectedVersion::Any, messages)
        .await
        .unwrap();

    let read = store.read_stream("Cart-4", 1, 10).await.unwrap();
    let types: Vec<&str> = read.iter().map(|m| m.message_type.as_str()).collect();
    assert_eq!(
        types,
        ["PlacedOrder", "OrderPlaced", "order_placed", "item_added"],
        "new messages are stored under the name"
    );
    for (envelope, order_id) in read.iter().zip(1..=3) {
        let placed = OrderPlaced { order_id };
        assert_eq!(envelope.decode::<OrderPlaced>().unwrap(), placed);
        assert_eq!(
            CartEvent::decode(envelope).unwrap(),
            CartEvent::Placed(placed)
        );
    }
    assert_eq!(
        CartEvent::decode(&read[3]).unwrap(),
        CartEvent::Added(added)
    );
    assert!(read[3].decode::<OrderPlaced>().is_err());
}

#[sqlx::test(migrations = false)]
async fn subscriptions_handle_messages_stored_under_an_alias(pool: PgPool) {
    let store = store(pool.clone()).await;
    sqlx::query("CREATE TABLE placed (id bigserial, order_id bigint)")
        .execute(&pool)
        .await
        .unwrap();
    let (stop, running) = common::run_group(&pool, "Renamed", |builder| builder);
    let messages = vec![
        NewMessage::from_json("PlacedOrder", json!({ "order_id": 1 })),
        NewMessage::from_json("Refunded", json!({ "order_id": 2 })),
        NewMessage::from_json("OrderPlaced", json!({ "order_id": 3 })),
        NewMessage::new(&OrderPlaced { order_id: 4 }).unwrap(),
    ];
    store
        .append("Order-1", ExpectedVersion::Any, messages)
        .await
        .unwrap();

    eventually(
        "every message of an alias or the name is handled",
        || async {
            let handled: Vec<i64> = sqlx::query_scalar("SELECT order_id FROM placed ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
            handled == [1, 3, 4]
        },
    )
    .await;

    stop.cancel();
    running.await.unwrap().unwrap();
}
