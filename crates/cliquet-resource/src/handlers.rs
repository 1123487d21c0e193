//! The endpoints: plural (`GET`, `HEAD`, `POST`, `DELETE`) and object
//! (`GET`, `HEAD`, `PUT`, `PATCH`, `DELETE`).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, RawPathParams, Request, State};
use axum::response::Response;
use bytes::Bytes;
use cliquet_auth::Identity;
use cliquet_batch::{AbortBatch, Retry, RetryBatch};
use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_filter::{Filter, Operator, Query, decode_querystring, next_page_url};
use cliquet_storage::storage::{
    Count, Create, Delete, DeleteAll, Get, List, ResourceTimestamp, Update,
};
use cliquet_storage::{Acl, Backends, Object, Permission, Storage, StorageError, Timestamp};
use cliquet_timestamps::{
    CacheHeaders, Current, EntityMatch, Preconditions, Rejection, precondition_failed,
    set_timestamp_headers,
};
use http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::access::{Kind, deny};
use crate::body::{self, Envelope, Flavour, JSON, JSON_PATCH, MERGE_PATCH};
use crate::hooks::{Action, Change, HookContext, ParentId, Writer};
use crate::resource::Config;
use crate::scope::{BatchTransaction, Unit};

/// The state of a mounted resource.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) backends: Backends,
}

const TOTAL_OBJECTS: HeaderName = HeaderName::from_static("total-objects");
const TOTAL_RECORDS: HeaderName = HeaderName::from_static("total-records");
const NEXT_PAGE: HeaderName = HeaderName::from_static("next-page");
const ALERT: HeaderName = HeaderName::from_static("alert");
const RESPONSE_BEHAVIOR: HeaderName = HeaderName::from_static("response-behavior");
const DEPRECATED_TO: &str = r#"{"code":"soft-eol","message":"_to is now deprecated, you should use _before instead","url":"https://kinto.readthedocs.io/en/2.4.0/api/resource.html#list-of-available-url-parameters"}"#;

/// An error, and whether it must stop a batch.
struct Failure {
    /// Boxed: errors are the cold path, results stay small.
    error: Box<ApiError>,
    abort: bool,
    /// The transaction lost to a concurrent one: its work is to run again.
    conflict: bool,
    /// A 304 is no error, but ends the request the same way.
    not_modified: Option<cliquet_timestamps::ETag>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self {
            error: Box::new(error),
            abort: false,
            conflict: false,
            not_modified: None,
        }
    }
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Self {
        // These may leave a database transaction unusable.
        let abort = matches!(
            error,
            StorageError::InvalidInput { .. }
                | StorageError::Backend { .. }
                | StorageError::Conflict { .. }
                | StorageError::Readonly
        );
        let conflict = error.is_transaction_conflict();
        Self {
            error: Box::new(error.into()),
            abort: abort || conflict,
            conflict,
            not_modified: None,
        }
    }
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Self {
        let current = rejection.current();
        match rejection.into_api_error() {
            Some(error) => error.into(),
            None => Self {
                error: Box::new(ApiError::internal()),
                abort: false,
                conflict: false,
                not_modified: Some(current),
            },
        }
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

/// What a request is about.
struct Ctx {
    identity: Identity,
    params: Vec<(String, String)>,
    parent_id: String,
    plural_uri: String,
    method: Method,
    headers: HeaderMap,
    query: String,
    url: String,
    batch: Option<BatchTransaction>,
    preconditions: Preconditions,
    writer: Option<String>,
}

impl Ctx {
    fn principals(&self) -> &[String] {
        self.identity.principals()
    }

    /// The principal a writer is recorded as.
    fn writer(&self) -> String {
        if let Some(writer) = &self.writer {
            return writer.clone();
        }
        self.identity
            .user_id()
            .unwrap_or(cliquet_storage::permission::EVERYONE)
            .to_owned()
    }

    fn hook<'a>(
        &'a self,
        config: &'a Config,
        storage: &'a dyn Storage,
        permission: &'a dyn Permission,
    ) -> HookContext<'a> {
        HookContext {
            resource_name: &config.name,
            parent_id: &self.parent_id,
            identity: &self.identity,
            params: &self.params,
            object_id: self
                .params
                .iter()
                .find(|(key, _)| key == "id")
                .map(|(_, value)| value.as_str()),
            method: &self.method,
            storage,
            permission,
        }
    }
}

/// Fills `{name}` placeholders of a path template.
fn fill(template: &str, params: &[(String, String)], id: Option<&str>) -> String {
    let mut out = String::with_capacity(template.len() + 40);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &rest[start + 1..start + end];
        let value = match (name, id) {
            ("id", Some(id)) => Some(id),
            _ => params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
        };
        out.push_str(value.unwrap_or(""));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

async fn context(shared: &Shared, parts: &mut Parts) -> Result<Ctx> {
    let config = &shared.config;
    let identity = parts
        .extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or_default();
    let params: Vec<(String, String)> = match RawPathParams::from_request_parts(parts, &()).await {
        Ok(raw) => raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Err(axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            return Err(ApiError::bad_request("Invalid URL path.").into());
        }
        Err(_) => Vec::new(),
    };
    let parent_id = match (parts.extensions.get::<ParentId>(), &config.access.kind) {
        (Some(ParentId(parent_id)), _) => parent_id.clone(),
        (None, Kind::Private) => match identity.user_id() {
            Some(user_id) => user_id.to_owned(),
            None => return Err(ApiError::unauthorized().into()),
        },
        (None, Kind::Shared { .. }) => fill(&config.parent_id, &params, None),
    };
    body::check_accept(&parts.headers)?;
    let preconditions = Preconditions::from_headers(&parts.headers).map_err(ApiError::from)?;
    let plural_uri = fill(&config.plural_path, &params, None);
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| parts.uri.clone());
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| original.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    let scheme = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .or(original.scheme_str())
        .unwrap_or("http");
    let path_and_query = original.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Ok(Ctx {
        url: format!("{scheme}://{host}{path_and_query}"),
        query: parts.uri.query().unwrap_or("").to_owned(),
        batch: parts.extensions.get::<BatchTransaction>().cloned(),
        writer: parts.extensions.get::<Writer>().map(|w| w.0.clone()),
        method: parts.method.clone(),
        headers: std::mem::take(&mut parts.headers),
        identity,
        params,
        parent_id,
        plural_uri,
        preconditions,
    })
}

fn finish_response(result: Result<Response>, in_batch: bool) -> Response {
    match result {
        Ok(response) => response,
        Err(Failure {
            not_modified: Some(current),
            ..
        }) => cliquet_timestamps::not_modified(current),
        Err(failure) => {
            let mut response = (*failure.error).into_response();
            if failure.abort && in_batch {
                response.extensions_mut().insert(AbortBatch);
            }
            if failure.conflict && in_batch {
                // The batch layer rolls back and runs the batch again.
                response.extensions_mut().insert(RetryBatch);
            }
            response
        }
    }
}

