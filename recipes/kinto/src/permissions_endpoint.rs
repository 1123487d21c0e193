//! `GET /permissions`: every object on which the request's principals hold
//! a permission, with those permissions (`permissions.md` §6).
//!
//! On when `experimental_permissions_endpoint` is true or the admin plugin
//! is included (404 otherwise, the route does not exist). Who may call it
//! is the `permissions_read_principals` setting (default
//! `system.Everyone`).
//!
//! The entries come from:
//! - the permission backend, in one query: the objects whose own ACL names
//!   one of the principals (the user id, `system.Everyone`,
//!   `system.Authenticated`, the user's groups);
//! - the `<resource>_<permission>_principals` settings that name one of the
//!   principals: `bucket_create_principals` and `account_create_principals`
//!   give the root entry `/`; `bucket_*`, `collection_*` and `group_*`
//!   ones (and `collection_create` / `group_create` on buckets,
//!   `record_create` on collections) give their permissions on **every
//!   existing** bucket, collection or group, as Kinto does.
//!
//! Each held permission is expanded to what it implies on the same object
//! (bucket `write` → `read`, `read:attributes`, `collection:create`,
//! `group:create`; `record:create` → `read:attributes`…). Children
//! reachable only through a parent are not listed. URIs that name no
//! object of this service (history entries, another plugin's objects,
//! accounts when the accounts plugin is off) are skipped.
//!
//! The querystring works as on any plural endpoint, over the fields
//! `uri`, `resource_name`, `permissions`, `id`, `bucket_id`,
//! `collection_id`, `group_id`, `record_id` (others are a 400 errno 107):
//! filters, `_sort` (on any field; default `-uri`; `uri` always ends the
//! order so that pagination is exact), `_limit`, `_token` and `Next-Page`, `_fields`,
//! `Total-Objects` on `HEAD`. Entries have no timestamp: filters and sorts
//! on `last_modified` (`_since`, `_before`) are dropped, and `ETag` /
//! `Last-Modified` carry the timestamp 0.
//!
//! Cost: one permission-backend query, plus, only when a bucket,
//! collection or group setting grants the user something, one storage
//! query for the buckets and one per bucket for its collections or groups
//! (run concurrently; the storage does not return the parent of objects
//! listed across parents).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::routing::get;
use cliquet::settings::RawSettings;
use cliquet_auth::Identity;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_filter::{ParseOptions, Query, SortField, decode_querystring, next_page_url};
use cliquet_storage::Backends;
use cliquet_storage::storage::List;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::permissions::principals_of;

const TOTAL_OBJECTS: HeaderName = HeaderName::from_static("total-objects");
const TOTAL_RECORDS: HeaderName = HeaderName::from_static("total-records");
const NEXT_PAGE: HeaderName = HeaderName::from_static("next-page");

/// The fields of an entry, the only ones filters, sorts and `_fields` may
/// name.
pub const FIELDS: [&str; 8] = [
    "uri",
    "resource_name",
    "permissions",
    "id",
    "bucket_id",
    "collection_id",
    "group_id",
    "record_id",
];

/// At most this many querystring parameters.
const MAX_PARAMS: usize = 100;

/// The object a URI names, with its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// `root`, `bucket`, `collection`, `group`, `record` or `account`.
    pub resource_name: &'static str,
    /// `(field, value)` pairs: `bucket_id`, `collection_id`… and `id`.
    pub ids: Vec<(&'static str, String)>,
}

/// The object `uri` names, `None` for a URI that names no object of the
/// service (`accounts` tells whether `/accounts/{id}` does).
pub fn parse_uri(uri: &str, accounts: bool) -> Option<ObjectRef> {
    if uri == "/" {
        return Some(ObjectRef {
            resource_name: "root",
            ids: Vec::new(),
        });
    }
    let segments: Vec<&str> = uri.strip_prefix('/')?.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let own = |s: &str| s.to_owned();
    let (resource_name, ids) = match segments.as_slice() {
        ["buckets", b] => ("bucket", vec![("bucket_id", own(b)), ("id", own(b))]),
        ["buckets", b, "collections", c] => (
            "collection",
            vec![
                ("bucket_id", own(b)),
                ("collection_id", own(c)),
                ("id", own(c)),
            ],
        ),
        ["buckets", b, "groups", g] => (
            "group",
            vec![("bucket_id", own(b)), ("group_id", own(g)), ("id", own(g))],
        ),
        ["buckets", b, "collections", c, "records", r] => (
            "record",
            vec![
                ("bucket_id", own(b)),
                ("collection_id", own(c)),
                ("record_id", own(r)),
                ("id", own(r)),
            ],
        ),
        ["accounts", a] if accounts => ("account", vec![("account_id", own(a)), ("id", own(a))]),
        _ => return None,
    };
    Some(ObjectRef { resource_name, ids })
}

