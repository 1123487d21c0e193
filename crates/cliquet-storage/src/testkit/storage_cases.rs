//! Single-writer semantics of the storage operations.

use serde_json::json;

use super::support::*;
use crate::Backends;
use crate::StorageError;
use crate::cliquet_filter::{Filter, Operator, SortField};
use crate::storage::{
    AllResourcesTimestamps, Count, Create, Delete, DeleteAll, Get, List, PurgeDeleted,
    ResourceTimestamp, TrimObjects, Update,
};

pub(super) async fn create_returns_the_stored_object(backends: Backends) {
    let storage = &backends.storage;
    let fields = data(json!({"title": "x", "n": 1, "nested": {"list": [1, "a", null]}}));
    let created = storage
        .create(Create::new(RECORD, PARENT, "a", fields.clone()))
        .await
        .unwrap();
    assert_eq!(created.id, "a");
    assert!(!created.deleted);
    assert_eq!(created.data, fields);
    assert!(
        created.last_modified > 0,
        "timestamps are epoch milliseconds"
    );
    let got = storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap();
    assert_eq!(got, created);
}

pub(super) async fn create_strips_reserved_fields(backends: Backends) {
    let storage = &backends.storage;
    let fields = data(json!({"id": "other", "last_modified": 5, "title": "x"}));
    let created = storage
        .create(Create::new(RECORD, PARENT, "a", fields))
        .await
        .unwrap();
    assert_eq!(created.data, data(json!({"title": "x"})));
    assert_ne!(created.last_modified, 5);
    let got = storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap();
    assert_eq!(
        got.to_json(),
        json!({"id": "a", "last_modified": created.last_modified, "title": "x"})
    );
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "other")).await);
}

pub(super) async fn create_existing_id_is_a_conflict(backends: Backends) {
    let storage = &backends.storage;
    let first = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let existing = expect_conflict(
        storage
            .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 2}))))
            .await,
    );
    assert_eq!(
        existing,
        Some(first.clone()),
        "the conflict carries the existing object"
    );
    assert_eq!(
        storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        first,
        "nothing was written"
    );
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(
        timestamp, first.last_modified,
        "a failed create does not move the collection timestamp"
    );
}

pub(super) async fn create_replaces_a_tombstone(backends: Backends) {
    let storage = &backends.storage;
    storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    let again = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 2}))))
        .await
        .unwrap();
    assert!(again.last_modified > deleted.tombstone.last_modified);
    assert_eq!(again.data, data(json!({"v": 2})));
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all, vec![again], "the tombstone was replaced");
}

pub(super) async fn get_missing_is_not_found(backends: Backends) {
    let storage = &backends.storage;
    match storage.get(Get::new(RECORD, PARENT, "nope")).await {
        Err(StorageError::NotFound { resource_name, id }) => {
            assert_eq!((resource_name.as_str(), id.as_str()), (RECORD, "nope"));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "a")).await);
}

pub(super) async fn collections_are_isolated(backends: Backends) {
    let storage = &backends.storage;
    let keys = [
        (RECORD, PARENT),
        (RECORD, "/buckets/b/collections/other"),
        ("collection", PARENT),
    ];
    for (index, (resource, parent)) in keys.iter().enumerate() {
        storage
            .create(Create::new(
                *resource,
                *parent,
                "a",
                data(json!({"index": index})),
            ))
            .await
            .unwrap();
    }
    for (index, (resource, parent)) in keys.iter().enumerate() {
        let got = storage
            .get(Get::new(*resource, *parent, "a"))
            .await
            .unwrap();
        assert_eq!(got.data, data(json!({"index": index})));
        let listed = storage
            .list(List::new(*resource, *parent).with_include_deleted(true))
            .await
            .unwrap();
        assert_eq!(listed, vec![got]);
        assert_eq!(
            storage.count(Count::new(*resource, *parent)).await.unwrap(),
            1
        );
    }
    storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    assert!(
        storage
            .get(Get::new(RECORD, "/buckets/b/collections/other", "a"))
            .await
            .is_ok()
    );
    assert!(
        storage
            .get(Get::new("collection", PARENT, "a"))
            .await
            .is_ok()
    );
    assert_not_found(
        storage
            .get(Get::new(RECORD, "/buckets/b/collections/c2", "a"))
            .await,
    );
}

