//! The cache backend: JSON values under string keys, with a time to live.
//!
//! Used for single-use pagination tokens of plural `DELETE`, login caches,
//! OpenID state and heartbeats. The cache is never part of a request's
//! transaction. Keys are prefixed by the backend with the `cache_prefix`
//! setting, if any: callers pass bare keys.
//!
//! TTLs are [`Duration`]s; backends keep at least millisecond precision
//! (except where the store cannot: Memcached has seconds). An expired key
//! is absent for every operation.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;

/// A cache backend. Object-safe: used as `Arc<dyn Cache>`.
///
/// ```
/// # async fn demo(cache: &dyn cliquet_storage::Cache) -> cliquet_storage::Result<()> {
/// use std::time::Duration;
/// use serde_json::json;
///
/// cache.set("nonce:abc", json!("x"), Duration::from_secs(600)).await?;
/// assert_eq!(cache.get("nonce:abc").await?, Some(json!("x")));
/// assert_eq!(cache.delete("nonce:abc").await?, Some(json!("x")));
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value under `key`, or `None` if absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Value>>;

    /// Stores `value` under `key` for `ttl`, replacing any previous value
    /// and TTL. A zero TTL stores nothing and removes the key.
    async fn set(&self, key: &str, value: Value, ttl: Duration) -> Result<()>;

    /// Removes `key`; returns the value it held, if any (and not expired).
    async fn delete(&self, key: &str) -> Result<Option<Value>>;

    /// The remaining time to live of `key`, or `None` if absent or expired.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>>;

    /// Resets the time to live of an existing key; returns whether the key
    /// existed. A zero TTL removes it.
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool>;

    /// Removes every key.
    async fn flush(&self) -> Result<()>;

    /// Checks that the backend answers (for `/__heartbeat__`).
    async fn healthcheck(&self) -> Result<()>;
}
