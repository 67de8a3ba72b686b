//! The store's schema: applying the migrations, or printing them as one
//! script for other migration tools.

use crate::error::{Error, Result};
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use std::fmt;

/// The SQL files of `migrations/`, embedded at build time. They create
/// their objects unqualified, in the schema first on `search_path`.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The longest schema name: its notification channels (`{schema}_checkpoints`
/// the longest) must fit in 63 bytes.
const MAX_SCHEMA_NAME_LEN: usize = 50;

/// The Postgres schema holding beckett's tables; `beckett` unless
/// configured.
///
/// ```
/// use beckett::Schema;
///
/// assert_eq!(Schema::default().as_str(), "beckett");
/// assert_eq!(Schema::new("events")?.as_str(), "events");
/// assert!(Schema::new("drop table; --").is_err());
/// # Ok::<(), beckett::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schema(String);

impl Schema {
    /// A schema name: a lowercase letter or `_`, then up to 49 lowercase
    /// letters, digits or `_`, so it needs no quoting and reads the same in
    /// SQL written by hand, and the notification channels named after it
    /// fit Postgres's 63-byte identifiers.
    ///
    /// ```
    /// # use beckett::Schema;
    /// let error = Schema::new("Events").unwrap_err();
    /// assert!(error.to_string().contains("schema"));
    /// assert!(Schema::new("s".repeat(50)).is_ok());
    /// assert!(Schema::new("s".repeat(51)).is_err());
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let mut chars = name.chars();
        let valid_start = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let valid_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid_start && valid_rest && name.len() <= MAX_SCHEMA_NAME_LEN {
            Ok(Self(name))
        } else {
            Err(Error::Config {
                setting: "schema",
                reason: format!(
                    "{name:?} is not a schema name beckett accepts: use 1 to {MAX_SCHEMA_NAME_LEN} lowercase \
                     letters, digits or `_`, not starting with a digit"
                ),
            })
        }
    }

    /// The schema's name.
    ///
    /// ```
    /// assert_eq!(beckett::Schema::default().as_str(), "beckett");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The notification channel for `topic`, unique to this schema.
    pub(crate) fn channel(&self, topic: &str) -> String {
        format!("{}_{topic}", self.0)
    }

    /// The name quoted as an SQL identifier.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Default for Schema {
    fn default() -> Self {
        Self("beckett".to_owned())
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('beckett migrate ' || $1, 0))")
        .bind(schema.as_str())
        .execute(&mut *tx)
        .await?;
    let quoted = schema.quoted();
    for statement in [
        format!("CREATE SCHEMA IF NOT EXISTS {quoted}"),
        format!("SET LOCAL search_path TO {quoted}"),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
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
        source,
    })?;
    tx.commit().await?;
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