pub(super) async fn update_creates_then_replaces(backends: Backends) {
    let storage = &backends.storage;
    let created = storage
        .update(Update::new(
            RECORD,
            PARENT,
            "a",
            data(json!({"x": 1, "y": 2})),
        ))
        .await
        .unwrap();
    assert!(created.created());
    assert_eq!(created.object.data, data(json!({"x": 1, "y": 2})));
    let replaced = storage
        .update(Update::new(RECORD, PARENT, "a", data(json!({"z": 3}))))
        .await
        .unwrap();
    assert!(!replaced.created());
    assert_eq!(replaced.previous, Some(created.object.clone()));
    assert_eq!(
        replaced.object.data,
        data(json!({"z": 3})),
        "fields absent from the update disappear"
    );
    assert!(replaced.object.last_modified > created.object.last_modified);
    assert_eq!(
        storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        replaced.object
    );

    storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    let revived = storage
        .update(Update::new(RECORD, PARENT, "a", data(json!({"w": 4}))))
        .await
        .unwrap();
    assert!(revived.created(), "updating over a tombstone creates");
    assert_eq!(
        storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        revived.object
    );
}

pub(super) async fn update_if_match(backends: Backends) {
    let storage = &backends.storage;
    let first = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let second = storage
        .update(
            Update::new(RECORD, PARENT, "a", data(json!({"v": 2})))
                .with_if_match(Some(first.last_modified)),
        )
        .await
        .unwrap();
    assert_eq!(second.previous, Some(first.clone()));
    let stale = Update::new(RECORD, PARENT, "a", data(json!({"v": 3})))
        .with_if_match(Some(first.last_modified));
    let current = expect_modified(storage.update(stale).await);
    assert_eq!(
        current,
        Some(second.object.clone()),
        "the error carries the current object"
    );
    assert_eq!(
        storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        second.object
    );

    let missing =
        Update::new(RECORD, PARENT, "b", data(json!({}))).with_if_match(Some(first.last_modified));
    assert_eq!(expect_modified(storage.update(missing).await), None);
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "b")).await);
}

pub(super) async fn delete_leaves_a_tombstone(backends: Backends) {
    let storage = &backends.storage;
    let created = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    assert_eq!(deleted.previous, created);
    assert!(deleted.tombstone.deleted);
    assert_eq!(deleted.tombstone.id, "a");
    assert!(deleted.tombstone.data.is_empty());
    assert!(deleted.tombstone.last_modified > created.last_modified);
    assert_eq!(
        deleted.tombstone.to_json(),
        json!({"id": "a", "last_modified": deleted.tombstone.last_modified, "deleted": true})
    );
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(
        timestamp, deleted.tombstone.last_modified,
        "the collection timestamp is the tombstone's"
    );
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all, vec![deleted.tombstone]);
    assert!(
        storage
            .list(List::new(RECORD, PARENT))
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn delete_missing_is_not_found(backends: Backends) {
    let storage = &backends.storage;
    assert_not_found(storage.delete(Delete::new(RECORD, PARENT, "a")).await);
    storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    assert_not_found(storage.delete(Delete::new(RECORD, PARENT, "a")).await);
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(
        timestamp, deleted.tombstone.last_modified,
        "a failed delete does not move the timestamp"
    );
}

pub(super) async fn delete_if_match(backends: Backends) {
    let storage = &backends.storage;
    let first = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let second = storage
        .update(Update::new(RECORD, PARENT, "a", data(json!({"v": 2}))))
        .await
        .unwrap()
        .object;
    let stale = Delete::new(RECORD, PARENT, "a").with_if_match(Some(first.last_modified));
    assert_eq!(
        expect_modified(storage.delete(stale).await),
        Some(second.clone())
    );
    assert_eq!(
        storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        second
    );
    let fresh = Delete::new(RECORD, PARENT, "a").with_if_match(Some(second.last_modified));
    let deleted = storage.delete(fresh).await.unwrap();
    assert_eq!(deleted.previous, second);
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "a")).await);
}

pub(super) async fn delete_without_tombstone(backends: Backends) {
    let storage = &backends.storage;
    let created = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "a").with_deleted(false))
        .await
        .unwrap();
    assert!(deleted.tombstone.deleted);
    assert_eq!(deleted.previous, created);
    assert!(
        storage
            .list(List::new(RECORD, PARENT).with_include_deleted(true))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        storage
            .count(Count::new(RECORD, PARENT).with_include_deleted(true))
            .await
            .unwrap(),
        0
    );
    assert_not_found(storage.delete(Delete::new(RECORD, PARENT, "a")).await);
    storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 2}))))
        .await
        .unwrap();
}

