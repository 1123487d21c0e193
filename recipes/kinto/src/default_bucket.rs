//! The personal bucket plugin (`kinto.plugins.default_bucket`).
//!
//! Every authenticated user has a bucket of their own, reachable as
//! `/buckets/default`: [`alias`] adds the routes `/v1/buckets/default` and
//! `/v1/buckets/default/{*subpath}` (any method) in front of the service's
//! routes. A request on them is:
//!
//! 1. `OPTIONS`: forwarded with the bucket id `unknown`, no authentication
//!    needed (CORS preflights are answered by the CORS layer before that);
//! 2. anonymous: 401 errno 104;
//! 3. read-only service: 405 errno 115, even for `GET` (the bucket may
//!    have to be created);
//! 4. the user's bucket is created if missing (unless the request is itself
//!    `PUT /buckets/default`), with `{"write": [user]}` as a `PUT` of the
//!    user would write it, through the bucket resource: its hooks run, in
//!    the request's transaction (the batch's in a batch);
//! 5. when the path continues with `collections/{cid}`, the collection is
//!    created the same way (unless the request is the `PUT` of that very
//!    collection); an invalid `cid` is a 400 errno 107 `path: Invalid
//!    collection id`;
//! 6. the request is sent on to `/v1/buckets/{bucket_id}{rest}`, query
//!    string, headers and extensions kept; in a JSON body, every `default`
//!    in `data.id` becomes the bucket id (so `PUT /buckets/default` with
//!    `{"data": {"id": "default"}}` is valid); its response is the answer,
//!    errors and redirects included (the trailing-slash redirect of
//!    `/buckets/default/collections/` points at the alias).
//!
//! The bucket id is the UUID formatting of the first 32 hex digits of
//! `HMAC-SHA256(default_bucket_hmac_secret, user_id)` ([`bucket_id`]).
//!
//! Implicit creations bypass the `bucket_create_principals` and
//! `collection_create_principals` settings, as in Kinto: the creating
//! request carries the principal [`CREATOR`], which [`grant`] lets create
//! buckets and collections, and which no client request can hold (a user
//! id always has a policy prefix, a group principal starts with `/`).
//!
//! Within one batch, the bucket and each collection are created (or found)
//! once. Outside a batch, a plain read tells whether they exist first, so a
//! request on an existing personal bucket costs one read more, and no
//! write. Two first requests of one user at the same time both succeed:
//! the creation that loses the race finds the object (412 internally) and
//! goes on.
//!
//! # Decisions
//!
//! - Kinto skips the implicit creation of the collection when a `PUT`
//!   path merely *ends* with the collection id (`PUT
//!   /buckets/default/collections/tasks/records/tasks` then answers 404
//!   errno 111); here only the `PUT` of the collection itself skips it.
//! - Kinto creates the bucket before it checks the collection id; here an
//!   invalid collection id is refused before anything is written.
//! - The key of the HMAC is `default_bucket_hmac_secret`, empty unless an
//!   operator sets it. Kinto documents a fallback to `userid_hmac_secret`
//!   when the setting is absent, but its own defaults always hold it,
//!   empty, so the fallback never happens there either: the ids are those
//!   of an existing Kinto deployment.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, OriginalUri, Request};
use axum::response::Response;
use axum::routing::any;
use cliquet::{Capabilities, DuplicateCapability, UserInfoHook};
use cliquet_auth::{Identity, hmac_hex};
use cliquet_batch::Subrequest;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_resource::{IdGenerator, Limits};
use cliquet_storage::storage::Get;
use cliquet_storage::{Backends, StorageError};
use http::header::{CONTENT_LENGTH, IF_NONE_MATCH};
use http::{HeaderValue, Method, Uri};
use serde_json::{Map, Value};
use tower::ServiceExt;

use crate::Settings;
use crate::ids::ShortNames;
use crate::permissions::Grants;

/// The principal of the requests that create a personal bucket and its
/// collections implicitly.
pub const CREATOR: &str = "system.DefaultBucketCreator";

/// The id of the personal bucket of `user_id` (prefixed, such as
/// `account:bob`), keyed with `secret`: the first 32 hex digits of the
/// HMAC-SHA256, formatted as a UUID (not a valid RFC 4122 one: version and
/// variant digits are whatever the digest gives).
///
/// ```
/// let id = kinto::default_bucket::bucket_id("", "basicauth:741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94");
/// assert_eq!(id, "aa6d96d9-f873-b78e-2054-c501193cde29");
/// ```
pub fn bucket_id(secret: &str, user_id: &str) -> String {
    let digest = hmac_hex(secret.as_bytes(), user_id.as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    )
}