/// The plural endpoint.
pub(crate) async fn plural(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let in_batch = parts.extensions.get::<BatchTransaction>().is_some();
    let result = async {
        let ctx = context(&shared, &mut parts).await?;
        match ctx.method {
            Method::GET | Method::HEAD => list(&shared, &ctx).await,
            Method::POST => {
                let body = buffer(&shared, body).await;
                in_write(&shared, &ctx, |unit| create(&shared, &ctx, unit, &body)).await
            }
            Method::DELETE => {
                in_write(&shared, &ctx, |unit| delete_plural(&shared, &ctx, unit)).await
            }
            _ => Err(ApiError::method_not_allowed().into()),
        }
    }
    .await;
    finish_response(result, in_batch)
}

/// The object endpoint.
pub(crate) async fn object(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let in_batch = parts.extensions.get::<BatchTransaction>().is_some();
    let result = async {
        let ctx = context(&shared, &mut parts).await?;
        let id = ctx
            .params
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match ctx.method {
            Method::GET | Method::HEAD => get(&shared, &ctx, &id).await,
            Method::PUT => {
                let body = buffer(&shared, body).await;
                in_write(&shared, &ctx, |unit| put(&shared, &ctx, unit, &id, &body)).await
            }
            Method::PATCH => {
                let body = buffer(&shared, body).await;
                in_write(&shared, &ctx, |unit| patch(&shared, &ctx, unit, &id, &body)).await
            }
            Method::DELETE => {
                in_write(&shared, &ctx, |unit| delete(&shared, &ctx, unit, &id)).await
            }
            _ => Err(ApiError::method_not_allowed().into()),
        }
    }
    .await;
    finish_response(result, in_batch)
}

/// A write's body, read whole before the work starts so that the work can
/// run again; a body too large is reported where the work reads it.
type Buffered = std::result::Result<Bytes, ApiError>;

async fn buffer(shared: &Shared, body: Body) -> Buffered {
    body::read(body, shared.config.limits.max_body_bytes).await
}

/// Runs a write in its unit (the request's transaction or the batch's),
/// committed on success.
///
/// Outside a batch, a write whose transaction lost to a concurrent one (a
/// deadlock, a serialization failure: [`StorageError::TransactionConflict`],
/// or [`Transaction::conflicted`](cliquet_storage::Transaction::conflicted)
/// when a hook turned that error into another) is rolled back and run again
/// from the start, in a new transaction, up to [`Retry::default`]'s
/// attempts; nothing of a lost attempt reaches the response. Inside a
/// batch, the failure is marked so that the batch layer re-runs the whole
/// batch instead.
async fn in_write<F, Fut>(shared: &Shared, ctx: &Ctx, work: F) -> Result<Response>
where
    F: Fn(UnitRef) -> Fut,
    Fut: std::future::Future<Output = Result<Response>>,
{
    let retry = if ctx.batch.is_some() {
        Retry::never()
    } else {
        Retry::default()
    };
    let mut failed = 0;
    loop {
        match write_once(shared, ctx, &work).await {
            Err(failure) if failure.conflict => {
                failed += 1;
                if !retry.should_retry(failed) {
                    return Err(failure);
                }
                retry.pause(failed).await;
            }
            outcome => return outcome,
        }
    }
}

/// One attempt of [`in_write`].
async fn write_once<F, Fut>(shared: &Shared, ctx: &Ctx, work: &F) -> Result<Response>
where
    F: Fn(UnitRef) -> Fut,
    Fut: std::future::Future<Output = Result<Response>>,
{
    let unit = Arc::new(Unit::write(&shared.backends, ctx.batch.as_ref()).await?);
    let result = work(UnitRef(unit.clone())).await;
    let unit = Arc::try_unwrap(unit).map_err(|_| ApiError::internal())?;
    if unit.conflicted() {
        // Lost to a concurrent transaction, whatever the work made of it.
        unit.finish(false).await?;
        return Err(match result {
            Err(failure) if failure.conflict => failure,
            _ => StorageError::transaction_conflict("the transaction lost to a concurrent one")
                .into(),
        });
    }
    let ok = result.is_ok();
    unit.finish(ok).await?;
    result
}

/// A shared handle on the unit of a write, dropped when the work ends.
struct UnitRef(Arc<Unit>);

impl UnitRef {
    fn storage<'a>(&'a self, backends: &'a Backends) -> &'a dyn Storage {
        self.0.storage(backends)
    }

    fn permission<'a>(&'a self, backends: &'a Backends) -> &'a dyn Permission {
        self.0.permission(backends)
    }

    fn acl_first(&self) -> bool {
        self.0.acl_first()
    }
}

/// Serializes an object in its protocol form without building it.
struct ObjectJson<'a>(&'a Object);

impl serde::Serialize for ObjectJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let object = self.0;
        let data = if object.deleted {
            None
        } else {
            Some(&object.data)
        };
        let extra = usize::from(object.deleted);
        let mut map = serializer.serialize_map(Some(2 + extra + data.map_or(0, |d| d.len())))?;
        map.serialize_entry("id", &object.id)?;
        map.serialize_entry("last_modified", &object.last_modified)?;
        if object.deleted {
            map.serialize_entry("deleted", &true)?;
        }
        for (key, value) in data.into_iter().flatten() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// `{"data": object, "permissions": acl}`.
#[derive(serde::Serialize)]
struct ObjectBody<'a> {
    data: ObjectJson<'a>,
    permissions: &'a Value,
}

/// `{"data": [objects]}`.
struct ListBody<'a>(&'a [Object]);

impl serde::Serialize for ListBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("data", &ListItems(self.0))?;
        map.end()
    }
}

struct ListItems<'a>(&'a [Object]);

impl serde::Serialize for ListItems<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ObjectJson))
    }
}

fn json_response(
    status: StatusCode,
    body: &impl serde::Serialize,
    timestamp: Timestamp,
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    set_timestamp_headers(headers, timestamp.max(0) as u64);
    response
}

fn head_response(mut response: Response) -> Response {
    *response.body_mut() = Body::empty();
    response
}

fn not_found(shared: &Shared, id: &str) -> Failure {
    ApiError::object_not_found(id, shared.config.name.clone()).into()
}

fn invalid_id() -> Failure {
    ApiError::invalid_parameters([ValidationDetail::unnamed(
        Location::Path,
        "Invalid object id",
    )])
    .into()
}