async fn create_numbered(backends: &Backends, parent: &str, count: i64) -> Vec<crate::Object> {
    let mut created = Vec::new();
    for n in 0..count {
        let fields = data(json!({"n": n, "even": n % 2 == 0}));
        created.push(
            backends
                .storage
                .create(Create::new(RECORD, parent, format!("o{n}"), fields))
                .await
                .unwrap(),
        );
    }
    created
}

pub(super) async fn delete_all_deletes_matching(backends: Backends) {
    let storage = &backends.storage;
    let created = create_numbered(&backends, PARENT, 5).await;
    let last_created = created.last().unwrap().last_modified;
    let params =
        DeleteAll::new(RECORD, PARENT).with_filters(vec![Filter::new("n", Operator::Min, 2)]);
    let deleted = storage.delete_all(params).await.unwrap();
    let mut deleted_ids: Vec<String> = deleted.iter().map(|d| d.tombstone.id.clone()).collect();
    deleted_ids.sort();
    assert_eq!(deleted_ids, strings(&["o2", "o3", "o4"]));
    let mut timestamps: Vec<i64> = deleted.iter().map(|d| d.tombstone.last_modified).collect();
    assert!(timestamps.iter().all(|ts| *ts > last_created));
    timestamps.sort_unstable();
    timestamps.dedup();
    assert_eq!(timestamps.len(), 3, "each deletion has its own timestamp");
    for d in &deleted {
        assert!(d.tombstone.deleted);
        assert_eq!(d.previous.id, d.tombstone.id);
        assert!(!d.previous.deleted);
    }
    let live = storage.list(List::new(RECORD, PARENT)).await.unwrap();
    assert_eq!(id_set(&live), set(&["o0", "o1"]));
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all.iter().filter(|o| o.deleted).count(), 3);
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(timestamp, *timestamps.last().unwrap());
    let again =
        DeleteAll::new(RECORD, PARENT).with_filters(vec![Filter::new("n", Operator::Min, 2)]);
    assert!(
        storage.delete_all(again).await.unwrap().is_empty(),
        "tombstones are not deleted again"
    );
}

pub(super) async fn delete_all_limit_and_order(backends: Backends) {
    let storage = &backends.storage;
    create_numbered(&backends, PARENT, 5).await;
    let params = DeleteAll::new(RECORD, PARENT)
        .with_sort(vec![SortField::desc("n")])
        .with_limit(Some(2));
    let deleted = storage.delete_all(params).await.unwrap();
    let deleted_ids: Vec<&str> = deleted.iter().map(|d| d.tombstone.id.as_str()).collect();
    assert_eq!(deleted_ids, ["o4", "o3"]);
    assert!(
        deleted[0].tombstone.last_modified < deleted[1].tombstone.last_modified,
        "stamped in order"
    );
    assert_eq!(storage.count(Count::new(RECORD, PARENT)).await.unwrap(), 3);
}

pub(super) async fn timestamps_strictly_increase(backends: Backends) {
    let storage = &backends.storage;
    let mut previous = 0;
    for round in 0..20 {
        let id = format!("o{round}");
        let created = storage
            .create(Create::new(RECORD, PARENT, id.clone(), data(json!({}))))
            .await
            .unwrap();
        let updated = storage
            .update(Update::new(
                RECORD,
                PARENT,
                id.clone(),
                data(json!({"r": round})),
            ))
            .await
            .unwrap();
        let stamps = if round % 2 == 0 {
            vec![created.last_modified, updated.object.last_modified]
        } else {
            let deleted = storage
                .delete(Delete::new(RECORD, PARENT, id))
                .await
                .unwrap();
            vec![
                created.last_modified,
                updated.object.last_modified,
                deleted.tombstone.last_modified,
            ]
        };
        for stamp in stamps {
            assert!(stamp > previous, "timestamp {stamp} after {previous}");
            previous = stamp;
        }
    }
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(timestamp, previous);
}

