//! The data, and the operations on it, independent of locking.
//!
//! [`Store`] is what an operation sees: the committed state directly, or a
//! transaction's staged copy layered over it ([`Layered`]). The operations
//! below are written once against it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cliquet_filter::{Filter, Operator, PaginationRule, SortField, jsonb};
use cliquet_storage::pattern;
use cliquet_storage::storage::{
    AllResourcesTimestamps, Count, Create, Delete, DeleteAll, Deleted, Get, List, PurgeDeleted,
    Update, Updated,
};
use cliquet_storage::timestamp::next_timestamp;
use cliquet_storage::{Object, Result, StorageError, Timestamp};
use serde_json::Value;

use crate::acl::Acls;

/// An object with its protocol form, which filters and sorts read.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) object: Object,
    pub(crate) doc: Value,
}

impl Entry {
    pub(crate) fn new(object: Object) -> Arc<Self> {
        let doc = object.to_json();
        Arc::new(Self { object, doc })
    }
}

/// The objects and tombstones of one `(resource_name, parent_id)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Collection {
    /// By id.
    objects: HashMap<String, Arc<Entry>>,
    /// The same entries by timestamp (unique in a collection): lists in
    /// timestamp order and `_since` ranges read it without sorting.
    by_time: BTreeMap<Timestamp, Arc<Entry>>,
    /// The collection timestamp: the greatest ever given out or initialised.
    pub(crate) timestamp: Option<Timestamp>,
}

impl Collection {
    fn live(&self, id: &str) -> Option<&Arc<Entry>> {
        self.objects.get(id).filter(|entry| !entry.object.deleted)
    }

    fn bump(&mut self, now: Timestamp, requested: Option<Timestamp>) -> Timestamp {
        let timestamp = next_timestamp(self.timestamp, now, requested);
        self.timestamp = Some(timestamp);
        timestamp
    }

    /// Stores an object or tombstone, replacing the entry of that id.
    fn put(&mut self, object: Object) {
        let entry = Entry::new(object);
        if let Some(old) = self
            .objects
            .insert(entry.object.id.clone(), Arc::clone(&entry))
        {
            self.by_time.remove(&old.object.last_modified);
        }
        self.by_time.insert(entry.object.last_modified, entry);
    }

    /// Removes every trace of an id.
    fn take(&mut self, id: &str) {
        if let Some(old) = self.objects.remove(id) {
            self.by_time.remove(&old.object.last_modified);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    fn tombstones(&self) -> impl Iterator<Item = &Object> {
        self.objects
            .values()
            .map(|entry| &entry.object)
            .filter(|object| object.deleted)
    }
}

/// Every collection, by resource name then parent id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Objects {
    pub(crate) resources: HashMap<String, HashMap<String, Collection>>,
}

/// The whole committed state.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) objects: Objects,
    pub(crate) acls: Acls,
}

/// What an operation sees and changes.
pub(crate) trait Store {
    fn collection(&self, resource: &str, parent: &str) -> Option<&Collection>;
    fn collection_mut(&mut self, resource: &str, parent: &str) -> &mut Collection;
    fn remove_collection(&mut self, resource: &str, parent: &str);
    /// The `(resource, parent)` keys of existing collections.
    fn keys(&self, resource: Option<&str>) -> Vec<(String, String)>;
    fn clear(&mut self);
    fn acls(&self) -> &Acls;
    fn acls_mut(&mut self) -> &mut Acls;
}

impl Store for State {
    fn collection(&self, resource: &str, parent: &str) -> Option<&Collection> {
        self.objects.resources.get(resource)?.get(parent)
    }

    fn collection_mut(&mut self, resource: &str, parent: &str) -> &mut Collection {
        // Look up before inserting, so the common case allocates no key.
        if !self.objects.resources.contains_key(resource) {
            self.objects
                .resources
                .insert(resource.to_owned(), HashMap::new());
        }
        let parents = self
            .objects
            .resources
            .get_mut(resource)
            .expect("inserted above");
        if !parents.contains_key(parent) {
            parents.insert(parent.to_owned(), Collection::default());
        }
        parents.get_mut(parent).expect("inserted above")
    }

    fn remove_collection(&mut self, resource: &str, parent: &str) {
        if let Some(parents) = self.objects.resources.get_mut(resource) {
            parents.remove(parent);
        }
    }

    fn keys(&self, resource: Option<&str>) -> Vec<(String, String)> {
        self.objects
            .resources
            .iter()
            .filter(|(name, _)| resource.is_none_or(|r| r == name.as_str()))
            .flat_map(|(name, parents)| {
                parents
                    .keys()
                    .map(move |parent| (name.clone(), parent.clone()))
            })
            .collect()
    }

