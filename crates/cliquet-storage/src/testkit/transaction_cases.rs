//! Transactions: commit, rollback, isolation.

use serde_json::json;

use super::support::*;
use crate::Backends;
use crate::storage::{Count, Create, Delete, Get, List, ResourceTimestamp, Update};

pub(super) async fn commit_makes_writes_visible(backends: Backends) {
    let transaction = backends.storage.begin().await.unwrap();
    transaction
        .storage()
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    transaction
        .storage()
        .create(Create::new(RECORD, PARENT, "b", data(json!({"v": 2}))))
        .await
        .unwrap();
    transaction
        .storage()
        .delete(Delete::new(RECORD, PARENT, "b"))
        .await
        .unwrap();
    let shares_permissions = transaction.permission().is_some();
    if let Some(permission) = transaction.permission() {
        permission
            .add_principal_to_ace("/a", "write", "alice")
            .await
            .unwrap();
    }
    transaction.commit().await.unwrap();

    let storage = &backends.storage;
    assert_eq!(
        storage
            .get(Get::new(RECORD, PARENT, "a"))
            .await
            .unwrap()
            .data,
        data(json!({"v": 1}))
    );
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|object| object.id == "b" && object.deleted));
    if shares_permissions {
        let principals = backends
            .permission
            .get_object_permission_principals("/a", "write")
            .await
            .unwrap();
        assert_eq!(principals, set(&["alice"]));
    }
    // The backend takes writes again once the transaction is over.
    storage
        .create(Create::new(RECORD, PARENT, "c", data(json!({}))))
        .await
        .unwrap();
}

pub(super) async fn rollback_discards_writes(backends: Backends) {
    let storage = &backends.storage;
    let x = storage
        .create(Create::new(RECORD, PARENT, "x", data(json!({"v": 1}))))
        .await
        .unwrap();
    let y = storage
        .create(Create::new(RECORD, PARENT, "y", data(json!({"v": 1}))))
        .await
        .unwrap();
    backends
        .permission
        .add_principal_to_ace("/x", "read", "bob")
        .await
        .unwrap();
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();

    let transaction = storage.begin().await.unwrap();
    let inside = transaction.storage();
    inside
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    inside
        .create(Create::new(RECORD, "/another", "a", data(json!({}))))
        .await
        .unwrap();
    inside
        .update(Update::new(RECORD, PARENT, "x", data(json!({"v": 2}))))
        .await
        .unwrap();
    inside
        .delete(Delete::new(RECORD, PARENT, "y"))
        .await
        .unwrap();
    if let Some(permission) = transaction.permission() {
        permission
            .add_principal_to_ace("/a", "write", "alice")
            .await
            .unwrap();
        permission
            .delete_object_permissions(&strings(&["/x"]))
            .await
            .unwrap();
    }
    transaction.rollback().await.unwrap();

    assert_not_found(storage.get(Get::new(RECORD, PARENT, "a")).await);
    assert_not_found(storage.get(Get::new(RECORD, "/another", "a")).await);
    assert_eq!(storage.get(Get::new(RECORD, PARENT, "x")).await.unwrap(), x);
    assert_eq!(storage.get(Get::new(RECORD, PARENT, "y")).await.unwrap(), y);
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(id_set(&all), set(&["x", "y"]), "no tombstone is left");
    assert_eq!(
        storage
            .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
            .await
            .unwrap(),
        timestamp
    );
    assert!(
        backends
            .permission
            .get_object_permissions("/a", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        backends
            .permission
            .get_object_permission_principals("/x", "read")
            .await
            .unwrap(),
        set(&["bob"])
    );
    let next = storage
        .create(Create::new(RECORD, PARENT, "z", data(json!({}))))
        .await
        .unwrap();
    assert!(next.last_modified > timestamp);
}

pub(super) async fn drop_rolls_back(backends: Backends) {
    let storage = &backends.storage;
    {
        let transaction = storage.begin().await.unwrap();
        transaction
            .storage()
            .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
            .await
            .unwrap();
        if let Some(permission) = transaction.permission() {
            permission
                .add_principal_to_ace("/a", "write", "alice")
                .await
                .unwrap();
        }
    }
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "a")).await);
    assert!(
        backends
            .permission
            .get_object_permissions("/a", None)
            .await
            .unwrap()
            .is_empty()
    );
    storage
        .create(Create::new(RECORD, PARENT, "b", data(json!({}))))
        .await
        .unwrap();
    let transaction = storage.begin().await.unwrap();
    transaction
        .storage()
        .create(Create::new(RECORD, PARENT, "c", data(json!({}))))
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    assert_eq!(
        id_set(&storage.list(List::new(RECORD, PARENT)).await.unwrap()),
        set(&["b", "c"])
    );
}

pub(super) async fn reads_see_own_writes(backends: Backends) {
    let storage = &backends.storage;
    storage
        .create(Create::new(RECORD, PARENT, "before", data(json!({"n": 0}))))
        .await
        .unwrap();
    let transaction = storage.begin().await.unwrap();
    let inside = transaction.storage();
    let created = inside
        .create(Create::new(RECORD, PARENT, "a", data(json!({"n": 1}))))
        .await
        .unwrap();
    inside
        .delete(Delete::new(RECORD, PARENT, "before"))
        .await
        .unwrap();

    assert_eq!(
        inside.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        created
    );
    assert_eq!(
        ids(&inside.list(List::new(RECORD, PARENT)).await.unwrap()),
        strings(&["a"])
    );
    assert_eq!(inside.count(Count::new(RECORD, PARENT)).await.unwrap(), 1);
    let inside_timestamp = inside
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert!(inside_timestamp > created.last_modified);
    if let Some(permission) = transaction.permission() {
        permission
            .add_principal_to_ace("/a", "read", "alice")
            .await
            .unwrap();
        assert_eq!(
            permission
                .get_object_permission_principals("/a", "read")
                .await
                .unwrap(),
            set(&["alice"])
        );
        assert!(
            backends
                .permission
                .get_object_permissions("/a", None)
                .await
                .unwrap()
                .is_empty()
        );
    }

    // Others see the committed state only.
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "a")).await);
    assert_eq!(
        ids(&storage.list(List::new(RECORD, PARENT)).await.unwrap()),
        strings(&["before"])
    );

    transaction.commit().await.unwrap();
    assert_eq!(
        storage.get(Get::new(RECORD, PARENT, "a")).await.unwrap(),
        created
    );
    assert_not_found(storage.get(Get::new(RECORD, PARENT, "before")).await);
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(timestamp, inside_timestamp);
}

pub(super) async fn conflicts_inside_transactions(backends: Backends) {
    let storage = &backends.storage;
    storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({}))))
        .await
        .unwrap();
    let transaction = storage.begin().await.unwrap();
    let inside = transaction.storage();
    expect_conflict(
        inside
            .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 2}))))
            .await,
    );
    assert_not_found(inside.get(Get::new(RECORD, PARENT, "missing")).await);
    assert_not_found(inside.delete(Delete::new(RECORD, PARENT, "missing")).await);
    let stale = Update::new(RECORD, PARENT, "a", data(json!({}))).with_if_match(Some(1));
    expect_modified(inside.update(stale).await);
    inside
        .create(Create::new(RECORD, PARENT, "b", data(json!({}))))
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    assert_eq!(
        id_set(&storage.list(List::new(RECORD, PARENT)).await.unwrap()),
        set(&["a", "b"])
    );
}
