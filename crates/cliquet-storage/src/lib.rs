//! The backend contract of Cliquet: the [`Storage`], [`Permission`] and
//! [`Cache`] traits, the object model, the timestamp rules, backend errors,
//! and (feature `testkit`) the test suite every backend runs.
//!
//! Backends are chosen at run time from settings, so the traits are
//! object-safe and async (through `async-trait`), and applications hold
//! them as `Arc<dyn Storage>`, `Arc<dyn Permission>`, `Arc<dyn Cache>`
//! (together: [`Backends`]). This crate does no I/O: `cliquet-memory`,
//! `cliquet-postgres` and `cliquet-sqlite` implement it.
//!
//! Every storage operation takes one parameter struct and returns one result
//! type ([`storage`] lists them): uniform signatures that grow without
//! breaking callers. Lists take the typed filters, sort and pagination rules
//! of `cliquet-filter`, whose in-memory evaluator is the reference every
//! backend must agree with.
//!
//! ```
//! use std::sync::Arc;
//! use cliquet_storage::{Object, Storage, StorageError};
//! use cliquet_storage::storage::{Get, Update};
//!
//! /// Reads a counter object and writes it back incremented, unless someone
//! /// wrote it meanwhile.
//! async fn increment(storage: Arc<dyn Storage>) -> Result<Object, StorageError> {
//!     let current = storage.get(Get::new("counter", "", "hits")).await?;
//!     let mut data = current.data.clone();
//!     let n = data.get("n").and_then(|n| n.as_i64()).unwrap_or(0);
//!     data.insert("n".into(), (n + 1).into());
//!     let update = Update::new("counter", "", "hits", data).with_if_match(Some(current.last_modified));
//!     Ok(storage.update(update).await?.object)
//! }
//! # let _ = increment;
//! ```
//!
//! # Writing a backend
//!
//! Implement the traits, then run the test kit (feature `testkit`) from the
//! backend's tests: one line expands into one `#[tokio::test]` per case of
//! the contract (see the `testkit` module).
//!
//! # Caveats
//!
//! - Requested timestamps in the past are not kept (a deviation from Kinto
//!   explained in [`timestamp`]).
//! - The cache is never transactional; permissions are transactional with
//!   storage only when the backend shares one store for both
//!   ([`Transaction::permission`]).

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
pub mod error;
pub mod model;
pub mod pattern;
pub mod permission;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod timestamp;

use std::fmt;
use std::sync::Arc;

pub use cache::Cache;
pub use error::{Result, StorageError};
pub use model::{Object, Timestamp};
pub use permission::{Acl, BoundPermission, BoundPermissions, Permission, Principals};
pub use storage::{Storage, Transaction};

/// Re-exported: the query language lists are made of.
pub use cliquet_filter;

/// The three backends of an application.
#[derive(Clone)]
pub struct Backends {
    /// Objects and timestamps.
    pub storage: Arc<dyn Storage>,
    /// Access control entries and user principals.
    pub permission: Arc<dyn Permission>,
    /// The cache.
    pub cache: Arc<dyn Cache>,
}

impl Backends {
    /// Groups three backends.
    pub fn new(
        storage: Arc<dyn Storage>,
        permission: Arc<dyn Permission>,
        cache: Arc<dyn Cache>,
    ) -> Self {
        Self {
            storage,
            permission,
            cache,
        }
    }
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}
