//! Timestamps over HTTP, the Cliquet / Kinto way: `ETag` and
//! `Last-Modified`, the `If-Match` / `If-None-Match` preconditions, cache
//! headers, and a tower layer for conditional reads.
//!
//! Every object of the protocol has a `last_modified` timestamp (epoch
//! milliseconds) and every collection a timestamp (the greatest of its
//! objects' and tombstones'). Responses carry it twice:
//! `ETag: "1432208041618"` ([`ETag`]) and `Last-Modified: Thu, 21 May 2015
//! 11:34:01 GMT` ([`LastModified`], second precision); [`set_timestamp_headers`]
//! writes both.
//!
//! Clients send it back as preconditions. [`Preconditions::from_headers`]
//! reads them (a malformed `If-Match` / `If-None-Match` is a 400 errno 107)
//! and [`Preconditions::evaluate`] decides, for a method and the current
//! state ([`Current`]), whether the request proceeds, is a 304, or a 412
//! errno 114 carrying the existing object ([`Rejection`]).
//!
//! [`ConditionalGetLayer`] does this for reads from the `ETag` the inner
//! service answers with, so an application that sets `ETag` gets 304s (and
//! the protocol's 412s) for free. Writes must evaluate before writing: the
//! layer leaves the parsed [`Preconditions`] in the request's extensions.
//!
//! [`parse_last_modified_param`] reads the `?last_modified=` of an object
//! `DELETE` (a 400 errno 107 when it is not an integer, where Kinto
//! answers 500).
//!
//! [`CacheHeaders`] and [`CacheExpiresSettings`] give reads their
//! `Cache-Control` / `Expires` from the `{resource}_cache_expires_seconds`
//! settings.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use cliquet_timestamps::{ConditionalGetLayer, set_timestamp_headers};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A read endpoint that knows its collection timestamp.
//! let records = service_fn(|_request: Request<Full<Bytes>>| async {
//!     let mut response = Response::new(Full::new(Bytes::from(r#"{"data":[]}"#)));
//!     set_timestamp_headers(response.headers_mut(), 1_432_208_041_618);
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//! let service = ServiceBuilder::new()
//!     .layer(ConditionalGetLayer::new())
//!     .service(records);
//!
//! // The client's copy is current: 304, no body, same ETag.
//! let request = Request::get("/v1/buckets/b/collections/c/records")
//!     .header("If-None-Match", "\"1432208041618\"")
//!     .body(Full::default())
//!     .unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
//! assert_eq!(response.headers()["etag"], "\"1432208041618\"");
//! assert!(response.into_body().collect().await.unwrap().to_bytes().is_empty());
//!
//! // A tag that is not an integer between double quotes is refused.
//! let request = Request::get("/v1/buckets/b/collections/c/records")
//!     .header("If-None-Match", "W/\"1432208041618\"")
//!     .body(Full::default())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! # }
//! ```
//!
//! # Caveats
//!
//! - `If-Modified-Since` and `If-Unmodified-Since` are parsed (a value that
//!   is not an HTTP date is dropped, as HTTP wants) but not evaluated:
//!   Kinto ignores them, and clients of the protocol use the ETag headers.
//! - A quoted integer beyond `u64` is refused with the same 400 as any
//!   malformed tag: it cannot be a timestamp.
//! - `Last-Modified` and `Expires` cannot go beyond year 9999: later
//!   instants are written as its last second.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod cache;
mod etag;
mod future;
mod layer;
mod preconditions;
mod service;

pub use cache::{CACHE_EXPIRES_SUFFIX, CacheExpiresSettings, CacheHeaders};
pub use etag::{ETag, InvalidDate, InvalidETag, LastModified, set_timestamp_headers};
pub use future::ResponseFuture;
pub use layer::ConditionalGetLayer;
pub use preconditions::{
    Current, EntityMatch, InvalidLastModified, InvalidPreconditions, Preconditions, Rejection,
    not_modified, parse_last_modified_param, precondition_failed,
};
pub use service::ConditionalGet;
