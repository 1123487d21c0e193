//! The storage backend: objects, tombstones, collection timestamps, and
//! transactions.
//!
//! Every operation takes one parameter struct and returns one result type.
//! The structs have public fields, a constructor taking what is required,
//! and `with_*` builders for the rest; they are `#[non_exhaustive]` so that
//! new options can be added without breaking callers.
//!
//! A *collection* is `(resource_name, parent_id)`. Parent ids given to
//! [`List`], [`Count`], [`DeleteAll`] and [`PurgeDeleted`] may contain `*`
//! wildcards (see [`crate::pattern`]); the other operations take exact ones.
//!
//! ## Guarantees every backend gives (the test kit checks them)
//!
//! - **Timestamps** are strictly increasing per collection; two writes never
//!   share one; they never decrease, even if the clock goes back; a
//!   requested timestamp is kept only when greater than the collection's
//!   (see [`crate::timestamp`]). The collection timestamp after a delete is
//!   the tombstone's.
//! - **Visibility order**: within a collection an object becomes visible to
//!   readers no later than any object with a greater timestamp, so a client
//!   polling with `_since` never misses one.
//! - **Conditional writes**: `if_match` is checked and the write made in one
//!   atomic step: of several writers holding the same timestamp, one wins and
//!   the others get [`StorageError::Modified`](crate::StorageError::Modified).
//! - **Lists** agree with `cliquet-filter`'s evaluator ([`Filter::matches`],
//!   [`cliquet_filter::compare_objects`], [`PaginationRule::matches`]) on the
//!   protocol form of objects ([`Object::to_json`]), tombstones included as
//!   `{"id", "last_modified", "deleted": true}`. Objects equal on every sort
//!   field come in an unspecified order (`last_modified` ends every query's
//!   sort, and is unique in a collection).
//! - **Transactions**: the writes made through a [`Transaction`] are seen by
//!   that transaction's reads, by nobody else before
//!   [`Transaction::commit`], and vanish on [`Transaction::rollback`] (or
//!   when it is dropped without a commit).

use std::collections::BTreeMap;

use async_trait::async_trait;
use cliquet_filter::{Filter, PaginationRule, Query, SortField};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::model::{Object, Timestamp};
use crate::permission::Permission;