fn storage_get(result: Result<Object, StorageError>) -> Result<Option<Object>> {
    match result {
        Ok(object) => Ok(Some(object)),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Runs the `before_request` hook.
async fn before(
    shared: &Shared,
    ctx: &Ctx,
    storage: &dyn Storage,
    permission: &dyn Permission,
) -> Result<()> {
    let config = &shared.config;
    let hook = ctx.hook(config, storage, permission);
    config.hooks.before_request(&hook).await?;
    Ok(())
}

/// The cache headers of a successful read: the resource's setting, as the
/// hooks refine it.
async fn read_cache(
    shared: &Shared,
    ctx: &Ctx,
    storage: &dyn Storage,
    permission: &dyn Permission,
) -> Result<CacheHeaders> {
    let config = &shared.config;
    let configured =
        CacheHeaders::for_resource(config.cache_expires, !ctx.identity.is_authenticated());
    let hook = ctx.hook(config, storage, permission);
    Ok(config.hooks.read_cache(&hook, configured).await?)
}

/// The list querystring, bounded.
fn parse_query(config: &Config, querystring: &str) -> Result<Query> {
    let pairs = decode_querystring(querystring)?;
    let limits = &config.limits;
    if pairs.len() > limits.max_params {
        return Err(ApiError::invalid_parameters([ValidationDetail::unnamed(
            Location::Querystring,
            format!("Too many parameters (at most {})", limits.max_params),
        )])
        .into());
    }
    for (name, value) in &pairs {
        if name == "_sort" && value.split(',').count() > limits.max_sort_fields {
            return Err(ApiError::invalid_parameter(
                Location::Querystring,
                "_sort",
                format!("Too many sort fields (at most {})", limits.max_sort_fields),
            )
            .into());
        }
    }
    Ok(Query::from_pairs(pairs, &config.parse_options)?)
}

/// Who may act on the plural endpoint: every object (`None`), only some
/// (`Some(ids)`, maybe none), or nobody (an error).
async fn authorize_plural(
    shared: &Shared,
    ctx: &Ctx,
    permission_backend: &dyn Permission,
    permission: &str,
) -> Result<Option<Vec<String>>> {
    let config = &shared.config;
    let access = &config.access;
    if access.is_private() {
        return Ok(None);
    }
    let principals = ctx.principals();
    if access
        .allowed(permission_backend, principals, &ctx.plural_uri, permission)
        .await?
    {
        return Ok(None);
    }
    if let Some(object_path) = &config.object_path {
        let pattern = fill(object_path, &ctx.params, Some("*"));
        let prefix = pattern.trim_end_matches('*');
        let bound: Vec<_> = access
            .bound(&pattern, permission)
            .into_iter()
            .filter(|pair| pair.object_id == pattern)
            .collect();
        if !bound.is_empty() {
            let accessible = permission_backend
                .get_accessible_objects(principals, Some(&bound), false)
                .await?;
            let ids: Vec<String> = accessible
                .keys()
                .filter_map(|uri| uri.strip_prefix(prefix))
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                return Ok(Some(ids));
            }
        }
    }
    if access
        .allowed(
            permission_backend,
            principals,
            &ctx.plural_uri,
            &config.create_permission,
        )
        .await?
    {
        return Ok(Some(Vec::new()));
    }
    Err(deny(&ctx.identity).into())
}

fn restrict(filters: &mut Vec<Filter>, restriction: &Option<Vec<String>>) {
    if let Some(ids) = restriction {
        filters.insert(0, Filter::new("id", Operator::In, json!(ids)));
    }
}

/// `GET` and `HEAD` on the plural endpoint.
async fn list(shared: &Shared, ctx: &Ctx) -> Result<Response> {
    let config = &shared.config;
    let unit = Unit::read(ctx.batch.as_ref()).await?;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    // The hook (Kinto's collection check) and the `read` check are both
    // reads: run together, the hook's answer still comes first.
    let (hook, restriction) = futures_util::future::join(
        before(shared, ctx, storage, permission),
        authorize_plural(shared, ctx, permission, "read"),
    )
    .await;
    hook?;
    let restriction = restriction?;
    let query = parse_query(config, &ctx.query)?;
    let head = ctx.method == Method::HEAD;
    let nothing = matches!(&restriction, Some(ids) if ids.is_empty());
    let timestamp = || {
        storage.resource_timestamp(ResourceTimestamp::new(
            config.name.as_str(),
            ctx.parent_id.as_str(),
        ))
    };

    let mut response = if head {
        let mut filters = query.filters.clone();
        restrict(&mut filters, &restriction);
        let count = async {
            if nothing {
                return Ok(0);
            }
            storage
                .count(
                    Count::new(config.name.as_str(), ctx.parent_id.as_str()).with_filters(filters),
                )
                .await
        };
        let (timestamp, count) = futures_util::future::join(timestamp(), count).await;
        let (timestamp, count) = (timestamp?, count?);
        ctx.preconditions
            .evaluate(&ctx.method, Current::collection(timestamp.max(0) as u64))?;
        let mut response = json_response(StatusCode::OK, &json!({"data": []}), timestamp);
        let headers = response.headers_mut();
        headers.insert(TOTAL_OBJECTS, HeaderValue::from(count));
        headers.insert(TOTAL_RECORDS, HeaderValue::from(count));
        head_response(response)
    } else {
        let mut params = List::from_query(config.name.as_str(), ctx.parent_id.as_str(), &query)
            .with_limit(Some(query.limit.saturating_add(1)));
        restrict(&mut params.filters, &restriction);
        // The page shows the collection as of its `ETag`: the page is
        // bounded by the timestamp, read with it from one snapshot
        // (`list_as_of`) or before it. Writers commit in timestamp order,
        // so every object up to it is visible; a `_since` poll from this
        // `ETag` then sees each change exactly once, where two independent
        // reads could skip a change or show it twice. A pattern parent
        // (`*`, an administrator's view across parents) has no timestamp
        // of its own to bound the page with.
        let (timestamp, mut objects) = if nothing || ctx.parent_id.contains('*') {
            let timestamp = timestamp().await?;
            // A 304 or 412 needs no page.
            ctx.preconditions
                .evaluate(&ctx.method, Current::collection(timestamp.max(0) as u64))?;
            let objects = if nothing {
                Vec::new()
            } else {
                storage.list(params).await?
            };
            (timestamp, objects)
        } else {
            let (timestamp, objects) = storage.list_as_of(params).await?;
            ctx.preconditions
                .evaluate(&ctx.method, Current::collection(timestamp.max(0) as u64))?;
            (timestamp, objects)
        };
        let next = if objects.len() > query.limit {
            objects.truncate(query.limit);
            objects.last().map(|last| {
                let offset = query.token.as_ref().map_or(0, |t| t.offset) + query.limit as u64;
                let token = query.next_token(&last.to_json(), offset);
                next_page_url(&ctx.url, query.limit, &token)
            })
        } else {
            None
        };
        let mut response = match &query.fields {
            Some(_) => {
                let data: Vec<Value> = objects
                    .into_iter()
                    .map(|object| query.project(&object.into_json()))
                    .collect();
                json_response(StatusCode::OK, &json!({"data": data}), timestamp)
            }
            // Serialized straight from the stored objects: no JSON tree.
            None => json_response(StatusCode::OK, &ListBody(&objects), timestamp),
        };
        if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert(NEXT_PAGE, next);
        }
        response
    };
    if query.deprecated_to {
        response
            .headers_mut()
            .insert(ALERT, HeaderValue::from_static(DEPRECATED_TO));
    }
    read_cache(shared, ctx, storage, permission)
        .await?
        .apply(response.headers_mut());
    Ok(response)
}

