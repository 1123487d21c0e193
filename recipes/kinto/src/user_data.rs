//! `DELETE /__user_data__/{principal}`: deletes what a principal owns and
//! every mention of it (`service/admin.md` §2). Always routed.
//!
//! Who may call it: the principals of the `user-data_delete_principals`
//! setting (unset by default: 403, or 401 anonymous, for everyone).
//!
//! For a principal `P`, in one storage transaction (permission writes
//! included when both backends share the database):
//! 1. the objects whose ACL names `P` are read (one permission query, then
//!    their ACLs in one more);
//! 2. those whose `write` ACE is exactly `{P}` are *owned*: they are
//!    deleted (with a tombstone, as a `DELETE` would), with the same
//!    cascade as a `DELETE` on their endpoint (a bucket's collections,
//!    groups and records; a collection's records; a group's memberships),
//!    except those inside another owned object, which its cascade removes;
//! 3. `P` is removed from every other ACE naming it, from the `members` of
//!    the groups it belongs to and from the memberships of the permission
//!    backend; when `P` is a group URI, nobody holds it any longer.
//!
//! Response: `{"data": {"principal": P}}`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::routing::delete;
use cliquet_auth::Identity;
use cliquet_errors::ApiError;
use cliquet_storage::storage::{Delete, DeleteAll, Get, PurgeDeleted, Update};
use cliquet_storage::{Backends, Permission, Storage, StorageError};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use serde_json::{Value, json};

use crate::permissions::principals_of;
use crate::permissions_endpoint::parse_uri;

struct Shared {
    backends: Backends,
    deleters: Vec<String>,
}

