//! [`run`] and [`Beckett`]: configuration, migrations, then the consumers of
//! every group this process runs, until a shutdown signal.

use crate::storage::{self, open};
use beckett_core::state::Storage;
use beckett_core::subscription::linked_groups;
use beckett_core::{engine, Config, Error, MessageStorage, Result, Schema};
use beckett_postgres::{migrate_schema, PostgresStore};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A [`Beckett`] running on a task of its own; see [`Beckett::spawn`].
/// Dropped, it stops the run too, without waiting for it.
#[derive(Debug)]
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Stops taking work, lets in-flight handlers finish within the grace
    /// period, and returns how the run ended: an error that stopped it
    /// early, or one met while stopping.
    pub async fn stop(self) -> Result<()> {
        // The run may have ended already, with what the task returns.
        let _ = self.stop.send(());
        self.task
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }
}

/// Runs every subscription linked into the program, configured from the
/// environment, until SIGINT or SIGTERM.
///
/// Reads `DATABASE_URL` and the `BECKETT_*` settings of [`Config`],
/// checks the registry, applies migrations, and runs the consumers. Bad
/// settings and conflicting registrations stop it before anything is
/// consumed, with an error naming the setting or both conflicting items.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> beckett::Result<()> {
///     beckett::run().await
/// }
/// ```
pub async fn run() -> Result<()> {
    Beckett::from_env()?.run().await
}

/// A configured beckett process, built in code.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// use std::time::Duration;
///
/// beckett::Beckett::builder()
///     .database_url("postgres://localhost/app")
///     .groups(["Billing"])
///     .concurrency(8)
///     .poll_interval(Duration::from_millis(500))
///     .build()?
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct Beckett {
    config: Config,
    on: On,
    messages: Option<Followed>,
}

/// A message store of the application's own, followed beside the engine's
/// state.
#[derive(Clone)]
struct Followed(Arc<dyn MessageStorage>);

impl std::fmt::Debug for Followed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a message store of the application's own")
    }
}

/// What a process runs on: storage given, a Postgres pool given, or what
/// `DATABASE_URL` names.
#[derive(Debug, Default)]
enum On {
    #[default]
    Url,
    Pool(PgPool),
    Storage(Storage),
}

impl Beckett {
    /// A builder starting from the defaults (not the environment).
    ///
    /// ```
    /// let builder = beckett::Beckett::builder().concurrency(4);
    /// ```
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            on: On::Url,
            messages: None,
        }
    }

    /// A process configured from the environment, as [`run`] uses.
    ///
    /// ```no_run
    /// # async fn demo() -> beckett::Result<()> {
    /// beckett::Beckett::from_env()?.run().await
    /// # }
    /// ```
    pub fn from_env() -> Result<Self> {
        Builder {
            config: Config::from_env()?,
            on: On::Url,
            messages: None,
        }
        .build()
    }

    /// The settings it runs with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Runs until SIGINT or SIGTERM.
    ///
    /// ```no_run
    /// # async fn demo(beckett: beckett::Beckett) -> beckett::Result<()> {
    /// beckett.run().await
    /// # }
    /// ```
    pub async fn run(self) -> Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `signal` completes, then stops taking work, lets
    /// in-flight handlers finish within the grace period and releases what
    /// it reserved.
    ///
    /// ```no_run
    /// # async fn demo(beckett: beckett::Beckett) -> beckett::Result<()> {
    /// beckett.run_until(tokio::time::sleep(std::time::Duration::from_secs(60))).await
    /// # }
    /// ```
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<()> {
        self.run_on(signal).await
    }

    /// Runs on a task of its own until [stopped](Running::stop), beside
    /// whatever else the program does: a server of its own, or a test.
    ///
    /// ```no_run
    /// # async fn demo(beckett: beckett::Beckett) -> beckett::Result<()> {
    /// let running = beckett.spawn();
    /// // serve requests, append messages, ...
    /// running.stop().await?;
    /// # Ok(()) }
    /// ```
    pub fn spawn(self) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let signal = async {
            let _ = stopped.await;
        };
        Running {
            stop,
            task: tokio::spawn(self.run_on(signal)),
        }
    }

    async fn run_on(self, signal: impl Future<Output = ()>) -> Result<()> {
        let groups = linked_groups(self.config.groups.as_deref())?;
        let connections = self.config.connections(groups.len());
        let storage = match self.on {
            On::Storage(storage) => storage,
            On::Pool(pool) => {
                let max = pool.options().get_max_connections();
                if max < connections {
                    tracing::warn!(
                        max,
                        needed = connections,
                        "the pool given holds fewer connections than the settings need \
                         (BECKETT_CONCURRENCY + 3 per group + 3); handlers and consumers \
                         will wait for connections"
                    );
                }
                migrate_schema(&pool, &self.config.schema).await?;
                storage::postgres(PostgresStore::with_schema(pool, &self.config.schema))
            }
            On::Url => {
                let url = self.config.database_url.as_deref();
                open(url, &self.config.schema, connections).await?
            }
        };
        let storage = match self.messages {
            Some(Followed(messages)) => Storage::beside(messages, storage.engine().clone()),
            None => storage,
        };
        #[cfg(feature = "dashboard")]
        let dashboard = serve_dashboard(&self.config, &storage).await?;
        let ran = engine::run_until(self.config, storage, groups, signal).await;
        #[cfg(feature = "dashboard")]
        if let Some(dashboard) = dashboard {
            dashboard.abort();
        }
        ran
    }
}

