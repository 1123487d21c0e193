//! Settings of the PostgreSQL backends, under Kinto's own names.
//!
//! [`PostgresSettings`] deserialises from the flat settings map of a Kinto
//! configuration (`storage_url`, `storage_pool_size`, `cache_url`,
//! `permission_pool_timeout`, ...): unknown keys are ignored, missing ones take
//! Kinto's defaults, and numbers may be given as strings (`"25"`), as they are
//! when they come from an `.ini` file or an environment variable.
//!
//! ```
//! use cliquet_postgres::PostgresSettings;
//!
//! let settings: PostgresSettings = serde_json::from_value(serde_json::json!({
//!     "storage_url": "postgresql://postgres@localhost/kinto",
//!     "storage_pool_size": "10",
//!     "cache_pool_timeout": 5,
//!     "paginate_by": 100
//! }))
//! .unwrap();
//! assert_eq!(settings.storage_pool().pool_size, 10);
//! assert_eq!(settings.storage_pool().max_size(), 15);
//! assert_eq!(settings.cache_pool().pool_timeout, 5.0);
//! // Without its own URL, the cache uses the storage database.
//! assert_eq!(settings.cache_pool().url, "postgresql://postgres@localhost/kinto");
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Connection pool settings of one backend (the `<prefix>_*` keys of Kinto).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// `<prefix>_url`: `postgresql://user:password@host:port/dbname` (also
    /// `postgres://`; key/value connection strings are accepted too).
    pub url: String,
    /// `<prefix>_pool_size`: connections kept open (default 25).
    pub pool_size: usize,
    /// `<prefix>_max_overflow`: extra connections opened under load
    /// (default 5). The pool holds at most `pool_size + max_overflow`.
    pub max_overflow: usize,
    /// `<prefix>_pool_timeout`: seconds to wait for a free connection, and
    /// to open a new one, before failing with a backend error (default 30).
    pub pool_timeout: f64,
    /// `<prefix>_pool_recycle`: seconds after which a connection is closed
    /// and replaced on its next use; negative disables it (default -1).
    pub pool_recycle: f64,
    /// `<prefix>_max_backlog`: most tasks waiting for a connection at once;
    /// beyond it a request fails at once with a backend error; negative means
    /// no limit (default -1).
    pub max_backlog: i64,
}

impl PoolSettings {
    /// Settings with Kinto's defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: DEFAULT_POOL_SIZE,
            max_overflow: DEFAULT_MAX_OVERFLOW,
            pool_timeout: DEFAULT_POOL_TIMEOUT,
            pool_recycle: -1.0,
            max_backlog: -1,
        }
    }

    /// Largest number of connections of the pool: `pool_size + max_overflow`
    /// (at least one).
    pub fn max_size(&self) -> usize {
        (self.pool_size + self.max_overflow).max(1)
    }

    /// The wait timeout as a duration (`None` when not positive: no timeout).
    pub fn timeout(&self) -> Option<Duration> {
        positive_seconds(self.pool_timeout)
    }

    /// The recycle age as a duration (`None` when disabled).
    pub fn recycle(&self) -> Option<Duration> {
        positive_seconds(self.pool_recycle)
    }

    /// The backlog limit (`None`: unlimited).
    pub fn backlog(&self) -> Option<usize> {
        usize::try_from(self.max_backlog).ok()
    }
}