/// What `permission` held on an object of `resource_name` implies on that
/// same object (itself included): Kinto's inheritance tree read
/// downwards, restricted to one object.
pub fn expand(resource_name: &str, permission: &str) -> &'static [&'static str] {
    match (resource_name, permission) {
        ("bucket", "write") => &[
            "write",
            "read",
            "read:attributes",
            "collection:create",
            "group:create",
        ],
        ("bucket" | "collection", "read") => &["read", "read:attributes"],
        ("bucket", "collection:create") => &["collection:create", "read:attributes"],
        ("bucket", "group:create") => &["group:create", "read:attributes"],
        ("collection", "write") => &["write", "read", "read:attributes", "record:create"],
        ("collection", "record:create") => &["record:create", "read:attributes"],
        ("group" | "record" | "account", "write") => &["write", "read"],
        _ => &[],
    }
}

/// The order permissions are listed in.
fn rank(permission: &str) -> (u8, &str) {
    match permission {
        "write" => (0, permission),
        "read" => (1, permission),
        "read:attributes" => (2, permission),
        _ => (3, permission),
    }
}

/// The permissions the `*_principals` settings grant, per object kind,
/// with the principals they are granted to.
#[derive(Debug, Clone, Default)]
pub struct SettingsGrants {
    /// `(object kind, permission, principals)`; the kind is `root`,
    /// `bucket`, `collection` or `group`.
    grants: Vec<(&'static str, String, Vec<String>)>,
}

impl SettingsGrants {
    /// Reads every `<resource>_<permission>_principals` setting: `create`
    /// ones are granted on the parent (`collection_create` →
    /// `collection:create` on buckets, `bucket_create` → `bucket:create`
    /// on the root); settings on records or accounts other than `create`
    /// grant nothing listable; unknown resources are ignored.
    pub fn from_settings(raw: &RawSettings, accounts: bool) -> Self {
        let mut grants = Vec::new();
        for key in raw.keys() {
            let Some(stem) = key.strip_suffix("_principals") else {
                continue;
            };
            let Some((resource, permission)) = stem.split_once('_') else {
                continue;
            };
            let principals = raw.get(key).map(principals_of).unwrap_or_default();
            if principals.is_empty() || permission.is_empty() {
                continue;
            }
            let granted = match (resource, permission) {
                ("bucket", "create") => ("root", "bucket:create".to_owned()),
                ("account", "create") if accounts => ("root", "account:create".to_owned()),
                ("collection", "create") => ("bucket", "collection:create".to_owned()),
                ("group", "create") => ("bucket", "group:create".to_owned()),
                ("record", "create") => ("collection", "record:create".to_owned()),
                ("bucket", p) => ("bucket", p.to_owned()),
                ("collection", p) => ("collection", p.to_owned()),
                ("group", p) => ("group", p.to_owned()),
                _ => continue,
            };
            grants.push((granted.0, granted.1, principals));
        }
        Self { grants }
    }

    /// The permissions granted to one of `principals`, per object kind.
    fn for_principals(&self, principals: &[String]) -> BTreeMap<&'static str, BTreeSet<String>> {
        let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        for (kind, permission, granted) in &self.grants {
            if granted.iter().any(|p| principals.contains(p)) {
                out.entry(kind).or_default().insert(permission.clone());
            }
        }
        out
    }
}

/// The endpoint's configuration.
#[derive(Debug)]
struct Shared {
    backends: Backends,
    readers: Vec<String>,
    grants: SettingsGrants,
    accounts: bool,
    options: ParseOptions,
}

