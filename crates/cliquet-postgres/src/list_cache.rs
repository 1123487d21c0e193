//! Pages of lists kept between requests, valid while their collection's
//! timestamp does not move.
//!
//! Every write to a collection gives it a timestamp greater than any
//! before (the `bump_timestamp` trigger, Kinto's and ours), so a page read
//! with the timestamp `T` ([`Storage::list_as_of`]) is still the answer as
//! long as the collection's timestamp is still `T`. The backend keeps such
//! pages in memory, keyed by everything the list asks for (collection,
//! filters, the ids a permission restriction allows, sort, pagination
//! token, limit, tombstones or not). The next identical list first reads
//! the collection timestamp and the objects written since the kept page's
//! (one prepared statement, one snapshot, on the index of the collection's
//! timestamps). If nothing was written, the kept page answers. If a few
//! objects were, and the collection's oldest object is still the one it
//! had (a wiped collection's is not), the page is brought up to date with them when they are
//! enough to tell (the order is total, and no object left a full
//! page or moved past its end), as the reference evaluator of
//! `cliquet-filter` decides, which the SQL agrees with. Otherwise the list
//! runs as it would without the cache, and its page is kept in turn. Every
//! list is thus checked against the database: writes by this process, by
//! another instance, or by a Python Kinto on the same database are seen at
//! once. What it saves is PostgreSQL's work on the page (planning the list
//! for its values, scanning, filtering, sorting, sending it) for
//! collections read more often than written, or written in places the
//! page does not show.
//!
//! The memory is bounded (`storage_list_cache_size` bytes, estimated from
//! the objects' JSON; `0` turns the cache off): one page may take at most
//! an eighth of it, and the least recently used pages go first.
//!
//! # Caveat
//!
//! Removing objects without a tombstone does not move the collection
//! timestamp, in Kinto as here: purging tombstones, trimming history,
//! wiping a deleted collection's children. This process forgets every
//! kept page when it does any of these. Another instance notices a wiped
//! collection (its oldest object changed) and reads the page again; but
//! it may go on answering, from a page it kept, tombstones or history
//! entries removed meanwhile that were not the collection's oldest, until
//! the collection next changes (as an HTTP cache validating with the
//! collection's `ETag` would).
//!
//! [`Storage::list_as_of`]: cliquet_storage::Storage::list_as_of

use std::cmp::Ordering as Order;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cliquet_filter::compare_objects;
use cliquet_storage::storage::List;
use cliquet_storage::{Object, Timestamp};
use serde_json::Value;

/// Most changes a kept page is brought up to date with; beyond, the list
/// is read again.
pub(crate) const MAX_CHANGES: usize = 64;

/// The default of `storage_list_cache_size`: 64 MiB.
pub const DEFAULT_SIZE: usize = 64 * 1024 * 1024;

/// How a kept page was used, since the backend was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCacheStats {
    /// Lists answered from a kept page (the collection had not changed).
    pub hits: u64,
    /// Lists answered from a kept page brought up to date with the objects
    /// written since.
    pub patched: u64,
    /// Lists whose page was read from the database.
    pub misses: u64,
    /// Pages kept now.
    pub pages: usize,
    /// Their estimated size, in bytes.
    pub bytes: usize,
}

/// The `last_modified` of the collection's oldest object (tombstones
/// included) when a page was kept: removals without a tombstone move no
/// timestamp, but wiping a collection (or purging its oldest tombstones)
/// changes its oldest object, which tells a page that cannot be brought up
/// to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oldest {
    /// Not read with the page.
    Unknown,
    /// The oldest object's timestamp; `None` for an empty collection.
    Known(Option<Timestamp>),
}

/// A kept page, as [`ListCache::known`] gives it.
pub(crate) struct Kept {
    /// The collection timestamp it was read with.
    pub(crate) timestamp: Timestamp,
    /// The collection's oldest object then.
    pub(crate) oldest: Oldest,
    /// The page.
    pub(crate) objects: Arc<Vec<Object>>,
}

