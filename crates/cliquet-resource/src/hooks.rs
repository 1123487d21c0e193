//! Hooks: how an application changes what a resource stores, and reacts to
//! what it wrote.
//!
//! [`ResourceHooks::before_request`] runs first on every request: the
//! place to check that a parent exists. [`ResourceHooks::process_object`]
//! runs on every create, replace and
//! update, after merging and schema validation, just before the write: it
//! sees the new data and the stored object (if any) and returns the data to
//! store, or an error the client gets. [`ResourceHooks::after_write`] runs
//! after every write, inside the same transaction (a batch's, when the
//! request is a subrequest): an error there rolls the write back.
//!
//! Both get a [`HookContext`] with the request's identity and the storage
//! and permission backends *of the transaction*, so a hook's own reads and
//! writes are part of it.
//!
//! ```
//! use async_trait::async_trait;
//! use cliquet_errors::ApiError;
//! use cliquet_resource::{HookContext, ResourceHooks};
//! use cliquet_storage::Object;
//! use serde_json::{Map, Value};
//!
//! /// Lower-cases every `url`.
//! struct LowercaseUrls;
//!
//! #[async_trait]
//! impl ResourceHooks for LowercaseUrls {
//!     async fn process_object(
//!         &self,
//!         _ctx: &HookContext<'_>,
//!         mut new: Map<String, Value>,
//!         _old: Option<&Object>,
//!     ) -> Result<Map<String, Value>, ApiError> {
//!         if let Some(Value::String(url)) = new.get_mut("url") {
//!             *url = url.to_lowercase();
//!         }
//!         Ok(new)
//!     }
//! }
//! ```

use std::fmt;

use async_trait::async_trait;
use cliquet_auth::Identity;
use cliquet_errors::ApiError;
use cliquet_storage::{Object, Permission, Storage};
use cliquet_timestamps::CacheHeaders;
use serde_json::{Map, Value};

/// What a hook knows of the request, and the backends of its transaction.
#[non_exhaustive]
pub struct HookContext<'a> {
    /// The resource name (`bookmark`).
    pub resource_name: &'a str,
    /// The parent id of the objects of this request.
    pub parent_id: &'a str,
    /// Who is asking.
    pub identity: &'a Identity,
    /// The path parameters of the route (`bucket_id`, `id`...).
    pub params: &'a [(String, String)],
    /// The id of the object being read or written: the `id` path
    /// parameter, or on a `POST` creation the id chosen for the new object
    /// (`None` on plural reads and deletions).
    pub object_id: Option<&'a str>,
    /// The request's method.
    pub method: &'a http::Method,
    /// The storage, inside the request's (or batch's) transaction.
    pub storage: &'a dyn Storage,
    /// The permission backend, inside the transaction when it shares it.
    pub permission: &'a dyn Permission,
}

impl fmt::Debug for HookContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext")
            .field("resource_name", &self.resource_name)
            .field("parent_id", &self.parent_id)
            .field("identity", &self.identity)
            .field("params", &self.params)
            .field("object_id", &self.object_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl HookContext<'_> {
    /// The value of a path parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The kind of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// An object was created (POST, or PUT of a new id).
    Create,
    /// An object was replaced or patched.
    Update,
    /// An object was deleted (one, or each of a plural DELETE).
    Delete,
}

/// One write, as [`ResourceHooks::after_write`] sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// What happened.
    pub action: Action,
    /// The object before (`None` on creation).
    pub old: Option<Object>,
    /// The object after (the tombstone on deletion).
    pub new: Object,
}

impl Change {
    /// A change.
    pub fn new(action: Action, old: Option<Object>, new: Object) -> Self {
        Self { action, old, new }
    }
}

/// The customisation points of a resource. Every method has a default that
/// does nothing; implement the ones you need.
#[async_trait]
pub trait ResourceHooks: Send + Sync + 'static {
    /// Runs first on every request of the resource (after the identity
    /// and the parent id are known, before permissions are checked): an
    /// error is answered as it is. Kinto's records check here that their
    /// collection exists (404 errno 111, or 403 to users who may not know).
    async fn before_request(&self, ctx: &HookContext<'_>) -> Result<(), ApiError> {
        let _ = ctx;
        Ok(())
    }

    /// Rewrites the data about to be stored, knowing the stored object
    /// (`None` on creation). An error is answered as it is, and nothing is
    /// written.
    async fn process_object(
        &self,
        ctx: &HookContext<'_>,
        new: Map<String, Value>,
        old: Option<&Object>,
    ) -> Result<Map<String, Value>, ApiError> {
        let _ = (ctx, old);
        Ok(new)
    }

    /// The cache headers of a successful read (`GET`/`HEAD` of the plural
    /// or object endpoint), given those the resource's settings choose
    /// (`{name}_cache_expires_seconds`, `no-cache, no-store` for
    /// authenticated requests). Kinto's records derive theirs from their
    /// collection's `cache_expires` and per-bucket settings here.
    async fn read_cache(
        &self,
        ctx: &HookContext<'_>,
        configured: CacheHeaders,
    ) -> Result<CacheHeaders, ApiError> {
        let _ = ctx;
        Ok(configured)
    }

    /// Reacts to writes, inside the transaction, after they were made and
    /// before the response. An error rolls the request back (the whole
    /// batch when it is a subrequest) and is answered.
    async fn after_write(&self, ctx: &HookContext<'_>, changes: &[Change]) -> Result<(), ApiError> {
        let _ = (ctx, changes);
        Ok(())
    }
}

/// The hooks of a resource that has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl ResourceHooks for NoHooks {}

/// A request extension that decides the parent id of the request's objects
/// instead of the resource's template (or the user id of a private
/// resource).
///
/// A layer in front of the router puts it there when the parent depends on
/// more than the path: Kinto's accounts live each under their own id, and
/// an administrator lists them all with the parent `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentId(pub String);

/// A request extension naming the principal a write adds to the written
/// object's `write` permission, instead of the request's user id (or
/// `system.Everyone` when anonymous).
///
/// Kinto's accounts: an account created anonymously or by an administrator
/// is owned by `account:<its id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer(pub String);
