//! Kinto's history plugin (`kinto.plugins.history`, `history.md`).
//!
//! Every create, update and delete of a bucket, collection, group or
//! record writes an entry in the same transaction, stored as Kinto stores
//! them (resource `history`, parent id `/buckets/{bid}`, UUID4 ids), so a
//! Kinto database carries over. `GET`/`HEAD`/`DELETE
//! /buckets/{bid}/history` list and delete them with the querystring
//! language, newest first; there is no object endpoint.
//!
//! Reading entries: bucket readers and writers see them all, as do the
//! `history_read_principals`; with `explicit_permissions` (the default)
//! each entry also gets a `read` ACL: the `read` and `write` principals of
//! its bucket, of its collection (collection and record entries) and of
//! the object itself, as they were at the time of the change.
//!
//! Settings: `history.exclude_resources` (URIs: a bucket or collection
//! excludes everything beneath it, other URIs exactly that object),
//! `history.exclude_user_ids`, and trimming with
//! `history.auto_trim_max_count` (`-1`: off), `history.auto_trim_threshold`
//! (default 100) and `history.auto_trim_user_ids` (trim per user, only
//! these users' entries).
//!
//! Objects removed by a cascade get no entry; deleting a bucket removes its
//! whole history (the cascade of [`BucketHooks`](crate::hooks::BucketHooks)).
//! [`snapshot_router`] serves the collection snapshots. Filters on
//! `bucket_id`, `collection_id`, `group_id` and `record_id` compare text,
//! as Kinto does (`?record_id=2` finds the record `2`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cliquet::settings::RawSettings;
use cliquet_errors::ApiError;
use cliquet_resource::{Access, Action, Change, HookContext, ResourceHooks, Schema};
use cliquet_resource::{Resource, Uuid4};
use cliquet_storage::cliquet_filter::{Filter, Operator};
use cliquet_storage::storage::{Create, TrimObjects};
use cliquet_storage::{Acl, BoundPermission};
use http::Method;
use serde_json::{Map, Value, json};

/// The fields history entries may be filtered and sorted on.
pub const FIELDS: [&str; 10] = [
    "user_id",
    "uri",
    "action",
    "date",
    "resource_name",
    "bucket_id",
    "collection_id",
    "group_id",
    "record_id",
    "target",
];

/// The `history.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySettings {
    /// `history.auto_trim_max_count`: entries kept per bucket and resource
    /// name (negative: no trimming).
    pub auto_trim_max_count: i64,
    /// `history.auto_trim_threshold`: how many more than the maximum may
    /// pile up before trimming.
    pub auto_trim_threshold: i64,
    /// `history.auto_trim_user_ids`: when set, only these users' entries
    /// are trimmed, counted per user.
    pub auto_trim_user_ids: Vec<String>,
    /// `history.exclude_resources`: URIs whose changes are not recorded.
    pub exclude_resources: Vec<String>,
    /// `history.exclude_user_ids`: users whose changes are not recorded.
    pub exclude_user_ids: Vec<String>,
    /// `history_read_principals`: who reads every entry.
    pub read_principals: Vec<String>,
    /// `explicit_permissions`: whether entries get their own ACL.
    pub explicit_permissions: bool,
}

/// A `history.*` setting, also under its environment spelling
/// (`KINTO_HISTORY_AUTO_TRIM_MAX_COUNT` gives `history_auto_trim_max_count`).
fn lookup<'a>(raw: &'a RawSettings, key: &str) -> Option<&'a Value> {
    raw.get(key).or_else(|| raw.get(&key.replace('.', "_")))
}