fn positive_seconds(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

const DEFAULT_POOL_SIZE: usize = 25;
const DEFAULT_MAX_OVERFLOW: usize = 5;
const DEFAULT_POOL_TIMEOUT: f64 = 30.0;
const DEFAULT_MAX_FETCH_SIZE: usize = 10_000;

/// The settings the PostgreSQL backends read, with Kinto's names and
/// defaults.
///
/// `cache_url` and `permission_url` fall back to `storage_url` when empty, so
/// one URL is enough for the three backends on one database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PostgresSettings {
    /// `storage_url`.
    pub storage_url: String,
    /// `storage_pool_size` (default 25).
    #[serde(deserialize_with = "lenient_usize")]
    pub storage_pool_size: usize,
    /// `storage_max_overflow` (default 5).
    #[serde(deserialize_with = "lenient_usize")]
    pub storage_max_overflow: usize,
    /// `storage_pool_timeout`, seconds (default 30).
    #[serde(deserialize_with = "lenient_f64")]
    pub storage_pool_timeout: f64,
    /// `storage_pool_recycle`, seconds (default -1: never).
    #[serde(deserialize_with = "lenient_f64")]
    pub storage_pool_recycle: f64,
    /// `storage_max_backlog` (default -1: unlimited).
    #[serde(deserialize_with = "lenient_i64")]
    pub storage_max_backlog: i64,
    /// `storage_max_fetch_size`: most objects one storage read returns
    /// (default 10000).
    #[serde(deserialize_with = "lenient_usize")]
    pub storage_max_fetch_size: usize,
    /// `storage_sort_indexes`: most [sort indexes](crate::sort_index) the
    /// backend creates on demand for the data fields lists sort on
    /// (default 8; `0` turns them off).
    #[serde(deserialize_with = "lenient_usize")]
    pub storage_sort_indexes: usize,
    /// `storage_list_cache_size`: bytes of memory for the
    /// [pages kept](crate::list_cache) between identical lists of an
    /// unchanged collection (default 64 MiB; `0` turns the cache off).
    #[serde(deserialize_with = "lenient_usize")]
    pub storage_list_cache_size: usize,
    /// `readonly`: refuse writes, and do not store the timestamp of empty
    /// collections (default false).
    #[serde(deserialize_with = "lenient_bool")]
    pub readonly: bool,
    /// `cache_url` (default: `storage_url`).
    pub cache_url: String,
    /// `cache_prefix`: prefix of every cache key (default empty).
    pub cache_prefix: String,
    /// `cache_pool_size` (default 25).
    #[serde(deserialize_with = "lenient_usize")]
    pub cache_pool_size: usize,
    /// `cache_max_overflow` (default 5).
    #[serde(deserialize_with = "lenient_usize")]
    pub cache_max_overflow: usize,
    /// `cache_pool_timeout`, seconds (default 30).
    #[serde(deserialize_with = "lenient_f64")]
    pub cache_pool_timeout: f64,
    /// `cache_pool_recycle`, seconds (default -1).
    #[serde(deserialize_with = "lenient_f64")]
    pub cache_pool_recycle: f64,
    /// `cache_max_backlog` (default -1).
    #[serde(deserialize_with = "lenient_i64")]
    pub cache_max_backlog: i64,
    /// `permission_url` (default: `storage_url`).
    pub permission_url: String,
    /// `permission_pool_size` (default 25).
    #[serde(deserialize_with = "lenient_usize")]
    pub permission_pool_size: usize,
    /// `permission_max_overflow` (default 5).
    #[serde(deserialize_with = "lenient_usize")]
    pub permission_max_overflow: usize,
    /// `permission_pool_timeout`, seconds (default 30).
    #[serde(deserialize_with = "lenient_f64")]
    pub permission_pool_timeout: f64,
    /// `permission_pool_recycle`, seconds (default -1).
    #[serde(deserialize_with = "lenient_f64")]
    pub permission_pool_recycle: f64,
    /// `permission_max_backlog` (default -1).
    #[serde(deserialize_with = "lenient_i64")]
    pub permission_max_backlog: i64,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            storage_url: String::new(),
            storage_pool_size: DEFAULT_POOL_SIZE,
            storage_max_overflow: DEFAULT_MAX_OVERFLOW,
            storage_pool_timeout: DEFAULT_POOL_TIMEOUT,
            storage_pool_recycle: -1.0,
            storage_max_backlog: -1,
            storage_max_fetch_size: DEFAULT_MAX_FETCH_SIZE,
            storage_sort_indexes: crate::sort_index::DEFAULT_MAX,
            storage_list_cache_size: crate::list_cache::DEFAULT_SIZE,
            readonly: false,
            cache_url: String::new(),
            cache_prefix: String::new(),
            cache_pool_size: DEFAULT_POOL_SIZE,
            cache_max_overflow: DEFAULT_MAX_OVERFLOW,
            cache_pool_timeout: DEFAULT_POOL_TIMEOUT,
            cache_pool_recycle: -1.0,
            cache_max_backlog: -1,
            permission_url: String::new(),
            permission_pool_size: DEFAULT_POOL_SIZE,
            permission_max_overflow: DEFAULT_MAX_OVERFLOW,
            permission_pool_timeout: DEFAULT_POOL_TIMEOUT,
            permission_pool_recycle: -1.0,
            permission_max_backlog: -1,
        }
    }
}

