//! Helpers shared by the cases, and the example inheritance tree.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::permission::{BoundPermission, BoundPermissions};
use crate::{Object, StorageError};

/// The resource name most cases use.
pub(super) const RECORD: &str = "record";
/// The parent id most cases use.
pub(super) const PARENT: &str = "/buckets/b/collections/c";

/// A data map from a JSON object literal.
pub(super) fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("test data must be a JSON object, got {other}"),
    }
}

/// The ids of objects, in order.
pub(super) fn ids(objects: &[Object]) -> Vec<String> {
    objects.iter().map(|object| object.id.clone()).collect()
}

/// The ids of objects, as a set.
pub(super) fn id_set(objects: &[Object]) -> BTreeSet<String> {
    objects.iter().map(|object| object.id.clone()).collect()
}

/// A set of strings.
pub(super) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// Strings.
pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// Panics unless `result` is a `NotFound` error.
#[track_caller]
pub(super) fn assert_not_found<T: std::fmt::Debug>(result: crate::Result<T>) {
    match result {
        Err(StorageError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// The current object of a `Modified` error; panics on anything else.
#[track_caller]
pub(super) fn expect_modified<T: std::fmt::Debug>(result: crate::Result<T>) -> Option<Object> {
    match result {
        Err(StorageError::Modified { current }) => current.map(|object| *object),
        other => panic!("expected Modified, got {other:?}"),
    }
}

/// The existing object of an id `Conflict` error; panics on anything else.
#[track_caller]
pub(super) fn expect_conflict<T: std::fmt::Debug>(result: crate::Result<T>) -> Option<Object> {
    match result {
        Err(StorageError::Conflict { field, existing }) => {
            assert_eq!(field, "id", "the unicity conflict of a create is on `id`");
            existing.map(|object| *object)
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Kinto's inheritance tree, as an example of an application's
/// [`BoundPermissions`]: buckets (`/buckets/b`), their groups
/// (`/buckets/b/groups/g`) and collections (`/buckets/b/collections/c`),
/// and the collections' records (`…/records/r`).
///
/// `write` on a bucket grants everything inside it; `read` on a bucket
/// grants reading everything inside; `write` implies `read`;
/// `collection:create`, `group:create` and `record:create` are granted by
/// `write` on their parent; the `*:create` permissions also grant reading
/// the parent's own attributes (`read` on the parent object itself).
#[derive(Clone, Copy, Debug, Default)]
pub struct KintoTree;

impl BoundPermissions for KintoTree {
    fn bound_permissions(&self, object_id: &str, permission: &str) -> Vec<BoundPermission> {
        let segments: Vec<&str> = object_id.trim_start_matches('/').split('/').collect();
        let pair = |id: String, permission: &str| BoundPermission::new(id, permission);
        match segments.as_slice() {
            ["buckets", bucket] => {
                let bucket_id = format!("/buckets/{bucket}");
                match permission {
                    "read" => ["write", "read", "collection:create", "group:create"]
                        .iter()
                        .map(|p| pair(bucket_id.clone(), p))
                        .collect(),
                    "collection:create" | "group:create" => {
                        vec![
                            pair(bucket_id.clone(), "write"),
                            pair(bucket_id, permission),
                        ]
                    }
                    _ => vec![pair(bucket_id, permission)],
                }
            }
            ["buckets", bucket, "groups" | "collections", child] => {
                let bucket_id = format!("/buckets/{bucket}");
                let kind = segments[2];
                let child_id = format!("{bucket_id}/{kind}/{child}");
                match permission {
                    "read" => {
                        let mut pairs = vec![
                            pair(bucket_id.clone(), "write"),
                            pair(bucket_id, "read"),
                            pair(child_id.clone(), "write"),
                            pair(child_id.clone(), "read"),
                        ];
                        if kind == "collections" {
                            pairs.push(pair(child_id, "record:create"));
                        }
                        pairs
                    }
                    "write" => vec![pair(bucket_id, "write"), pair(child_id, "write")],
                    "record:create" => {
                        vec![
                            pair(bucket_id, "write"),
                            pair(child_id.clone(), "write"),
                            pair(child_id, "record:create"),
                        ]
                    }
                    _ => vec![pair(child_id, permission)],
                }
            }
            [
                "buckets",
                bucket,
                "collections",
                collection,
                "records",
                record,
            ] => {
                let bucket_id = format!("/buckets/{bucket}");
                let collection_id = format!("{bucket_id}/collections/{collection}");
                let record_id = format!("{collection_id}/records/{record}");
                match permission {
                    "read" => vec![
                        pair(bucket_id.clone(), "write"),
                        pair(bucket_id, "read"),
                        pair(collection_id.clone(), "write"),
                        pair(collection_id, "read"),
                        pair(record_id.clone(), "write"),
                        pair(record_id, "read"),
                    ],
                    "write" => vec![
                        pair(bucket_id, "write"),
                        pair(collection_id, "write"),
                        pair(record_id, "write"),
                    ],
                    _ => vec![pair(record_id, permission)],
                }
            }
            _ => vec![pair(object_id.to_owned(), permission)],
        }
    }
}
