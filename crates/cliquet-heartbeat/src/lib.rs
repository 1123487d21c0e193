//! The health endpoints of the Cliquet / Kinto protocol, as a tower layer.
//!
//! [`HeartbeatLayer`] answers three endpoints under the version prefix and
//! passes every other request to the service it wraps:
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /v1/__heartbeat__` | runs the registered [`HealthCheck`]s concurrently, each bounded by `heartbeat_timeout_seconds`; 200 with `{"storage": true, ...}`, or 503 with the same map when a check is `false` |
//! | `GET /v1/__lbheartbeat__` | always 200 `{}`, touches nothing: for load balancers |
//! | `GET /v1/__version__` | the `version.json` file, or the application's [`BuildInfo`] |
//!
//! A check is any async closure returning `bool`, `Option<bool>` (`None`:
//! not applicable, reported `null`) or a `Result` of those, or a type
//! implementing [`HealthCheck`]. The settings ([`HeartbeatSettings`]) have
//! the protocol's names and defaults.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use cliquet_heartbeat::HeartbeatLayer;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = service_fn(|_request: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("app"))))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(
//!         HeartbeatLayer::new()
//!             .timeout(Duration::from_millis(200))
//!             .check("storage", || async { true })
//!             .check("cache", || async { false })
//!             .check("permission", || async { None::<bool> }),
//!     )
//!     .service(app);
//!
//! let request = Request::get("/v1/__heartbeat__").body(Full::default()).unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, r#"{"storage":true,"cache":false,"permission":null}"#);
//!
//! // Other requests reach the application.
//! let request = Request::get("/v1/records").body(Full::default()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "app");
//! # }
//! ```
//!
//! From settings, with the build information as the `/__version__` fallback:
//!
//! ```no_run
//! use cliquet_heartbeat::{HeartbeatLayer, HeartbeatSettings, build_info};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings: HeartbeatSettings = serde_json::from_str(
//!     r#"{"heartbeat_timeout_seconds": 2, "version_json_path": "/app/version.json"}"#,
//! )?;
//! let layer = HeartbeatLayer::from_settings(&settings)?.build_info(build_info!());
//! # Ok(())
//! # }
//! ```
//!
//! # Caveats
//!
//! - The endpoints live under the version prefix, as in Kinto
//!   (`/v1/__heartbeat__`, not `/__heartbeat__`); the version layer
//!   redirects the unprefixed paths there. [`HeartbeatLayer::prefix`]
//!   changes the prefix, `""` puts them at the root.
//! - The timeout uses tokio's timer: run the service on a tokio runtime with
//!   the time driver enabled.
//! - The `version.json` file is read once, when the layer is built. Without
//!   it and without build information, `/__version__` is a 404 errno 111
//!   rather than Kinto's 500.
//! - The 503 of the heartbeat is not an error body, and has no
//!   `Retry-After`; `cliquet_errors::ErrorLayer` leaves it as it is.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod check;
mod layer;
mod version;

pub use check::{
    BoxError, CACHE, CheckFuture, Health, HealthCheck, IntoHealth, PERMISSION, STORAGE,
};
pub use layer::{
    DEFAULT_PREFIX, DEFAULT_TIMEOUT, DEFAULT_VERSION_JSON_PATH, Heartbeat, HeartbeatLayer,
    HeartbeatSettings, ResponseFuture, SettingsError,
};
pub use version::{BuildInfo, VersionFileError};
