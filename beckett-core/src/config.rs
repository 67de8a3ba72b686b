//! Settings of a running beckett process, from the environment or code.

use crate::error::{Error, Result};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The longest schema name: its notification channels (`{schema}_checkpoints`
/// the longest) must fit in 63 bytes.
const MAX_SCHEMA_NAME_LEN: usize = 50;

/// The schema (the namespace, in stores that have them) holding beckett's
/// tables; `beckett` unless configured.
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

    /// The name quoted as an SQL identifier.
    ///
    /// ```
    /// assert_eq!(beckett::Schema::default().quoted(), "\"beckett\"");
    /// ```
    pub fn quoted(&self) -> String {
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

/// How a beckett process runs: which groups, how much at once, how long to
/// wait. Every value has a default safe for production.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The database (`DATABASE_URL`): `postgres://…` or `sqlite:…`; with
    /// none, the SQLite file `beckett.db`.
    pub database_url: Option<String>,
    /// The schema of beckett's tables (`BECKETT_SCHEMA`, default `beckett`).
    pub schema: Schema,
    /// The groups this process runs (`BECKETT_GROUPS`, comma-separated;
    /// default: every group linked in).
    pub groups: Option<Vec<String>>,
    /// Handler calls in flight at once in this process
    /// (`BECKETT_CONCURRENCY`, default min(cpus × 5, 20)).
    pub concurrency: usize,
    /// Messages of a stream read at once (`BECKETT_BATCH_SIZE`, default
    /// 100).
    pub batch_size: usize,
    /// Messages of the global order read at once by a group's global
    /// consumer (`BECKETT_GLOBAL_BATCH_SIZE`, default 1000). Its cost is per
    /// checkpoint raised, so the more messages a read holds per stream, the
    /// fewer writes they take.
    pub global_batch_size: usize,
    /// The most checkpoints of a group this process holds reserved at once,
    /// handled or waiting for a handler (`BECKETT_PREFETCH`, default 4000).
    /// Within it, a process holds about as many as it completed in the
    /// last half second, and at least `concurrency`.
    pub prefetch: usize,
    /// How long a reservation lasts unless the process holding it extends
    /// it (`BECKETT_RESERVATION_TIMEOUT`, default 10s, at least 1s). A
    /// running process extends its reservations every third of it, so a
    /// long handler keeps its stream; the streams of a process that died
    /// come back to the others once it has passed.
    pub reservation_timeout: Duration,
    /// How often consumers look for work when no notification came
    /// (`BECKETT_POLL_INTERVAL`, default 1s).
    pub poll_interval: Duration,
    /// How long one handler call may take (`BECKETT_HANDLER_TIMEOUT`,
    /// default 60s); a subscription's `timeout` overrides it.
    pub handler_timeout: Duration,
    /// Retries of a failing message before its stream is failed
    /// (`BECKETT_MAX_RETRIES`, default 10): retries, not attempts, so a
    /// message is tried up to this plus one times. A subscription's
    /// `max_retries` overrides it.
    pub max_retries: u32,
    /// The first retry's delay, doubled at each retry up to the longest
    /// (`BECKETT_RETRY_BASE_DELAY`, default 1s). Each delay is then drawn
    /// at random between half of it and all of it, so streams that failed
    /// together do not retry in step: the first retry comes after 0.5s to
    /// 1s by default.
    pub retry_base_delay: Duration,
    /// The longest delay between retries (`BECKETT_RETRY_MAX_DELAY`,
    /// default 5m).
    pub retry_max_delay: Duration,
    /// How long in-flight handlers may run on after a shutdown signal
    /// (`BECKETT_SHUTDOWN_GRACE`, default 30s).
    pub shutdown_grace: Duration,
    /// Where `beckett::run` serves the operators' dashboard, if anywhere
    /// (`BECKETT_DASHBOARD`: a port, served on loopback, or an address such
    /// as `0.0.0.0:9090` to serve beyond this machine; default none).
    pub dashboard: Option<SocketAddr>,
    /// Whether that dashboard only shows, and changes nothing
    /// (`BECKETT_DASHBOARD_READ_ONLY`, `true` or `false`, default false).
    pub dashboard_read_only: bool,
}

impl Default for Config {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            database_url: None,
            schema: Schema::default(),
            groups: None,
            concurrency: (cpus * 5).min(20),
            batch_size: 100,
            global_batch_size: 1_000,
            prefetch: 4_000,
            reservation_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            handler_timeout: Duration::from_secs(60),
            max_retries: 10,
            retry_base_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
            dashboard: None,
            dashboard_read_only: false,
        }
    }
}

impl Config {
    /// The database connections a process running `groups` groups needs:
    /// one per handler call in flight (a `transactional` handler holds one
    /// for its whole call, and others use the store's pool for their own
    /// queries), three per group (its leader's, its reservations', its
    /// completions') and three for the scheduler, the heartbeat and
    /// recurring jobs. `beckett::run` sizes its Postgres pool so.
    ///
    /// ```
    /// let mut config = beckett::Config::default();
    /// config.concurrency = 10;
    /// assert_eq!(config.connections(2), 19);
    /// ```
    pub fn connections(&self, groups: usize) -> u32 {
        u32::try_from(self.concurrency + 3 * groups + 3).unwrap_or(u32::MAX)
    }