/// The kept pages of one backend.
pub(crate) struct ListCache {
    budget: usize,
    inner: Mutex<Pages>,
    hits: AtomicU64,
    patched: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Pages {
    entries: HashMap<String, Page>,
    bytes: usize,
    clock: u64,
}

struct Page {
    timestamp: Timestamp,
    oldest: Oldest,
    objects: Arc<Vec<Object>>,
    bytes: usize,
    used: u64,
}

impl ListCache {
    /// A cache of at most `budget` bytes; `None` for `0`.
    pub(crate) fn new(budget: usize) -> Option<Arc<Self>> {
        (budget > 0).then(|| {
            Arc::new(Self {
                budget,
                inner: Mutex::new(Pages::default()),
                hits: AtomicU64::new(0),
                patched: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
        })
    }

    /// The key of a list: every parameter, in a form where two lists
    /// differ exactly when their parameters do (strings are quoted and
    /// escaped).
    pub(crate) fn key(params: &List) -> String {
        format!("{params:?}")
    }

    /// The page kept for `key`, and what it was read with.
    pub(crate) fn known(&self, key: &str) -> Option<Kept> {
        let mut pages = self.lock();
        pages.clock += 1;
        let clock = pages.clock;
        let page = pages.entries.get_mut(key)?;
        page.used = clock;
        Some(Kept {
            timestamp: page.timestamp,
            oldest: page.oldest,
            objects: page.objects.clone(),
        })
    }

    /// Counts a list answered from its kept page.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a list answered from its kept page brought up to date.
    pub(crate) fn patched(&self) {
        self.patched.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a list whose page was read from the database.
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the page read for `key` with `timestamp`, unless it is too
    /// big; makes room by forgetting the least recently used pages.
    pub(crate) fn keep(
        &self,
        key: String,
        timestamp: Timestamp,
        oldest: Oldest,
        objects: &[Object],
    ) {
        let bytes = key.len() + objects.iter().map(object_size).sum::<usize>();
        if bytes > self.budget / 8 {
            self.lock().forget(&key);
            return;
        }
        let mut pages = self.lock();
        pages.clock += 1;
        let page = Page {
            timestamp,
            oldest,
            objects: Arc::new(objects.to_vec()),
            bytes,
            used: pages.clock,
        };
        pages.bytes += bytes;
        if let Some(old) = pages.entries.insert(key, page) {
            pages.bytes -= old.bytes;
        }
        if pages.bytes > self.budget {
            pages.shrink(self.budget - self.budget / 4);
        }
    }

    /// Forgets every page (after removals that do not move timestamps).
    pub(crate) fn clear(&self) {
        let mut pages = self.lock();
        pages.entries.clear();
        pages.bytes = 0;
    }

    pub(crate) fn stats(&self) -> ListCacheStats {
        let pages = self.lock();
        ListCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            patched: self.patched.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            pages: pages.entries.len(),
            bytes: pages.bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        // A panic while holding the lock leaves consistent maps: use them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pages {
    fn forget(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= old.bytes;
        }
    }

    /// Forgets the least recently used pages until at most `target` bytes
    /// are kept (in one pass, so that eviction is rare and amortised).
    fn shrink(&mut self, target: usize) {
        let mut by_use: Vec<(u64, usize)> = self
            .entries
            .values()
            .map(|page| (page.used, page.bytes))
            .collect();
        by_use.sort_unstable();
        let mut bytes = self.bytes;
        let mut oldest_kept = 0;
        for (used, size) in by_use {
            if bytes <= target {
                oldest_kept = used;
                break;
            }
            bytes -= size;
            oldest_kept = used + 1;
        }
        self.entries.retain(|_, page| page.used >= oldest_kept);
        self.bytes = self.entries.values().map(|page| page.bytes).sum();
    }
}

/// The page `params` lists now, from the page `kept` it listed before and
/// the objects written since (`changes`: their current rows, tombstones
/// included, each once), when they are enough to tell; `None` when the
/// list must be read again.
///
/// Only for a total order (the sort ends with `last_modified` or `id`,
/// unique in a collection), so that a page has one right answer. Filters,
/// pagination rules and the order are evaluated as `cliquet-filter`'s
/// reference evaluator does, which the SQL translation agrees with. A page
/// holding fewer objects than `limit` held the whole matching set: any
/// change can be applied. A full page can take a change that stays
/// before its last object, or one that enters before it (the last ones
/// then fall off); one that leaves the page or moves past its end would
/// need the object that followed, which the page does not have.
pub(crate) fn patch(
    params: &List,
    limit: usize,
    kept: &[Object],
    changes: Vec<Object>,
) -> Option<Vec<Object>> {
    let total = params
        .sort
        .last()
        .is_some_and(|last| last.field.is_last_modified() || last.field.is_id());
    if !total {
        return None;
    }
    let whole = kept.len() < limit;
    let docs: Vec<Value> = kept.iter().map(Object::to_json).collect();
    let boundary = docs.last().cloned();
    let before_end = |doc: &Value| {
        boundary
            .as_ref()
            .is_none_or(|end| compare_objects(&params.sort, doc, end) != Order::Greater)
    };
    let mut page: Vec<(Value, Object)> = docs.into_iter().zip(kept.iter().cloned()).collect();
    for change in changes {
        let doc = change.to_json();
        let listed = accepts(params, &change, &doc);
        match (page.iter().position(|(_, o)| o.id == change.id), listed) {
            (Some(i), true) => {
                if !whole && !before_end(&doc) {
                    return None;
                }
                page[i] = (doc, change);
            }
            (Some(i), false) => {
                if !whole {
                    return None;
                }
                page.remove(i);
            }
            (None, true) => {
                if whole || before_end(&doc) {
                    page.push((doc, change));
                }
            }
            (None, false) => {}
        }
    }
    page.sort_by(|(a, _), (b, _)| compare_objects(&params.sort, a, b));
    page.truncate(limit);
    Some(page.into_iter().map(|(_, object)| object).collect())
}

/// Whether a list selects `object` (`doc`, its protocol form), as the
/// reference evaluator decides.
fn accepts(params: &List, object: &Object, doc: &Value) -> bool {
    (params.include_deleted || !object.deleted)
        && params.filters.iter().all(|filter| filter.matches(doc))
        && (params.pagination.is_empty() || params.pagination.iter().any(|rule| rule.matches(doc)))
}

/// Roughly the memory an object takes: its strings plus a fixed cost per
/// value.
fn object_size(object: &Object) -> usize {
    64 + object.id.len()
        + object
            .data
            .iter()
            .map(|(name, value)| 32 + name.len() + value_size(value))
            .sum::<usize>()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 16,
        Value::String(s) => 24 + s.len(),
        Value::Array(items) => 24 + items.iter().map(value_size).sum::<usize>(),
        Value::Object(map) => {
            48 + map
                .iter()
                .map(|(name, value)| 32 + name.len() + value_size(value))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(n: usize) -> Vec<Object> {
        (0..n)
            .map(|i| {
                let data = json!({"title": "x".repeat(100), "i": i});
                Object::new(
                    format!("id{i}"),
                    i as i64,
                    data.as_object().unwrap().clone(),
                )
            })
            .collect()
    }

    #[test]
    fn off_at_zero() {
        assert!(ListCache::new(0).is_none());
    }

    #[test]
    fn keys_tell_lists_apart() {
        let a = List::new("record", "/buckets/b/collections/c");
        let b = List::new("record", "/buckets/b/collections/c").with_limit(Some(10));
        let c = List::new("record", "/buckets/b/collections/c\", limit: Some(10)");
        assert_ne!(ListCache::key(&a), ListCache::key(&b));
        assert_ne!(ListCache::key(&b), ListCache::key(&c));
        assert_eq!(ListCache::key(&a), ListCache::key(&a.clone()));
    }

    #[test]
    fn keeps_and_replaces() {
        let cache = ListCache::new(1 << 20).unwrap();
        assert!(cache.known("k").is_none());
        cache.keep("k".into(), 5, Oldest::Unknown, &page(3));
        let kept = cache.known("k").unwrap();
        assert_eq!((kept.timestamp, kept.objects.len()), (5, 3));
        cache.keep("k".into(), 9, Oldest::Unknown, &page(1));
        let kept = cache.known("k").unwrap();
        assert_eq!((kept.timestamp, kept.objects.len()), (9, 1));
        let stats = cache.stats();
        assert_eq!(stats.pages, 1);
        assert_eq!(stats.bytes, "k".len() + object_size(&page(1)[0]));
        cache.clear();
        assert!(cache.known("k").is_none());
        assert_eq!(cache.stats().bytes, 0);
    }

    #[test]
    fn refuses_a_page_over_an_eighth_of_the_budget() {
        let one = object_size(&page(1)[0]);
        let cache = ListCache::new(8 * (one * 4)).unwrap();
        cache.keep("small".into(), 1, Oldest::Unknown, &page(2));
        cache.keep("big".into(), 1, Oldest::Unknown, &page(10));
        assert!(cache.known("small").is_some());
        assert!(cache.known("big").is_none());
    }

    #[test]
    fn forgets_the_least_recently_used_first() {
        let size = object_size(&page(1)[0]) + 2;
        // Room for 8 one-object pages (an eighth each).
        let cache = ListCache::new(8 * size).unwrap();
        for i in 0..8 {
            cache.keep(format!("k{i}"), 1, Oldest::Unknown, &page(1));
        }
        assert_eq!(cache.stats().pages, 8);
        // k0 used recently: it survives the eviction the ninth page causes.
        assert!(cache.known("k0").is_some());
        cache.keep("k8".into(), 1, Oldest::Unknown, &page(1));
        let stats = cache.stats();
        assert!(stats.bytes <= 8 * size - 8 * size / 4, "{stats:?}");
        assert!(cache.known("k0").is_some());
        assert!(cache.known("k8").is_some());
        assert!(cache.known("k1").is_none());
    }
}