/// Serves the dashboard where the settings say, if they say; a port that
/// cannot be listened on stops the start.
#[cfg(feature = "dashboard")]
async fn serve_dashboard(
    config: &beckett_core::Config,
    storage: &Storage,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(address) = config.dashboard else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| Error::Config {
            setting: "BECKETT_DASHBOARD",
            reason: format!("cannot listen on {address}: {error}"),
        })?;
    let dashboard =
        crate::dashboard::Dashboard::on(storage.clone()).read_only(config.dashboard_read_only);
    tracing::info!(%address, read_only = config.dashboard_read_only, "serving the dashboard");
    Ok(Some(tokio::spawn(async move {
        if let Err(error) = dashboard.serve(listener).await {
            tracing::error!(%error, "the dashboard stopped serving");
        }
    })))
}

/// Sets what [`Beckett`] runs with; every setting has a default, and
/// [`build`](Self::build) checks them all.
///
/// ```
/// use std::time::Duration;
///
/// let beckett = beckett::Beckett::builder()
///     .database_url("postgres://localhost/app")
///     .max_retries(3)
///     .retry_delays(Duration::from_millis(200), Duration::from_secs(30))
///     .build()?;
/// # Ok::<(), beckett::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct Builder {
    config: Config,
    on: On,
    messages: Option<Followed>,
}

