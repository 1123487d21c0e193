//! The `Backoff` and `Retry-After` headers and the read-only mode of the
//! Cliquet / Kinto protocol, as a tower layer.
//!
//! [`BackoffLayer`] does three things, each from the protocol's settings
//! ([`BackoffSettings`]):
//!
//! - **`Backoff`** (`backoff`, `backoff_percentage`): while the server is
//!   under load, every response (or a random share of them) carries
//!   `Backoff: <seconds>`, asking clients to hold back non-essential
//!   requests (background sync) for that long. A [`BackoffHandle`] switches
//!   it on and off while the service runs, without a restart.
//! - **`Retry-After`** (`retry_after_seconds`): `503` and `429` responses,
//!   and `409` responses with errno 122, tell clients how long to wait
//!   before retrying.
//! - **Read-only mode** (`readonly`): writes are refused before they reach
//!   the inner service with `405` errno 115 and no `Allow` header; `GET`,
//!   `HEAD` and `OPTIONS` go through. The handle switches this too, which
//!   makes it a maintenance switch.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use cliquet_backoff::{BackoffLayer, BackoffSettings};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let settings: BackoffSettings = serde_json::from_str(r#"{"backoff": 10}"#).unwrap();
//! let layer = BackoffLayer::from_settings(&settings).unwrap();
//! let handle = layer.handle();
//!
//! let service = ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|_: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
//!     }));
//!
//! let response = service.clone().oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.headers()["backoff"], "10");
//!
//! // Later, from an admin endpoint or a signal handler: stop the backoff and
//! // go read-only for a migration.
//! handle.set_backoff(None);
//! handle.set_readonly(true);
//! let request = Request::post("/v1/buckets").body(Full::default()).unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
//! assert!(response.headers().get("backoff").is_none());
//! assert!(response.headers().get("allow").is_none());
//! # }
//! ```
//!
//! # Caveats
//!
//! - Stack it outside `cliquet_version::VersionLayer` and inside the CORS
//!   and end-of-service layers: redirects and 404s then carry `Backoff`,
//!   and a write to an unprefixed URL is refused rather than redirected, as
//!   in Kinto, where the read-only check runs before routing.
//! - The layer keeps the inner response body type; the `405` it writes
//!   itself is made with `ResBody: From<Bytes>` (true of `axum::body::Body`
//!   and `http_body_util::Full<Bytes>`).
//! - `Retry-After` is also added by `cliquet_errors::ErrorLayer` (on `503`
//!   and `409` errno 122). Both leave an existing `Retry-After` alone, so
//!   stacking them is harmless; give them the same `retry_after_seconds`.
//!   Kinto never produces `429`; this layer adds `Retry-After` to one that
//!   an inner rate limiter returns.
//! - Kinto adds `Backoff` to batch sub-responses that succeeded: that is for
//!   the batch endpoint to do (a sub-request does not go through this layer
//!   unless the batch service is stacked below it).
//! - In read-only mode Kinto also leaves its write endpoints unregistered
//!   and opens its storage read-only; that is for the application to do
//!   (read [`BackoffHandle::readonly`]). The refusal here covers everything
//!   else, including `POST /v1/batch` with only reads inside, as Kinto does.

mod de;
mod future;
mod layer;
mod service;
mod settings;
#[cfg(test)]
mod tests;

pub use future::{BACKOFF, ResponseFuture};
pub use layer::{BackoffHandle, BackoffLayer};
pub use service::BackoffService;
pub use settings::{BackoffSettings, DEFAULT_RETRY_AFTER_SECONDS, SettingsError};