    /// The defaults, overridden by whichever settings the environment sets.
    ///
    /// ```
    /// let config = beckett::Config::from_env()?;
    /// assert!(config.concurrency >= 1);
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The defaults, overridden by the settings `var` returns.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = Self::default();
        let var = |name: &'static str| var(name).map(|v| (name, v));
        if let Some((_, url)) = var("DATABASE_URL") {
            config.database_url = Some(url);
        }
        if let Some((_, schema)) = var("BECKETT_SCHEMA") {
            config.schema = Schema::new(schema)?;
        }
        if let Some((name, groups)) = var("BECKETT_GROUPS") {
            let groups: Vec<String> = groups
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect();
            if groups.is_empty() {
                return Err(invalid(name, "names no group; unset it to run every group"));
            }
            config.groups = Some(groups);
        }
        let count = |(name, value): (&'static str, String)| {
            value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(name, &format!("{value:?} is not a whole number above 0")))
        };
        let duration = |(name, value): (&'static str, String)| {
            parse_duration(&value).ok_or_else(|| {
                invalid(
                    name,
                    &format!(
                        "{value:?} is not a duration like \"500ms\", \"30s\", \"5m\" or \"1h\""
                    ),
                )
            })
        };
        if let Some(v) = var("BECKETT_CONCURRENCY") {
            config.concurrency = count(v)?;
        }
        if let Some(v) = var("BECKETT_BATCH_SIZE") {
            config.batch_size = count(v)?;
        }
        if let Some(v) = var("BECKETT_GLOBAL_BATCH_SIZE") {
            config.global_batch_size = count(v)?;
        }
        if let Some(v) = var("BECKETT_PREFETCH") {
            config.prefetch = count(v)?;
        }
        if let Some(v) = var("BECKETT_MAX_RETRIES") {
            let (name, value) = v;
            config.max_retries = value
                .trim()
                .parse()
                .map_err(|_| invalid(name, &format!("{value:?} is not a whole number")))?;
        }
        if let Some((name, value)) = var("BECKETT_DASHBOARD") {
            config.dashboard = Some(dashboard_address(&value).ok_or_else(|| {
                invalid(
                    name,
                    &format!("{value:?} is neither a port nor an address like \"0.0.0.0:9090\""),
                )
            })?);
        }
        if let Some((name, value)) = var("BECKETT_DASHBOARD_READ_ONLY") {
            config.dashboard_read_only = value
                .trim()
                .parse()
                .map_err(|_| invalid(name, &format!("{value:?} is neither true nor false")))?;
        }
        for (name, slot) in [
            (
                "BECKETT_RESERVATION_TIMEOUT",
                &mut config.reservation_timeout,
            ),
            ("BECKETT_POLL_INTERVAL", &mut config.poll_interval),
            ("BECKETT_HANDLER_TIMEOUT", &mut config.handler_timeout),
            ("BECKETT_RETRY_BASE_DELAY", &mut config.retry_base_delay),
            ("BECKETT_RETRY_MAX_DELAY", &mut config.retry_max_delay),
            ("BECKETT_SHUTDOWN_GRACE", &mut config.shutdown_grace),
        ] {
            if let Some(v) = var(name) {
                *slot = duration(v)?;
            }
        }
        Ok(config)
    }
}

fn invalid(setting: &'static str, reason: &str) -> Error {
    Error::Config {
        setting,
        reason: reason.to_owned(),
    }
}

/// A port, on loopback, or a whole address.
pub(crate) fn dashboard_address(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    match text.parse::<u16>() {
        Ok(port) => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        Err(_) => text.parse().ok(),
    }
}

/// Parses "500ms", "30s", "5m" or "1h"; `None` for anything else or zero.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(number.checked_mul(millis)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "0s", "5", "5 s", "1d", "-1s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_override_defaults() {
        let config = from(&[
            ("BECKETT_GROUPS", "Billing, Shipping"),
            ("BECKETT_CONCURRENCY", "7"),
            ("BECKETT_POLL_INTERVAL", "250ms"),
            ("BECKETT_SCHEMA", "events"),
            ("BECKETT_DASHBOARD", "9090"),
            ("BECKETT_DASHBOARD_READ_ONLY", "true"),
        ])
        .unwrap();
        assert_eq!(config.groups.unwrap(), ["Billing", "Shipping"]);
        assert_eq!(config.concurrency, 7);
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.schema.as_str(), "events");
        assert_eq!(config.dashboard, Some(([127, 0, 0, 1], 9090).into()));
        assert!(config.dashboard_read_only);
        let everywhere = from(&[("BECKETT_DASHBOARD", "0.0.0.0:80")]).unwrap();
        assert_eq!(everywhere.dashboard, Some(([0, 0, 0, 0], 80).into()));
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for (name, value) in [
            ("BECKETT_CONCURRENCY", "zero"),
            ("BECKETT_CONCURRENCY", "0"),
            ("BECKETT_POLL_INTERVAL", "fast"),
            ("BECKETT_MAX_RETRIES", "-1"),
            ("BECKETT_GROUPS", " , "),
            ("BECKETT_DASHBOARD", "somewhere"),
            ("BECKETT_DASHBOARD_READ_ONLY", "yes"),
        ] {
            let error = from(&[(name, value)]).unwrap_err();
            assert!(
                matches!(error, Error::Config { setting, .. } if setting == name),
                "{error}"
            );
            assert!(error.to_string().contains(name), "{error}");
        }
        let error = from(&[("BECKETT_SCHEMA", "Bad-Schema")]).unwrap_err();
        assert!(error.to_string().contains("`schema`"), "{error}");
    }
}
