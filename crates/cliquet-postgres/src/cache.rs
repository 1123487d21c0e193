//! The PostgreSQL cache backend, on Kinto's `cache` table.
//!
//! Values are stored as JSON text with an expiry instant (`ttl` column), as
//! Kinto stores them, so both servers read each other's entries. Keys are
//! prefixed with the `cache_prefix` setting. The cache never joins a
//! request's transaction: each call runs on its own pooled connection.
//!
//! Expired rows are invisible to every operation at once, and are purged at
//! most once a second by the reads (Kinto purges on every `get`, which costs
//! a locking `DELETE` per read).
//!
//! Deviation from Kinto 26.5, noted: its `ttl()` returns only the *seconds
//! field* of the remaining interval (`EXTRACT(SECOND ...)`, so 90 s left
//! reads as 30); here it is the whole remaining time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::{Error, Pool};

const GET: &str = "SELECT value FROM cache WHERE key = $1 AND (ttl IS NULL OR ttl > now())";
const SET: &str = "INSERT INTO cache (key, value, ttl) VALUES ($1, $2, sec2ttl($3)) \
                   ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, ttl = EXCLUDED.ttl";
const DELETE: &str = "WITH gone AS (DELETE FROM cache WHERE key = $1 RETURNING value, ttl) \
                      SELECT value FROM gone WHERE ttl IS NULL OR ttl > now()";
const TTL: &str = "SELECT EXTRACT(EPOCH FROM (ttl - now()))::FLOAT8 FROM cache \
                   WHERE key = $1 AND ttl IS NOT NULL AND ttl > now()";
const EXPIRE: &str =
    "UPDATE cache SET ttl = sec2ttl($2) WHERE key = $1 AND (ttl IS NULL OR ttl > now())";
const PURGE: &str = "DELETE FROM cache WHERE key IN \
                     (SELECT key FROM cache WHERE ttl IS NOT NULL AND ttl < now() \
                      ORDER BY key FOR UPDATE SKIP LOCKED)";

/// The PostgreSQL cache.
#[derive(Debug, Clone)]
pub struct PostgresCache {
    pool: Pool,
    prefix: String,
    last_purge_ms: Arc<AtomicU64>,
}

impl PostgresCache {
    /// A cache on `pool`, prefixing every key with `prefix` (Kinto's
    /// `cache_prefix`). The `cache` table must exist (see
    /// [`crate::migrate()`]).
    pub fn new(pool: Pool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            last_purge_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The pool this cache uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Deletes expired rows, at most once a second per process.
    async fn purge_now_and_then(&self, client: &deadpool_postgres::Object) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let last = self.last_purge_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_purge_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let statement = client.prepare_cached(PURGE).await?;
            client.execute(&statement, &[]).await?;
        }
        Ok(())
    }

    /// The value under `key`, or `None` if absent or expired.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, Error> {
        let client = self.pool.get().await?;
        self.purge_now_and_then(&client).await?;
        let statement = client.prepare_cached(GET).await?;
        let row = client.query_opt(&statement, &[&self.key(key)]).await?;
        row.map(|row| parse(row.get(0))).transpose()
    }

    /// Stores `value` for `ttl` (a zero TTL removes the key).
    pub async fn set_value(&self, key: &str, value: &Value, ttl: Duration) -> Result<(), Error> {
        if ttl.is_zero() {
            self.delete_value(key).await?;
            return Ok(());
        }
        let text = serde_json::to_string(value).map_err(|e| Error::InvalidValue(e.to_string()))?;
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(SET).await?;
        client
            .execute(&statement, &[&self.key(key), &text, &ttl.as_secs_f64()])
            .await?;
        Ok(())
    }

    /// Removes `key`, returning its value if it was live.
    pub async fn delete_value(&self, key: &str) -> Result<Option<Value>, Error> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(DELETE).await?;
        let row = client.query_opt(&statement, &[&self.key(key)]).await?;
        row.map(|row| parse(row.get(0))).transpose()
    }

    /// The remaining time to live of `key`.
    pub async fn ttl_of(&self, key: &str) -> Result<Option<Duration>, Error> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(TTL).await?;
        let row = client.query_opt(&statement, &[&self.key(key)]).await?;
        Ok(row
            .map(|row| row.get::<_, f64>(0))
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64))
    }

    /// Resets the TTL of a live key; returns whether it existed.
    pub async fn expire_key(&self, key: &str, ttl: Duration) -> Result<bool, Error> {
        if ttl.is_zero() {
            return Ok(self.delete_value(key).await?.is_some());
        }
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(EXPIRE).await?;
        let n = client
            .execute(&statement, &[&self.key(key), &ttl.as_secs_f64()])
            .await?;
        Ok(n > 0)
    }

    /// Removes every entry (of every prefix, as Kinto does).
    pub async fn flush_all(&self) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client.execute("DELETE FROM cache", &[]).await?;
        Ok(())
    }
}

fn parse(text: String) -> Result<Value, Error> {
    serde_json::from_str(&text).map_err(|e| Error::Backend(format!("cache value is not JSON: {e}")))
}

fn cache_error(error: Error) -> cliquet_storage::StorageError {
    crate::storage::storage_error(error)
}

#[async_trait::async_trait]
impl cliquet_storage::Cache for PostgresCache {
    async fn get(&self, key: &str) -> cliquet_storage::Result<Option<Value>> {
        self.get_value(key).await.map_err(cache_error)
    }

    async fn set(&self, key: &str, value: Value, ttl: Duration) -> cliquet_storage::Result<()> {
        self.set_value(key, &value, ttl).await.map_err(cache_error)
    }

    async fn delete(&self, key: &str) -> cliquet_storage::Result<Option<Value>> {
        self.delete_value(key).await.map_err(cache_error)
    }

    async fn ttl(&self, key: &str) -> cliquet_storage::Result<Option<Duration>> {
        self.ttl_of(key).await.map_err(cache_error)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> cliquet_storage::Result<bool> {
        self.expire_key(key, ttl).await.map_err(cache_error)
    }

    async fn flush(&self) -> cliquet_storage::Result<()> {
        self.flush_all().await.map_err(cache_error)
    }

    async fn healthcheck(&self) -> cliquet_storage::Result<()> {
        self.pool.ping().await.map_err(cache_error)
    }
}
