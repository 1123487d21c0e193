//! The connection pool shared by the backends.
//!
//! [`Pool`] wraps a `deadpool-postgres` pool built from [`PoolSettings`]:
//! `pool_size + max_overflow` connections at most, `pool_timeout` to wait for
//! one (and to open one), `pool_recycle` to retire old connections,
//! `max_backlog` to fail at once rather than queue without bound. Every
//! connection runs in the UTC time zone, which Kinto's timestamp functions
//! need.
//!
//! A connection that breaks (the server restarted, the network dropped) is
//! noticed when it is next taken from the pool and replaced by a new one, so
//! the pool recovers by itself when the database comes back; until then each
//! call fails with [`Error::Backend`] after at most `pool_timeout`. The same
//! limit is the connections' `statement_timeout`: a statement that runs
//! longer (or waits longer for a collection lock) is cancelled by the server
//! and fails with [`Error::Backend`] (migrations lift the limit).

use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

use crate::{Error, PoolSettings};

/// Most distinct statements a connection keeps prepared; past it, its cache
/// is emptied (list queries vary with their filters, so the set of texts is
/// not bounded by the code).
const STATEMENT_CACHE_LIMIT: usize = 512;

/// A pool of connections to one PostgreSQL database.
#[derive(Clone)]
pub struct Pool {
    inner: deadpool_postgres::Pool,
    backlog: Option<usize>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.inner.status())
            .field("backlog", &self.backlog)
            .finish()
    }
}

impl Pool {
    /// Builds the pool. No connection is opened until one is needed, so this
    /// succeeds while the database is down; only a malformed URL fails.
    pub fn new(settings: &PoolSettings) -> Result<Self, Error> {
        let mut config: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|e| Error::Backend(format!("invalid database URL: {e}")))?;
        // Kinto's `from_epoch` and `clock_timestamp()::TIMESTAMP` read the
        // session time zone: pin it to UTC whatever the server default is.
        // A statement (or a wait for a collection lock) running longer than
        // `pool_timeout` is cancelled by the server: a slow database gives a
        // backend error, not a request that never ends.
        // Prepared statements run their generic plan, planned once per
        // connection (`conn` explains which statements are sent unprepared
        // instead, planned for their values).
        let mut session = "-c TimeZone=UTC -c plan_cache_mode=force_generic_plan".to_owned();
        if let Some(timeout) = settings.timeout() {
            session.push_str(&format!(
                " -c statement_timeout={}",
                timeout.as_millis().max(1)
            ));
        }
        let options = match config.get_options() {
            Some(existing) => format!("{existing} {session}"),
            None => session,
        };
        config.options(&options);
        if config.get_application_name().is_none() {
            config.application_name("cliquet");
        }
        let timeout = settings.timeout();
        if let Some(timeout) = timeout {
            config.connect_timeout(timeout);
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(60));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let mut builder = deadpool_postgres::Pool::builder(manager)
            .max_size(settings.max_size())
            .runtime(Runtime::Tokio1)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout);
        if let Some(max_age) = settings.recycle() {
            builder = builder.pre_recycle(Hook::sync_fn(move |_, metrics| {
                if metrics.age() > max_age {
                    Err(HookError::message("connection reached pool_recycle age"))
                } else {
                    Ok(())
                }
            }));
        }
        let inner = builder
            .build()
            .map_err(|e| Error::Backend(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            inner,
            backlog: settings.backlog(),
        })
    }

    /// Builds a pool with default settings for the database at `url`.
    pub fn connect(url: &str) -> Result<Self, Error> {
        Self::new(&PoolSettings::new(url))
    }

    /// Takes a connection, waiting at most `pool_timeout`.
    pub async fn get(&self) -> Result<Object, Error> {
        if let Some(backlog) = self.backlog {
            let status = self.inner.status();
            if status.available == 0 && status.size >= status.max_size && status.waiting >= backlog
            {
                return Err(Error::Backend(format!(
                    "connection pool exhausted: {} tasks already waiting (max_backlog)",
                    status.waiting
                )));
            }
        }
        let client = self.inner.get().await?;
        if client.statement_cache.size() > STATEMENT_CACHE_LIMIT {
            client.statement_cache.clear();
        }
        Ok(client)
    }

    /// The number of connections open and idle, for monitoring.
    pub fn status(&self) -> deadpool_postgres::Status {
        self.inner.status()
    }

    /// Checks that the database answers (for heartbeats).
    pub async fn ping(&self) -> Result<(), Error> {
        let client = self.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }
}