pub(super) async fn requested_timestamps(backends: Backends) {
    let storage = &backends.storage;
    let first = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    let future = first.last_modified + 1_000_000;
    let kept = storage
        .create(Create::new(RECORD, PARENT, "b", data(json!({}))).with_last_modified(Some(future)))
        .await
        .unwrap();
    assert_eq!(kept.last_modified, future, "a future timestamp is kept");
    let collection = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(collection, future, "and becomes the collection timestamp");

    let past = storage
        .create(
            Create::new(RECORD, PARENT, "c", data(json!({})))
                .with_last_modified(Some(first.last_modified - 10)),
        )
        .await
        .unwrap();
    assert!(
        past.last_modified > future,
        "a past timestamp is replaced by a fresh one"
    );
    let equal = storage
        .update(
            Update::new(RECORD, PARENT, "c", data(json!({})))
                .with_last_modified(Some(past.last_modified)),
        )
        .await
        .unwrap();
    assert!(
        equal.object.last_modified > past.last_modified,
        "the current timestamp is bumped"
    );
    let further = equal.object.last_modified + 500;
    let updated = storage
        .update(Update::new(RECORD, PARENT, "a", data(json!({}))).with_last_modified(Some(further)))
        .await
        .unwrap();
    assert_eq!(updated.object.last_modified, further);
}

pub(super) async fn delete_requested_timestamp(backends: Backends) {
    let storage = &backends.storage;
    let a = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    let future = a.last_modified + 1_000_000;
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "a").with_last_modified(Some(future)))
        .await
        .unwrap();
    assert_eq!(deleted.tombstone.last_modified, future);
    storage
        .create(Create::new(RECORD, PARENT, "b", data(json!({}))))
        .await
        .unwrap();
    let bumped = storage
        .delete(Delete::new(RECORD, PARENT, "b").with_last_modified(Some(1000)))
        .await
        .unwrap();
    assert!(
        bumped.tombstone.last_modified > future,
        "a past tombstone timestamp is ignored"
    );
}

pub(super) async fn resource_timestamp_of_empty_collection(backends: Backends) {
    let storage = &backends.storage;
    let params = ResourceTimestamp::new(RECORD, PARENT);
    let first = storage.resource_timestamp(params.clone()).await.unwrap();
    assert!(first > 0);
    let second = storage.resource_timestamp(params.clone()).await.unwrap();
    assert_eq!(
        first, second,
        "an empty collection's timestamp stays the same"
    );
    let created = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    assert!(created.last_modified > first);
    assert_eq!(
        storage.resource_timestamp(params).await.unwrap(),
        created.last_modified
    );
}

pub(super) async fn list_as_of_agrees_with_the_timestamp(backends: Backends) {
    let storage = &backends.storage;
    let (empty_ts, empty) = storage.list_as_of(List::new(RECORD, PARENT)).await.unwrap();
    assert!(empty_ts > 0 && empty.is_empty());
    assert_eq!(
        storage
            .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
            .await
            .unwrap(),
        empty_ts,
        "the empty collection's timestamp is stored"
    );
    for id in ["a", "b", "c"] {
        storage
            .create(Create::new(RECORD, PARENT, id, data(json!({"n": 1}))))
            .await
            .unwrap();
    }
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "b"))
        .await
        .unwrap();
    let (ts, objects) = storage
        .list_as_of(
            List::new(RECORD, PARENT)
                .with_sort(vec![SortField::asc("id")])
                .with_include_deleted(true),
        )
        .await
        .unwrap();
    assert_eq!(ts, deleted.tombstone.last_modified);
    let ids: Vec<_> = objects.iter().map(|o| (o.id.as_str(), o.deleted)).collect();
    assert_eq!(ids, [("a", false), ("b", true), ("c", false)]);
    let (_, live) = storage
        .list_as_of(
            List::new(RECORD, PARENT)
                .with_filters(vec![Filter::new("n", Operator::Eq, json!(1))])
                .with_limit(Some(1)),
        )
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
}