/// A storage backend. Object-safe: used as `Arc<dyn Storage>`.
///
/// ```
/// # async fn demo(storage: &dyn cliquet_storage::Storage) -> cliquet_storage::Result<()> {
/// use cliquet_storage::storage::{Create, Get, List};
/// use serde_json::json;
///
/// let data = json!({"title": "hello"}).as_object().cloned().unwrap();
/// let created = storage.create(Create::new("article", "/blog", "a1", data)).await?;
/// let got = storage.get(Get::new("article", "/blog", "a1")).await?;
/// assert_eq!(created, got);
/// let all = storage.list(List::new("article", "/blog")).await?;
/// assert_eq!(all, vec![got]);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Storage: Send + Sync {
    /// Creates an object. Fails with
    /// [`Conflict`](crate::StorageError::Conflict) (carrying the existing
    /// object) when a live object has that id; replaces a tombstone.
    async fn create(&self, params: Create) -> Result<Object>;

    /// A live object, or [`NotFound`](crate::StorageError::NotFound)
    /// (tombstones are not found).
    async fn get(&self, params: Get) -> Result<Object>;

    /// Creates or replaces an object (replacing a tombstone too), unless
    /// `if_match` is given and does not equal the current object's
    /// timestamp, or there is no live object: then
    /// [`Modified`](crate::StorageError::Modified).
    async fn update(&self, params: Update) -> Result<Updated>;

    /// Deletes a live object, leaving a tombstone unless `with_deleted` is
    /// false. [`NotFound`](crate::StorageError::NotFound) if there is none;
    /// [`Modified`](crate::StorageError::Modified) if `if_match` differs.
    async fn delete(&self, params: Delete) -> Result<Deleted>;

    /// Deletes the live objects a list with the same parameters would
    /// return, in that order, each with its own new timestamp.
    async fn delete_all(&self, params: DeleteAll) -> Result<Vec<Deleted>>;

    /// The objects matching the filters and the pagination rules, sorted,
    /// at most `limit`; tombstones only with `include_deleted`.
    async fn list(&self, params: List) -> Result<Vec<Object>>;

    /// The collection timestamp ([`resource_timestamp`](Self::resource_timestamp))
    /// and the [`list`](Self::list) of the objects changed at or before
    /// it: the collection as of that timestamp, the way a page and its
    /// `ETag` must agree so that a `_since` poll from that `ETag` sees each
    /// change exactly once. `params.parent_id` must not be a pattern.
    ///
    /// The provided implementation reads the timestamp, then the bounded
    /// list; a backend may read both at once, from one snapshot, when
    /// writers commit in timestamp order.
    async fn list_as_of(&self, params: List) -> Result<(Timestamp, Vec<Object>)> {
        let timestamp = self
            .resource_timestamp(ResourceTimestamp::new(
                &params.resource_name,
                &params.parent_id,
            ))
            .await?;
        Ok((timestamp, self.list(params.up_to(timestamp)).await?))
    }

    /// How many objects match the filters (no pagination, no limit).
    async fn count(&self, params: Count) -> Result<u64>;

    /// Removes tombstones for good; returns how many.
    async fn purge_deleted(&self, params: PurgeDeleted) -> Result<u64>;

    /// Keeps the `max_objects` newest live objects matching the filters and
    /// removes the others without tombstones (history trimming); returns
    /// how many were removed.
    ///
    /// The provided implementation lists, then deletes one by one; a
    /// backend may do it in one statement.
    async fn trim_objects(&self, params: TrimObjects) -> Result<u64> {
        let newest_first = List::new(&params.resource_name, &params.parent_id)
            .with_filters(params.filters)
            .with_sort(vec![SortField::desc(crate::model::MODIFIED_FIELD)]);
        let mut removed = 0;
        for object in self
            .list(newest_first)
            .await?
            .into_iter()
            .skip(params.max_objects)
        {
            let delete = Delete::new(&params.resource_name, &params.parent_id, object.id)
                .with_deleted(false);
            match self.delete(delete).await {
                Ok(_) => removed += 1,
                // Removed meanwhile by someone else: that is what we wanted.
                Err(crate::StorageError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(removed)
    }

    /// The collection timestamp; initialises it to "now" for a collection
    /// never written nor read ([`Readonly`](crate::StorageError::Readonly)
    /// on a read-only backend).
    async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp>;

    /// The collection timestamps of every parent of a resource that has one.
    async fn all_resources_timestamps(
        &self,
        params: AllResourcesTimestamps,
    ) -> Result<BTreeMap<String, Timestamp>>;

    /// Deletes every object, tombstone and timestamp.
    async fn flush(&self) -> Result<()>;

    /// Checks that the backend answers (for `/__heartbeat__`).
    async fn healthcheck(&self) -> Result<()>;

    /// Starts a transaction. On a backend that shares its transactions with
    /// a permission backend, [`Transaction::permission`] gives it.
    ///
    /// Transactions do not nest: the storage of a transaction answers
    /// `begin` with a [`Backend`](crate::StorageError::Backend) error.
    /// Backends may serialise the writers of a collection (or of the whole
    /// store) until commit: inside a transaction, write through it only,
    /// never through the backend it came from.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;
}

/// A transaction: a group of writes committed or rolled back as one.
///
/// Dropping it without calling [`Transaction::commit`] rolls it back.
/// Expected failures of an operation inside it ([`NotFound`],
/// [`Conflict`], [`Modified`]) write nothing and leave it usable (a batch
/// goes on after a `POST` of an existing id); a SQL backend checks before it
/// writes, or wraps such statements in savepoints.
///
/// [`NotFound`]: crate::StorageError::NotFound
/// [`Conflict`]: crate::StorageError::Conflict
/// [`Modified`]: crate::StorageError::Modified
#[async_trait]
pub trait Transaction: Send + Sync {
    /// The storage operations, inside this transaction.
    fn storage(&self) -> &dyn Storage;

    /// The permission operations inside this transaction, when the storage
    /// and permission backends share it (same database); `None` otherwise,
    /// in which case permission writes go to the permission backend
    /// directly and are not rolled back.
    fn permission(&self) -> Option<&dyn Permission>;

    /// Makes the writes visible to everyone, all at once.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Discards the writes.
    async fn rollback(self: Box<Self>) -> Result<()>;

    /// Whether a statement of this transaction failed with
    /// [`StorageError::TransactionConflict`](crate::StorageError::TransactionConflict):
    /// the transaction lost to a concurrent one and its unit of work must
    /// be rolled back and run again. Set even when the caller turned that
    /// error into another one, so the owner of the transaction can tell.
    /// Backends without such conflicts keep the default, `false`.
    fn conflicted(&self) -> bool {
        false
    }
}

/// Parameters of [`Storage::create`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Create {
    /// The resource name (`record`).
    pub resource_name: String,
    /// The parent id (`/buckets/b/collections/c`), exact.
    pub parent_id: String,
    /// The new object's id (the caller generates ids).
    pub id: String,
    /// Its fields; `id` and `last_modified` keys are ignored.
    pub data: Map<String, Value>,
    /// A requested timestamp (replication); kept only if greater than the
    /// collection timestamp.
    pub last_modified: Option<Timestamp>,
}

impl Create {
    /// Creates object `id` with `data`.
    pub fn new(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        id: impl Into<String>,
        data: Map<String, Value>,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            id: id.into(),
            data,
            last_modified: None,
        }
    }

    /// Requests a timestamp.
    pub fn with_last_modified(mut self, last_modified: Option<Timestamp>) -> Self {
        self.last_modified = last_modified;
        self
    }
}

