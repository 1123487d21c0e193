//! Cache headers of read responses: `Cache-Control`, `Expires`, `Pragma`,
//! and the `*_cache_expires_seconds` settings that choose them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{CACHE_CONTROL, EXPIRES, HeaderValue, PRAGMA};
use serde::{Deserialize, Deserializer};

use crate::etag::LastModified;

/// The suffix of the settings that enable anonymous read caching:
/// `{resource}_cache_expires_seconds`.
pub const CACHE_EXPIRES_SUFFIX: &str = "_cache_expires_seconds";

/// The cache headers of a `GET` or `HEAD` 200 response of a resource.
///
/// Writes get none; 304 responses get none either.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use cliquet_timestamps::CacheHeaders;
/// use http::HeaderMap;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_795_429_011);
///
/// // `mushroom_cache_expires_seconds = 60`, anonymous request.
/// let mut headers = HeaderMap::new();
/// CacheHeaders::for_resource(Some(60), true).apply_at(&mut headers, now);
/// assert_eq!(headers["cache-control"], "max-age=60");
/// assert_eq!(headers["expires"], "Mon, 23 Nov 2026 10:17:51 GMT");
///
/// // Authenticated requests are never cached.
/// let mut headers = HeaderMap::new();
/// CacheHeaders::for_resource(Some(60), false).apply_at(&mut headers, now);
/// assert_eq!(headers["cache-control"], "no-cache, no-store");
/// assert!(headers.get("expires").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheHeaders {
    /// `Cache-Control: no-cache, no-store`, no `Expires`.
    NoStore,
    /// `Cache-Control: max-age=<n>` and `Expires: <now + n>`.
    MaxAge(u64),
    /// `Cache-Control: max-age=0, must-revalidate, no-cache, no-store`,
    /// `Expires: <now>` and `Pragma: no-cache`: an explicit 0 on Kinto's
    /// records.
    ExpireNow,
}

impl CacheHeaders {
    /// The toolkit's rule for a resource's reads: `max-age` when the
    /// resource's `{resource}_cache_expires_seconds` is positive **and** the
    /// request is anonymous; `no-cache, no-store` otherwise (setting absent,
    /// zero or negative, or an authenticated request).
    pub fn for_resource(expires_seconds: Option<i64>, anonymous: bool) -> Self {
        match expires_seconds {
            Some(seconds) if anonymous && seconds > 0 => {
                CacheHeaders::MaxAge(seconds.unsigned_abs())
            }
            _ => CacheHeaders::NoStore,
        }
    }

    /// Kinto's refinement on records, given the resolved value (the first
    /// setting found, raised by the collection's `cache_expires`): positive
    /// gives `max-age`, `0` expires now, negative or absent gives
    /// `no-cache, no-store`; authenticated requests always get `no-cache,
    /// no-store`.
    pub fn for_records(expires_seconds: Option<i64>, anonymous: bool) -> Self {
        match expires_seconds {
            _ if !anonymous => CacheHeaders::NoStore,
            Some(0) => CacheHeaders::ExpireNow,
            Some(seconds) if seconds > 0 => CacheHeaders::MaxAge(seconds.unsigned_abs()),
            _ => CacheHeaders::NoStore,
        }
    }

    /// Sets the headers, `Expires` counted from the current time.
    pub fn apply(self, headers: &mut HeaderMap) {
        self.apply_at(headers, SystemTime::now());
    }