/// The permissions a response shows: the whole ACL to writers, `{}` to
/// others; a private object's owner is its only writer.
async fn shown_permissions(
    shared: &Shared,
    ctx: &Ctx,
    permission: &dyn Permission,
    object_uri: &str,
) -> Result<Value> {
    let access = &shared.config.access;
    if access.is_private() {
        return Ok(json!({"write": [ctx.writer()]}));
    }
    if access
        .allowed(permission, ctx.principals(), object_uri, "write")
        .await?
    {
        let acl = permission.get_object_permissions(object_uri, None).await?;
        Ok(body::acl_json(&acl))
    } else {
        Ok(json!({}))
    }
}

/// A 412 from the preconditions, showing the stored object only to users
/// allowed to read it.
async fn reject(
    shared: &Shared,
    ctx: &Ctx,
    permission: &dyn Permission,
    object_uri: &str,
    rejection: Rejection,
) -> Failure {
    match rejection {
        Rejection::PreconditionFailed {
            current,
            existing: Some(existing),
        } => {
            let readable = shared
                .config
                .access
                .allowed(permission, ctx.principals(), object_uri, "read")
                .await;
            match readable {
                Ok(true) => precondition_failed(current, Some(existing)).into(),
                Ok(false) => precondition_failed(current, None).into(),
                Err(error) => error.into(),
            }
        }
        other => other.into(),
    }
}

/// The stored timestamp a write's `If-Match` names (`None` for `*` or none).
fn if_match_tag(ctx: &Ctx) -> Option<Timestamp> {
    match ctx.preconditions.if_match {
        Some(EntityMatch::Tag(tag)) => Timestamp::try_from(tag.timestamp()).ok(),
        _ => None,
    }
}

/// A lost conditional write: 412 with the current timestamp.
fn lost_race(error: StorageError) -> Failure {
    match error {
        StorageError::Modified { current } => {
            let ts = current.map_or(0, |c| c.last_modified.max(0) as u64);
            precondition_failed(cliquet_timestamps::ETag::new(ts), None).into()
        }
        other => other.into(),
    }
}