/// Parameters of [`Storage::get`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Get {
    /// The resource name.
    pub resource_name: String,
    /// The parent id, exact.
    pub parent_id: String,
    /// The object id.
    pub id: String,
}

impl Get {
    /// Gets object `id`.
    pub fn new(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        id: impl Into<String>,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            id: id.into(),
        }
    }
}

/// Parameters of [`Storage::update`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Update {
    /// The resource name.
    pub resource_name: String,
    /// The parent id, exact.
    pub parent_id: String,
    /// The object id.
    pub id: String,
    /// The new fields (replacing all the old ones); `id` and
    /// `last_modified` keys are ignored.
    pub data: Map<String, Value>,
    /// A requested timestamp; kept only if greater than the collection
    /// timestamp.
    pub last_modified: Option<Timestamp>,
    /// Write only if a live object exists with this timestamp (`If-Match`).
    pub if_match: Option<Timestamp>,
}

impl Update {
    /// Replaces (or creates) object `id` with `data`.
    pub fn new(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        id: impl Into<String>,
        data: Map<String, Value>,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            id: id.into(),
            data,
            last_modified: None,
            if_match: None,
        }
    }

    /// Requests a timestamp.
    pub fn with_last_modified(mut self, last_modified: Option<Timestamp>) -> Self {
        self.last_modified = last_modified;
        self
    }

    /// Makes the write conditional on the current timestamp.
    pub fn with_if_match(mut self, if_match: Option<Timestamp>) -> Self {
        self.if_match = if_match;
        self
    }
}

/// The result of [`Storage::update`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Updated {
    /// The object as stored.
    pub object: Object,
    /// The live object it replaced; `None` when it was created.
    pub previous: Option<Object>,
}

impl Updated {
    /// The result of an update.
    pub fn new(object: Object, previous: Option<Object>) -> Self {
        Self { object, previous }
    }

    /// Whether the object was created (there was no live one).
    pub fn created(&self) -> bool {
        self.previous.is_none()
    }
}

/// Parameters of [`Storage::delete`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delete {
    /// The resource name.
    pub resource_name: String,
    /// The parent id, exact.
    pub parent_id: String,
    /// The object id.
    pub id: String,
    /// Keep a tombstone (default true); false removes every trace.
    pub with_deleted: bool,
    /// A requested tombstone timestamp; kept only if greater than the
    /// collection timestamp.
    pub last_modified: Option<Timestamp>,
    /// Delete only if the live object has this timestamp (`If-Match`).
    pub if_match: Option<Timestamp>,
}

