//! The error format of the Cliquet / Kinto protocol, as a tower layer.
//!
//! Every error a client of the protocol sees is a JSON body
//! `{code, errno, error, message?, info?, details?}` with a stable
//! application error number. This crate has:
//!
//! - [`Errno`]: the protocol's table of error numbers, with their default
//!   statuses; numbers it does not know round-trip as [`Errno::Other`].
//! - [`ApiError`]: the error itself, with constructors for the protocol's
//!   common cases and the exact rendering rules (absent fields omitted,
//!   validation details sorted, the message built from the first one). It
//!   turns into an [`http::Response`] (and, with the `axum` feature, is an
//!   `axum` `IntoResponse`).
//! - [`ErrorLayer`]: a tower layer that turns panics, inner errors and the
//!   plain-text error responses of frameworks into protocol errors, and adds
//!   `Retry-After` where the protocol wants it.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use cliquet_errors::{ApiError, ErrorLayer};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(ErrorLayer::new().retry_after(3))
//!     .service(service_fn(|request: Request<Full<Bytes>>| async move {
//!         match request.uri().path() {
//!             "/v1/records/abc" => Err(ApiError::object_not_found("abc", "record")),
//!             "/v1/bug" => panic!("a bug in a handler"),
//!             _ => Ok(Response::new(Full::new(Bytes::from_static(b"{}")))),
//!         }
//!     }));
//!
//! let request = Request::get("/v1/records/abc").body(Full::default()).unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::NOT_FOUND);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(
//!     body,
//!     r#"{"code":404,"errno":110,"error":"Not Found","details":{"id":"abc","resource_name":"record"}}"#
//! );
//!
//! // A panic is a 500 errno 999, and the service goes on serving.
//! let request = Request::get("/v1/bug").body(Full::default()).unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
//! # }
//! ```
//!
//! # Features
//!
//! - `axum`: `ApiError` implements `axum_core::response::IntoResponse`.
//! - `sentry`: 5xx responses and panics are reported to the Sentry hub that
//!   is current when the request arrives, with the method, path,
//!   querystring and headers; the values of `Authorization`, `Cookie` and
//!   `Proxy-Authorization` are replaced by `[Filtered]`.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;
mod errno;
mod error;
mod layer;
#[cfg(feature = "sentry")]
mod sentry;

pub use body::ResponseBody;
pub use errno::Errno;
pub use error::{
    ApiError, INVALID_PARAMETERS_TITLE, Location, MSG_BACKEND, MSG_CONSTRAINT_VIOLATED,
    MSG_FORBIDDEN, MSG_INTERNAL, MSG_METHOD_NOT_ALLOWED, MSG_MISSING_RESOURCE,
    MSG_MODIFIED_MEANWHILE, MSG_SERVICE_DEPRECATED, MSG_UNAUTHORIZED, MSG_VERSION_NOT_AVAILABLE,
    ValidationDetail, reason_phrase,
};
pub use layer::{
    DEFAULT_INFO_LINK, DEFAULT_RETRY_AFTER_SECONDS, ErrorLayer, ErrorService, ResponseFuture,
};