pub(super) async fn resource_timestamp_follows_writes(backends: Backends) {
    let storage = &backends.storage;
    let params = ResourceTimestamp::new(RECORD, PARENT);
    let created = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    assert_eq!(
        storage.resource_timestamp(params.clone()).await.unwrap(),
        created.last_modified
    );
    let updated = storage
        .update(Update::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    assert_eq!(
        storage.resource_timestamp(params.clone()).await.unwrap(),
        updated.object.last_modified
    );
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    assert_eq!(
        storage.resource_timestamp(params.clone()).await.unwrap(),
        deleted.tombstone.last_modified
    );
    let other = storage
        .create(Create::new(RECORD, "/other", "a", data(json!({}))))
        .await
        .unwrap();
    assert_eq!(
        storage.resource_timestamp(params).await.unwrap(),
        deleted.tombstone.last_modified
    );
    assert_eq!(
        storage
            .resource_timestamp(ResourceTimestamp::new(RECORD, "/other"))
            .await
            .unwrap(),
        other.last_modified
    );
}

pub(super) async fn all_resources_timestamps(backends: Backends) {
    let storage = &backends.storage;
    storage
        .create(Create::new(RECORD, "/p1", "a", data(json!({}))))
        .await
        .unwrap();
    let p1 = storage
        .create(Create::new(RECORD, "/p1", "b", data(json!({}))))
        .await
        .unwrap();
    storage
        .create(Create::new(RECORD, "/p2", "a", data(json!({}))))
        .await
        .unwrap();
    let p2 = storage
        .delete(Delete::new(RECORD, "/p2", "a"))
        .await
        .unwrap();
    let p3 = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, "/p3"))
        .await
        .unwrap();
    storage
        .create(Create::new("collection", "/p4", "a", data(json!({}))))
        .await
        .unwrap();
    let all = storage
        .all_resources_timestamps(AllResourcesTimestamps::new(RECORD))
        .await
        .unwrap();
    let expected = [
        ("/p1".to_owned(), p1.last_modified),
        ("/p2".to_owned(), p2.tombstone.last_modified),
        ("/p3".to_owned(), p3),
    ];
    assert_eq!(all, expected.into_iter().collect());
}

pub(super) async fn purge_deleted(backends: Backends) {
    let storage = &backends.storage;
    let live = storage
        .create(Create::new(RECORD, PARENT, "live", data(json!({}))))
        .await
        .unwrap();
    create_numbered(&backends, PARENT, 5).await;
    let mut tombstones = Vec::new();
    for n in 0..5 {
        tombstones.push(
            storage
                .delete(Delete::new(RECORD, PARENT, format!("o{n}")))
                .await
                .unwrap()
                .tombstone,
        );
    }
    storage
        .create(Create::new(RECORD, "/other", "x", data(json!({}))))
        .await
        .unwrap();
    storage
        .delete(Delete::new(RECORD, "/other", "x"))
        .await
        .unwrap();

    let tombstone_ids = |objects: Vec<crate::Object>| -> Vec<String> {
        let mut found: Vec<String> = objects
            .into_iter()
            .filter(|o| o.deleted)
            .map(|o| o.id)
            .collect();
        found.sort();
        found
    };
    let listing = || List::new(RECORD, PARENT).with_include_deleted(true);

    let before = PurgeDeleted::new(Some(RECORD.to_owned()), PARENT)
        .with_before(Some(tombstones[2].last_modified));
    assert_eq!(storage.purge_deleted(before).await.unwrap(), 2);
    assert_eq!(
        tombstone_ids(storage.list(listing()).await.unwrap()),
        strings(&["o2", "o3", "o4"])
    );

    let retained = PurgeDeleted::new(Some(RECORD.to_owned()), PARENT).with_max_retained(Some(1));
    assert_eq!(storage.purge_deleted(retained).await.unwrap(), 2);
    assert_eq!(
        tombstone_ids(storage.list(listing()).await.unwrap()),
        strings(&["o4"])
    );

    let both = PurgeDeleted::new(Some(RECORD.to_owned()), PARENT)
        .with_before(Some(1))
        .with_max_retained(Some(1));
    assert!(matches!(
        storage.purge_deleted(both).await,
        Err(StorageError::InvalidInput { .. })
    ));

    assert_eq!(
        storage
            .purge_deleted(PurgeDeleted::new(Some(RECORD.to_owned()), PARENT))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        storage.list(listing()).await.unwrap(),
        vec![live],
        "live objects are untouched"
    );
    let other = List::new(RECORD, "/other").with_include_deleted(true);
    assert_eq!(
        storage.list(other.clone()).await.unwrap().len(),
        1,
        "other parents are untouched"
    );
    assert_eq!(
        storage
            .purge_deleted(PurgeDeleted::new(None, "*"))
            .await
            .unwrap(),
        1
    );
    assert!(storage.list(other).await.unwrap().is_empty());
}