/// Reads the body of a write.
async fn read_body(
    shared: &Shared,
    ctx: &Ctx,
    body: &Buffered,
    accepted: &[&'static str],
) -> Result<(Flavour, Option<Value>)> {
    let limits = &shared.config.limits;
    let bytes: Bytes = body.clone()?;
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    let flavour = body::flavour(&ctx.headers, empty, accepted)?;
    if empty {
        return Ok((flavour, None));
    }
    Ok((flavour, Some(body::parse_json(&bytes, limits.max_depth)?)))
}

/// The `last_modified` a client asks for, when usable (an integer greater
/// than the stored one).
fn requested_timestamp(data: &mut Map<String, Value>, old: Option<&Object>) -> Option<Timestamp> {
    let value = data.remove("last_modified")?.as_i64()?;
    match old {
        Some(old) if value <= old.last_modified => None,
        _ => Some(value),
    }
}

/// The ACL a write leaves: `given` permissions (all the resource's when
/// `replace_all`), the writer always among `write`.
fn write_acl(
    shared: &Shared,
    ctx: &Ctx,
    given: Option<Vec<(String, Option<BTreeSet<String>>)>>,
    replace_all: bool,
) -> Acl {
    let mut acl = Acl::new();
    if replace_all {
        for name in &shared.config.permissions {
            acl.insert(name.clone(), BTreeSet::new());
        }
    }
    for (name, principals) in given.into_iter().flatten() {
        if let Some(principals) = principals {
            acl.insert(name, principals);
        }
    }
    if shared.config.explicit_permissions {
        acl.entry("write".to_owned())
            .or_default()
            .insert(ctx.writer());
    }
    acl
}

/// Writes an ACL (shared resources only) and returns what a writer sees.
async fn store_acl(
    permission: &dyn Permission,
    object_uri: &str,
    acl: &Acl,
    replace_all: bool,
) -> Result<Value> {
    permission
        .replace_object_permissions(object_uri, acl)
        .await?;
    if replace_all {
        let shown: Acl = acl
            .iter()
            .filter(|(_, principals)| !principals.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(body::acl_json(&shown))
    } else {
        let acl = permission.get_object_permissions(object_uri, None).await?;
        Ok(body::acl_json(&acl))
    }
}

/// The ACL step of a write: what [`store_acl`] writes, run before or after
/// the object's write as [`Unit::acl_first`](crate::scope::Unit) decides.
/// A private resource's objects have no stored ACL (`change` is `None`):
/// their writer alone is shown.
struct AclStep<'a> {
    permission: &'a dyn Permission,
    object_uri: &'a str,
    change: Option<(Acl, bool)>,
    shown: Option<Value>,
}

impl<'a> AclStep<'a> {
    fn new(
        ctx: &Ctx,
        permission: &'a dyn Permission,
        object_uri: &'a str,
        change: Option<(Acl, bool)>,
    ) -> Self {
        let shown = change.is_none().then(|| json!({"write": [ctx.writer()]}));
        Self {
            permission,
            object_uri,
            change,
            shown,
        }
    }

    /// Writes the ACL now (once).
    async fn run(&mut self) -> Result<()> {
        if let Some((acl, replace_all)) = self.change.take() {
            self.shown =
                Some(store_acl(self.permission, self.object_uri, &acl, replace_all).await?);
        }
        Ok(())
    }

    /// Writes the ACL if it was not yet, and returns what the writer sees.
    async fn finish(mut self) -> Result<Value> {
        self.run().await?;
        Ok(self.shown.unwrap_or_default())
    }
}

fn private_permissions(shared: &Shared, envelope: &Envelope) -> Result<()> {
    if shared.config.access.is_private()
        && envelope.permissions.as_ref().is_some_and(|p| {
            p.iter()
                .any(|(_, v)| v.as_ref().is_some_and(|s| !s.is_empty()))
        })
    {
        return Err(ApiError::invalid_parameter(
            Location::Body,
            "permissions",
            "The objects of this resource are private: they cannot be shared",
        )
        .into());
    }
    Ok(())
}

fn object_body(object: Object, permissions: Value) -> Value {
    json!({"data": object.into_json(), "permissions": permissions})
}

/// `POST` on the plural endpoint.
async fn create(shared: &Shared, ctx: &Ctx, unit: UnitRef, body: &Buffered) -> Result<Response> {
    let config = &shared.config;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    let access = &config.access;
    let principals = ctx.principals();
    // The `create` permission is read beside the hook (Kinto's collection
    // check), both reads: its answer is used only where it was asked
    // before, after the hook's and the body's errors.
    let (hook, may_create) = futures_util::future::join(
        before(shared, ctx, storage, permission),
        access.allowed(
            permission,
            principals,
            &ctx.plural_uri,
            &config.create_permission,
        ),
    )
    .await;
    hook?;
    let (_, value) = read_body(shared, ctx, body, &[JSON]).await?;
    let envelope = body::envelope(value.unwrap_or_else(|| json!({})), &config.permissions)?;
    private_permissions(shared, &envelope)?;
    let Some(mut data) = envelope.data else {
        return Err(ApiError::invalid_parameter(Location::Body, "data", "Required").into());
    };
    let explicit = match data.remove("id") {
        None => None,
        Some(Value::String(id)) if config.ids.is_valid(&id) => Some(id),
        Some(_) => return Err(invalid_id()),
    };
    if let Some(id) = &explicit {
        let existing = storage_get(
            storage
                .get(Get::new(
                    config.name.as_str(),
                    ctx.parent_id.as_str(),
                    id.as_str(),
                ))
                .await,
        )?;
        if let Some(existing) = existing {
            let object_uri = object_uri(config, ctx, id);
            if !access
                .allowed(permission, principals, &object_uri, "read")
                .await?
            {
                return Err(deny(&ctx.identity).into());
            }
            let json = existing.to_json();
            ctx.preconditions.evaluate(
                &ctx.method,
                Current::object(existing.last_modified.max(0) as u64, &json),
            )?;
            let permissions = shown_permissions(shared, ctx, permission, &object_uri).await?;
            let timestamp = existing.last_modified;
            return Ok(json_response(
                StatusCode::OK,
                &object_body(existing, permissions),
                timestamp,
            ));
        }
    }
    if !may_create? {
        return Err(deny(&ctx.identity).into());
    }
    if !ctx.preconditions.is_empty() {
        let timestamp = storage
            .resource_timestamp(ResourceTimestamp::new(
                config.name.as_str(),
                ctx.parent_id.as_str(),
            ))
            .await?;
        ctx.preconditions
            .evaluate(&ctx.method, Current::collection(timestamp.max(0) as u64))?;
    }
    let id = explicit.unwrap_or_else(|| config.ids.generate());
    let requested = requested_timestamp(&mut data, None);
    let data = config.schema.validate(data, None)?;
    let mut hook = ctx.hook(config, storage, permission);
    hook.object_id = Some(&id);
    let data = config.hooks.process_object(&hook, data, None).await?;
    let object_uri = object_uri(config, ctx, &id);
    let change =
        (!access.is_private()).then(|| (write_acl(shared, ctx, envelope.permissions, true), true));
    let mut acl = AclStep::new(ctx, permission, &object_uri, change);
    if unit.acl_first() {
        acl.run().await?;
    }
    let created = storage
        .create(
            Create::new(
                config.name.as_str(),
                ctx.parent_id.as_str(),
                id.as_str(),
                data,
            )
            .with_last_modified(requested),
        )
        .await?;
    let permissions = acl.finish().await?;
    config
        .hooks
        .after_write(&hook, &[Change::new(Action::Create, None, created.clone())])
        .await?;
    let timestamp = created.last_modified;
    Ok(json_response(
        StatusCode::CREATED,
        &object_body(created, permissions),
        timestamp,
    ))
}

fn object_uri(config: &Config, ctx: &Ctx, id: &str) -> String {
    match &config.object_path {
        Some(path) => fill(path, &ctx.params, Some(id)),
        None => format!("{}/{id}", ctx.plural_uri),
    }
}

/// `DELETE` on the plural endpoint.
async fn delete_plural(shared: &Shared, ctx: &Ctx, unit: UnitRef) -> Result<Response> {
    let config = &shared.config;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    before(shared, ctx, storage, permission).await?;
    let restriction = authorize_plural(shared, ctx, permission, "write").await?;
    let query = parse_query(config, &ctx.query)?;
    if let Some(token) = &query.token {
        let key = delete_token_key(config, &token.nonce);
        if shared.backends.cache.delete(&key).await?.is_none() {
            return Err(ApiError::invalid_parameters([ValidationDetail::unnamed(
                Location::Querystring,
                "_token was already used or has expired.",
            )])
            .into());
        }
    }
    let collection = ResourceTimestamp::new(config.name.as_str(), ctx.parent_id.as_str());
    if !ctx.preconditions.is_empty() {
        let timestamp = storage.resource_timestamp(collection.clone()).await?;
        ctx.preconditions
            .evaluate(&ctx.method, Current::collection(timestamp.max(0) as u64))?;
    }
    let nothing = matches!(&restriction, Some(ids) if ids.is_empty());
    let mut params = DeleteAll::from_query(config.name.as_str(), ctx.parent_id.as_str(), &query);
    restrict(&mut params.filters, &restriction);
    let filters = params.filters.clone();
    let deleted = if nothing {
        Vec::new()
    } else {
        storage.delete_all(params).await?
    };
    if !config.access.is_private() && !deleted.is_empty() {
        let uris: Vec<String> = deleted
            .iter()
            .map(|d| object_uri(config, ctx, &d.tombstone.id))
            .collect();
        permission.delete_object_permissions(&uris).await?;
    }
    let mut next = None;
    if deleted.len() >= query.limit {
        let remaining = storage
            .list(
                List::new(config.name.as_str(), ctx.parent_id.as_str())
                    .with_filters(filters)
                    .with_limit(Some(1)),
            )
            .await?;
        if let (false, Some(last)) = (remaining.is_empty(), deleted.last()) {
            let offset = query.token.as_ref().map_or(0, |t| t.offset) + deleted.len() as u64;
            let token = query.next_token(&last.previous.to_json(), offset);
            shared
                .backends
                .cache
                .set(
                    &delete_token_key(config, &token.nonce),
                    Value::Bool(true),
                    config.delete_token_ttl,
                )
                .await?;
            next = Some(next_page_url(&ctx.url, query.limit, &token));
        }
    }
    let hook = ctx.hook(config, storage, permission);
    let changes: Vec<Change> = deleted
        .iter()
        .map(|d| {
            Change::new(
                Action::Delete,
                Some(d.previous.clone()),
                d.tombstone.clone(),
            )
        })
        .collect();
    if !changes.is_empty() {
        config.hooks.after_write(&hook, &changes).await?;
    }
    let timestamp = match deleted.iter().map(|d| d.tombstone.last_modified).max() {
        Some(timestamp) => timestamp,
        None => storage.resource_timestamp(collection).await?,
    };
    let data: Vec<Value> = deleted
        .into_iter()
        .map(|d| d.tombstone.into_json())
        .collect();
    let mut response = json_response(StatusCode::OK, &json!({"data": data}), timestamp);
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(NEXT_PAGE, next);
    }
    Ok(response)
}

fn delete_token_key(config: &Config, nonce: &str) -> String {
    format!("{}:delete-token:{nonce}", config.name)
}