impl Builder {
    /// The database to connect to: `postgres://…`, `sqlite:path` or
    /// `sqlite::memory:` (default: the SQLite file `beckett.db`).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.config.database_url = Some(url.into());
        self
    }

    /// A Postgres pool to use instead of connecting.
    pub fn pool(mut self, pool: PgPool) -> Self {
        self.on = On::Pool(pool);
        self
    }

    /// Storage already open to run on: a message store (Postgres, SQLite,
    /// in memory or your own) and a store of the engine's state.
    ///
    /// ```
    /// # fn demo() -> beckett::Result<()> {
    /// use beckett::sqlite::SqliteStore;
    /// use beckett::state::Storage;
    /// use std::sync::Arc;
    ///
    /// let store = Arc::new(SqliteStore::in_memory()?);
    /// let storage = Storage::together(store);
    /// let beckett = beckett::Beckett::builder().storage(storage).build()?;
    /// # Ok(()) }
    /// ```
    pub fn storage(mut self, storage: Storage) -> Self {
        self.on = On::Storage(storage);
        self
    }

    /// A message store of the application's own to follow, the engine's
    /// state kept beside it where the database URL, pool or storage says
    /// (see [`Storage::beside`] for what that costs).
    ///
    /// ```no_run
    /// # async fn demo() -> beckett::Result<()> {
    /// use beckett::memory::MemoryStore;
    /// use std::sync::Arc;
    ///
    /// let messages = Arc::new(MemoryStore::new());
    /// beckett::Beckett::builder()
    ///     .database_url("sqlite:state.db")
    ///     .message_store(messages.clone())
    ///     .build()?
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn message_store(mut self, store: Arc<dyn MessageStorage>) -> Self {
        self.messages = Some(Followed(store));
        self
    }

    /// The schema of beckett's tables.
    pub fn schema(mut self, schema: Schema) -> Self {
        self.config.schema = schema;
        self
    }

    /// The groups this process runs (default: every group linked in).
    pub fn groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.config.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Handler calls in flight at once in this process.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config.concurrency = concurrency;
        self
    }

    /// Messages of a stream read at once.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size;
        self
    }

    /// Messages of the global order read at once.
    pub fn global_batch_size(mut self, batch_size: usize) -> Self {
        self.config.global_batch_size = batch_size;
        self
    }

    /// Checkpoints of a group held reserved at once.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.config.prefetch = prefetch;
        self
    }

    /// How long a reservation lasts unless its process extends it.
    pub fn reservation_timeout(mut self, timeout: Duration) -> Self {
        self.config.reservation_timeout = timeout;
        self
    }

    /// How often consumers look for work without a notification.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// How long one handler call may take, unless its subscription says.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.config.handler_timeout = timeout;
        self
    }

    /// Retries before a stream is failed, unless its subscription says.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// The first retry's delay and the longest one.
    pub fn retry_delays(mut self, base: Duration, max: Duration) -> Self {
        self.config.retry_base_delay = base;
        self.config.retry_max_delay = max;
        self
    }

    /// How long in-flight handlers may run on after a shutdown signal.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Serves the operators' dashboard at `address` while running: use a
    /// loopback address unless something in front of it (a proxy with its
    /// own authentication) guards it.
    ///
    /// ```
    /// let beckett = beckett::Beckett::builder()
    ///     .dashboard(([127, 0, 0, 1], 9090).into(), false)
    ///     .build()?;
    /// # Ok::<(), beckett::Error>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn dashboard(mut self, address: std::net::SocketAddr, read_only: bool) -> Self {
        self.config.dashboard = Some(address);
        self.config.dashboard_read_only = read_only;
        self
    }

    /// Checks the settings, alone and against each other.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let error = beckett::Beckett::builder().concurrency(0).build().unwrap_err();
    /// assert!(error.to_string().contains("BECKETT_CONCURRENCY"));
    /// let error = beckett::Beckett::builder()
    ///     .reservation_timeout(Duration::from_millis(500))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("BECKETT_RESERVATION_TIMEOUT"));
    /// ```
    pub fn build(self) -> Result<Beckett> {
        let config = &self.config;
        let invalid = |setting: &'static str, reason: &str| {
            Err(Error::Config {
                setting,
                reason: reason.to_owned(),
            })
        };
        if config.concurrency == 0 {
            return invalid("BECKETT_CONCURRENCY", "must be at least 1");
        }
        if config.batch_size == 0 {
            return invalid("BECKETT_BATCH_SIZE", "must be at least 1");
        }
        if config.global_batch_size == 0 {
            return invalid("BECKETT_GLOBAL_BATCH_SIZE", "must be at least 1");
        }
        if config.prefetch == 0 || config.prefetch > 1_000_000 {
            return invalid("BECKETT_PREFETCH", "must be from 1 to 1000000");
        }
        if config.groups.as_ref().is_some_and(Vec::is_empty) {
            return invalid("BECKETT_GROUPS", "names no group");
        }
        if config.retry_base_delay > config.retry_max_delay {
            return invalid(
                "BECKETT_RETRY_BASE_DELAY",
                "must not be longer than BECKETT_RETRY_MAX_DELAY",
            );
        }
        if config.reservation_timeout < Duration::from_secs(1) {
            return invalid(
                "BECKETT_RESERVATION_TIMEOUT",
                "must be at least 1s: reservations are extended every third of it",
            );
        }
        for (setting, value) in [
            ("BECKETT_POLL_INTERVAL", config.poll_interval),
            ("BECKETT_HANDLER_TIMEOUT", config.handler_timeout),
        ] {
            if value.is_zero() {
                return invalid(setting, "must be longer than zero");
            }
        }
        Ok(Beckett {
            config: self.config,
            on: self.on,
            messages: self.messages,
        })
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