    fn clear(&mut self) {
        self.objects.resources.clear();
    }

    fn acls(&self) -> &Acls {
        &self.acls
    }

    fn acls_mut(&mut self) -> &mut Acls {
        &mut self.acls
    }
}

/// A transaction's changes: copies of the collections (and ACLs) it wrote,
/// made on first write.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// `None`: removed.
    pub(crate) collections: HashMap<(String, String), Option<Collection>>,
    /// The committed collections were all dropped (a flush).
    pub(crate) flushed: bool,
    pub(crate) acls: Option<Acls>,
}

impl Staged {
    /// Applies the changes to the committed state.
    pub(crate) fn apply(self, state: &mut State) {
        if self.flushed {
            state.clear();
        }
        for ((resource, parent), collection) in self.collections {
            match collection {
                Some(collection) => *state.collection_mut(&resource, &parent) = collection,
                None => state.remove_collection(&resource, &parent),
            }
        }
        if let Some(acls) = self.acls {
            state.acls = acls;
        }
    }
}

/// A transaction's view: its staged changes over the committed state.
pub(crate) struct Layered<'a> {
    pub(crate) staged: &'a mut Staged,
    pub(crate) committed: &'a State,
}

impl Store for Layered<'_> {
    fn collection(&self, resource: &str, parent: &str) -> Option<&Collection> {
        match self
            .staged
            .collections
            .get(&(resource.to_owned(), parent.to_owned()))
        {
            Some(staged) => staged.as_ref(),
            None if self.staged.flushed => None,
            None => self.committed.collection(resource, parent),
        }
    }

    fn collection_mut(&mut self, resource: &str, parent: &str) -> &mut Collection {
        let committed = self.committed;
        let flushed = self.staged.flushed;
        self.staged
            .collections
            .entry((resource.to_owned(), parent.to_owned()))
            .or_insert_with(|| {
                if flushed {
                    None
                } else {
                    committed.collection(resource, parent).cloned()
                }
            })
            .get_or_insert_with(Collection::default)
    }

    fn remove_collection(&mut self, resource: &str, parent: &str) {
        self.staged
            .collections
            .insert((resource.to_owned(), parent.to_owned()), None);
    }

    fn keys(&self, resource: Option<&str>) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = if self.staged.flushed {
            Vec::new()
        } else {
            self.committed
                .keys(resource)
                .into_iter()
                .filter(|key| !self.staged.collections.contains_key(key))
                .collect()
        };
        keys.extend(
            self.staged
                .collections
                .iter()
                .filter(|((name, _), collection)| {
                    collection.is_some() && resource.is_none_or(|r| r == name)
                })
                .map(|(key, _)| key.clone()),
        );
        keys
    }

    fn clear(&mut self) {
        self.staged.flushed = true;
        self.staged.collections.clear();
    }

    fn acls(&self) -> &Acls {
        self.staged.acls.as_ref().unwrap_or(&self.committed.acls)
    }

    fn acls_mut(&mut self) -> &mut Acls {
        let committed = self.committed;
        self.staged
            .acls
            .get_or_insert_with(|| committed.acls.clone())
    }
}

/// The parent ids of `resource` matching `parent` (which may hold `*`).
fn matching_parents(store: &dyn Store, resource: &str, parent: &str) -> Vec<String> {
    if !pattern::is_pattern(parent) {
        return if store.collection(resource, parent).is_some() {
            vec![parent.to_owned()]
        } else {
            Vec::new()
        };
    }
    store
        .keys(Some(resource))
        .into_iter()
        .map(|(_, candidate)| candidate)
        .filter(|candidate| pattern::matches(parent, candidate))
        .collect()
}

/// What a list selects, before sorting.
pub(crate) struct Selection<'a> {
    pub(crate) filters: &'a [Filter],
    pub(crate) pagination: &'a [PaginationRule],
    pub(crate) include_deleted: bool,
}