fn list_of(raw: &RawSettings, key: &str) -> Vec<String> {
    match lookup(raw, key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) => text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn int_of(raw: &RawSettings, key: &str, default: i64) -> i64 {
    lookup(raw, key)
        .and_then(|value| match value {
            Value::String(text) => text.trim().parse().ok(),
            other => other.as_i64(),
        })
        .unwrap_or(default)
}

impl HistorySettings {
    /// Reads the settings.
    pub fn from_settings(settings: &crate::Settings) -> Self {
        let raw = &settings.raw;
        Self {
            auto_trim_max_count: int_of(raw, "history.auto_trim_max_count", -1),
            auto_trim_threshold: int_of(raw, "history.auto_trim_threshold", 100),
            auto_trim_user_ids: list_of(raw, "history.auto_trim_user_ids"),
            exclude_resources: list_of(raw, "history.exclude_resources"),
            exclude_user_ids: list_of(raw, "history.exclude_user_ids"),
            read_principals: list_of(raw, "history_read_principals"),
            explicit_permissions: settings.core.explicit_permissions,
        }
    }

    fn excludes(&self, uri: &str) -> bool {
        self.exclude_resources.iter().any(|excluded| {
            let segments = excluded.trim_start_matches('/').split('/').count();
            let container = segments == 2 || (segments == 4 && excluded.contains("/collections/"));
            uri == excluded || (container && uri.starts_with(&format!("{excluded}/")))
        })
    }

    /// The extras of the `history` capability.
    pub fn capability(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        if self.auto_trim_max_count > 0 {
            extra.insert(
                "auto_trim_max_count".into(),
                json!(self.auto_trim_max_count),
            );
        }
        if !self.auto_trim_user_ids.is_empty() {
            extra.insert("auto_trim_user_ids".into(), json!(self.auto_trim_user_ids));
        }
        if !self.exclude_resources.is_empty() {
            let parsed: Vec<Value> = self
                .exclude_resources
                .iter()
                .map(|uri| {
                    let parts: Vec<&str> = uri.trim_start_matches('/').split('/').collect();
                    let mut object = Map::new();
                    for pair in parts.chunks(2) {
                        if let [kind, id] = pair {
                            let key = kind.strip_suffix('s').unwrap_or(kind);
                            object.insert(key.to_owned(), json!(id));
                        }
                    }
                    Value::Object(object)
                })
                .collect();
            extra.insert("excluded_resources".into(), Value::Array(parsed));
        }
        extra
    }
}

/// Announces the `history` capability.
pub fn register_capability(capabilities: &mut cliquet::Capabilities, settings: &HistorySettings) {
    let _ = capabilities.register(
        "history",
        "Track changes on data.",
        "http://kinto.readthedocs.io/en/latest/api/1.x/history.html",
        settings.capability(),
    );
}

/// Which pairs grant a permission on history URIs: the bucket's `read`
/// or `write`, and the entry's own ACL.
fn history_tree(object_id: &str, permission: &str) -> Vec<BoundPermission> {
    let segments: Vec<&str> = object_id.trim_start_matches('/').split('/').collect();
    let bucket = match segments.as_slice() {
        ["buckets", bid, "history", ..] => format!("/buckets/{bid}"),
        _ => return vec![BoundPermission::new(object_id, permission)],
    };
    let mut pairs = vec![BoundPermission::new(&bucket, "write")];
    if permission == "read" {
        pairs.push(BoundPermission::new(&bucket, "read"));
    }
    if segments.len() == 4 {
        pairs.push(BoundPermission::new(object_id, "write"));
        if permission == "read" {
            pairs.push(BoundPermission::new(object_id, "read"));
        }
    }
    pairs
}

/// The `/buckets/{bid}/history` resource.
pub fn resource(settings: &crate::Settings, history: &HistorySettings) -> Resource {
    Resource::builder("history")
        .plural_path("/buckets/{bucket_id}/history")
        .object_path(Some("/buckets/{bucket_id}/history/{id}"))
        .object_methods([])
        .plural_methods([Method::GET, Method::DELETE])
        .parent_id("/buckets/{bucket_id}")
        .access(Access::shared(history_tree).grant("read", history.read_principals.iter().cloned()))
        .schema(Schema::any().known_fields(FIELDS).preserve_unknown(false))
        .text_fields(["bucket_id", "collection_id", "group_id", "record_id"])
        .ids(Uuid4)
        .paginate_by(settings.core.paginate_by.map(|n| n as usize))
        .max_fetch_size(settings.core.storage_max_fetch_size as usize)
        .build()
        .expect("the history resource is valid")
}

/// Writes the history of one resource's changes.
#[derive(Debug, Clone)]
pub struct HistoryHooks {
    resource_name: &'static str,
    settings: Arc<HistorySettings>,
}

impl HistoryHooks {
    /// The hooks of `resource_name` (`bucket`, `collection`, `group`,
    /// `record`).
    pub fn new(resource_name: &'static str, settings: Arc<HistorySettings>) -> Self {
        Self {
            resource_name,
            settings,
        }
    }
}

/// ISO-8601 UTC with microseconds and `+00:00`, as Kinto writes `date`.
pub fn iso_date(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

fn readers(acl: &Acl, into: &mut BTreeSet<String>) {
    for permission in ["read", "write"] {
        if let Some(principals) = acl.get(permission) {
            into.extend(principals.iter().cloned());
        }
    }
}

impl HistoryHooks {
    fn object_uri(&self, ctx: &HookContext<'_>, id: &str) -> String {
        match self.resource_name {
            "bucket" => format!("/buckets/{id}"),
            "collection" => format!("{}/collections/{id}", ctx.parent_id),
            "group" => format!("{}/groups/{id}", ctx.parent_id),
            _ => format!("{}/records/{id}", ctx.parent_id),
        }
    }

    async fn record(&self, ctx: &HookContext<'_>, change: &Change) -> Result<(), ApiError> {
        let id = change.new.id.as_str();
        let uri = self.object_uri(ctx, id);
        if self.settings.excludes(&uri) {
            return Ok(());
        }
        let bid = ctx.param("bucket_id").unwrap_or(id);
        let bucket = format!("/buckets/{bid}");
        let action = match change.action {
            Action::Create => "create",
            Action::Delete => "delete",
            _ => "update",
        };
        let own_acl = if change.action == Action::Delete {
            Acl::new()
        } else {
            ctx.permission.get_object_permissions(&uri, None).await?
        };
        let mut entry = Map::new();
        entry.insert("action".into(), json!(action));
        entry.insert("uri".into(), json!(uri));
        entry.insert("resource_name".into(), json!(self.resource_name));
        entry.insert("user_id".into(), json!(ctx.identity.user_id()));
        entry.insert("date".into(), json!(iso_date(SystemTime::now())));
        match self.resource_name {
            "bucket" => {
                entry.insert("bucket_id".into(), json!(id));
            }
            "collection" => {
                entry.insert("collection_id".into(), json!(id));
            }
            "group" => {
                entry.insert("group_id".into(), json!(id));
            }
            _ => {
                entry.insert(
                    "collection_id".into(),
                    json!(ctx.param("collection_id").unwrap_or_default()),
                );
                entry.insert("record_id".into(), json!(id));
            }
        }
        entry.insert(
            "target".into(),
            json!({"data": change.new.to_json(), "permissions": cliquet_acl_json(&own_acl)}),
        );
        let entry_id = uuid::Uuid::new_v4().to_string();
        ctx.storage
            .create(Create::new(
                "history",
                bucket.as_str(),
                entry_id.as_str(),
                entry,
            ))
            .await?;
        if self.settings.explicit_permissions {
            let mut principals = BTreeSet::new();
            readers(&own_acl, &mut principals);
            if self.resource_name != "bucket" {
                readers(
                    &ctx.permission.get_object_permissions(&bucket, None).await?,
                    &mut principals,
                );
            }
            if let Some(cid) = match self.resource_name {
                "collection" => Some(id),
                "record" => ctx.param("collection_id"),
                _ => None,
            } {
                let collection = format!("{bucket}/collections/{cid}");
                if collection != uri {
                    readers(
                        &ctx.permission
                            .get_object_permissions(&collection, None)
                            .await?,
                        &mut principals,
                    );
                }
            }
            if !principals.is_empty() {
                let mut acl = Acl::new();
                acl.insert("read".to_owned(), principals);
                ctx.permission
                    .replace_object_permissions(&format!("{bucket}/history/{entry_id}"), &acl)
                    .await?;
            }
        }
        self.trim(ctx, &bucket).await
    }

    async fn trim(&self, ctx: &HookContext<'_>, bucket: &str) -> Result<(), ApiError> {
        let settings = &self.settings;
        if settings.auto_trim_max_count < 0 {
            return Ok(());
        }
        let mut filters = vec![Filter::new(
            "resource_name",
            Operator::Eq,
            json!(self.resource_name),
        )];
        if !settings.auto_trim_user_ids.is_empty() {
            let Some(user) = ctx.identity.user_id() else {
                return Ok(());
            };
            if !settings.auto_trim_user_ids.iter().any(|u| u == user) {
                return Ok(());
            }
            filters.push(Filter::new("user_id", Operator::Eq, json!(user)));
        }
        let count = ctx
            .storage
            .count(
                cliquet_storage::storage::Count::new("history", bucket)
                    .with_filters(filters.clone()),
            )
            .await?;
        let max = settings.auto_trim_max_count.max(0) as u64;
        if count > max + settings.auto_trim_threshold.max(0) as u64 {
            ctx.storage
                .trim_objects(
                    TrimObjects::new("history", bucket, max as usize).with_filters(filters),
                )
                .await?;
        }
        Ok(())
    }
}

fn cliquet_acl_json(acl: &Acl) -> Value {
    Value::Object(
        acl.iter()
            .filter(|(_, principals)| !principals.is_empty())
            .map(|(name, principals)| (name.clone(), json!(principals)))
            .collect(),
    )
}

#[async_trait]
impl ResourceHooks for HistoryHooks {
    async fn after_write(&self, ctx: &HookContext<'_>, changes: &[Change]) -> Result<(), ApiError> {
        if let Some(user) = ctx.identity.user_id()
            && self.settings.exclude_user_ids.iter().any(|u| u == user)
        {
            return Ok(());
        }
        for change in changes {
            // A deleted bucket takes its whole history with it.
            if self.resource_name == "bucket" && change.action == Action::Delete {
                continue;
            }
            self.record(ctx, change).await?;
        }
        Ok(())
    }
}

/// `GET /buckets/{bid}/snapshot/collections/{cid}@{timestamp}`: the
/// records of a collection as they were at `timestamp`, rebuilt from the
/// current records and the history (`history.md`, "Snapshot endpoint").
///
/// The caller must hold `read` or `write` on the bucket or the collection
/// in the ACLs (the `*_principals` settings are not consulted, as in
/// Kinto). Records unchanged since `timestamp` are taken as they are; the
/// others from their latest history entry at or before `timestamp` (so
/// records deleted since are restored and records created since are
/// left out). The answer is only as complete as the history was at the
/// time.
pub fn snapshot_router(backends: cliquet_storage::Backends) -> axum::Router {
    axum::Router::new()
        .route(
            "/buckets/{bucket_id}/snapshot/collections/{at}",
            axum::routing::get(snapshot),
        )
        .with_state(backends)
}

async fn snapshot(
    axum::extract::State(backends): axum::extract::State<cliquet_storage::Backends>,
    axum::extract::Path((bid, at)): axum::extract::Path<(String, String)>,
    request: axum::extract::Request,
) -> Result<axum::Json<Value>, ApiError> {
    use cliquet_errors::Location;
    use cliquet_storage::storage::List;

    let identity = request
        .extensions()
        .get::<cliquet_auth::Identity>()
        .cloned()
        .unwrap_or_default();
    let Some((cid, timestamp)) = at.rsplit_once('@') else {
        return Err(ApiError::not_found());
    };
    let Ok(timestamp) = timestamp.parse::<u64>() else {
        return Err(ApiError::invalid_parameter(
            Location::Path,
            "timestamp",
            format!("Invalid timestamp '{timestamp}'"),
        ));
    };
    let timestamp = i64::try_from(timestamp).unwrap_or(i64::MAX);
    let bucket = format!("/buckets/{bid}");
    let collection = format!("{bucket}/collections/{cid}");
    let pairs: Vec<BoundPermission> = [&bucket, &collection]
        .into_iter()
        .flat_map(|uri| {
            [
                BoundPermission::new(uri.as_str(), "read"),
                BoundPermission::new(uri.as_str(), "write"),
            ]
        })
        .collect();
    if !backends
        .permission
        .check_permission(identity.principals(), &pairs)
        .await?
    {
        return Err(if identity.is_authenticated() {
            ApiError::forbidden()
        } else {
            ApiError::unauthorized()
        });
    }
    let mut state: std::collections::BTreeMap<String, Value> = Default::default();
    let mut unchanged = BTreeSet::new();
    for record in backends
        .storage
        .list(List::new("record", collection.as_str()))
        .await?
    {
        if record.last_modified <= timestamp {
            unchanged.insert(record.id.clone());
            state.insert(record.id.clone(), record.to_json());
        }
    }
    let entries = backends
        .storage
        .list(List::new("history", bucket.as_str()).with_filters(vec![
            Filter::new("resource_name", Operator::Eq, json!("record")),
            Filter::new("collection_id", Operator::Eq, json!(cid)),
        ]))
        .await?;
    let mut latest: std::collections::BTreeMap<String, (i64, Value)> = Default::default();
    for entry in entries {
        let Some(target) = entry.data.get("target").and_then(|t| t.get("data")) else {
            continue;
        };
        let (Some(id), Some(modified)) = (
            target.get("id").and_then(Value::as_str),
            target.get("last_modified").and_then(Value::as_i64),
        ) else {
            continue;
        };
        if modified > timestamp || unchanged.contains(id) {
            continue;
        }
        if latest.get(id).is_none_or(|(seen, _)| *seen < modified) {
            latest.insert(id.to_owned(), (modified, target.clone()));
        }
    }
    for (id, (_, data)) in latest {
        if data.get("deleted") != Some(&Value::Bool(true)) {
            state.insert(id, data);
        }
    }
    let mut records: Vec<Value> = state.into_values().collect();
    records.sort_by_key(|r| std::cmp::Reverse(r["last_modified"].as_i64().unwrap_or(0)));
    Ok(axum::Json(json!({ "data": records })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_kinto_s() {
        let at = UNIX_EPOCH + Duration::from_micros(1_469_006_316_530_281);
        assert_eq!(iso_date(at), "2016-07-20T09:18:36.530281+00:00");
        assert_eq!(iso_date(UNIX_EPOCH), "1970-01-01T00:00:00.000000+00:00");
    }

    #[test]
    fn exclusions_and_capability() {
        let settings = HistorySettings {
            auto_trim_max_count: 10,
            auto_trim_threshold: 100,
            auto_trim_user_ids: Vec::new(),
            exclude_resources: vec![
                "/buckets/a".into(),
                "/buckets/b/collections/c".into(),
                "/buckets/b/groups/g".into(),
                "/buckets/b/collections/d/records/r".into(),
            ],
            exclude_user_ids: Vec::new(),
            read_principals: Vec::new(),
            explicit_permissions: true,
        };
        assert!(settings.excludes("/buckets/a"));
        assert!(settings.excludes("/buckets/a/collections/x/records/y"));
        assert!(settings.excludes("/buckets/b/collections/c/records/y"));
        assert!(settings.excludes("/buckets/b/groups/g"));
        assert!(!settings.excludes("/buckets/b/groups/g2"));
        assert!(!settings.excludes("/buckets/b/collections/d"));
        assert!(settings.excludes("/buckets/b/collections/d/records/r"));
        assert!(!settings.excludes("/buckets/b/collections/d/records/r2"));
        assert!(!settings.excludes("/buckets/ab"));
        let extra = settings.capability();
        assert_eq!(extra["auto_trim_max_count"], 10);
        assert_eq!(
            extra["excluded_resources"],
            json!([{"bucket": "a"}, {"bucket": "b", "collection": "c"},
                   {"bucket": "b", "group": "g"},
                   {"bucket": "b", "collection": "d", "record": "r"}])
        );
        assert!(extra.get("auto_trim_user_ids").is_none());
    }

    #[test]
    fn tree_of_history() {
        let pairs = history_tree("/buckets/b/history/*", "read");
        assert!(pairs.contains(&BoundPermission::new("/buckets/b", "read")));
        assert!(pairs.contains(&BoundPermission::new("/buckets/b/history/*", "read")));
        let list = history_tree("/buckets/b/history", "read");
        assert_eq!(list.len(), 2);
    }
}