/// The `/__user_data__/{principal}` route (to nest under the version
/// prefix).
pub fn router(settings: &crate::Settings, backends: Backends) -> Router {
    let deleters = settings
        .raw
        .get("user-data_delete_principals")
        .map(principals_of)
        .unwrap_or_default();
    let shared = Arc::new(Shared { backends, deleters });
    Router::new().route(
        "/__user_data__/{principal}",
        delete(handle)
            .fallback(|| async { ApiError::method_not_allowed().into_response::<Body>() })
            .with_state(shared),
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(principal): Path<String>,
    request: Request,
) -> Response<Body> {
    let identity = request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous);
    if !shared
        .deleters
        .iter()
        .any(|p| identity.principals().contains(p))
    {
        let error = if identity.is_authenticated() {
            ApiError::forbidden()
        } else {
            ApiError::unauthorized()
        };
        return error.into_response();
    }
    match delete_user_data(&shared.backends, &principal).await {
        Ok(()) => {
            let body = json!({"data": {"principal": principal}});
            let mut response = Response::new(Body::from(body.to_string()));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=UTF-8"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Deletes what `principal` owns and removes it everywhere, in one
/// transaction.
pub async fn delete_user_data(backends: &Backends, principal: &str) -> Result<(), ApiError> {
    let transaction = backends.storage.begin().await?;
    let storage = transaction.storage();
    let permission: &dyn Permission = match transaction.permission() {
        Some(permission) => permission,
        None => backends.permission.as_ref(),
    };
    erase(storage, permission, principal).await?;
    transaction.commit().await?;
    Ok(())
}

/// The `(resource, parent id, id)` of an object URI of the service.
fn locate(uri: &str) -> Option<(&'static str, String, String)> {
    // Accounts are left to the accounts plugin: only their ACL goes.
    let object = parse_uri(uri, false)?;
    let id = object.ids.iter().find(|(f, _)| *f == "id")?.1.clone();
    let parent = uri.rsplitn(3, '/').nth(2)?.to_owned();
    let parent = match object.resource_name {
        "bucket" => String::new(),
        _ => parent,
    };
    match object.resource_name {
        "root" => None,
        name => Some((name, parent, id)),
    }
}

async fn erase(
    storage: &dyn Storage,
    permission: &dyn Permission,
    principal: &str,
) -> Result<(), ApiError> {
    let held = permission
        .get_accessible_objects(&[principal.to_owned()], None, false)
        .await?;
    let uris: Vec<String> = held.keys().cloned().collect();
    let acls = permission.get_objects_permissions(&uris, None).await?;
    let only = BTreeSet::from([principal.to_owned()]);
    let owned: BTreeSet<&String> = uris
        .iter()
        .zip(&acls)
        .filter(|(_, acl)| acl.get("write") == Some(&only))
        .map(|(uri, _)| uri)
        .collect();
    // Objects inside another owned object go with its cascade.
    let roots: Vec<&String> = owned
        .iter()
        .copied()
        .filter(|uri| {
            !owned
                .iter()
                .any(|other| other != uri && uri.starts_with(&format!("{other}/")))
        })
        .collect();
    for uri in &roots {
        delete_object(storage, permission, uri).await?;
    }
    let mut untouched: BTreeMap<&String, &BTreeSet<String>> = BTreeMap::new();
    for (uri, permissions) in &held {
        let gone = owned.contains(uri)
            || roots
                .iter()
                .any(|root| uri.starts_with(&format!("{root}/")));
        if !gone {
            untouched.insert(uri, permissions);
        }
    }
    for (uri, permissions) in untouched {
        for name in permissions {
            permission
                .remove_principal_from_ace(uri, name, principal)
                .await?;
        }
    }
    // Its memberships: the groups' `members`, then the backend's.
    for group in permission.get_user_principals(principal).await? {
        if let Some(("group", parent, id)) = locate(&group) {
            remove_member(storage, &parent, &id, principal).await?;
        }
        permission.remove_user_principal(principal, &group).await?;
    }
    permission.remove_principal(principal).await?;
    Ok(())
}

async fn remove_member(
    storage: &dyn Storage,
    parent: &str,
    id: &str,
    principal: &str,
) -> Result<(), ApiError> {
    let group = match storage.get(Get::new("group", parent, id)).await {
        Ok(group) => group,
        Err(StorageError::NotFound { .. }) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let mut data = group.data;
    let Some(Value::Array(members)) = data.get_mut("members") else {
        return Ok(());
    };
    let before = members.len();
    members.retain(|member| member.as_str() != Some(principal));
    if members.len() != before {
        storage
            .update(Update::new("group", parent, id, data))
            .await?;
    }
    Ok(())
}

/// Hard-deletes every object of `resource` under `parent_id` (a pattern)
/// and purges their tombstones; returns the deleted ids.
async fn wipe(
    storage: &dyn Storage,
    resource: &str,
    parent_id: &str,
) -> Result<Vec<String>, ApiError> {
    let deleted = storage
        .delete_all(DeleteAll::new(resource, parent_id).with_deleted(false))
        .await?;
    storage
        .purge_deleted(PurgeDeleted::new(Some(resource.to_owned()), parent_id))
        .await?;
    Ok(deleted.into_iter().map(|d| d.tombstone.id).collect())
}

/// Deletes one object as its `DELETE` endpoint would, cascade included,
/// and its ACL.
async fn delete_object(
    storage: &dyn Storage,
    permission: &dyn Permission,
    uri: &str,
) -> Result<(), ApiError> {
    let Some((resource, parent, id)) = locate(uri) else {
        // Not an object of this service: only its ACL goes.
        permission
            .delete_object_permissions(&[uri.to_owned()])
            .await?;
        return Ok(());
    };
    match storage.delete(Delete::new(resource, &parent, &id)).await {
        Ok(_) | Err(StorageError::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    match resource {
        "bucket" => {
            wipe(storage, "record", &format!("{uri}/collections/*")).await?;
            wipe(storage, "collection", uri).await?;
            for gid in wipe(storage, "group", uri).await? {
                permission
                    .remove_principal(&format!("{uri}/groups/{gid}"))
                    .await?;
            }
        }
        "collection" => {
            wipe(storage, "record", uri).await?;
        }
        "group" => permission.remove_principal(uri).await?,
        _ => {}
    }
    permission
        .delete_object_permissions(&[uri.to_owned(), format!("{uri}/*")])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_locate_objects() {
        assert_eq!(
            locate("/buckets/b"),
            Some(("bucket", String::new(), "b".to_owned()))
        );
        assert_eq!(
            locate("/buckets/b/collections/c/records/r"),
            Some((
                "record",
                "/buckets/b/collections/c".to_owned(),
                "r".to_owned()
            ))
        );
        assert_eq!(
            locate("/buckets/b/groups/g"),
            Some(("group", "/buckets/b".to_owned(), "g".to_owned()))
        );
        assert_eq!(locate("/"), None);
        assert_eq!(locate("/buckets/b/history/h"), None);
    }
}
