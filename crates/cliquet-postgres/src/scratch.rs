//! Throw-away schemas, so that test runs and benchmarks on one database do
//! not see each other.
//!
//! [`ScratchSchema::create`] makes a uniquely named schema and gives the
//! [`PoolSettings`] whose connections use it as their `search_path`: the
//! backends' tables, functions and trigger are created inside it by
//! [`crate::migrate`]. [`ScratchSchema::drop_schema`] removes it with all it
//! holds.
//!
//! ```no_run
//! # async fn run() -> Result<(), cliquet_postgres::Error> {
//! use cliquet_postgres::ScratchSchema;
//!
//! let scratch = ScratchSchema::create("postgres://postgres@127.0.0.1/postgres", "doc").await?;
//! let pool = cliquet_postgres::Pool::new(&scratch.settings())?;
//! // ... migrate, use the backends ...
//! scratch.drop_schema().await?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;

use crate::{Error, PoolSettings};

/// A uniquely named schema for one test or benchmark.
#[derive(Debug, Clone)]
pub struct ScratchSchema {
    url: String,
    name: String,
}

impl ScratchSchema {
    /// Creates the schema `cliquet_<label>_<unique suffix>` in the database
    /// at `url`.
    pub async fn create(url: &str, label: &str) -> Result<Self, Error> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        let name = format!(
            "cliquet_{label}_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = Self {
            url: url.to_owned(),
            name,
        };
        scratch
            .run(&format!("CREATE SCHEMA \"{}\"", scratch.name))
            .await?;
        Ok(scratch)
    }

    /// The schema name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Pool settings whose connections work inside the schema.
    pub fn settings(&self) -> PoolSettings {
        let mut settings = PoolSettings::new(self.url_with_search_path());
        settings.pool_size = 8;
        settings.max_overflow = 0;
        settings.pool_timeout = 10.0;
        settings
    }

    /// The database URL with `options=-c search_path=<schema>`.
    pub fn url_with_search_path(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(&self) -> Result<(), Error> {
        self.run(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
            .await
    }

    async fn run(&self, sql: &str) -> Result<(), Error> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        let task = tokio::spawn(connection);
        let result = client.batch_execute(sql).await;
        drop(client);
        let _ = task.await;
        result.map_err(Error::from)
    }
}
