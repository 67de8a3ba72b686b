//! A database of the scenario's own, on the backend asked for, migrated,
//! and dropped afterwards; and the harness's looks into it.

use beckett::state::Storage;
use beckett::Schema;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

mod bulk;

/// Failures of the harness itself, as text for the operator.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Which backend a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A database on the server `DATABASE_URL` names; workers are
    /// processes of their own.
    Postgres,
    /// A file in the temporary directory; handlers run in the harness's
    /// process, on its store.
    Sqlite,
}

impl Backend {
    const NAMES: [(&str, Backend); 2] =
        [("postgres", Backend::Postgres), ("sqlite", Backend::Sqlite)];

    /// The backend `--backend` names so.
    pub fn named(name: &str) -> Option<Self> {
        Self::NAMES
            .into_iter()
            .find_map(|(n, backend)| (n == name).then_some(backend))
    }

    /// The name `--backend` takes for it.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .into_iter()
            .find_map(|(name, backend)| (backend == self).then_some(name))
            .expect("every backend is named")
    }
}

/// A fresh database named after the scenario.
pub struct BenchDatabase {
    /// Its URL, for worker processes.
    pub url: String,
    /// The storage the harness appends through.
    pub storage: Storage,
    kind: Kind,
}

enum Kind {
    Postgres {
        admin: PgPool,
        name: String,
        pool: PgPool,
    },
    Sqlite {
        path: PathBuf,
    },
}

impl BenchDatabase {
    /// Creates (or re-creates) `beckett_bench_{scenario}` and migrates it.
    async fn create(backend: Backend, scenario: &str) -> BenchResult<Self> {
        let name = format!("beckett_bench_{}", scenario.replace('-', "_"));
        match backend {
            Backend::Postgres => Self::postgres(name).await,
            Backend::Sqlite => Self::sqlite(name).await,
        }
    }

    /// Runs `work` on a fresh database named after `scenario`, and drops
    /// the database afterwards whatever the outcome.
    pub async fn with<T>(
        backend: Backend,
        scenario: &str,
        work: impl AsyncFnOnce(&BenchDatabase) -> BenchResult<T>,
    ) -> BenchResult<T> {
        let database = Self::create(backend, scenario).await?;
        let result = work(&database).await;
        database.drop().await?;
        result
    }

    async fn postgres(name: String) -> BenchResult<Self> {
        let base = std::env::var("DATABASE_URL")
            .map_err(|_| "DATABASE_URL is not set; point it at a Postgres server")?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&base)
            .await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
        let mut url = url::Url::parse(&base)?;
        url.set_path(&name);
        let url = url.to_string();
        let storage = beckett::open(Some(&url), &Schema::default(), 16).await?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await?;
        Ok(Self {
            url,
            storage,
            kind: Kind::Postgres { admin, name, pool },
        })
    }

    async fn sqlite(name: String) -> BenchResult<Self> {
        let path = std::env::temp_dir().join(format!("{name}.db"));
        remove(&path);
        let url = format!("sqlite:{}", path.display());
        let storage = beckett::open(Some(&url), &Schema::default(), 1).await?;
        Ok(Self {
            url,
            storage,
            kind: Kind::Sqlite { path },
        })
    }

    /// The backend it is on.
    pub fn backend(&self) -> Backend {
        match self.kind {
            Kind::Postgres { .. } => Backend::Postgres,
            Kind::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Now, by the clock the store's times are written by.
    pub async fn now(&self) -> BenchResult<DateTime<Utc>> {
        match &self.kind {
            Kind::Postgres { pool, .. } => Ok(sqlx::query_scalar("SELECT clock_timestamp()")
                .fetch_one(pool)
                .await?),
            Kind::Sqlite { .. } => Ok(Utc::now()),
        }
    }

    /// Whether `group` has registered a subscription.
    pub async fn registered(&self, group: &str) -> BenchResult<bool> {
        let sql = "SELECT count(*) FROM beckett.subscriptions WHERE group_name = $1";
        Ok(self.count(sql, group).await? > 0)
    }

    /// How many messages `group` has handled, once its global consumer has
    /// read everything and no checkpoint lags; `None` while work is left.
    /// It asks only whether work is left, through the index of lagging
    /// checkpoints, while there is: summing every checkpoint at each look
    /// would load the database it measures.
    pub async fn handled(&self, group: &str) -> BenchResult<Option<i64>> {
        let lagging = "SELECT CASE WHEN coalesce(
                    (SELECT min(global_position) FROM beckett.subscriptions
                     WHERE group_name = $1)
                    >= (SELECT coalesce(max(global_position), 0) FROM beckett.messages),
                    false)
                AND NOT EXISTS (
                    SELECT 1 FROM beckett.checkpoints
                    WHERE group_name = $1 AND stream_version > stream_position
                        AND status <> 'failed') THEN 0 ELSE 1 END";
        if self.count(lagging, group).await? > 0 {
            return Ok(None);
        }
        let handled = "SELECT coalesce(sum(stream_position), 0) FROM beckett.checkpoints
            WHERE group_name = $1";
        Ok(Some(self.count(handled, group).await?))
    }

    /// When `group` last moved a checkpoint.
    pub async fn finished_at(&self, group: &str) -> BenchResult<DateTime<Utc>> {
        match &self.kind {
            Kind::Postgres { pool, .. } => Ok(sqlx::query_scalar(
                "SELECT max(updated_at) FROM beckett.checkpoints WHERE group_name = $1",
            )
            .bind(group)
            .fetch_one(pool)
            .await?),
            Kind::Sqlite { .. } => {
                let sql = "SELECT max(updated_at) FROM beckett.checkpoints WHERE group_name = $1";
                let micros = self.count(sql, group).await?;
                Ok(DateTime::from_timestamp_micros(micros).ok_or("no checkpoint moved")?)
            }
        }
    }

    /// Runs a query of one integer about `group`, written for Postgres
    /// with `beckett.` before its tables and `$1` for the group.
    async fn count(&self, sql: &str, group: &str) -> BenchResult<i64> {
        match &self.kind {
            Kind::Postgres { pool, .. } => {
                let sql = format!("SELECT ({sql})::bigint");
                Ok(sqlx::query_scalar(&sql).bind(group).fetch_one(pool).await?)
            }
            Kind::Sqlite { path } => {
                let sql = sql.replace("beckett.", "").replace("$1", "?1");
                let group = group.to_owned();
                on_sqlite(path, move |connection| {
                    connection.query_row(&sql, [group], |row| row.get(0))
                })
                .await
            }
        }
    }

    /// Drops the database.
    async fn drop(self) -> BenchResult<()> {
        match self.kind {
            Kind::Postgres { admin, name, pool } => {
                pool.close().await;
                drop(self.storage);
                sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await?;
            }
            Kind::Sqlite { path } => {
                drop(self.storage);
                remove(&path);
            }
        }
        Ok(())
    }
}

/// Runs `work` on a connection of its own to the SQLite file at `path`.
async fn on_sqlite<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> BenchResult<T> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> BenchResult<T> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(work(&connection)?)
    })
    .await?
}

/// Removes a SQLite database's files, if they are there.
fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
