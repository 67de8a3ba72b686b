//! Migrations: idempotent, safe to run at once from several places, in any
//! schema, and printable as one script.

mod common;

use beckett::{Error, ExpectedVersion, MessageStorage, PostgresStore, Schema};
use common::counted;
use sqlx::PgPool;

const TABLES: [&str; 8] = [
    "checkpoints",
    "messages",
    "recurring_jobs",
    "scheduled_messages",
    "skipped_messages",
    "streams",
    "subscription_minutes",
    "subscriptions",
];

async fn tables(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 AND table_name NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn migrating_twice_changes_nothing(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    let store = PostgresStore::new(pool.clone());
    store
        .append("Keep-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();

    beckett::migrate(&pool).await.unwrap();

    assert_eq!(tables(&pool, "beckett").await, TABLES);
    assert_eq!(store.read_stream("Keep-1", 1, 10).await.unwrap().len(), 1);
}

#[sqlx::test(migrations = false)]
async fn concurrent_migrations_take_turns(pool: PgPool) {
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { beckett::migrate(&pool).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    assert_eq!(tables(&pool, "beckett").await, TABLES);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM beckett._sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count();
    assert_eq!(applied, migrations as i64, "each migration applied once");
}

#[sqlx::test(migrations = false)]
async fn schemas_are_independent(pool: PgPool) {
    let events = Schema::new("events").unwrap();
    beckett::migrate(&pool).await.unwrap();
    beckett::migrate_schema(&pool, &events).await.unwrap();
    let default = PostgresStore::new(pool.clone());
    let other = PostgresStore::with_schema(pool.clone(), &events);

    default
        .append("Order-1", ExpectedVersion::NoStream, vec![counted(1)])
        .await
        .unwrap();
    other
        .append("Order-1", ExpectedVersion::NoStream, vec![counted(2)])
        .await
        .unwrap();

    assert_eq!(tables(&pool, "events").await, TABLES);
    let read = other.read_stream("Order-1", 1, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].decode::<common::Counted>().unwrap().n, 2);
}

#[sqlx::test(migrations = false)]
async fn printed_script_creates_a_working_store(pool: PgPool) {
    let schema = Schema::new("from_script").unwrap();
    sqlx::raw_sql(&beckett::migration_script(&schema))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("RESET search_path")
        .execute(&pool)
        .await
        .unwrap();

    let store = PostgresStore::with_schema(pool.clone(), &schema);
    store
        .append("Order-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    assert_eq!(tables(&pool, "from_script").await, TABLES);
}

#[test]
fn bad_schema_names_are_refused_naming_the_setting() {
    for name in [
        "",
        "Events",
        "1events",
        "events;drop",
        "a".repeat(64).as_str(),
    ] {
        let error = Schema::new(name).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Config {
                    setting: "schema",
                    ..
                }
            ),
            "{error}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with("invalid setting `schema`") && text.contains(&format!("{name:?}")),
            "{text}"
        );
    }
}
