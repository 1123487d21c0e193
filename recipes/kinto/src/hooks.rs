//! What buckets, collections, groups and records do beyond the generic
//! resource: cascade deletes, group memberships, the records' parent check.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_resource::{Action, Change, HookContext, ResourceHooks};
use cliquet_storage::storage::{DeleteAll, Get, PurgeDeleted};
use cliquet_storage::{Object, StorageError};
use http::Method;
use serde_json::{Map, Value};

use crate::permissions::{Grants, bound_permissions};

/// Hard-deletes every object of `resource` under `parent_id` (a pattern
/// with `*` allowed) and purges their tombstones; returns the deleted ids.
async fn wipe(
    ctx: &HookContext<'_>,
    resource: &str,
    parent_id: &str,
) -> Result<Vec<String>, ApiError> {
    let deleted = ctx
        .storage
        .delete_all(DeleteAll::new(resource, parent_id).with_deleted(false))
        .await?;
    ctx.storage
        .purge_deleted(PurgeDeleted::new(Some(resource.to_owned()), parent_id))
        .await?;
    Ok(deleted.into_iter().map(|d| d.tombstone.id).collect())
}

fn deleted_ids(changes: &[Change]) -> impl Iterator<Item = &str> {
    changes
        .iter()
        .filter(|change| change.action == Action::Delete)
        .map(|change| change.new.id.as_str())
}

/// Buckets: deleting one deletes everything inside it.
///
/// Collections, groups and records under the bucket are hard-deleted and
/// their tombstones purged, and every ACL under the bucket URI is removed
/// (`buckets.md`, "Delete cascade"). Unlike Kinto, which leaves them in
/// place, the memberships of the deleted groups are removed too, so that a
/// group re-created later with the same id does not inherit stale members.
#[derive(Debug, Clone, Copy, Default)]
pub struct BucketHooks;

#[async_trait]
impl ResourceHooks for BucketHooks {
    async fn after_write(&self, ctx: &HookContext<'_>, changes: &[Change]) -> Result<(), ApiError> {
        for bid in deleted_ids(changes) {
            let bucket = format!("/buckets/{bid}");
            wipe(ctx, "record", &format!("{bucket}/collections/*")).await?;
            wipe(ctx, "collection", &bucket).await?;
            for gid in wipe(ctx, "group", &bucket).await? {
                ctx.permission
                    .remove_principal(&format!("{bucket}/groups/{gid}"))
                    .await?;
            }
            wipe(ctx, "history", &bucket).await?;
            ctx.permission
                .delete_object_permissions(&[format!("{bucket}/*")])
                .await?;
        }
        Ok(())
    }
}

/// Collections: deleting one deletes its records (and their tombstones
/// and ACLs).
#[derive(Debug, Clone, Copy, Default)]
pub struct CollectionHooks;

#[async_trait]
impl ResourceHooks for CollectionHooks {
    async fn after_write(&self, ctx: &HookContext<'_>, changes: &[Change]) -> Result<(), ApiError> {
        for cid in deleted_ids(changes) {
            let collection = format!("{}/collections/{cid}", ctx.parent_id);
            wipe(ctx, "record", &collection).await?;
            ctx.permission
                .delete_object_permissions(&[format!("{collection}/*")])
                .await?;
        }
        Ok(())
    }
}

/// Groups: `members` is a list of principals (never `system.Everyone` nor
/// another group), defaulting to `[]`; each member holds the group URI as
/// a principal, kept in sync on every write and removed on deletion.
///
/// Kinto stores a group written without `data` (permissions only) without
/// a `members` field; here `members` is always present.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupHooks;

fn members(data: &Map<String, Value>) -> BTreeSet<String> {
    data.get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn invalid_member(name: String, description: String) -> ApiError {
    ApiError::invalid_parameters([ValidationDetail::new(Location::Body, name, description)])
}

#[async_trait]
impl ResourceHooks for GroupHooks {
    async fn process_object(
        &self,
        _ctx: &HookContext<'_>,
        mut new: Map<String, Value>,
        _old: Option<&Object>,
    ) -> Result<Map<String, Value>, ApiError> {
        let members = new
            .entry("members")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(items) = members else {
            return Err(invalid_member(
                "data.members".into(),
                format!("{members} is not of type 'array'"),
            ));
        };
        for (index, item) in items.iter().enumerate() {
            let name = format!("data.members.{index}");
            match item.as_str() {
                None => {
                    return Err(invalid_member(
                        name,
                        format!("{item} is not of type 'string'"),
                    ));
                }
                Some(member) if member == "system.Everyone" || member.starts_with("/buckets/") => {
                    return Err(invalid_member(
                        name,
                        format!("'{member}' is not a valid user ID."),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(new)
    }

    async fn after_write(&self, ctx: &HookContext<'_>, changes: &[Change]) -> Result<(), ApiError> {
        for change in changes {
            let group = format!("{}/groups/{}", ctx.parent_id, change.new.id);
            if change.action == Action::Delete {
                ctx.permission.remove_principal(&group).await?;
                continue;
            }
            let before = change
                .old
                .as_ref()
                .map(|o| members(&o.data))
                .unwrap_or_default();
            let after = members(&change.new.data);
            for removed in before.difference(&after) {
                ctx.permission
                    .remove_user_principal(removed, &group)
                    .await?;
            }
            for added in after.difference(&before) {
                ctx.permission.add_user_principal(added, &group).await?;
            }
        }
        Ok(())
    }
}

/// Records: their collection must exist.
///
/// As in Kinto, a `POST` on the list or a `PUT`/`PATCH`/`DELETE` of a
/// record in a missing collection is a 404 errno 111 before any
/// authorization (even anonymous). Reads (and the `DELETE` of the list)
/// are authorized first: 401/403 without `read` (resp. `write`) on the
/// collection's records through the tree or the settings, else 404
/// errno 111.
#[derive(Debug, Clone)]
pub struct RecordHooks {
    grants: Grants,
}

impl RecordHooks {
    /// The hooks, with the settings grants of record endpoints.
    pub fn new(grants: Grants) -> Self {
        Self { grants }
    }
}

#[async_trait]
impl ResourceHooks for RecordHooks {
    async fn before_request(&self, ctx: &HookContext<'_>) -> Result<(), ApiError> {
        let (Some(bid), Some(cid)) = (ctx.param("bucket_id"), ctx.param("collection_id")) else {
            return Ok(());
        };
        let bucket = format!("/buckets/{bid}");
        match ctx
            .storage
            .get(Get::new("collection", bucket.as_str(), cid))
            .await
        {
            Ok(_) => return Ok(()),
            Err(StorageError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let object = ctx.param("id").is_some();
        let needed = match *ctx.method {
            Method::GET | Method::HEAD => Some("read"),
            Method::DELETE if !object => Some("write"),
            _ => None,
        };
        if let Some(permission) = needed {
            let pairs = bound_permissions(&format!("{}/records", ctx.parent_id), permission);
            let principals = ctx.identity.principals();
            let allowed = self.grants.allows("record", &pairs, principals)
                || ctx.permission.check_permission(principals, &pairs).await?;
            if !allowed {
                return Err(if ctx.identity.is_authenticated() {
                    ApiError::forbidden()
                } else {
                    ApiError::unauthorized()
                });
            }
        }
        Err(ApiError::missing_parent(cid, "collection"))
    }
}
