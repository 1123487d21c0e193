//! The batch endpoint of the Cliquet / Kinto protocol, as a tower layer.
//!
//! [`BatchLayer`] answers `POST {prefix}/batch` (`/v1/batch` by default) and
//! passes every other request to the inner service. A batch body lists
//! subrequests; each one is sent, in order, through a clone of the inner
//! service, and the batch answers `{"responses": [...]}` with the status,
//! path, headers and body of each. A [`ScopeHook`] makes the whole batch
//! one unit of work, typically one storage transaction.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use cliquet_batch::{BatchLayer, Subrequest};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use serde_json::{Value, json};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // An inner service that tells which path it served, and whether the
//! // request was a subrequest of a batch.
//! let inner = service_fn(|request: Request<Full<Bytes>>| async move {
//!     let index = request.extensions().get::<Subrequest>().map(Subrequest::index);
//!     let body = json!({"path": request.uri().path(), "subrequest": index});
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(BatchLayer::new().prefix("/v1").max_requests(25))
//!     .service(inner);
//!
//! let batch = json!({
//!     "defaults": {"method": "GET"},
//!     "requests": [{"path": "/articles"}, {"path": "/v1/articles/409"}],
//! });
//! let request = Request::post("/v1/batch")
//!     .header("content-type", "application/json")
//!     .body(Full::new(Bytes::from(batch.to_string())))
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let body: Value =
//!     serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! assert_eq!(body["responses"][0]["path"], "/v1/articles");
//! assert_eq!(body["responses"][0]["status"], 200);
//! assert_eq!(body["responses"][1]["body"], json!({"path": "/v1/articles/409", "subrequest": 1}));
//! # }
//! ```
//!
//! # The batch request
//!
//! - Only `POST` (405 errno 115 with `Allow: POST` otherwise), with a JSON
//!   `Content-Type` (415 errno 107 otherwise, also when it is missing) and
//!   an `Accept` that allows JSON (406 errno 107 otherwise).
//! - The body is `{"defaults": {...}, "requests": [{...}, ...]}`. A request
//!   object has `method` (one of `GET HEAD DELETE TRACE POST PUT PATCH`,
//!   upper case; `GET` when absent), `path` (required, starts with `/`,
//!   may hold a query string), `headers` (an object of strings) and `body`
//!   (an object). `defaults` is a request object whose `path` is optional;
//!   its keys are copied into every request that lacks them before
//!   validation, recursively for `headers` and `body`, the request's values
//!   winning.
//! - Anything else is a 400 errno 107 whose details name every fault, with
//!   Kinto's wording: not JSON, not an object, unknown keys, wrong types,
//!   missing `requests` or `path`, unknown methods, header names or values
//!   that HTTP cannot carry; more requests than `batch_max_requests`
//!   ([`BatchLayer::max_requests`], 25 by default, 0 for no limit: counted
//!   before the requests are validated, where Kinto counts them after);
//!   once the body is valid, a path containing `/batch` anywhere (Kinto's
//!   rule against recursion: it also refuses a collection named
//!   `batches`).
//! - An empty `requests` list answers `{"responses": []}`.
//!
//! # Subrequests
//!
//! - **Path**: prefixed with the version prefix when it does not start
//!   with it (`/articles` → `/v1/articles`, `/` → `/v1/`), query string
//!   kept. Characters a URI cannot carry (raw non-ASCII, spaces...) are
//!   percent-encoded; Kinto answers 500 for the whole batch there.
//! - **Headers**: all headers of the batch request (`Authorization`
//!   included), overridden by the subrequest's; then `Content-Length` and
//!   `Transfer-Encoding` are dropped (the body is another), and
//!   `Content-Length` is set when there is a body.
//! - **Body**: a non-empty `body` object is sent as JSON with
//!   `Content-Type: application/json; charset=utf-8` (whatever the headers
//!   say); an absent or empty one sends an empty body.
//! - **Extensions**: a clone of the batch request's extensions (what outer
//!   layers put there), the hook's [`ScopeHook::Scope`] value, and a
//!   [`Subrequest`] marker with the subrequest's position and a
//!   [`BatchCache`] shared by the whole batch. Scheme, authority and HTTP
//!   version are the batch request's.
//! - Subrequests run one after the other, in order. A 307 or 308 answer
//!   with a `Location` is followed once, with the same method, headers and
//!   body; the recorded path is the target's.
//!
//! # The outcome
//!
//! | subresponse | effect |
//! | --- | --- |
//! | 1xx, 2xx, 3xx, 4xx other than 409 | recorded; the batch goes on |
//! | 4xx without a JSON body | recorded as `{"code", "errno": 999, "error": <reason>}` |
//! | **5xx**, or **409** | the **whole batch** is rolled back and answers that subresponse |
//! | marked with [`AbortBatch`] | same as a 5xx, whatever its status |
//! | marked with [`RetryBatch`] | rolled back, and the **whole batch runs again** (see below) |
//! | the inner service fails (`Err`) | the whole batch is rolled back and fails with that error |
//!
//! When every subrequest is recorded, the scope is committed and the batch
//! answers `200 {"responses": [...]}`. Each entry has `path` (percent-decoded,
//! no query string), `status`, `headers` (every header, names in
//! `Title-Case` as Kinto writes them, repeated headers joined with `, `,
//! `Content-Length` added when missing) and `body` (the JSON body, else the
//! body as text, `""` for `HEAD`).
//!
//! So a batch is all-or-nothing with respect to server errors and
//! conflicts, and not with respect to other client errors: a 404 or a 412
//! in one subrequest does not undo the others. Kinto does worse on a 409:
//! it records it, rolls back the subrequests before it, commits those after
//! it, and still reports history events for the writes it rolled back. We
//! do not copy that: a 409 is a storage conflict, and the whole batch is
//! undone and answers it, so the client can retry it whole.
//!
//! # Transaction conflicts
//!
//! A batch run in one database transaction can lose to a concurrent one
//! through no fault of its own: two batches writing two collections in
//! opposite orders deadlock, and the database aborts one of them. A
//! resource layer that sees this marks its subresponse with [`RetryBatch`];
//! the batch layer then rolls the scope back, discards every subresponse of
//! that attempt, waits a few milliseconds (jittered) and runs the whole
//! batch again from its first subrequest, with the bodies it parsed, in a
//! new scope and with a new [`BatchCache`]. A batch runs at most
//! [`Retry::attempts`] times (3 by default, [`BatchLayer::retry`]); after
//! the last one it answers the marked subresponse (a 503 errno 201 with
//! `Retry-After`). The client sees one answer, as if the batch had run once.
//!
//! # Where it goes in a stack
//!
//! Layers outside the batch layer see the batch once; layers inside see
//! every subrequest. Put the error, CORS, backoff, end-of-service and
//! request logging layers outside, the authentication and resource layers
//! (and the version redirects, which the batch follows) inside. Headers
//! that outer layers add (`Backoff`, the security headers) are then on the
//! batch response only (Kinto also puts them in its successful
//! subresponses; place such a layer inside to get that). With axum,
//! wrap the whole `Router` (`BatchLayer::new().layer(router)` or a
//! `ServiceBuilder`), not `Router::layer`, which wraps each route alone;
//! `Router::new().fallback_service(batched)` turns the result back into a
//! `Router` for `axum::serve`.
//!
//! # Caveats
//!
//! - The batch body is read whole: limit its size with an outer layer
//!   (tower-http's `RequestBodyLimitLayer`). The `defaults` are copied into
//!   every request: without a `max_requests` limit, a small body can ask
//!   for much memory.
//! - The inner request body type must implement `From<Bytes>` (axum's
//!   `Body`, `Full<Bytes>`): subrequests are built with it.
//! - Read-only mode (405 on `POST /v1/batch`) belongs to the backoff layer,
//!   placed outside.
//! - See [`ScopeHook`] for what happens when the batch's future is dropped.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod layer;
mod payload;
mod response;
mod retry;
mod scope;

pub use cliquet_errors::ResponseBody;
pub use layer::{Batch, BatchLayer, DEFAULT_MAX_REQUESTS, DEFAULT_PREFIX, ResponseFuture};
pub use retry::{Retry, RetryBatch};
pub use scope::{AbortBatch, BatchCache, NoScope, ScopeHook, Subrequest};