impl Delete {
    /// Deletes object `id`, leaving a tombstone.
    pub fn new(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        id: impl Into<String>,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            id: id.into(),
            with_deleted: true,
            last_modified: None,
            if_match: None,
        }
    }

    /// Whether to keep a tombstone.
    pub fn with_deleted(mut self, with_deleted: bool) -> Self {
        self.with_deleted = with_deleted;
        self
    }

    /// Requests a tombstone timestamp.
    pub fn with_last_modified(mut self, last_modified: Option<Timestamp>) -> Self {
        self.last_modified = last_modified;
        self
    }

    /// Makes the deletion conditional on the current timestamp.
    pub fn with_if_match(mut self, if_match: Option<Timestamp>) -> Self {
        self.if_match = if_match;
        self
    }
}

/// The result of [`Storage::delete`], and each element of
/// [`Storage::delete_all`]'s.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Deleted {
    /// The tombstone (returned even when none is kept), whose timestamp is
    /// the deletion's.
    pub tombstone: Object,
    /// The object as it was before.
    pub previous: Object,
}

impl Deleted {
    /// The result of a deletion.
    pub fn new(tombstone: Object, previous: Object) -> Self {
        Self {
            tombstone,
            previous,
        }
    }
}

/// Parameters of [`Storage::list`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct List {
    /// The resource name.
    pub resource_name: String,
    /// The parent id; `*` is a wildcard.
    pub parent_id: String,
    /// Conditions, AND-ed.
    pub filters: Vec<Filter>,
    /// The order; empty for an unspecified one.
    pub sort: Vec<SortField>,
    /// The continuation after a page: alternatives, OR-ed; empty for none.
    pub pagination: Vec<PaginationRule>,
    /// At most this many objects; `None` for all.
    pub limit: Option<usize>,
    /// Include tombstones (they match filters in their protocol form).
    pub include_deleted: bool,
}

impl List {
    /// Only the objects changed at or before `timestamp` (a collection
    /// timestamp; none of `0` or less bounds nothing).
    pub fn up_to(mut self, timestamp: Timestamp) -> Self {
        if timestamp > 0 {
            self.filters.push(Filter::new(
                crate::model::MODIFIED_FIELD,
                cliquet_filter::Operator::Max,
                serde_json::json!(timestamp),
            ));
        }
        self
    }

    /// Every live object of the collection, in no particular order.
    pub fn new(resource_name: impl Into<String>, parent_id: impl Into<String>) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            filters: Vec::new(),
            sort: Vec::new(),
            pagination: Vec::new(),
            limit: None,
            include_deleted: false,
        }
    }

    /// The list a parsed querystring asks for: its filters, sort,
    /// pagination rules (from its token) and limit, with tombstones when it
    /// filters on `last_modified`. A caller detecting a next page asks for
    /// one more object with [`List::with_limit`].
    pub fn from_query(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        query: &Query,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            filters: query.filters.clone(),
            sort: query.sort.clone(),
            pagination: query.pagination_rules(),
            limit: Some(query.limit),
            include_deleted: query.includes_tombstones(),
        }
    }

    /// Sets the filters.
    pub fn with_filters(mut self, filters: Vec<Filter>) -> Self {
        self.filters = filters;
        self
    }

    /// Sets the order.
    pub fn with_sort(mut self, sort: Vec<SortField>) -> Self {
        self.sort = sort;
        self
    }

    /// Sets the pagination rules.
    pub fn with_pagination(mut self, pagination: Vec<PaginationRule>) -> Self {
        self.pagination = pagination;
        self
    }

    /// Sets the limit.
    pub fn with_limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit;
        self
    }

    /// Includes tombstones or not.
    pub fn with_include_deleted(mut self, include_deleted: bool) -> Self {
        self.include_deleted = include_deleted;
        self
    }
}