impl PostgresSettings {
    /// Defaults, with `storage_url` set (the other URLs follow it).
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            storage_url: url.into(),
            ..Self::default()
        }
    }

    /// The pool of the storage backend (`storage_*`).
    pub fn storage_pool(&self) -> PoolSettings {
        PoolSettings {
            url: self.storage_url.clone(),
            pool_size: self.storage_pool_size,
            max_overflow: self.storage_max_overflow,
            pool_timeout: self.storage_pool_timeout,
            pool_recycle: self.storage_pool_recycle,
            max_backlog: self.storage_max_backlog,
        }
    }

    /// The pool of the cache backend (`cache_*`, URL defaulting to
    /// `storage_url`).
    pub fn cache_pool(&self) -> PoolSettings {
        PoolSettings {
            url: or_storage(&self.cache_url, &self.storage_url),
            pool_size: self.cache_pool_size,
            max_overflow: self.cache_max_overflow,
            pool_timeout: self.cache_pool_timeout,
            pool_recycle: self.cache_pool_recycle,
            max_backlog: self.cache_max_backlog,
        }
    }

    /// The pool of the permission backend (`permission_*`, URL defaulting to
    /// `storage_url`).
    pub fn permission_pool(&self) -> PoolSettings {
        PoolSettings {
            url: or_storage(&self.permission_url, &self.storage_url),
            pool_size: self.permission_pool_size,
            max_overflow: self.permission_max_overflow,
            pool_timeout: self.permission_pool_timeout,
            pool_recycle: self.permission_pool_recycle,
            max_backlog: self.permission_max_backlog,
        }
    }
}

fn or_storage(url: &str, storage: &str) -> String {
    if url.is_empty() { storage } else { url }.to_owned()
}

/// A number given as a JSON number or as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

fn lenient<'de, D, T>(deserializer: D, what: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + TryFrom<i64>,
{
    use serde::de::Error;
    match Lenient::deserialize(deserializer)? {
        Lenient::Int(n) => {
            T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is not {what}")))
        }
        Lenient::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("{s:?} is not {what}"))),
        Lenient::Float(f) => Err(D::Error::custom(format!("{f} is not {what}"))),
        Lenient::Bool(b) => Err(D::Error::custom(format!("{b} is not {what}"))),
    }
}

fn lenient_usize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    lenient(deserializer, "a non-negative integer")
}

fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    lenient(deserializer, "an integer")
}

fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    use serde::de::Error;
    match Lenient::deserialize(deserializer)? {
        Lenient::Int(n) => Ok(n as f64),
        Lenient::Float(f) => Ok(f),
        Lenient::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("{s:?} is not a number"))),
        Lenient::Bool(b) => Err(D::Error::custom(format!("{b} is not a number"))),
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match Lenient::deserialize(deserializer)? {
        Lenient::Bool(b) => Ok(b),
        Lenient::Int(n) => Ok(n != 0),
        Lenient::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" => Ok(false),
            _ => Err(D::Error::custom(format!("{s:?} is not a boolean"))),
        },
        Lenient::Float(f) => Err(D::Error::custom(format!("{f} is not a boolean"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_kintos() {
        let s: PostgresSettings = serde_json::from_value(json!({})).unwrap();
        assert_eq!(s, PostgresSettings::default());
        let pool = s.storage_pool();
        assert_eq!(pool.pool_size, 25);
        assert_eq!(pool.max_size(), 30);
        assert_eq!(pool.timeout(), Some(Duration::from_secs(30)));
        assert_eq!(pool.recycle(), None);
        assert_eq!(pool.backlog(), None);
        assert_eq!(s.storage_max_fetch_size, 10_000);
        assert_eq!(s.storage_list_cache_size, 64 * 1024 * 1024);
    }

    #[test]
    fn strings_and_numbers_are_accepted() {
        let s: PostgresSettings = serde_json::from_value(json!({
            "storage_url": "postgres://a/b",
            "permission_url": "postgres://c/d",
            "storage_pool_recycle": "3600",
            "storage_max_backlog": 4,
            "cache_pool_timeout": "0.5",
            "readonly": "true",
            "storage_list_cache_size": "0",
        }))
        .unwrap();
        assert_eq!(s.storage_list_cache_size, 0);
        assert_eq!(s.storage_pool().recycle(), Some(Duration::from_secs(3600)));
        assert_eq!(s.storage_pool().backlog(), Some(4));
        assert_eq!(s.cache_pool().timeout(), Some(Duration::from_millis(500)));
        assert_eq!(s.cache_pool().url, "postgres://a/b");
        assert_eq!(s.permission_pool().url, "postgres://c/d");
        assert!(s.readonly);
    }

    #[test]
    fn bad_values_name_the_problem() {
        let err = serde_json::from_value::<PostgresSettings>(json!({"storage_pool_size": "many"}))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"many\" is not a non-negative integer"),
            "{err}"
        );
        let err = serde_json::from_value::<PostgresSettings>(json!({"storage_pool_size": -1}))
            .unwrap_err();
        assert!(err.to_string().contains("-1 is not"), "{err}");
    }
}