/// The `/permissions` route (to nest under the version prefix).
pub fn router(settings: &crate::Settings, backends: Backends, accounts: bool) -> Router {
    let readers = settings
        .raw
        .get("permissions_read_principals")
        .map(principals_of)
        .unwrap_or_else(|| vec![cliquet_storage::permission::EVERYONE.to_owned()]);
    let options = ParseOptions::new()
        .paginate_by(settings.core.paginate_by.map(|n| n as usize))
        .max_fetch_size(settings.core.storage_max_fetch_size as usize)
        .known_fields(FIELDS);
    let shared = Arc::new(Shared {
        backends,
        readers,
        grants: SettingsGrants::from_settings(&settings.raw, accounts),
        accounts,
        options,
    });
    Router::new().route(
        "/permissions",
        get(list)
            .head(list)
            .fallback(|| async { ApiError::method_not_allowed().into_response::<Body>() })
            .with_state(shared),
    )
}

async fn list(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    match respond(&shared, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The query, with the timestamp dropped and `uri` ending the order.
fn parse_query(shared: &Shared, querystring: &str) -> Result<Query, ApiError> {
    let pairs = decode_querystring(querystring)?;
    if pairs.len() > MAX_PARAMS {
        return Err(ApiError::invalid_parameters([ValidationDetail::unnamed(
            Location::Querystring,
            format!("Too many parameters (at most {MAX_PARAMS})"),
        )]));
    }
    // Filters and `_fields` know the entry fields only; `_sort` takes any
    // field (a missing one sorts last), as Kinto's endpoint does.
    let (sorts, pairs): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(name, _)| name == "_sort");
    let mut query = Query::from_pairs(pairs, &shared.options)?;
    if !sorts.is_empty() {
        query.sort = Query::from_pairs(sorts, &ParseOptions::new())?.sort;
    }
    query.filters.retain(|f| !f.field.is_last_modified());
    query.sort.retain(|s| !s.field.is_last_modified());
    if !query.sort.iter().any(|s| s.field.as_str() == "uri") {
        query.sort.push(SortField::desc("uri"));
    }
    Ok(query)
}

/// Every entry of the request's principals, unsorted.
pub(crate) async fn entries(
    backends: &Backends,
    grants: &SettingsGrants,
    accounts: bool,
    principals: &[String],
) -> Result<Vec<Value>, ApiError> {
    let mut held = backends
        .permission
        .get_accessible_objects(principals, None, false)
        .await?;

    let granted = grants.for_principals(principals);
    if let Some(root) = granted.get("root") {
        held.entry("/".to_owned())
            .or_default()
            .extend(root.iter().cloned());
    }
    let on_buckets = granted.get("bucket");
    let below: Vec<(&str, &BTreeSet<String>)> = ["collection", "group"]
        .into_iter()
        .filter_map(|kind| granted.get(kind).map(|perms| (kind, perms)))
        .collect();
    if on_buckets.is_some() || !below.is_empty() {
        let buckets = backends.storage.list(List::new("bucket", "")).await?;
        if let Some(perms) = on_buckets {
            for bucket in &buckets {
                held.entry(format!("/buckets/{}", bucket.id))
                    .or_default()
                    .extend(perms.iter().cloned());
            }
        }
        let lists = buckets.iter().flat_map(|bucket| {
            below.iter().map(move |(kind, perms)| {
                let parent = format!("/buckets/{}", bucket.id);
                async move {
                    let children = backends.storage.list(List::new(*kind, &parent)).await?;
                    Ok::<_, ApiError>((parent, *kind, *perms, children))
                }
            })
        });
        for (parent, kind, perms, children) in futures_util::future::try_join_all(lists).await? {
            for child in children {
                held.entry(format!("{parent}/{kind}s/{}", child.id))
                    .or_default()
                    .extend(perms.iter().cloned());
            }
        }
    }

    let mut out = Vec::with_capacity(held.len());
    for (uri, permissions) in held {
        let Some(object) = parse_uri(&uri, accounts) else {
            continue;
        };
        let mut expanded: BTreeSet<&str> = BTreeSet::new();
        for permission in &permissions {
            expanded.insert(permission);
            expanded.extend(expand(object.resource_name, permission));
        }
        let mut list: Vec<&str> = expanded.into_iter().collect();
        list.sort_by_key(|p| rank(p));
        let mut entry = Map::new();
        entry.insert("uri".into(), json!(uri));
        entry.insert("resource_name".into(), json!(object.resource_name));
        entry.insert("permissions".into(), json!(list));
        for (field, value) in object.ids {
            entry.insert(field.into(), json!(value));
        }
        out.push(Value::Object(entry));
    }
    Ok(out)
}

fn request_url(request: &Request) -> String {
    let original = request
        .extensions()
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| request.uri().clone());
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| original.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    let scheme = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .or(original.scheme_str())
        .unwrap_or("http");
    let path = original.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{host}{path}")
}