/// Parameters of [`Storage::count`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Count {
    /// The resource name.
    pub resource_name: String,
    /// The parent id; `*` is a wildcard.
    pub parent_id: String,
    /// Conditions, AND-ed.
    pub filters: Vec<Filter>,
    /// Count tombstones too.
    pub include_deleted: bool,
}

impl Count {
    /// Counts the live objects of the collection.
    pub fn new(resource_name: impl Into<String>, parent_id: impl Into<String>) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            filters: Vec::new(),
            include_deleted: false,
        }
    }

    /// Sets the filters.
    pub fn with_filters(mut self, filters: Vec<Filter>) -> Self {
        self.filters = filters;
        self
    }

    /// Counts tombstones or not.
    pub fn with_include_deleted(mut self, include_deleted: bool) -> Self {
        self.include_deleted = include_deleted;
        self
    }
}

/// Parameters of [`Storage::delete_all`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeleteAll {
    /// The resource name.
    pub resource_name: String,
    /// The parent id; `*` is a wildcard.
    pub parent_id: String,
    /// Conditions, AND-ed.
    pub filters: Vec<Filter>,
    /// The order in which objects are deleted (and stamped).
    pub sort: Vec<SortField>,
    /// The continuation after a page: alternatives, OR-ed.
    pub pagination: Vec<PaginationRule>,
    /// At most this many objects; `None` for all.
    pub limit: Option<usize>,
    /// Keep tombstones (default true).
    pub with_deleted: bool,
}

impl DeleteAll {
    /// Deletes every live object of the collection, leaving tombstones.
    pub fn new(resource_name: impl Into<String>, parent_id: impl Into<String>) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            filters: Vec::new(),
            sort: Vec::new(),
            pagination: Vec::new(),
            limit: None,
            with_deleted: true,
        }
    }

    /// The deletion a parsed querystring asks for (see [`List::from_query`]).
    pub fn from_query(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        query: &Query,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            filters: query.filters.clone(),
            sort: query.sort.clone(),
            pagination: query.pagination_rules(),
            limit: Some(query.limit),
            with_deleted: true,
        }
    }

    /// Sets the filters.
    pub fn with_filters(mut self, filters: Vec<Filter>) -> Self {
        self.filters = filters;
        self
    }

    /// Sets the order.
    pub fn with_sort(mut self, sort: Vec<SortField>) -> Self {
        self.sort = sort;
        self
    }

    /// Sets the pagination rules.
    pub fn with_pagination(mut self, pagination: Vec<PaginationRule>) -> Self {
        self.pagination = pagination;
        self
    }

    /// Sets the limit.
    pub fn with_limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit;
        self
    }

    /// Whether to keep tombstones.
    pub fn with_deleted(mut self, with_deleted: bool) -> Self {
        self.with_deleted = with_deleted;
        self
    }
}

/// Parameters of [`Storage::purge_deleted`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeDeleted {
    /// The resource name; `None` for every resource (and then, without
    /// `before` nor `max_retained`, the stored collection timestamps of the
    /// matching parents are cleared too).
    pub resource_name: Option<String>,
    /// The parent id; `*` is a wildcard.
    pub parent_id: String,
    /// Only tombstones older than this (`last_modified < before`).
    pub before: Option<Timestamp>,
    /// Keep the newest `max_retained` tombstones of each collection.
    /// Giving both `before` and `max_retained` is an
    /// [`InvalidInput`](crate::StorageError::InvalidInput) error.
    pub max_retained: Option<u64>,
}

impl PurgeDeleted {
    /// Purges every tombstone of `resource_name` under `parent_id`.
    pub fn new(resource_name: Option<String>, parent_id: impl Into<String>) -> Self {
        Self {
            resource_name,
            parent_id: parent_id.into(),
            before: None,
            max_retained: None,
        }
    }

    /// Only tombstones older than `before`.
    pub fn with_before(mut self, before: Option<Timestamp>) -> Self {
        self.before = before;
        self
    }

    /// Keeps the newest `max_retained` tombstones per collection.
    pub fn with_max_retained(mut self, max_retained: Option<u64>) -> Self {
        self.max_retained = max_retained;
        self
    }
}

