//! The CORS rules of the Cliquet / Kinto protocol, on top of `tower-http`'s
//! CORS layer.
//!
//! [`CorsLayer`] lets browser applications on other origins use the API the
//! way Kinto's clients expect:
//!
//! - allowed origins from the `cors_origins` setting (exact origins,
//!   shell-style patterns such as `http://*.example.com`, or `*`), answered
//!   with `Access-Control-Allow-Origin` (`*` when `*` is allowed);
//! - a foreign `Origin` is refused with `400` errno 107 before the request
//!   reaches the application;
//! - `Access-Control-Expose-Headers: Backoff, Retry-After, Alert,
//!   Content-Length, Content-Type` on every response, plus the headers an
//!   endpoint lists in an [`ExposedHeaders`] response extension (the
//!   protocol's lists: [`PLURAL_GET_EXPOSED_HEADERS`],
//!   [`PLURAL_HEAD_EXPOSED_HEADERS`], [`OBJECT_GET_EXPOSED_HEADERS`]);
//! - preflights answered for every endpoint that exists, with its methods,
//!   every requested header accepted, a JSON `null` body and
//!   `Access-Control-Max-Age` (`cors_max_age_seconds`); the `400`s of the
//!   protocol for incomplete or foreign preflights.
//!
//! # Example
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use cliquet_cors::{CorsLayer, CorsSettings};
//! use http::{Request, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let settings: CorsSettings =
//!     serde_json::from_str(r#"{"cors_origins": "https://*.example.com"}"#).unwrap();
//! let router = Router::new()
//!     .route("/v1/buckets", get(|| async { "[]" }).post(|| async { "{}" }));
//! // Around the whole router, so that it sees the router's `405` with `Allow`.
//! let app = ServiceBuilder::new()
//!     .layer(CorsLayer::from_settings(&settings))
//!     .service(router);
//!
//! // A preflight from an allowed origin.
//! let preflight = Request::options("/v1/buckets")
//!     .header("origin", "https://app.example.com")
//!     .header("access-control-request-method", "POST")
//!     .header("access-control-request-headers", "Authorization")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = app.clone().oneshot(preflight).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
//! assert_eq!(response.headers()["access-control-allow-methods"], "GET,HEAD,POST,OPTIONS");
//! assert_eq!(response.headers()["access-control-max-age"], "3600");
//!
//! // A write from a foreign origin never reaches the handler.
//! let request = Request::post("/v1/buckets")
//!     .header("origin", "http://evil.com")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = app.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! assert!(response.headers().get("access-control-allow-origin").is_none());
//! # }
//! ```
//!
//! # Caveats
//!
//! - Stack it outside the other protocol layers (end of service, version
//!   redirects, read-only mode), so their responses are readable
//!   cross-origin, as Kinto re-applies CORS to them.
//! - To answer a preflight the layer asks the inner service first: an
//!   `OPTIONS` answered `405` (axum's method router does, with `Allow`)
//!   marks an endpoint, whose methods come from `Allow`. Wrap the whole axum
//!   `Router` (with `ServiceBuilder` or `Layer::layer`): axum's
//!   `Router::layer` wraps each route, below the point where axum adds
//!   `Allow`, and the preflight answer then lists the requested method
//!   alone (any method is accepted). A framework that
//!   answers `404` or `200` to `OPTIONS` gets its answer passed through with
//!   the CORS headers. Requests need `ReqBody: Default` (for a bodiless copy
//!   of the preflight) and responses `ResBody: Default + From<Bytes>` (for
//!   the answers the layer writes); both hold for `axum::body::Body` and
//!   `http_body_util::Full<Bytes>`. The response body type is kept.
//! - Differences from Kinto, on purpose: Kinto lets requests with a foreign
//!   `Origin` reach URLs outside its services (404s, redirects) and answers
//!   those without a `400`; this layer refuses every non-`OPTIONS` request
//!   with a foreign `Origin` before it runs, since it cannot tell beforehand
//!   whether a route exists. Patterns are honoured on every response (Kinto
//!   only echoes exact origins outside its services). The exposed headers
//!   are always joined with `", "`. `Access-Control-Allow-Headers` of a
//!   preflight lists the requested headers and every endpoint's exposed
//!   headers, not only those of the endpoint asked about.

mod de;
mod expose;
mod future;
mod layer;
mod origin;
mod service;
mod settings;
#[cfg(test)]
mod tests;

pub use expose::{
    DEFAULT_EXPOSED_HEADERS, ExposedHeaders, OBJECT_GET_EXPOSED_HEADERS,
    PLURAL_GET_EXPOSED_HEADERS, PLURAL_HEAD_EXPOSED_HEADERS,
};
pub use future::ResponseFuture;
pub use layer::CorsLayer;
pub use service::CorsService;
pub use settings::{CorsSettings, DEFAULT_MAX_AGE_SECONDS};