async fn respond(shared: &Shared, request: Request) -> Result<Response<Body>, ApiError> {
    let identity = request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous);
    let principals = identity.principals();
    if !shared.readers.iter().any(|r| principals.contains(r)) {
        return Err(if identity.is_authenticated() {
            ApiError::forbidden()
        } else {
            ApiError::unauthorized()
        });
    }
    let query = parse_query(shared, request.uri().query().unwrap_or(""))?;
    let all = entries(
        &shared.backends,
        &shared.grants,
        shared.accounts,
        principals,
    )
    .await?;

    let head = request.method() == Method::HEAD;
    let mut response = if head {
        let total = all.iter().filter(|entry| query.matches(entry)).count();
        let mut response = json_response(&json!({"data": []}));
        let headers = response.headers_mut();
        headers.insert(TOTAL_OBJECTS, HeaderValue::from(total));
        headers.insert(TOTAL_RECORDS, HeaderValue::from(total));
        *response.body_mut() = Body::empty();
        response
    } else {
        let mut page = query.apply(&all, query.limit.saturating_add(1));
        let next = if page.len() > query.limit {
            page.truncate(query.limit);
            page.last().map(|last| {
                let offset = query.token.as_ref().map_or(0, |t| t.offset) + query.limit as u64;
                next_page_url(
                    &request_url(&request),
                    query.limit,
                    &query.next_token(last, offset),
                )
            })
        } else {
            None
        };
        let data: Vec<Value> = page.into_iter().map(|e| query.project(e)).collect();
        let mut response = json_response(&json!({ "data": data }));
        if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert(NEXT_PAGE, next);
        }
        response
    };
    // Entries have no timestamp: the headers are there, with 0.
    cliquet_timestamps::set_timestamp_headers(response.headers_mut(), 0);
    Ok(response)
}

fn json_response(body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_objects() {
        let record = parse_uri("/buckets/a/collections/b/records/c", false).unwrap();
        assert_eq!(record.resource_name, "record");
        assert_eq!(
            record.ids,
            [
                ("bucket_id", "a".to_owned()),
                ("collection_id", "b".to_owned()),
                ("record_id", "c".to_owned()),
                ("id", "c".to_owned()),
            ]
        );
        assert_eq!(parse_uri("/", false).unwrap().resource_name, "root");
        assert!(parse_uri("/buckets/a/history/x", false).is_none());
        assert!(parse_uri("/buckets//collections/b", false).is_none());
        assert!(parse_uri("/accounts/alice", false).is_none());
        assert_eq!(
            parse_uri("/accounts/alice", true).unwrap().resource_name,
            "account"
        );
    }

    #[test]
    fn expansion_stays_on_the_object() {
        assert!(expand("bucket", "write").contains(&"group:create"));
        assert_eq!(
            expand("collection", "record:create"),
            ["record:create", "read:attributes"]
        );
        assert_eq!(expand("record", "read"), [] as [&str; 0]);
        assert_eq!(expand("group", "write"), ["write", "read"]);
    }

    #[test]
    fn settings_grants_map_create_to_the_parent() {
        let mut raw = RawSettings::new();
        raw.set("bucket_create_principals", "system.Authenticated");
        raw.set("collection_create_principals", "alice");
        raw.set("record_create_principals", "alice");
        raw.set("group_write_principals", "bob");
        raw.set("account_create_principals", "system.Everyone");
        raw.set("permissions_read_principals", "system.Everyone");
        raw.set("signer.auto_create_resources_principals", "alice");
        let grants = SettingsGrants::from_settings(&raw, false);
        let alice = grants.for_principals(&["alice".to_owned(), "system.Authenticated".to_owned()]);
        assert_eq!(
            alice.get("root").unwrap().iter().collect::<Vec<_>>(),
            ["bucket:create"]
        );
        assert!(alice["bucket"].contains("collection:create"));
        assert!(alice["collection"].contains("record:create"));
        assert!(!alice.contains_key("group"));
        let anonymous = SettingsGrants::from_settings(&raw, true)
            .for_principals(&["system.Everyone".to_owned()]);
        assert_eq!(
            anonymous.get("root").unwrap().iter().collect::<Vec<_>>(),
            ["account:create"]
        );
    }
}
