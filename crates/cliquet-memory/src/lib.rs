//! In-memory backends for Cliquet: [`MemoryBackend`] implements
//! [`Storage`](cliquet_storage::Storage) and
//! [`Permission`](cliquet_storage::Permission) over one shared state (so a
//! transaction covers both), and [`MemoryCache`] implements
//! [`Cache`](cliquet_storage::Cache).
//!
//! For tests, demos and single-process services: nothing is persisted. It
//! keeps the whole `cliquet-storage` contract (the test kit runs against it),
//! including strictly increasing timestamps, atomic conditional writes,
//! visibility order under concurrent writers and real transactions.
//!
//! ```
//! use cliquet_storage::storage::{Create, List};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cliquet_storage::Result<()> {
//! let backends = cliquet_memory::backends();
//! let data = json!({"title": "hello"}).as_object().cloned().unwrap();
//! backends.storage.create(Create::new("article", "", "a", data)).await?;
//!
//! let transaction = backends.storage.begin().await?;
//! transaction.storage().create(Create::new("article", "", "b", Default::default())).await?;
//! transaction.rollback().await?;
//!
//! let articles = backends.storage.list(List::new("article", "")).await?;
//! assert_eq!(articles.len(), 1);
//! # Ok(()) }
//! ```
//!
//! # Concurrency
//!
//! Reads take a read lock for the time of a scan (sorting and copying the
//! results happen after it is released). Writes are serialised: an async
//! gate, then a short write lock in which the timestamp is taken and the
//! object stored, so that objects become visible in timestamp order. No
//! lock is held across an `.await`.
//!
//! A transaction holds the write gate from `begin` to its end: other writers
//! wait for it (as PostgreSQL writers of one collection would), readers do
//! not and see the committed state. Its writes go to copies of the
//! collections it touches, published at once on commit. Inside a
//! transaction, use the transaction only: writing through the backend it
//! came from, from the same task, would wait for that task forever.
//!
//! # Caveats
//!
//! - Copy on write makes a transaction's first write to a collection cost
//!   a copy of that collection's index (the objects themselves are shared).
//! - The cache has no size limit (Kinto's memory cache evicted the oldest
//!   entries past `cache_max_size_bytes`); expired entries are swept as the
//!   map grows.

mod acl;
mod backend;
mod cache;
mod store;

use std::sync::Arc;

use cliquet_storage::Backends;

pub use backend::{MemoryBackend, MemoryTransaction};
pub use cache::MemoryCache;

/// Fresh in-memory backends: one [`MemoryBackend`] as storage and
/// permission backend, and a [`MemoryCache`].
pub fn backends() -> Backends {
    let backend = Arc::new(MemoryBackend::new());
    Backends::new(backend.clone(), backend, Arc::new(MemoryCache::new()))
}
