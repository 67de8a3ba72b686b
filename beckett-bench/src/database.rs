//! A database of the scenario's own, migrated, and dropped afterwards.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Failures of the harness itself, as text for the operator.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A fresh database named after the scenario.
pub struct BenchDatabase {
    admin: PgPool,
    name: String,
    /// Its URL, for worker processes.
    pub url: String,
    /// A pool on it, for the harness's own appends and queries.
    pub pool: PgPool,
}

impl BenchDatabase {
    /// Creates (or re-creates) `beckett_bench_{scenario}` on the server of
    /// `DATABASE_URL` and migrates it.
    pub async fn create(scenario: &str) -> BenchResult<Self> {
        let base = std::env::var("DATABASE_URL")
            .map_err(|_| "DATABASE_URL is not set; point it at a Postgres server")?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&base)
            .await?;
        let name = format!("beckett_bench_{scenario}");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
        let mut url = url::Url::parse(&base)?;
        url.set_path(&name);
        let url = url.to_string();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await?;
        beckett::migrate(&pool).await?;
        Ok(Self {
            admin,
            name,
            url,
            pool,
        })
    }

    /// Drops the database.
    pub async fn drop(self) -> BenchResult<()> {
        self.pool.close().await;
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&self.admin)
            .await?;
        Ok(())
    }
}
