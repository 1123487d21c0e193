//! Authentication for the Cliquet / Kinto protocol.
//!
//! [`AuthLayer`] runs the configured [`AuthPolicy`]s in order and puts the
//! request's [`Identity`] — its prefixed user id and its principals — in
//! the request's extensions, where handlers and permission checks read it.
//!
//! Policies:
//! - [`BasicAuthPolicy`]: any Basic credentials, turned into the user id
//!   `basicauth:<hex HMAC-SHA256("user:password", userid_hmac_secret)>`,
//!   the same ids Kinto computes for the same secret.
//! - [`AccountsPolicy`]: Basic credentials checked against an
//!   [`AccountStore`] the application provides, with a
//!   [`CredentialsCache`] so that a request with recently checked
//!   credentials does not pay for a slow password hash again.
//! - [`BearerPolicy`]: `Authorization: Bearer <token>` checked by a
//!   [`TokenVerifier`] (token introspection, OpenID Connect).
//! - Any type implementing [`AuthPolicy`].
//!
//! A [`PrincipalsProvider`] adds principals to authenticated users (group
//! memberships read from the permission backend).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use cliquet_auth::{AuthLayer, AuthPolicy, BasicAuthPolicy, Identity};
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let basicauth: Arc<dyn AuthPolicy> = Arc::new(BasicAuthPolicy::new("secret"));
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::new([basicauth]))
//!     .service(service_fn(|request: Request<Full<Bytes>>| async move {
//!         let identity = request.extensions().get::<Identity>().unwrap();
//!         let body = identity.user_id().unwrap_or("anonymous").to_owned();
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
//!     }));
//!
//! let request = Request::get("/v1/")
//!     .header("Authorization", "Basic YWxpY2U6cHc=") // alice:pw
//!     .body(Full::default())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(
//!     body,
//!     "basicauth:741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94"
//! );
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod accounts;
mod bearer;
mod identity;
mod layer;
mod policy;

pub use accounts::{AccountStore, AccountsPolicy, CredentialsCache};
pub use bearer::{BearerPolicy, TokenVerifier};
pub use identity::{AUTHENTICATED, EVERYONE, Identity};
pub use layer::{AuthLayer, AuthService, PrincipalsProvider};
pub use policy::{AuthPolicy, BasicAuthPolicy, basic_challenge, basic_credentials, hmac_hex};