/// `GET` and `HEAD` on the object endpoint.
async fn get(shared: &Shared, ctx: &Ctx, id: &str) -> Result<Response> {
    let config = &shared.config;
    let unit = Unit::read(ctx.batch.as_ref()).await?;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    let object_uri = object_uri(config, ctx, id);
    let valid = config.ids.is_valid(id);
    let fetch = async {
        if !valid {
            return Ok(None);
        }
        storage_get(
            storage
                .get(Get::new(config.name.as_str(), ctx.parent_id.as_str(), id))
                .await,
        )
    };
    // The ACLs that decide `read` and `write`, and the object's own, in one
    // call beside the read of the object, both beside the `before_request`
    // hook (Kinto's collection check): one round trip where there were
    // three. Both are reads, used only once the hook has let the request
    // through, so its answer (a 404 or 403) is the same as if it ran first.
    let snapshot = config
        .access
        .snapshot(permission, &object_uri, &["read", "write"]);
    let (hook, object, snapshot) =
        futures_util::future::join3(before(shared, ctx, storage, permission), fetch, snapshot)
            .await;
    hook?;
    let snapshot = snapshot?;
    let readable = match &snapshot {
        Some(snapshot) => config
            .access
            .allowed_in(snapshot, ctx.principals(), &object_uri, "read"),
        None => {
            config
                .access
                .allowed(permission, ctx.principals(), &object_uri, "read")
                .await?
        }
    };
    if !readable {
        return Err(deny(&ctx.identity).into());
    }
    if !valid {
        return Err(invalid_id());
    }
    let Some(object) = object? else {
        return Err(not_found(shared, id));
    };
    let fields = cliquet_filter::parse_fields(&ctx.query, &config.parse_options)?;
    let timestamp = object.last_modified;
    if !ctx.preconditions.is_empty() {
        ctx.preconditions.evaluate(
            &ctx.method,
            Current::object(timestamp.max(0) as u64, &object.to_json()),
        )?;
    }
    let permissions = match &snapshot {
        Some(snapshot) if !config.access.is_private() => {
            if config
                .access
                .allowed_in(snapshot, ctx.principals(), &object_uri, "write")
            {
                body::acl_json(&snapshot.acl(&object_uri))
            } else {
                json!({})
            }
        }
        _ => shown_permissions(shared, ctx, permission, &object_uri).await?,
    };
    let mut response = match fields {
        Some(fields) => {
            let query = Query {
                fields: Some(fields),
                ..Query::default()
            };
            let data = query.project(&object.into_json());
            json_response(
                StatusCode::OK,
                &json!({"data": data, "permissions": permissions}),
                timestamp,
            )
        }
        None => json_response(
            StatusCode::OK,
            &ObjectBody {
                data: ObjectJson(&object),
                permissions: &permissions,
            },
            timestamp,
        ),
    };
    read_cache(shared, ctx, storage, permission)
        .await?
        .apply(response.headers_mut());
    if ctx.method == Method::HEAD {
        response = head_response(response);
    }
    Ok(response)
}

/// Reads the object a write targets; for `PATCH` and `DELETE`, a missing
/// object is a 404 only for users who may read the plural endpoint.
async fn existing_or_404(
    shared: &Shared,
    ctx: &Ctx,
    storage: &dyn Storage,
    permission: &dyn Permission,
    id: &str,
) -> Result<Object> {
    let config = &shared.config;
    let valid = config.ids.is_valid(id);
    let existing = if valid {
        storage_get(
            storage
                .get(Get::new(config.name.as_str(), ctx.parent_id.as_str(), id))
                .await,
        )?
    } else {
        None
    };
    let Some(existing) = existing else {
        if !config
            .access
            .allowed(permission, ctx.principals(), &ctx.plural_uri, "read")
            .await?
        {
            return Err(deny(&ctx.identity).into());
        }
        if !valid {
            return Err(invalid_id());
        }
        return Err(not_found(shared, id));
    };
    let object_uri = object_uri(config, ctx, id);
    if !config
        .access
        .allowed(permission, ctx.principals(), &object_uri, "write")
        .await?
    {
        return Err(deny(&ctx.identity).into());
    }
    let json = existing.to_json();
    if let Err(rejection) = ctx.preconditions.evaluate(
        &ctx.method,
        Current::object(existing.last_modified.max(0) as u64, &json),
    ) {
        return Err(reject(shared, ctx, permission, &object_uri, rejection).await);
    }
    Ok(existing)
}

fn check_body_id(data: &mut Map<String, Value>, id: &str) -> Result<()> {
    match data.remove("id") {
        None => Ok(()),
        Some(Value::String(given)) if given == id => Ok(()),
        Some(_) => Err(ApiError::invalid_parameter(
            Location::Body,
            "id",
            "Object id does not match existing object",
        )
        .into()),
    }
}

/// `PUT` on the object endpoint.
async fn put(
    shared: &Shared,
    ctx: &Ctx,
    unit: UnitRef,
    id: &str,
    body: &Buffered,
) -> Result<Response> {
    let config = &shared.config;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    before(shared, ctx, storage, permission).await?;
    let access = &config.access;
    let principals = ctx.principals();
    let valid = config.ids.is_valid(id);
    let existing = if valid {
        storage_get(
            storage
                .get(Get::new(config.name.as_str(), ctx.parent_id.as_str(), id))
                .await,
        )?
    } else {
        None
    };
    let object_uri = object_uri(config, ctx, id);
    let if_none_match_any = ctx.preconditions.if_none_match == Some(EntityMatch::Any);
    let allowed = if existing.is_some() && !if_none_match_any {
        access
            .allowed(permission, principals, &object_uri, "write")
            .await?
    } else {
        access
            .allowed(
                permission,
                principals,
                &ctx.plural_uri,
                &config.create_permission,
            )
            .await?
    };
    if !allowed {
        return Err(deny(&ctx.identity).into());
    }
    if !valid {
        return Err(invalid_id());
    }
    match &existing {
        Some(existing) => {
            let json = existing.to_json();
            if let Err(rejection) = ctx.preconditions.evaluate(
                &ctx.method,
                Current::object(existing.last_modified.max(0) as u64, &json),
            ) {
                return Err(reject(shared, ctx, permission, &object_uri, rejection).await);
            }
        }
        None if !ctx.preconditions.is_empty() => {
            let timestamp = storage
                .resource_timestamp(ResourceTimestamp::new(
                    config.name.as_str(),
                    ctx.parent_id.as_str(),
                ))
                .await?;
            ctx.preconditions
                .evaluate(&ctx.method, Current::absent(timestamp.max(0) as u64))?;
        }
        None => {}
    }
    let (_, value) = read_body(shared, ctx, body, &[JSON]).await?;
    let envelope = match value {
        Some(value) => body::envelope(value, &config.permissions)?,
        None => Envelope::default(),
    };
    private_permissions(shared, &envelope)?;
    let mut data = match envelope.data {
        Some(data) => data,
        None => existing
            .as_ref()
            .map(|e| e.data.clone())
            .unwrap_or_default(),
    };
    check_body_id(&mut data, id)?;
    let requested = requested_timestamp(&mut data, existing.as_ref());
    let data = config.schema.validate(data, existing.as_ref())?;
    let hook = ctx.hook(config, storage, permission);
    let data = config
        .hooks
        .process_object(&hook, data, existing.as_ref())
        .await?;
    // A PUT that gives permissions replaces them all; one that gives none
    // (or `{}`) keeps the object's, as Kinto does (the writer is still
    // added to `write`).
    let change = (!access.is_private()).then(|| {
        let replace_all = envelope.permissions.as_ref().is_some_and(|p| !p.is_empty());
        (
            write_acl(shared, ctx, envelope.permissions, replace_all),
            replace_all,
        )
    });
    let mut acl = AclStep::new(ctx, permission, &object_uri, change);
    if unit.acl_first() {
        acl.run().await?;
    }
    let (object, previous) = if existing.is_none() && if_none_match_any {
        let created = storage
            .create(
                Create::new(config.name.as_str(), ctx.parent_id.as_str(), id, data)
                    .with_last_modified(requested),
            )
            .await
            .map_err(|error| match error {
                StorageError::Conflict { .. } => lost_race(StorageError::modified(None)),
                other => other.into(),
            })?;
        (created, None)
    } else {
        let updated = storage
            .update(
                Update::new(config.name.as_str(), ctx.parent_id.as_str(), id, data)
                    .with_last_modified(requested)
                    .with_if_match(if_match_tag(ctx)),
            )
            .await
            .map_err(lost_race)?;
        (updated.object, updated.previous)
    };
    let permissions = acl.finish().await?;
    let created = previous.is_none();
    let action = if created {
        Action::Create
    } else {
        Action::Update
    };
    config
        .hooks
        .after_write(&hook, &[Change::new(action, previous, object.clone())])
        .await?;
    let timestamp = object.last_modified;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        &object_body(object, permissions),
        timestamp,
    ))
}