/// The key of [`bucket_id`]: `default_bucket_hmac_secret`, empty unless
/// set (never `userid_hmac_secret`, see the module's decisions).
pub fn secret(settings: &Settings) -> String {
    settings.extra.default_bucket_hmac_secret.clone()
}

/// Lets [`CREATOR`] create buckets and collections.
pub fn grant(grants: Grants) -> Grants {
    grants
        .with_grant("bucket", "bucket:create", CREATOR)
        .with_grant("collection", "collection:create", CREATOR)
}

/// Announces the `default_bucket` capability.
pub fn register_capability(capabilities: &mut Capabilities) -> Result<(), DuplicateCapability> {
    capabilities.register(
        "default_bucket",
        "The default bucket is an alias for a personal bucket where collections are created implicitly.",
        "https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html#personal-bucket-default",
        Map::new(),
    )
}

/// The hello endpoint's `user.bucket`: the personal bucket id of the
/// authenticated user.
pub fn user_info(secret: String) -> UserInfoHook {
    Arc::new(move |identity: &Identity| {
        let mut info = Map::new();
        if let Some(user_id) = identity.user_id() {
            info.insert(
                "bucket".to_owned(),
                Value::String(bucket_id(&secret, user_id)),
            );
        }
        info
    })
}

/// `routes` with the `/buckets/default` alias in front of them. Call it
/// last: the alias forwards to every route of `routes`.
pub fn alias(settings: &Settings, backends: Backends, routes: Router) -> Router {
    let prefix = settings.core.version_prefix();
    let alias = Arc::new(Alias {
        secret: secret(settings),
        readonly: settings.backoff.readonly,
        buckets: format!("{prefix}/buckets"),
        prefix: prefix.clone(),
        backends,
        inner: routes.clone(),
    });
    let handler = move |request: Request| {
        let alias = alias.clone();
        async move { alias.handle(request).await }
    };
    routes
        .route(&format!("{prefix}/buckets/default"), any(handler.clone()))
        .route(
            &format!("{prefix}/buckets/default/{{*subpath}}"),
            any(handler),
        )
}

/// The URIs (without prefix) created or found in the current batch.
#[derive(Debug, Clone, Default)]
struct Ensured(Arc<Mutex<BTreeSet<String>>>);

impl Ensured {
    /// Records `uri`; false when it was already.
    fn first(&self, uri: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uri.to_owned())
    }

    fn forget(&self, uri: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uri);
    }
}

struct Alias {
    secret: String,
    readonly: bool,
    /// `/v1/buckets`.
    buckets: String,
    /// `/v1`.
    prefix: String,
    backends: Backends,
    inner: Router,
}

/// An object to create implicitly.
struct Implicit<'a> {
    resource: &'static str,
    parent_id: String,
    id: &'a str,
}

impl Implicit<'_> {
    fn uri(&self) -> String {
        format!("{}/{}s/{}", self.parent_id, self.resource, self.id)
    }
}

fn invalid_path() -> Response {
    ApiError::bad_request("Invalid URL path.").into_response()
}

fn invalid_collection_id() -> ApiError {
    ApiError::invalid_parameters([ValidationDetail::unnamed(
        Location::Path,
        "Invalid collection id",
    )])
}

/// Every `default` in the string `data.id` of a JSON object body replaced
/// by `bucket_id`; `None` when there is nothing to replace.
fn rewrite_body(bytes: &[u8], bucket_id: &str) -> Option<Bytes> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || !bytes.windows(7).any(|w| w == b"default") {
        return None;
    }
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let id = value.get_mut("data")?.get_mut("id")?;
    let replaced = id.as_str()?.replace("default", bucket_id);
    if id.as_str() == Some(replaced.as_str()) {
        return None;
    }
    *id = Value::String(replaced);
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

impl Alias {
    async fn handle(&self, request: Request) -> Response {
        match self.forward(request).await {
            Ok(response) | Err(response) => response,
        }
    }