    /// Sets the headers, `Expires` counted from `now`. Headers this value
    /// does not send (`Expires`, `Pragma`) are removed.
    pub fn apply_at(self, headers: &mut HeaderMap, now: SystemTime) {
        headers.remove(EXPIRES);
        headers.remove(PRAGMA);
        match self {
            CacheHeaders::NoStore => {
                headers.insert(
                    CACHE_CONTROL,
                    HeaderValue::from_static("no-cache, no-store"),
                );
            }
            CacheHeaders::MaxAge(seconds) => {
                let cache_control = HeaderValue::try_from(format!("max-age={seconds}"))
                    .expect("digits are a valid header value");
                headers.insert(CACHE_CONTROL, cache_control);
                let expires = now
                    .checked_add(Duration::from_secs(seconds))
                    .map_or(LastModified::from_secs(u64::MAX), LastModified::from);
                headers.insert(EXPIRES, expires.into());
            }
            CacheHeaders::ExpireNow => {
                headers.insert(
                    CACHE_CONTROL,
                    HeaderValue::from_static("max-age=0, must-revalidate, no-cache, no-store"),
                );
                headers.insert(EXPIRES, LastModified::from(now).into());
                headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
            }
        }
    }
}

/// The `*_cache_expires_seconds` settings (`record_cache_expires_seconds`,
/// `blog.record_cache_expires_seconds`, ...), read from the whole settings
/// map: every other key is ignored. Values are integers, or strings holding
/// one (as an `.ini` file gives them); anything else is refused when the
/// settings are loaded, naming the key.
///
/// ```
/// use cliquet_timestamps::CacheExpiresSettings;
///
/// let settings: CacheExpiresSettings = serde_json::from_str(
///     r#"{"record_cache_expires_seconds": "10", "blog.record_cache_expires_seconds": 5,
///         "project_name": "kinto"}"#,
/// )
/// .unwrap();
/// assert_eq!(settings.resource("record"), Some(10));
/// assert_eq!(settings.resource("bucket"), None);
/// assert_eq!(
///     settings.first(["blog.c2.record_cache_expires_seconds", "blog.record_cache_expires_seconds"]),
///     Some(5)
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheExpiresSettings {
    values: BTreeMap<String, i64>,
}

impl CacheExpiresSettings {
    /// No setting: nothing is cached.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (the full setting name).
    pub fn insert(&mut self, key: impl Into<String>, seconds: i64) -> &mut Self {
        self.values.insert(key.into(), seconds);
        self
    }

    /// The value of the setting `key` (the full name).
    pub fn get(&self, key: &str) -> Option<i64> {
        self.values.get(key).copied()
    }

    /// `{resource_name}_cache_expires_seconds`.
    pub fn resource(&self, resource_name: &str) -> Option<i64> {
        self.get(&format!("{resource_name}{CACHE_EXPIRES_SUFFIX}"))
    }

    /// The first of these settings that is set: for Kinto's lookup order
    /// (`{bid}.{cid}.record_...`, `{bid}.record_...`, `record_...`, then the
    /// legacy names).
    pub fn first<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Option<i64> {
        keys.into_iter().find_map(|key| self.get(key.as_ref()))
    }
}