impl Selection<'_> {
    fn accepts(&self, entry: &Entry) -> bool {
        (self.include_deleted || !entry.object.deleted)
            && self
                .filters
                .iter()
                .all(|filter| filter_accepts(filter, entry))
            && (self.pagination.is_empty()
                || self.pagination.iter().any(|rule| rule.matches(&entry.doc)))
    }

    /// The range of timestamps the integer filters on `last_modified`
    /// allow, as inclusive bounds; `None` when it is empty.
    fn time_range(&self) -> Option<(Timestamp, Timestamp)> {
        let (mut low, mut high) = (Timestamp::MIN, Timestamp::MAX);
        for filter in self
            .filters
            .iter()
            .filter(|filter| filter.field.is_last_modified())
        {
            let Some(value) = filter.value.as_i64() else {
                continue;
            };
            match filter.operator {
                Operator::Gt => low = low.max(value.saturating_add(1)),
                Operator::Min => low = low.max(value),
                Operator::Lt => high = high.min(value.saturating_sub(1)),
                Operator::Max => high = high.min(value),
                Operator::Eq => (low, high) = (low.max(value), high.min(value)),
                _ => {}
            }
        }
        (low <= high).then_some((low, high))
    }
}

/// [`Filter::matches`], with a shortcut for integer comparisons of
/// `last_modified` (always an integer, so the JSONB order is the integers').
fn filter_accepts(filter: &Filter, entry: &Entry) -> bool {
    if filter.field.is_last_modified()
        && let Some(value) = filter.value.as_i64()
    {
        let timestamp = entry.object.last_modified;
        match filter.operator {
            Operator::Eq => return timestamp == value,
            Operator::Not => return timestamp != value,
            Operator::Min => return timestamp >= value,
            Operator::Max => return timestamp <= value,
            Operator::Lt => return timestamp < value,
            Operator::Gt => return timestamp > value,
            _ => {}
        }
    }
    filter.matches(&entry.doc)
}

/// Selected entries, with their parent id when the parent was a pattern.
pub(crate) type Selected = Vec<(Option<String>, Arc<Entry>)>;

/// The entries of the matching collections that `selection` accepts.
///
/// When the order starts with `last_modified` and there is one collection,
/// its time index gives them in order: they come sorted and limited
/// (`true`); otherwise unsorted (`false`), for [`order`].
pub(crate) fn select(
    store: &dyn Store,
    resource: &str,
    parent: &str,
    selection: &Selection<'_>,
    sort: &[SortField],
    limit: Option<usize>,
) -> (Selected, bool) {
    let Some((low, high)) = selection.time_range() else {
        return (Vec::new(), true);
    };
    if !pattern::is_pattern(parent) {
        let Some(collection) = store.collection(resource, parent) else {
            return (Vec::new(), true);
        };
        let range = collection.by_time.range(low..=high).map(|(_, entry)| entry);
        let accepted = |entry: &&Arc<Entry>| selection.accepts(entry);
        let limit = limit.unwrap_or(usize::MAX);
        let tagged = |entry: &Arc<Entry>| (None, Arc::clone(entry));
        return match sort.first() {
            Some(first) if first.field.is_last_modified() => {
                let selected = if first.descending {
                    range
                        .rev()
                        .filter(accepted)
                        .take(limit)
                        .map(tagged)
                        .collect()
                } else {
                    range.filter(accepted).take(limit).map(tagged).collect()
                };
                (selected, true)
            }
            _ => (range.filter(accepted).map(tagged).collect(), false),
        };
    }
    let mut selected = Vec::new();
    for parent_id in matching_parents(store, resource, parent) {
        let Some(collection) = store.collection(resource, &parent_id) else {
            continue;
        };
        selected.extend(
            collection
                .by_time
                .range(low..=high)
                .map(|(_, entry)| entry)
                .filter(|entry| selection.accepts(entry))
                .map(|entry| (Some(parent_id.clone()), Arc::clone(entry))),
        );
    }
    (selected, false)
}

/// One entry's value for one sort field, read once before sorting.
enum SortKey<'a> {
    Timestamp(Timestamp),
    Id(&'a str),
    Field(Option<&'a Value>),
}

impl SortKey<'_> {
    fn of<'a>(field: &SortField, entry: &'a Entry) -> SortKey<'a> {
        if field.field.is_last_modified() {
            SortKey::Timestamp(entry.object.last_modified)
        } else if field.field.is_id() {
            SortKey::Id(&entry.object.id)
        } else {
            SortKey::Field(field.field.lookup(&entry.doc))
        }
    }

    /// The JSONB order of the values (integers and strings by code point,
    /// which their native orders are).
    fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Timestamp(a), SortKey::Timestamp(b)) => a.cmp(b),
            (SortKey::Id(a), SortKey::Id(b)) => a.cmp(b),
            (SortKey::Field(a), SortKey::Field(b)) => jsonb::compare_optional(*a, *b),
            _ => Ordering::Equal,
        }
    }
}