    async fn forward(&self, request: Request) -> Result<Response, Response> {
        let (mut parts, body) = request.into_parts();
        // The path is `{buckets}/default` or `{buckets}/default/...`.
        let path = parts.uri.path();
        let rest = path
            .get(self.buckets.len() + "/default".len()..)
            .unwrap_or_default()
            .to_owned();
        if parts.method == Method::OPTIONS {
            let uri = self
                .target(&parts.uri, "unknown", &rest)
                .ok_or_else(invalid_path)?;
            return Ok(self.send(parts, body, uri).await);
        }
        let identity = parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or_default();
        let Some(user_id) = identity.user_id() else {
            return Err(ApiError::unauthorized().into_response());
        };
        if self.readonly {
            return Err(ApiError::method_not_allowed().into_response());
        }
        let bucket_id = bucket_id(&self.secret, user_id);

        let subpath = rest.trim_start_matches('/');
        let collection_id = match subpath.trim_end_matches('/').strip_prefix("collections/") {
            Some(tail) => {
                let raw = tail.split('/').next().unwrap_or_default();
                let decoded = percent_encoding::percent_decode_str(raw)
                    .decode_utf8()
                    .map_err(|_| invalid_collection_id().into_response())?;
                if !ShortNames.is_valid(&decoded) {
                    return Err(invalid_collection_id().into_response());
                }
                Some((
                    decoded.into_owned(),
                    subpath == format!("collections/{raw}"),
                ))
            }
            None => None,
        };
        let mut implicit = Vec::with_capacity(2);
        if !(parts.method == Method::PUT && rest.is_empty()) {
            implicit.push(Implicit {
                resource: "bucket",
                parent_id: String::new(),
                id: &bucket_id,
            });
        }
        if let Some((collection_id, itself)) = &collection_id
            && !(parts.method == Method::PUT && *itself)
        {
            implicit.push(Implicit {
                resource: "collection",
                parent_id: format!("/buckets/{bucket_id}"),
                id: collection_id,
            });
        }
        for object in &implicit {
            self.ensure(&parts, &identity, object).await?;
        }

        let uri = self
            .target(&parts.uri, &bucket_id, &rest)
            .ok_or_else(invalid_path)?;
        let body = if matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            let bytes = axum::body::to_bytes(body, Limits::default().max_body_bytes)
                .await
                .map_err(|_| ApiError::request_too_large().into_response())?;
            match rewrite_body(&bytes, &bucket_id) {
                Some(rewritten) => {
                    parts
                        .headers
                        .insert(CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
                    Body::from(rewritten)
                }
                None => Body::from(bytes),
            }
        } else {
            body
        };
        Ok(self.send(parts, body, uri).await)
    }

    /// `{buckets}/{bucket_id}{rest}` with the query string of `uri` (the
    /// parts of a valid URI, so valid too).
    fn target(&self, uri: &Uri, bucket_id: &str, rest: &str) -> Option<Uri> {
        let target = match uri.query() {
            Some(query) => format!("{}/{bucket_id}{rest}?{query}", self.buckets),
            None => format!("{}/{bucket_id}{rest}", self.buckets),
        };
        target.parse().ok()
    }