impl<'de> Deserialize<'de> for CacheExpiresSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let all = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let mut values = BTreeMap::new();
        for (key, value) in all {
            if !key.ends_with(CACHE_EXPIRES_SUFFIX) {
                continue;
            }
            let seconds = match &value {
                serde_json::Value::Null => continue,
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            let Some(seconds) = seconds else {
                return Err(serde::de::Error::custom(format!(
                    "{key}: expected an integer number of seconds, got {value}"
                )));
            };
            values.insert(key, seconds);
        }
        Ok(Self { values })
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn headers(cache: CacheHeaders) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(PRAGMA, HeaderValue::from_static("stale"));
        headers.insert(EXPIRES, HeaderValue::from_static("stale"));
        cache.apply_at(&mut headers, UNIX_EPOCH + Duration::from_secs(86_400));
        headers
    }

    #[test]
    fn toolkit_rule() {
        assert_eq!(
            CacheHeaders::for_resource(Some(60), true),
            CacheHeaders::MaxAge(60)
        );
        assert_eq!(
            CacheHeaders::for_resource(Some(60), false),
            CacheHeaders::NoStore
        );
        assert_eq!(
            CacheHeaders::for_resource(Some(0), true),
            CacheHeaders::NoStore
        );
        assert_eq!(
            CacheHeaders::for_resource(Some(-1), true),
            CacheHeaders::NoStore
        );
        assert_eq!(
            CacheHeaders::for_resource(None, true),
            CacheHeaders::NoStore
        );
    }

    #[test]
    fn records_rule() {
        assert_eq!(
            CacheHeaders::for_records(Some(60), true),
            CacheHeaders::MaxAge(60)
        );
        assert_eq!(
            CacheHeaders::for_records(Some(0), true),
            CacheHeaders::ExpireNow
        );
        assert_eq!(
            CacheHeaders::for_records(Some(-1), true),
            CacheHeaders::NoStore
        );
        assert_eq!(CacheHeaders::for_records(None, true), CacheHeaders::NoStore);
        assert_eq!(
            CacheHeaders::for_records(Some(0), false),
            CacheHeaders::NoStore
        );
        assert_eq!(
            CacheHeaders::for_records(Some(60), false),
            CacheHeaders::NoStore
        );
    }

    #[test]
    fn no_store_headers() {
        let headers = headers(CacheHeaders::NoStore);
        assert_eq!(headers[CACHE_CONTROL], "no-cache, no-store");
        assert!(headers.get(EXPIRES).is_none());
        assert!(headers.get(PRAGMA).is_none());
    }

    #[test]
    fn max_age_headers() {
        let headers = headers(CacheHeaders::MaxAge(3600));
        assert_eq!(headers[CACHE_CONTROL], "max-age=3600");
        assert_eq!(headers[EXPIRES], "Fri, 02 Jan 1970 01:00:00 GMT");
        assert!(headers.get(PRAGMA).is_none());
        // An age beyond what a date can write expires at the last date.
        let headers = super::tests::headers(CacheHeaders::MaxAge(u64::MAX));
        assert_eq!(headers[EXPIRES], "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn expire_now_headers() {
        let headers = headers(CacheHeaders::ExpireNow);
        assert_eq!(
            headers[CACHE_CONTROL],
            "max-age=0, must-revalidate, no-cache, no-store"
        );
        assert_eq!(headers[EXPIRES], "Fri, 02 Jan 1970 00:00:00 GMT");
        assert_eq!(headers[PRAGMA], "no-cache");
    }

    #[test]
    fn settings_keep_only_cache_expires_keys() {
        let settings: CacheExpiresSettings = serde_json::from_value(serde_json::json!({
            "record_cache_expires_seconds": 10,
            "mushroom_cache_expires_seconds": " 60 ",
            "blog_c2_record_cache_expires_seconds": null,
            "readonly": false,
            "project_name": "kinto",
        }))
        .unwrap();
        assert_eq!(settings.resource("record"), Some(10));
        assert_eq!(settings.resource("mushroom"), Some(60));
        assert_eq!(settings.get("blog_c2_record_cache_expires_seconds"), None);
        assert_eq!(settings.get("readonly"), None);

        let mut expected = CacheExpiresSettings::new();
        expected
            .insert("record_cache_expires_seconds", 10)
            .insert("mushroom_cache_expires_seconds", 60);
        assert_eq!(settings, expected);
    }

    #[test]
    fn invalid_values_name_the_key() {
        for value in [
            serde_json::json!("soon"),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ] {
            let error = serde_json::from_value::<CacheExpiresSettings>(
                serde_json::json!({ "record_cache_expires_seconds": value }),
            )
            .unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with("record_cache_expires_seconds: "),
                "{error}"
            );
        }
    }

    #[test]
    fn first_follows_the_given_order() {
        let mut settings = CacheExpiresSettings::new();
        settings
            .insert("blog.record_cache_expires_seconds", 5)
            .insert("blog_c2_record_cache_expires_seconds", 7);
        let order = [
            "blog.c2.record_cache_expires_seconds",
            "blog.record_cache_expires_seconds",
            "record_cache_expires_seconds",
            "blog_c2_record_cache_expires_seconds",
        ];
        assert_eq!(settings.first(order), Some(5));
        assert_eq!(settings.first(&order[2..]), Some(7));
        assert_eq!(settings.first(&order[2..3]), None);
    }
}
