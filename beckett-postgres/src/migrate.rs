//! The store's schema: applying the migrations, or printing them as one
//! script for other migration tools.

use crate::error::db;
use beckett_core::{Error, Result, Schema};
use sqlx::migrate::Migrator;
use sqlx::PgPool;

/// The SQL files of `migrations/`, embedded at build time. They create
/// their objects unqualified, in the schema first on `search_path`.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Creates or updates beckett's tables in the default schema, `beckett`.
///
/// Idempotent, and safe when several processes start at once: see
/// [`migrate_schema`].
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// let pool = beckett::connect("postgres://localhost/app").await?;
/// beckett::migrate(&pool).await?;
/// # Ok(()) }
/// ```
pub async fn migrate(pool: &PgPool) -> Result<()> {
    migrate_schema(pool, &Schema::default()).await
}

/// Creates or updates beckett's tables in `schema`, creating the schema if
/// needed.
///
/// All of it runs in one transaction under an advisory lock on the schema:
/// processes that start at once take turns, and the later ones find the
/// work done. Applied migrations are recorded in the schema's own
/// `_sqlx_migrations` table.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> beckett::Result<()> {
/// let schema = beckett::Schema::new("events")?;
/// beckett::migrate_schema(&pool, &schema).await?;
/// # Ok(()) }
/// ```
pub async fn migrate_schema(pool: &PgPool, schema: &Schema) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('beckett migrate ' || $1, 0))")
        .bind(schema.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let quoted = schema.quoted();
    for statement in [
        format!("CREATE SCHEMA IF NOT EXISTS {quoted}"),
        format!("SET LOCAL search_path TO {quoted}"),
    ] {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    // The transaction's advisory lock already excludes other migrators;
    // sqlx's own lock is a session lock that an error could leave held.
    // `run_direct` is sqlx's way around `run`'s higher-ranked `Acquire`
    // bound, which would make this future not `Send`.
    Migrator {
        migrations: MIGRATOR.migrations.clone(),
        locking: false,
        ..Migrator::DEFAULT
    }
    .run_direct(&mut *tx)
    .await
    .map_err(|source| Error::Migrate {
        schema: schema.to_string(),
        source: source.into(),
    })?;
    tx.commit().await.map_err(db)?;
    Ok(())
}

/// Every migration as one SQL script that creates beckett's tables in
/// `schema`, for applying with another migration tool.
///
/// The script does not record what it applied; a database set up with it
/// is kept up to date with the scripts of later versions, not with
/// [`migrate`].
///
/// ```
/// let script = beckett::migration_script(&beckett::Schema::default());
/// assert!(script.starts_with("CREATE SCHEMA IF NOT EXISTS \"beckett\";"));
/// assert!(script.contains("CREATE TABLE messages"));
/// ```
pub fn migration_script(schema: &Schema) -> String {
    let quoted = schema.quoted();
    let mut script =
        format!("CREATE SCHEMA IF NOT EXISTS {quoted};\nSET search_path TO {quoted};\n");
    for migration in MIGRATOR.iter() {
        script.push_str(&format!(
            "\n-- Migration {}: {}\n{}\n",
            migration.version,
            migration.description,
            migration.sql.trim_end()
        ));
    }
    script
}