/// Parameters of [`Storage::trim_objects`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TrimObjects {
    /// The resource name.
    pub resource_name: String,
    /// The parent id, exact.
    pub parent_id: String,
    /// Which objects count, AND-ed (all when empty).
    pub filters: Vec<Filter>,
    /// How many of the newest to keep.
    pub max_objects: usize,
}

impl TrimObjects {
    /// Keeps the `max_objects` newest objects of the collection.
    pub fn new(
        resource_name: impl Into<String>,
        parent_id: impl Into<String>,
        max_objects: usize,
    ) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
            filters: Vec::new(),
            max_objects,
        }
    }

    /// Only objects matching `filters` count (and may be removed).
    pub fn with_filters(mut self, filters: Vec<Filter>) -> Self {
        self.filters = filters;
        self
    }
}

/// Parameters of [`Storage::resource_timestamp`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceTimestamp {
    /// The resource name.
    pub resource_name: String,
    /// The parent id, exact.
    pub parent_id: String,
}

impl ResourceTimestamp {
    /// The timestamp of collection `(resource_name, parent_id)`.
    pub fn new(resource_name: impl Into<String>, parent_id: impl Into<String>) -> Self {
        Self {
            resource_name: resource_name.into(),
            parent_id: parent_id.into(),
        }
    }
}

/// Parameters of [`Storage::all_resources_timestamps`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllResourcesTimestamps {
    /// The resource name.
    pub resource_name: String,
}

impl AllResourcesTimestamps {
    /// The timestamps of every collection of `resource_name`.
    pub fn new(resource_name: impl Into<String>) -> Self {
        Self {
            resource_name: resource_name.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use cliquet_filter::{Operator, ParseOptions};
    use serde_json::json;

    use super::*;

    #[test]
    fn list_from_query_takes_filters_sort_limit_and_tombstones() {
        let query = Query::parse(
            "_since=10&min_n=2&_sort=title&_limit=5",
            &ParseOptions::new(),
        )
        .unwrap();
        let list = List::from_query("record", "/p", &query);
        assert_eq!(list.filters, query.filters);
        assert_eq!(
            list.sort,
            vec![SortField::asc("title"), SortField::desc("last_modified")]
        );
        assert_eq!(list.limit, Some(5));
        assert!(
            list.include_deleted,
            "a filter on last_modified includes tombstones"
        );
        assert!(list.pagination.is_empty());

        let plain = Query::parse("min_n=2", &ParseOptions::new()).unwrap();
        assert!(!List::from_query("record", "/p", &plain).include_deleted);
    }

    #[test]
    fn list_from_query_turns_the_token_into_rules() {
        let mut query = Query::parse("_sort=title&_limit=2", &ParseOptions::new()).unwrap();
        query.token =
            Some(query.next_token(&json!({"id": "a", "last_modified": 5, "title": "m"}), 2));
        let list = List::from_query("record", "/p", &query);
        assert_eq!(list.pagination, query.pagination_rules());
        assert_eq!(list.pagination.len(), 2, "one rule per sort field");
        let delete_all = DeleteAll::from_query("record", "/p", &query);
        assert_eq!(delete_all.pagination, list.pagination);
        assert!(delete_all.with_deleted);
    }

    #[test]
    fn builders_set_options() {
        let update = Update::new("r", "p", "a", Map::new())
            .with_if_match(Some(3))
            .with_last_modified(Some(9));
        assert_eq!((update.if_match, update.last_modified), (Some(3), Some(9)));
        let delete = Delete::new("r", "p", "a")
            .with_deleted(false)
            .with_if_match(Some(1));
        assert!(!delete.with_deleted);
        let count = Count::new("r", "p").with_filters(vec![Filter::new("n", Operator::Eq, 1)]);
        assert_eq!(count.filters.len(), 1);
        let purge = PurgeDeleted::new(None, "*")
            .with_before(Some(4))
            .with_max_retained(None);
        assert_eq!(purge.before, Some(4));
        let created = Updated::new(Object::new("a", 1, Map::new()), None);
        assert!(created.created());
    }
}
