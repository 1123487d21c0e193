//! Cache headers of record reads (`records.md`, "Cache headers").
//!
//! Authenticated reads are never cached. For anonymous reads of a
//! collection's records (list or one record), the number of seconds is the
//! first of these settings that is set: `{bid}.{cid}.record_cache_expires_seconds`,
//! `{bid}.record_cache_expires_seconds`, `record_cache_expires_seconds`,
//! then the legacy `{bid}_{cid}_record_cache_expires_seconds` and
//! `{bid}_record_cache_expires_seconds`; the collection's `cache_expires`
//! may raise it, never lower it. Positive: `Cache-Control: max-age=<n>`
//! and `Expires`; zero: expired at once (`no-cache, no-store`,
//! `must-revalidate`, `Pragma: no-cache`); nothing: `no-cache, no-store`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cliquet_errors::ApiError;
use cliquet_resource::{CacheHeaders, HookContext, ResourceHooks};
use cliquet_storage::StorageError;
use cliquet_storage::storage::Get;
use serde_json::Value;

const SUFFIX: &str = "record_cache_expires_seconds";

/// The record cache settings, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct RecordCache {
    seconds: BTreeMap<String, i64>,
}

impl RecordCache {
    /// Reads every `*record_cache_expires_seconds` setting.
    pub fn from_settings(settings: &crate::Settings) -> Self {
        let seconds = settings
            .raw
            .keys()
            .filter(|key| key.ends_with(SUFFIX))
            .filter_map(|key| {
                let value = match settings.raw.get(key)? {
                    Value::String(text) => text.trim().parse().ok(),
                    other => other.as_i64(),
                }?;
                Some((key.to_owned(), value))
            })
            .collect();
        Self { seconds }
    }

    /// The configured seconds of the records of `bid`/`cid`, Kinto's
    /// lookup order.
    pub fn configured(&self, bid: &str, cid: &str) -> Option<i64> {
        [
            format!("{bid}.{cid}.{SUFFIX}"),
            format!("{bid}.{SUFFIX}"),
            SUFFIX.to_owned(),
            format!("{bid}_{cid}_{SUFFIX}"),
            format!("{bid}_{SUFFIX}"),
        ]
        .iter()
        .find_map(|key| self.seconds.get(key).copied())
    }
}

#[async_trait]
impl ResourceHooks for RecordCache {
    async fn read_cache(
        &self,
        ctx: &HookContext<'_>,
        _configured: CacheHeaders,
    ) -> Result<CacheHeaders, ApiError> {
        if ctx.identity.is_authenticated() {
            return Ok(CacheHeaders::NoStore);
        }
        let bid = ctx.param("bucket_id").unwrap_or_default();
        let cid = ctx.param("collection_id").unwrap_or_default();
        let mut seconds = self.configured(bid, cid);
        let bucket = format!("/buckets/{bid}");
        let collection = match ctx
            .storage
            .get(Get::new("collection", bucket.as_str(), cid))
            .await
        {
            Ok(collection) => Some(collection),
            Err(StorageError::NotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        if let Some(own) = collection.and_then(|c| c.data.get("cache_expires")?.as_i64()) {
            seconds = Some(seconds.unwrap_or(-1).max(own));
        }
        Ok(CacheHeaders::for_records(seconds, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order() {
        let mut cache = RecordCache::default();
        cache
            .seconds
            .insert("blog_c2_record_cache_expires_seconds".into(), 7);
        assert_eq!(cache.configured("blog", "c2"), Some(7));
        cache
            .seconds
            .insert("record_cache_expires_seconds".into(), 10);
        assert_eq!(cache.configured("blog", "c2"), Some(10));
        cache
            .seconds
            .insert("blog.record_cache_expires_seconds".into(), 5);
        assert_eq!(cache.configured("blog", "c2"), Some(5));
        cache
            .seconds
            .insert("blog.c2.record_cache_expires_seconds".into(), 1);
        assert_eq!(cache.configured("blog", "c2"), Some(1));
        assert_eq!(cache.configured("blog", "c3"), Some(5));
        assert_eq!(cache.configured("other", "c3"), Some(10));
    }
}