pub(super) async fn trim_objects_keeps_the_newest(backends: Backends) {
    let storage = &backends.storage;
    create_numbered(&backends, PARENT, 8).await;
    storage
        .create(Create::new(
            RECORD,
            "/other",
            "x",
            data(json!({"even": true})),
        ))
        .await
        .unwrap();
    let evens = TrimObjects::new(RECORD, PARENT, 2).with_filters(vec![Filter::new(
        "even",
        Operator::Eq,
        true,
    )]);
    assert_eq!(
        storage.trim_objects(evens).await.unwrap(),
        2,
        "o0 and o2 go, o4 and o6 stay"
    );
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(
        id_set(&all),
        set(&["o1", "o3", "o4", "o5", "o6", "o7"]),
        "no tombstones are left"
    );
    assert_eq!(
        storage
            .trim_objects(TrimObjects::new(RECORD, PARENT, 10))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        storage
            .trim_objects(TrimObjects::new(RECORD, PARENT, 1))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        ids(&storage.list(List::new(RECORD, PARENT)).await.unwrap()),
        strings(&["o7"])
    );
    assert!(
        storage.get(Get::new(RECORD, "/other", "x")).await.is_ok(),
        "other collections are untouched"
    );
}

pub(super) async fn parent_id_wildcards(backends: Backends) {
    let storage = &backends.storage;
    let parents = [
        "/buckets/b1/collections/c1",
        "/buckets/b1/collections/c2",
        "/buckets/b2/collections/c1",
    ];
    for (index, parent) in parents.iter().enumerate() {
        storage
            .create(Create::new(
                RECORD,
                *parent,
                format!("o{index}"),
                data(json!({"i": index})),
            ))
            .await
            .unwrap();
    }
    storage
        .create(Create::new("group", "/buckets/b1", "g", data(json!({}))))
        .await
        .unwrap();
    let b1 = storage
        .list(List::new(RECORD, "/buckets/b1/*"))
        .await
        .unwrap();
    assert_eq!(id_set(&b1), set(&["o0", "o1"]));
    assert_eq!(storage.count(Count::new(RECORD, "*")).await.unwrap(), 3);
    let sorted = storage
        .list(List::new(RECORD, "*").with_sort(vec![SortField::desc("i")]))
        .await
        .unwrap();
    assert_eq!(ids(&sorted), strings(&["o2", "o1", "o0"]));
    let deleted = storage
        .delete_all(DeleteAll::new(RECORD, "/buckets/*/collections/c1"))
        .await
        .unwrap();
    let mut deleted_ids: Vec<&str> = deleted.iter().map(|d| d.tombstone.id.as_str()).collect();
    deleted_ids.sort_unstable();
    assert_eq!(deleted_ids, ["o0", "o2"]);
    for d in &deleted {
        let parent = if d.tombstone.id == "o0" {
            parents[0]
        } else {
            parents[2]
        };
        let timestamp = storage
            .resource_timestamp(ResourceTimestamp::new(RECORD, parent))
            .await
            .unwrap();
        assert_eq!(
            timestamp, d.tombstone.last_modified,
            "each tombstone stamps its own collection"
        );
    }
    assert!(
        storage
            .get(Get::new(RECORD, parents[1], "o1"))
            .await
            .is_ok()
    );
    assert!(
        storage
            .get(Get::new("group", "/buckets/b1", "g"))
            .await
            .is_ok()
    );
}

pub(super) async fn flush_empties_everything(backends: Backends) {
    let storage = &backends.storage;
    create_numbered(&backends, PARENT, 3).await;
    storage
        .delete(Delete::new(RECORD, PARENT, "o0"))
        .await
        .unwrap();
    storage
        .create(Create::new(
            "collection",
            "/buckets/b",
            "c",
            data(json!({})),
        ))
        .await
        .unwrap();
    storage.flush().await.unwrap();
    assert!(
        storage
            .list(List::new(RECORD, PARENT).with_include_deleted(true))
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(storage.get(Get::new("collection", "/buckets/b", "c")).await);
    assert!(
        storage
            .all_resources_timestamps(AllResourcesTimestamps::new(RECORD))
            .await
            .unwrap()
            .is_empty()
    );
    storage
        .create(Create::new(RECORD, PARENT, "o0", data(json!({}))))
        .await
        .unwrap();
}

pub(super) async fn healthcheck(backends: Backends) {
    backends.storage.healthcheck().await.unwrap();
    backends.permission.healthcheck().await.unwrap();
    backends.cache.healthcheck().await.unwrap();
}
