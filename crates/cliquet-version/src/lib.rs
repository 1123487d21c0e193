//! The version prefix of the Cliquet / Kinto protocol (`/v1`), its
//! redirects, and the end of service, as tower layers.
//!
//! Two layers, each configured from [`VersionSettings`] (the protocol's
//! setting names and defaults):
//!
//! - [`VersionLayer`]: unprefixed URLs are redirected under the prefix
//!   (`GET /buckets` → `307` to `/v1/buckets`), unmatched URLs ending in `/`
//!   to the URL without it and `/v1` to `/v1/`; URLs under another version
//!   get `404` errno 116 and other unmatched URLs `404` errno 111.
//! - [`EosLayer`]: with an end-of-service date (`eos`), responses carry a
//!   `soft-eol` `Alert` header before it, and from it on every request is
//!   answered `410 Gone` errno 202 with a `hard-eol` `Alert`.
//!
//! And [`SecurityHeadersLayer`], for the `Content-Security-Policy` and
//! `X-Content-Type-Options: nosniff` headers the protocol sets on every
//! response.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use bytes::Bytes;
//! use cliquet_version::{EosLayer, VersionLayer, VersionSettings};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let settings: VersionSettings = serde_json::from_str(
//!     r#"{"http_api_version": "1.23", "eos": "2040-01-01", "eos_message": "Moving to v2"}"#,
//! ).unwrap();
//!
//! let service = ServiceBuilder::new()
//!     .layer(EosLayer::from_settings(&settings).unwrap())
//!     .layer(VersionLayer::from_settings(&settings).unwrap())
//!     .service(service_fn(|request: Request<Full<Bytes>>| async move {
//!         let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
//!         if request.uri().path() != "/v1/buckets" {
//!             *response.status_mut() = StatusCode::NOT_FOUND; // no such route
//!         }
//!         Ok::<_, std::convert::Infallible>(response)
//!     }));
//!
//! // Unprefixed: redirected under /v1, query string kept.
//! let request = Request::get("http://localhost:8888/buckets?_limit=5")
//!     .body(Full::default())
//!     .unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
//! assert_eq!(response.headers()["location"], "http://localhost:8888/v1/buckets?_limit=5");
//!
//! // Served, with the end-of-service warning.
//! let get = |path| Request::get(path).body(Full::default()).unwrap();
//! let response = service.clone().oneshot(get("/v1/buckets")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(
//!     response.headers()["alert"],
//!     r#"{"code":"soft-eol","message":"Moving to v2","url":null}"#
//! );
//!
//! // Another version: 404 errno 116.
//! let response = service.clone().oneshot(get("/v2/buckets")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::NOT_FOUND);
//!
//! // After the end of service, nothing is served.
//! let gone = ServiceBuilder::new()
//!     .layer(EosLayer::from_settings(&settings).unwrap()
//!         .clock(|| UNIX_EPOCH + Duration::from_secs(2_300_000_000)))
//!     .service(service.clone());
//! let response = gone.oneshot(get("/v1/buckets")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::GONE);
//! # }
//! ```
//!
//! # Caveats
//!
//! - Order, outermost first: an error layer, [`SecurityHeadersLayer`], a
//!   CORS layer (so the `410` and the redirects are readable cross-origin),
//!   [`EosLayer`] (its `Alert` and `410` apply to redirects and 404s too), a
//!   backoff layer (so redirects carry `Backoff`), then [`VersionLayer`]
//!   right around the router.
//! - The layers keep the inner response body type; the responses they write
//!   themselves are made with `ResBody: From<Bytes>` (true of
//!   `axum::body::Body` and `http_body_util::Full<Bytes>`).
//! - [`VersionLayer`] only sees the inner service's answers: a route mounted
//!   with a trailing slash is served, an unmatched one gets the redirect.
//!   "Unmatched" is a framework's bare `404` or a protocol `404` errno 111.
//! - Differences from Kinto, on purpose: the prefix is matched by path
//!   segment (Kinto's string match sends `/v10/...` on a `/v1` server to
//!   errno 111 instead of 116); `eos` is compared as midnight UTC (Kinto uses
//!   the server's local time) and also accepts a time of day; `/v1/` itself,
//!   when unmatched, is not redirected to `/v1` (that would loop).
//! - Mounting routes under the prefix, the hello view and its `eos` field
//!   are the application's: [`VersionLayer::prefix`] and
//!   [`VersionSettings::http_api_version`] give what they need.

mod clock;
mod de;
mod eos;
mod prefix;
mod security;
mod settings;
#[cfg(test)]
mod tests;

pub use clock::{Clock, SystemClock};
pub use eos::{ALERT, EosFuture, EosLayer, EosService};
pub use prefix::{ResponseFuture, VersionLayer, VersionService};
pub use security::{
    CONTENT_SECURITY_POLICY_VALUE, SecurityHeadersFuture, SecurityHeadersLayer,
    SecurityHeadersService,
};
pub use settings::{
    DEFAULT_TRAILING_SLASH_REDIRECT_TTL_SECONDS, DEFAULT_VERSION_PREFIX_REDIRECT_TTL_SECONDS,
    SettingsError, VersionSettings,
};