/// Sorts `items` as [`cliquet_filter::compare_objects`] does, keeping the
/// first `limit`. Each field is read once per entry, not once per comparison.
pub(crate) fn order<T>(
    items: Vec<T>,
    entry: impl Fn(&T) -> &Entry,
    sort: &[SortField],
    limit: Option<usize>,
) -> Vec<T> {
    let limit = limit.unwrap_or(usize::MAX).min(items.len());
    if sort.is_empty() || items.len() < 2 {
        let mut items = items;
        items.truncate(limit);
        return items;
    }
    let width = sort.len();
    let indices = {
        let keys: Vec<SortKey<'_>> = items
            .iter()
            .flat_map(|item| sort.iter().map(|field| SortKey::of(field, entry(item))))
            .collect();
        let compare = |a: &usize, b: &usize| -> Ordering {
            for (position, field) in sort.iter().enumerate() {
                let ordering = keys[a * width + position].compare(&keys[b * width + position]);
                let ordering = if field.descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            Ordering::Equal
        };
        let mut indices: Vec<usize> = (0..items.len()).collect();
        if limit == 0 {
            indices.clear();
        } else if limit < indices.len() {
            indices.select_nth_unstable_by(limit - 1, compare);
            indices.truncate(limit);
        }
        indices.sort_unstable_by(compare);
        indices
    };
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    indices
        .into_iter()
        .filter_map(|index| slots[index].take())
        .collect()
}

pub(crate) fn create(store: &mut dyn Store, now: Timestamp, params: Create) -> Result<Object> {
    let collection = store.collection_mut(&params.resource_name, &params.parent_id);
    if let Some(existing) = collection.live(&params.id) {
        return Err(StorageError::id_conflict(Some(existing.object.clone())));
    }
    let timestamp = collection.bump(now, params.last_modified);
    let object = Object::new(params.id, timestamp, params.data);
    collection.put(object.clone());
    Ok(object)
}

pub(crate) fn get(store: &dyn Store, params: &Get) -> Result<Object> {
    store
        .collection(&params.resource_name, &params.parent_id)
        .and_then(|collection| collection.live(&params.id))
        .map(|entry| entry.object.clone())
        .ok_or_else(|| StorageError::not_found(&params.resource_name, &params.id))
}

pub(crate) fn update(store: &mut dyn Store, now: Timestamp, params: Update) -> Result<Updated> {
    let collection = store.collection_mut(&params.resource_name, &params.parent_id);
    let previous = collection
        .live(&params.id)
        .map(|entry| entry.object.clone());
    if let Some(expected) = params.if_match
        && previous.as_ref().map(|object| object.last_modified) != Some(expected)
    {
        return Err(StorageError::modified(previous));
    }
    let timestamp = collection.bump(now, params.last_modified);
    let object = Object::new(params.id, timestamp, params.data);
    collection.put(object.clone());
    Ok(Updated::new(object, previous))
}

fn delete_in(
    collection: &mut Collection,
    now: Timestamp,
    previous: Object,
    params: DeleteOne,
) -> Deleted {
    let timestamp = collection.bump(now, params.last_modified);
    let tombstone = previous.tombstone(timestamp);
    if params.with_deleted {
        collection.put(tombstone.clone());
    } else {
        collection.take(&previous.id);
    }
    Deleted::new(tombstone, previous)
}

#[derive(Clone, Copy)]
struct DeleteOne {
    with_deleted: bool,
    last_modified: Option<Timestamp>,
}

pub(crate) fn delete(store: &mut dyn Store, now: Timestamp, params: Delete) -> Result<Deleted> {
    let Some(collection) = store.collection(&params.resource_name, &params.parent_id) else {
        return Err(StorageError::not_found(&params.resource_name, &params.id));
    };
    let Some(previous) = collection
        .live(&params.id)
        .map(|entry| entry.object.clone())
    else {
        return Err(StorageError::not_found(&params.resource_name, &params.id));
    };
    if params
        .if_match
        .is_some_and(|expected| expected != previous.last_modified)
    {
        return Err(StorageError::modified(Some(previous)));
    }
    let collection = store.collection_mut(&params.resource_name, &params.parent_id);
    let one = DeleteOne {
        with_deleted: params.with_deleted,
        last_modified: params.last_modified,
    };
    Ok(delete_in(collection, now, previous, one))
}

pub(crate) fn delete_all(
    store: &mut dyn Store,
    now: Timestamp,
    params: DeleteAll,
) -> Result<Vec<Deleted>> {
    let selection = Selection {
        filters: &params.filters,
        pagination: &params.pagination,
        include_deleted: false,
    };
    let (selected, ordered) = select(
        store,
        &params.resource_name,
        &params.parent_id,
        &selection,
        &params.sort,
        params.limit,
    );
    let selected = if ordered {
        selected
    } else {
        order(selected, |(_, entry)| entry, &params.sort, params.limit)
    };
    let one = DeleteOne {
        with_deleted: params.with_deleted,
        last_modified: None,
    };
    let mut deleted = Vec::with_capacity(selected.len());
    for (parent, entry) in selected {
        let parent = parent.as_deref().unwrap_or(&params.parent_id);
        let collection = store.collection_mut(&params.resource_name, parent);
        deleted.push(delete_in(collection, now, entry.object.clone(), one));
    }
    Ok(deleted)
}

/// The entries a list returns, and whether they are already in order
/// (otherwise [`order`] them, outside the lock).
pub(crate) fn list(store: &dyn Store, params: &List) -> (Selected, bool) {
    let selection = Selection {
        filters: &params.filters,
        pagination: &params.pagination,
        include_deleted: params.include_deleted,
    };
    select(
        store,
        &params.resource_name,
        &params.parent_id,
        &selection,
        &params.sort,
        params.limit,
    )
}

pub(crate) fn count(store: &dyn Store, params: &Count) -> u64 {
    let selection = Selection {
        filters: &params.filters,
        pagination: &[],
        include_deleted: params.include_deleted,
    };
    let parents = matching_parents(store, &params.resource_name, &params.parent_id);
    parents
        .iter()
        .filter_map(|parent| store.collection(&params.resource_name, parent))
        .map(|collection| match selection.time_range() {
            Some((low, high)) => collection
                .by_time
                .range(low..=high)
                .filter(|(_, entry)| selection.accepts(entry))
                .count() as u64,
            None => 0,
        })
        .sum()
}

pub(crate) fn purge_deleted(store: &mut dyn Store, params: &PurgeDeleted) -> Result<u64> {
    if params.before.is_some() && params.max_retained.is_some() {
        return Err(StorageError::invalid_input(
            "purge_deleted takes `before` or `max_retained`, not both",
        ));
    }
    let clear_timestamps =
        params.resource_name.is_none() && params.before.is_none() && params.max_retained.is_none();
    let keys: Vec<(String, String)> = store
        .keys(params.resource_name.as_deref())
        .into_iter()
        .filter(|(_, parent)| pattern::matches(&params.parent_id, parent))
        .collect();
    let mut purged = 0;
    for (resource, parent) in keys {
        let Some(collection) = store.collection(&resource, &parent) else {
            continue;
        };
        let mut tombstones: Vec<(Timestamp, String)> = collection
            .tombstones()
            .map(|object| (object.last_modified, object.id.clone()))
            .collect();
        let doomed: Vec<String> = if let Some(before) = params.before {
            tombstones
                .into_iter()
                .filter(|(timestamp, _)| *timestamp < before)
                .map(|(_, id)| id)
                .collect()
        } else if let Some(keep) = params.max_retained {
            tombstones.sort_unstable_by_key(|(timestamp, _)| std::cmp::Reverse(*timestamp));
            let keep = usize::try_from(keep).unwrap_or(usize::MAX);
            tombstones
                .into_iter()
                .skip(keep)
                .map(|(_, id)| id)
                .collect()
        } else {
            tombstones.into_iter().map(|(_, id)| id).collect()
        };
        let emptied = doomed.len() == collection.len();
        if doomed.is_empty() && !(clear_timestamps && emptied) {
            continue;
        }
        purged += doomed.len() as u64;
        if clear_timestamps && emptied {
            store.remove_collection(&resource, &parent);
        } else {
            let collection = store.collection_mut(&resource, &parent);
            for id in doomed {
                collection.take(&id);
            }
        }
    }
    Ok(purged)
}

/// The collection timestamp, if it has one.
pub(crate) fn timestamp(store: &dyn Store, resource: &str, parent: &str) -> Option<Timestamp> {
    store
        .collection(resource, parent)
        .and_then(|collection| collection.timestamp)
}

/// The collection timestamp, initialised to `now` if it has none.
pub(crate) fn init_timestamp(
    store: &mut dyn Store,
    now: Timestamp,
    resource: &str,
    parent: &str,
) -> Timestamp {
    *store
        .collection_mut(resource, parent)
        .timestamp
        .get_or_insert(now)
}

pub(crate) fn all_timestamps(
    store: &dyn Store,
    params: &AllResourcesTimestamps,
) -> BTreeMap<String, Timestamp> {
    store
        .keys(Some(&params.resource_name))
        .into_iter()
        .filter_map(|(resource, parent)| {
            timestamp(store, &resource, &parent).map(|timestamp| (parent, timestamp))
        })
        .collect()
}
