//! The generic REST resource of the Cliquet / Kinto protocol, on axum.
//!
//! Declare a resource — a name, a [`Schema`], its paths and methods, its
//! [`Access`] rules, its [`ResourceHooks`] — and [`Resource::router`] gives
//! the axum `Router` that serves the whole protocol of `resource.md`:
//!
//! - the plural endpoint: `GET`/`HEAD` with the querystring language of
//!   `cliquet-filter` (filters, `_sort`, `_limit`, `_token` and `Next-Page`,
//!   `_fields`, `_since`/`_before` with tombstones, `Total-Objects` on
//!   `HEAD`), `POST` (201, or 200 with the existing object when the id is
//!   taken), `DELETE` with filters and single-use `Next-Page` tokens;
//! - the object endpoint: `GET`/`HEAD` (with `_fields`), `PUT` (201/200),
//!   `PATCH` (default merge, `application/merge-patch+json`,
//!   `application/json-patch+json`, `Response-Behavior`), `DELETE`
//!   (with `?last_modified=`);
//! - `If-Match` / `If-None-Match` on every method (304 and 412 through
//!   `cliquet-timestamps`, `If-Match` as the storage's atomic conditional
//!   write), `ETag` and `Last-Modified` on every response;
//! - permissions: private per user by default, or ACLs with the
//!   application's inheritance tree, with 401 / 403 / 404 as
//!   `permissions.md` decides;
//! - every storage operation of a write in one transaction — the batch's
//!   when the request is a subrequest of a batch run with
//!   [`TransactionScope`].
//!
//! The request's identity comes from `cliquet-auth`'s `Identity` in the
//! request extensions (anonymous when absent).
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use cliquet_resource::{Resource, Schema};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Bookmark {
//!     url: String,
//! }
//!
//! let bookmarks = Resource::builder("bookmark")
//!     .schema(Schema::typed::<Bookmark>())
//!     .build()
//!     .unwrap();
//! let backends = cliquet_memory::backends();
//! let app: Router = Router::new().nest("/v1", bookmarks.router(backends));
//! # let _ = app;
//! ```
//!
//! A complete service (authentication, batch, errors) is in
//! `recipes/bookmarks`.
//!
//! # Decisions and caveats
//!
//! - Private resources store no ACL: `permissions` in a body must be
//!   empty (400 otherwise) and responses show the owner as the only
//!   writer.
//! - The list rule of `permissions.md` ("objects readable one by one") uses
//!   the inheritance tree's pairs on the children pattern
//!   (`/things/*`): with the default tree, `write` on an object lists it
//!   too, where Kinto's generic resource would list only `read` ones.
//! - `DELETE …?last_modified=abc` is a 400 (Kinto answers 500).
//! - A body nested deeper than [`Limits::max_depth`] (64), a querystring
//!   with more than [`Limits::max_params`] (100) parameters or more than
//!   [`Limits::max_sort_fields`] (16) sort fields are refused with a 400
//!   errno 107 before any work; a body larger than
//!   [`Limits::max_body_bytes`] is a 413 errno 113.
//! - A NUL character (`\u0000`) in any string or key of a body is a 400
//!   errno 107 `Invalid character 0x00`, on every backend: PostgreSQL
//!   cannot store one, and Kinto's memory backend storing it would make a
//!   client's behaviour depend on the backend.
//! - Reads run outside transactions (one storage round trip for an object
//!   `GET` of a private resource). A list reads the collection timestamp,
//!   then the page bounded by it (`last_modified <=` its `ETag`): with
//!   writers committing in timestamp order, a `_since` poll from a list's
//!   `ETag` sees every change exactly once, also across server instances.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod access;
mod body;
mod handlers;
mod hooks;
mod ids;
mod resource;
mod schema;
mod scope;

pub use access::Access;
/// The cache headers a read gets (see [`ResourceHooks::read_cache`]).
pub use cliquet_timestamps::CacheHeaders;
pub use hooks::{Action, Change, HookContext, NoHooks, ParentId, ResourceHooks, Writer};
pub use ids::{IdGenerator, Names, Uuid4};
pub use resource::{BuildError, Limits, Resource, ResourceBuilder};
pub use schema::{Schema, SchemaError};
pub use scope::{BatchTransaction, TransactionScope};
