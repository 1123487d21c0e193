//! Throw-away schemas, so that test runs and benchmarks on one database do
//! not see each other.
//!
//! [`ScratchSchema::create`] makes a uniquely named schema and gives the
//! [`PoolSettings`] whose connections use it as their `search_path`: the
//! backends' tables, functions and trigger are created inside it by
//! [`crate::migrate()`]. [`ScratchSchema::drop_schema`] removes it with all it
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
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
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
            "cliquet_{label}_{seconds}_{}_{}",
            std::process::id(),
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

    /// The database URL with `options=-c search_path=<schema>`, and the
    /// schema name as `application_name` (to find the connections).
    pub fn url_with_search_path(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}&application_name={}",
            self.url, self.name, self.name
        )
    }

    /// Drops the scratch schemas of `label` created more than `older_than`
    /// ago (left behind by runs that could not clean up); returns how many.
    pub async fn drop_stale(
        url: &str,
        label: &str,
        older_than: std::time::Duration,
    ) -> Result<u64, Error> {
        let label = sanitize(label);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        let task = tokio::spawn(connection);
        let prefix = format!("cliquet_{label}_");
        let rows = client
            .query(
                "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)",
                &[&prefix],
            )
            .await?;
        let mut dropped = 0;
        for row in rows {
            let name: String = row.get(0);
            let created = name[prefix.len()..]
                .split('_')
                .next()
                .and_then(|s| s.parse::<u64>().ok());
            if created.is_some_and(|created| now.saturating_sub(created) > older_than.as_secs()) {
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await?;
                dropped += 1;
            }
        }
        drop(client);
        let _ = task.await;
        Ok(dropped)
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

/// A label usable in a schema name: lowercase ASCII letters and digits (the
/// rest become `x`), at most 24 characters.
fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                'x'
            }
        })
        .take(24)
        .collect()
}
