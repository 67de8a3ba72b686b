//! Connecting to Postgres, with errors that name the database and never
//! its password.

use crate::error::db;
use beckett_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;

/// Connects a pool to the database at `url`.
///
/// A database that cannot be reached is [`Error::Connect`], naming the URL
/// with its password masked.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// let pool = beckett::connect("postgres://app:secret@localhost/app").await?;
/// beckett::migrate(&pool).await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<PgPool> {
    connect_pool(url, PgPoolOptions::new()).await
}

/// Connects a pool with `pool`'s options to the database at `url`, as
/// [`connect`] does.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// use sqlx::postgres::PgPoolOptions;
///
/// let options = PgPoolOptions::new().max_connections(30);
/// let pool = beckett::postgres::connect_pool("postgres://localhost/app", options).await?;
/// # Ok(()) }
/// ```
pub async fn connect_pool(url: &str, pool: PgPoolOptions) -> Result<PgPool> {
    let masked = mask_password(url)?;
    let failed = |source: sqlx::Error| Error::Connect {
        url: masked.clone(),
        source: source.into(),
    };
    let options: PgConnectOptions = url.parse().map_err(failed)?;
    // One direct attempt reports a database that is down at once; the pool
    // itself would retry until its acquire timeout.
    PgConnection::connect_with(&options)
        .await
        .map_err(failed)?
        .close()
        .await
        .map_err(db)?;
    Ok(pool.connect_lazy_with(options))
}

/// Connects a pool to the database named by the `DATABASE_URL` environment
/// variable, as [`connect`] does.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// let pool = beckett::connect_from_env().await?;
/// # Ok(()) }
/// ```
pub async fn connect_from_env() -> Result<PgPool> {
    let url = std::env::var("DATABASE_URL").map_err(|e| Error::Config {
        setting: "DATABASE_URL",
        reason: format!("{e}; set it to a postgres:// URL"),
    })?;
    connect(&url).await
}

/// The URL as it may be shown: any password replaced by `***`.
fn mask_password(url: &str) -> Result<String> {
    let invalid = |reason: String| Error::Config {
        setting: "DATABASE_URL",
        reason,
    };
    let mut parsed = url::Url::parse(url).map_err(|e| invalid(format!("not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(invalid(format!(
            "the scheme is `{}`; expected `postgres://` or `postgresql://`",
            parsed.scheme()
        )));
    }
    if parsed.password().is_some() {
        // Only URLs that cannot hold a password refuse one.
        let _ = parsed.set_password(Some("***"));
    }
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::mask_password;

    #[test]
    fn password_is_masked() {
        let masked = mask_password("postgres://app:secret@db.example:5432/app").unwrap();
        assert_eq!(masked, "postgres://app:***@db.example:5432/app");
        assert!(!masked.contains("secret"));
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let masked = mask_password("postgres://app@db.example/app").unwrap();
        assert_eq!(masked, "postgres://app@db.example/app");
    }

    #[test]
    fn unparsable_url_is_not_echoed() {
        for url in [
            "not a url:secret",
            "app:secret@db.example",
            "mysql://app:secret@db",
        ] {
            let error = mask_password(url).unwrap_err().to_string();
            assert!(error.contains("DATABASE_URL"), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
