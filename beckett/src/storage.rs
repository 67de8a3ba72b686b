//! Opening the storage a URL names: Postgres, SQLite, or by default a
//! SQLite file beside the program.

use beckett_core::state::Storage;
use beckett_core::{Error, Result, Schema};
use beckett_postgres::{connect_pool, migrate_schema, PostgresStore};
use beckett_sqlite::SqliteStore;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;

/// The SQLite file beckett keeps everything in when no database is
/// configured.
pub const DEFAULT_SQLITE_FILE: &str = "beckett.db";

/// Opens (and migrates) the storage `url` names: `postgres://…` or
/// `postgresql://…` for Postgres, in `schema`, with a pool of
/// `connections`; `sqlite:path` or `sqlite::memory:` for SQLite; with no
/// URL, the SQLite file [`DEFAULT_SQLITE_FILE`] in the working directory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> beckett::Result<()> {
/// use beckett::{ExpectedVersion, NewMessage, Schema};
///
/// let storage = beckett::open(Some("sqlite::memory:"), &Schema::default(), 10).await?;
/// let ping = NewMessage::from_json("Ping", serde_json::json!({}));
/// storage.messages().append("Pinger-1", ExpectedVersion::Any, vec![ping]).await?;
/// assert!(beckett::open(Some("mysql://localhost/app"), &Schema::default(), 10).await.is_err());
/// # Ok(()) }
/// ```
pub async fn open(url: Option<&str>, schema: &Schema, connections: u32) -> Result<Storage> {
    opened(url, schema, connections, Migrate::Yes).await
}

/// Opens the storage a URL names as [`open`] does, but leaves a Postgres
/// schema as it is, migrated or not: for tools that look at a store and
/// must not change its schema, where migrations are applied some other way.
/// A SQLite file is brought up to date on opening, as always.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// use beckett::Schema;
///
/// let storage = beckett::open_existing(Some("postgres://localhost/app"), &Schema::default(), 2).await?;
/// # Ok(()) }
/// ```
pub async fn open_existing(
    url: Option<&str>,
    schema: &Schema,
    connections: u32,
) -> Result<Storage> {
    opened(url, schema, connections, Migrate::No).await
}

/// Whether opening a Postgres store migrates its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Migrate {
    Yes,
    No,
}

async fn opened(
    url: Option<&str>,
    schema: &Schema,
    connections: u32,
    migrate: Migrate,
) -> Result<Storage> {
    match url {
        None => {
            tracing::info!(
                file = DEFAULT_SQLITE_FILE,
                "DATABASE_URL is not set: keeping messages and state in a SQLite file"
            );
            sqlite(SqliteStore::open(DEFAULT_SQLITE_FILE)?)
        }
        Some(url) if url.starts_with("sqlite:") => sqlite(SqliteStore::connect(url)?),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let options = PgPoolOptions::new().max_connections(connections);
            let pool = connect_pool(url, options).await?;
            if migrate == Migrate::Yes {
                migrate_schema(&pool, schema).await?;
            }
            Ok(postgres(PostgresStore::with_schema(pool, schema)))
        }
        Some(url) => Err(Error::Config {
            setting: "DATABASE_URL",
            reason: format!(
                "`{}` is neither a postgres:// nor a sqlite: URL",
                url.split_once(':').map_or(url, |(scheme, _)| scheme)
            ),
        }),
    }
}

/// Opens the storage `DATABASE_URL` names, as [`open`] does, in the
/// default schema.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// let storage = beckett::open_from_env().await?;
/// # Ok(()) }
/// ```
pub async fn open_from_env() -> Result<Storage> {
    let url = std::env::var("DATABASE_URL").ok();
    open(url.as_deref(), &Schema::default(), 10).await
}

/// A Postgres store as the storage of both kinds.
pub(crate) fn postgres(store: PostgresStore) -> Storage {
    Storage::together(Arc::new(store))
}

fn sqlite(store: SqliteStore) -> Result<Storage> {
    Ok(Storage::together(Arc::new(store)))
}
