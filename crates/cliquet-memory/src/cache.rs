//! [`MemoryCache`]: a map of JSON values with expiry times.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cliquet_storage::{Cache, Result};
use parking_lot::Mutex;
use serde_json::Value;

/// An in-memory [`Cache`], per process.
///
/// Expired keys are dropped when read, and swept on writes once the map has
/// grown by half since the last sweep, so memory does not grow with keys
/// nobody reads again. Keys are prefixed with an optional prefix (the
/// `cache_prefix` setting).
pub struct MemoryCache {
    prefix: String,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (Value, Instant)>,
    sweep_at: usize,
}

impl Entries {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut (Value, Instant)> {
        if self.map.get(key).is_some_and(|(_, expiry)| *expiry <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    fn sweep(&mut self, now: Instant) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, (_, expiry)| *expiry > now);
            self.sweep_at = (self.map.len() * 3 / 2).max(1024);
        }
    }
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::with_prefix("")
    }

    /// An empty cache prefixing every key with `prefix`.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            entries: Mutex::new(Entries::default()),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Value>> {
        let key = self.key(key);
        Ok(self
            .entries
            .lock()
            .live(&key, Instant::now())
            .map(|(value, _)| value.clone()))
    }

    async fn set(&self, key: &str, value: Value, ttl: Duration) -> Result<()> {
        let key = self.key(key);
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if ttl.is_zero() {
            entries.map.remove(&key);
            return Ok(());
        }
        entries.sweep(now);
        entries.map.insert(key, (value, now + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<Option<Value>> {
        let key = self.key(key);
        let mut entries = self.entries.lock();
        let live = entries.live(&key, Instant::now()).is_some();
        let removed = entries.map.remove(&key);
        Ok(removed.filter(|_| live).map(|(value, _)| value))
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let key = self.key(key);
        let now = Instant::now();
        Ok(self
            .entries
            .lock()
            .live(&key, now)
            .map(|(_, expiry)| expiry.saturating_duration_since(now)))
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        let key = self.key(key);
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.live(&key, now).is_none() {
            return Ok(false);
        }
        if ttl.is_zero() {
            entries.map.remove(&key);
        } else if let Some((_, expiry)) = entries.map.get_mut(&key) {
            *expiry = now + ttl;
        }
        Ok(true)
    }

    async fn flush(&self) -> Result<()> {
        let mut entries = self.entries.lock();
        if self.prefix.is_empty() {
            entries.map.clear();
        } else {
            entries.map.retain(|key, _| !key.starts_with(&self.prefix));
        }
        Ok(())
    }

    async fn healthcheck(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn prefixes_do_not_leak() {
        let cache = MemoryCache::with_prefix("app:");
        cache
            .set("k", json!(1), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            cache.entries.lock().map.keys().collect::<Vec<_>>(),
            vec!["app:k"]
        );
        assert_eq!(cache.get("k").await.unwrap(), Some(json!(1)));
    }

    #[tokio::test]
    async fn sweeps_expired_entries_on_growth() {
        let cache = MemoryCache::new();
        for i in 0..1024 {
            cache
                .set(&format!("k{i}"), json!(i), Duration::from_nanos(1))
                .await
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
        cache
            .set("fresh", json!(0), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.entries.lock().map.len(), 1);
    }
}