    /// Runs a request on the routes behind the alias, as if it had come
    /// for `uri`.
    async fn send(&self, mut parts: http::request::Parts, body: Body, uri: Uri) -> Response {
        parts.extensions.remove::<MatchedPath>();
        parts.extensions.insert(OriginalUri(uri.clone()));
        parts.uri = uri;
        let request = Request::from_parts(parts, body);
        match self.inner.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Creates `object` unless it exists: a `PUT` with `If-None-Match: *`
    /// by the user, holding [`CREATOR`] too. Its error response (a 503,
    /// say) is the request's.
    async fn ensure(
        &self,
        parts: &http::request::Parts,
        identity: &Identity,
        object: &Implicit<'_>,
    ) -> Result<(), Response> {
        let uri = object.uri();
        let batch = parts.extensions.get::<Subrequest>().map(|subrequest| {
            let cache = subrequest.cache();
            cache.get::<Ensured>().unwrap_or_else(|| {
                let ensured = Ensured::default();
                cache.insert(ensured.clone());
                ensured
            })
        });
        match &batch {
            // Found or created earlier in this batch.
            Some(ensured) if !ensured.first(&uri) => return Ok(()),
            Some(_) => {}
            // Outside a batch, a plain read spares the write.
            None => match self
                .backends
                .storage
                .get(Get::new(
                    object.resource,
                    object.parent_id.as_str(),
                    object.id,
                ))
                .await
            {
                Ok(_) => return Ok(()),
                Err(StorageError::NotFound { .. }) => {}
                Err(error) => return Err(ApiError::from(error).into_response()),
            },
        }

        let (Some(user_id), Some(authn_type)) = (identity.user_id(), identity.authn_type()) else {
            return Err(ApiError::unauthorized().into_response());
        };
        let creator = Identity::authenticated(
            user_id,
            authn_type,
            identity
                .principals()
                .iter()
                .cloned()
                .chain([CREATOR.to_owned()]),
        );
        let target: Uri = match format!("{}{uri}", self.prefix).parse() {
            Ok(target) => target,
            Err(_) => return Err(invalid_collection_id().into_response()),
        };
        let mut request = Request::new(Body::empty());
        *request.method_mut() = Method::PUT;
        *request.uri_mut() = target.clone();
        request
            .headers_mut()
            .insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        *request.extensions_mut() = parts.extensions.clone();
        request.extensions_mut().remove::<MatchedPath>();
        request.extensions_mut().insert(OriginalUri(target));
        request.extensions_mut().insert(creator);
        let response = match self.inner.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        // Created, or created meanwhile by a concurrent request.
        if status.is_success() || status == http::StatusCode::PRECONDITION_FAILED {
            return Ok(());
        }
        if let Some(ensured) = &batch {
            ensured.forget(&uri);
        }
        Err(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_hmacs() {
        // Computed independently: HMAC-SHA256(b"bucket-secret", b"account:bob").
        assert_eq!(
            bucket_id("bucket-secret", "account:bob"),
            "62d7ccf1-5d78-213b-10d3-2985096cdbd3"
        );
        let other = bucket_id("bucket-secret", "account:alice");
        assert_ne!(other, bucket_id("bucket-secret", "account:bob"));
        assert_ne!(other, bucket_id("", "account:alice"));
        assert!(ShortNames.is_valid(&other));
    }

    #[test]
    fn bodies_get_the_real_id() {
        let rewritten = rewrite_body(br#" {"data": {"id": "default", "n": 1}}"#, "b-1").unwrap();
        let value: Value = serde_json::from_slice(&rewritten).unwrap();
        assert_eq!(value, serde_json::json!({"data": {"id": "b-1", "n": 1}}));
        let rewritten = rewrite_body(br#"{"data": {"id": "default-default"}}"#, "x").unwrap();
        assert_eq!(&rewritten[..], br#"{"data":{"id":"x-x"}}"#);
        for unchanged in [
            &br#"{"data": {"id": "mine"}, "default": 1}"#[..],
            br#"{"data": {"title": "default"}}"#,
            br#"{"data": {"id": 3}, "x": "default"}"#,
            br#"[{"op": "add", "path": "/data/id", "value": "default"}]"#,
            b"{not json default",
            b"",
        ] {
            assert_eq!(rewrite_body(unchanged, "x"), None);
        }
    }

    /// Routes that answer with the path and query they were given.
    fn echo(settings: &Settings) -> Router {
        let echo = |request: Request| async move {
            let original = request
                .extensions()
                .get::<OriginalUri>()
                .map(|o| o.0.to_string())
                .unwrap_or_default();
            format!("{} {} {original}", request.method(), request.uri())
        };
        let routes = Router::new()
            .route("/v1/buckets/{id}", any(echo))
            .route("/v1/buckets/{id}/{*rest}", any(echo));
        alias(settings, cliquet_memory::backends(), routes)
    }

    async fn text(router: &Router, request: Request) -> (http::StatusCode, String) {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn preflights_go_to_the_unknown_bucket() {
        let settings = crate::settings(None, Vec::new()).unwrap();
        let router = echo(&settings);
        let request = Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/buckets/default/collections/c?x=1")
            .body(Body::empty())
            .unwrap();
        let (status, body) = text(&router, request).await;
        assert_eq!(status, http::StatusCode::OK);
        assert_eq!(
            body,
            "OPTIONS /v1/buckets/unknown/collections/c?x=1 /v1/buckets/unknown/collections/c?x=1"
        );
        // Other methods need a user.
        let request = Request::builder()
            .uri("/v1/buckets/default/collections/c")
            .body(Body::empty())
            .unwrap();
        let (status, _) = text(&router, request).await;
        assert_eq!(status, http::StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn requests_go_to_the_real_bucket() {
        let settings = crate::settings(None, Vec::new()).unwrap();
        let router = echo(&settings);
        let mut request = Request::builder()
            .method(Method::DELETE)
            .uri("/v1/buckets/default/groups/g?_since=1")
            .body(Body::empty())
            .unwrap();
        request.extensions_mut().insert(Identity::authenticated(
            "account:bob",
            "account",
            Vec::new(),
        ));
        let (status, body) = text(&router, request).await;
        let bid = bucket_id("", "account:bob");
        assert_eq!(status, http::StatusCode::OK, "{body}");
        assert_eq!(
            body,
            format!(
                "DELETE /v1/buckets/{bid}/groups/g?_since=1 /v1/buckets/{bid}/groups/g?_since=1"
            )
        );
    }

    #[test]
    fn settings_pick_the_key() {
        let settings = crate::settings(
            None,
            vec![("KINTO_USERID_HMAC_SECRET".to_owned(), "u".to_owned())],
        )
        .unwrap();
        assert_eq!(secret(&settings), "");
        let settings = crate::settings(
            None,
            vec![
                ("KINTO_USERID_HMAC_SECRET".to_owned(), "u".to_owned()),
                (
                    "KINTO_DEFAULT_BUCKET_HMAC_SECRET".to_owned(),
                    "d".to_owned(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(secret(&settings), "d");
    }
}