/// The `Response-Behavior` of a `PATCH`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behavior {
    Full,
    Light,
    Diff,
}

fn response_behavior(headers: &HeaderMap) -> Result<Behavior> {
    let Some(value) = headers.get(RESPONSE_BEHAVIOR) else {
        return Ok(Behavior::Full);
    };
    match value.to_str().unwrap_or("") {
        "full" => Ok(Behavior::Full),
        "light" => Ok(Behavior::Light),
        "diff" => Ok(Behavior::Diff),
        other => Err(ApiError::invalid_parameter(
            Location::Header,
            "Response-Behavior",
            format!("\"{other}\" is not one of full, light, diff"),
        )
        .into()),
    }
}

const PATCH_OPS: [&str; 6] = ["test", "add", "remove", "replace", "move", "copy"];

/// Applies a JSON Patch to `{"data", "permissions"}`.
fn json_patch(
    value: Value,
    data: &Map<String, Value>,
    acl: &Acl,
    allowed: &[String],
) -> Result<(Map<String, Value>, Acl)> {
    let Value::Array(mut operations) = value else {
        return Err(ApiError::invalid_parameters([ValidationDetail::new(
            Location::Body,
            "",
            "The body must be an array of JSON Patch operations",
        )])
        .into());
    };
    for (index, operation) in operations.iter_mut().enumerate() {
        let Some(map) = operation.as_object_mut() else {
            return Err(ApiError::invalid_parameter(
                Location::Body,
                index.to_string(),
                "is not a mapping type",
            )
            .into());
        };
        let op = map.get("op").cloned().unwrap_or(Value::Null);
        if !op.as_str().is_some_and(|op| PATCH_OPS.contains(&op)) {
            let shown = match &op {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(ApiError::invalid_parameter(
                Location::Body,
                format!("{index}.op"),
                format!("\"{shown}\" is not one of {}", PATCH_OPS.join(", ")),
            )
            .into());
        }
        // `/permissions/<perm>/<principal>` needs no value.
        let path = map
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(rest) = path.strip_prefix("/permissions/")
            && let Some((_, principal)) = rest.split_once('/')
            && !map.contains_key("value")
            && matches!(op.as_str(), Some("add" | "replace" | "test"))
        {
            let principal = principal.replace("~1", "/").replace("~0", "~");
            map.insert("value".to_owned(), Value::String(principal));
        }
    }
    let operations: Vec<json_patch::PatchOperation> =
        serde_json::from_value(Value::Array(operations)).map_err(|error| {
            ApiError::invalid_parameters([ValidationDetail::unnamed(
                Location::Body,
                format!("JSON Patch operation failed: {error}"),
            )])
        })?;
    let permissions: Map<String, Value> = allowed
        .iter()
        .map(|name| {
            let principals = acl.get(name).cloned().unwrap_or_default();
            (
                name.clone(),
                Value::Object(
                    principals
                        .into_iter()
                        .map(|p| (p.clone(), Value::String(p)))
                        .collect(),
                ),
            )
        })
        .collect();
    let mut document = json!({"data": data, "permissions": permissions});
    json_patch::patch(&mut document, &operations).map_err(|error| {
        ApiError::invalid_parameters([ValidationDetail::unnamed(
            Location::Body,
            format!("JSON Patch operation failed: {error}"),
        )])
    })?;
    let Value::Object(mut document) = document else {
        return Err(patch_shape_error());
    };
    let Some(Value::Object(data)) = document.remove("data") else {
        return Err(patch_shape_error());
    };
    let Some(Value::Object(permissions)) = document.remove("permissions") else {
        return Err(patch_shape_error());
    };
    let mut acl = Acl::new();
    for (name, principals) in permissions {
        if !allowed.contains(&name) {
            return Err(ApiError::invalid_parameter(
                Location::Body,
                "permissions",
                format!("\"{name}\" is not one of {}", allowed.join(", ")),
            )
            .into());
        }
        let set: BTreeSet<String> = match principals {
            Value::Object(map) => map.into_iter().map(|(k, _)| k).collect(),
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => BTreeSet::new(),
        };
        acl.insert(name, set);
    }
    Ok((data, acl))
}

fn patch_shape_error() -> Failure {
    ApiError::invalid_parameters([ValidationDetail::unnamed(
        Location::Body,
        "JSON Patch operation failed: data and permissions must stay objects",
    )])
    .into()
}

/// What a `PATCH` body makes of an object: the new data, the fields the
/// client sent (for `Response-Behavior`), the ACL to write and whether it
/// replaces every permission.
type Patched = (Map<String, Value>, Map<String, Value>, Option<(Acl, bool)>);

/// `PATCH` on the object endpoint.
async fn patch(
    shared: &Shared,
    ctx: &Ctx,
    unit: UnitRef,
    id: &str,
    body: &Buffered,
) -> Result<Response> {
    let config = &shared.config;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    before(shared, ctx, storage, permission).await?;
    let existing = existing_or_404(shared, ctx, storage, permission, id).await?;
    let behavior = response_behavior(&ctx.headers)?;
    let (flavour, value) = read_body(shared, ctx, body, &[JSON, MERGE_PATCH, JSON_PATCH]).await?;
    let object_uri = object_uri(config, ctx, id);
    let private = config.access.is_private();
    let current_acl = || async {
        if private {
            Ok::<_, Failure>(Acl::new())
        } else {
            Ok(permission.get_object_permissions(&object_uri, None).await?)
        }
    };
    let (mut data, sent, acl_change): Patched = match flavour {
        Flavour::JsonPatch => {
            let value = value.unwrap_or(Value::Array(Vec::new()));
            let acl = current_acl().await?;
            let (data, new_acl) = json_patch(value, &existing.data, &acl, &config.permissions)?;
            let changed = data
                .iter()
                .filter(|(k, v)| existing.data.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if private && new_acl.values().any(|p| !p.is_empty()) {
                return Err(ApiError::invalid_parameter(
                    Location::Body,
                    "permissions",
                    "The objects of this resource are private: they cannot be shared",
                )
                .into());
            }
            let change = (!private && new_acl != acl).then_some((new_acl, true));
            (data, changed, change)
        }
        Flavour::Json | Flavour::MergePatch => {
            let envelope = body::envelope(value.unwrap_or_else(|| json!({})), &config.permissions)?;
            private_permissions(shared, &envelope)?;
            if envelope.data.is_none() && envelope.permissions.is_none() {
                return Err(ApiError::invalid_parameter(
                    Location::Body,
                    "data",
                    "Provide at least one of data or permissions",
                )
                .into());
            }
            let sent = envelope.data.clone().unwrap_or_default();
            let mut data = existing.data.clone();
            if let Some(changes) = envelope.data {
                if flavour == Flavour::MergePatch {
                    let mut document = Value::Object(data);
                    json_patch::merge(&mut document, &Value::Object(changes));
                    data = match document {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    };
                } else {
                    data.extend(changes);
                }
            }
            let change = match envelope.permissions {
                Some(given) if !private => {
                    if flavour == Flavour::MergePatch {
                        let mut acl = current_acl().await?;
                        for (name, principals) in given {
                            match principals {
                                Some(principals) => {
                                    acl.insert(name, principals);
                                }
                                None => {
                                    acl.remove(&name);
                                }
                            }
                        }
                        let mut full = Acl::new();
                        for name in &config.permissions {
                            full.insert(name.clone(), acl.remove(name).unwrap_or_default());
                        }
                        Some((full, true))
                    } else {
                        let acl: Acl = given
                            .into_iter()
                            .filter_map(|(name, p)| p.map(|p| (name, p)))
                            .collect();
                        Some((acl, false))
                    }
                }
                _ => None,
            };
            (data, sent, change)
        }
    };
    check_body_id(&mut data, id)?;
    let requested = requested_timestamp(&mut data, Some(&existing));
    let data = config.schema.validate(data, Some(&existing))?;
    let hook = ctx.hook(config, storage, permission);
    let data = config
        .hooks
        .process_object(&hook, data, Some(&existing))
        .await?;
    let change = (!private).then(|| {
        let (mut acl, replace_all) = acl_change.unwrap_or_default();
        if config.explicit_permissions {
            acl.entry("write".to_owned())
                .or_default()
                .insert(ctx.writer());
        }
        (acl, replace_all)
    });
    let mut acl = AclStep::new(ctx, permission, &object_uri, change);
    if unit.acl_first() {
        acl.run().await?;
    }
    let updated = storage
        .update(
            Update::new(config.name.as_str(), ctx.parent_id.as_str(), id, data)
                .with_last_modified(requested)
                .with_if_match(if_match_tag(ctx)),
        )
        .await
        .map_err(lost_race)?;
    let object = updated.object;
    let permissions = acl.finish().await?;
    config
        .hooks
        .after_write(
            &hook,
            &[Change::new(
                Action::Update,
                Some(existing.clone()),
                object.clone(),
            )],
        )
        .await?;
    let timestamp = object.last_modified;
    let body = match behavior {
        Behavior::Full => object_body(object, permissions),
        Behavior::Light | Behavior::Diff => {
            let stored = object.into_json();
            let mut shown = Map::new();
            for (key, sent_value) in &sent {
                let new = stored.get(key).unwrap_or(&Value::Null);
                let old = if key == "last_modified" {
                    Value::from(existing.last_modified)
                } else {
                    existing.data.get(key).cloned().unwrap_or(Value::Null)
                };
                if *new == old {
                    continue;
                }
                if behavior == Behavior::Diff && new == sent_value {
                    continue;
                }
                shown.insert(key.clone(), new.clone());
            }
            json!({"data": shown})
        }
    };
    Ok(json_response(StatusCode::OK, &body, timestamp))
}

/// `DELETE` on the object endpoint.
async fn delete(shared: &Shared, ctx: &Ctx, unit: UnitRef, id: &str) -> Result<Response> {
    let config = &shared.config;
    let storage = unit.storage(&shared.backends);
    let permission = unit.permission(&shared.backends);
    before(shared, ctx, storage, permission).await?;
    let existing = existing_or_404(shared, ctx, storage, permission, id).await?;
    let mut requested = None;
    for (name, value) in decode_querystring(&ctx.query)? {
        if name == "last_modified" {
            let value = value.trim().trim_matches('"');
            requested =
                Some(cliquet_timestamps::parse_last_modified_param(value).map_err(ApiError::from)?);
        }
    }
    let requested = requested.filter(|ts| *ts > existing.last_modified);
    let deleted = storage
        .delete(
            Delete::new(config.name.as_str(), ctx.parent_id.as_str(), id)
                .with_last_modified(requested)
                .with_if_match(if_match_tag(ctx)),
        )
        .await
        .map_err(lost_race)?;
    if !config.access.is_private() {
        permission
            .delete_object_permissions(&[object_uri(config, ctx, id)])
            .await?;
    }
    let hook = ctx.hook(config, storage, permission);
    config
        .hooks
        .after_write(
            &hook,
            &[Change::new(
                Action::Delete,
                Some(deleted.previous.clone()),
                deleted.tombstone.clone(),
            )],
        )
        .await?;
    let timestamp = deleted.tombstone.last_modified;
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": deleted.tombstone.into_json()}),
        timestamp,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled() {
        let params = vec![("bid".to_owned(), "b1".to_owned())];
        assert_eq!(
            fill("/buckets/{bid}/things", &params, None),
            "/buckets/b1/things"
        );
        assert_eq!(
            fill("/buckets/{bid}/things/{id}", &params, Some("x")),
            "/buckets/b1/things/x"
        );
        assert_eq!(fill("/plain", &params, None), "/plain");
        assert_eq!(fill("/broken{", &params, None), "/broken{");
    }

    #[test]
    fn requested_timestamps() {
        let mut data = json!({"last_modified": 10}).as_object().cloned().unwrap();
        assert_eq!(requested_timestamp(&mut data, None), Some(10));
        assert!(data.is_empty());
        let old = Object::new("a", 20, Map::new());
        let mut data = json!({"last_modified": 10}).as_object().cloned().unwrap();
        assert_eq!(requested_timestamp(&mut data, Some(&old)), None);
        let mut data = json!({"last_modified": "x"}).as_object().cloned().unwrap();
        assert_eq!(requested_timestamp(&mut data, None), None);
    }
}
