//! PostgreSQL backends for Cliquet — [`Storage`], [`Permission`] and
//! [`Cache`] — on Kinto 26.5's own schema.
//!
//! A database created by Kinto is served as it is, and Kinto can serve a
//! database created here: the tables, columns, indexes, the timestamp
//! trigger and the schema-version rows in `metadata` are Kinto's
//! ([`migrate`](mod@migrate) lists them). What differs is how statements are
//! run, to keep guarantees Kinto does not:
//!
//! - **no 409 on concurrent creates, no `_since` poller missing an object**:
//!   every write first takes a transaction-scoped advisory lock on its
//!   collection, so writers of one collection take their timestamps one
//!   after the other and commit in timestamp order;
//! - **atomic conditional writes**: `If-Match` is checked inside the
//!   statement that writes, under that lock;
//! - **values the database refuses** (a `\u0000` in a JSON string, a sort
//!   over thousands of fields) are [`StorageError::InvalidInput`] (400 errno
//!   107), not backend failures;
//! - **a database that is down** gives [`StorageError::Backend`] (503 errno
//!   201) after at most `pool_timeout`, and the pool reconnects by itself.
//!
//! Filters, sorts and pagination are translated to SQL with bound
//! parameters only (field names included), and answer exactly as
//! `cliquet-filter`'s evaluator does.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cliquet_postgres::{PostgresSettings, backends};
//! use cliquet_storage::Storage;
//! use cliquet_storage::storage::{Create, Get};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = PostgresSettings::with_url("postgresql://postgres@localhost/kinto");
//! // Creates or migrates the schema, then builds the three backends.
//! let backends = backends(&settings, true).await?;
//! let data = serde_json::json!({"title": "hello"}).as_object().cloned().unwrap();
//! let created = backends.storage.create(Create::new("record", "/buckets/b/collections/c", "r1", data)).await?;
//! let read = backends.storage.get(Get::new("record", "/buckets/b/collections/c", "r1")).await?;
//! assert_eq!(created, read);
//! # Ok(()) }
//! ```
//!
//! # Caveats
//!
//! - The database should use UTF-8 and, for sorts to agree with the
//!   evaluator on non-ASCII strings, a `C` (or `C.UTF-8`) collation: JSONB
//!   compares strings with the database's default collation.
//! - Writers of one collection are serialised until their transaction ends:
//!   keep request transactions short. Two batches writing the same
//!   collections in opposite orders may deadlock; PostgreSQL then aborts
//!   one. A deadlock (SQLSTATE 40P01) or a serialization failure (40001) is
//!   [`StorageError::TransactionConflict`], and the transaction remembers it
//!   ([`Transaction::conflicted`]): the layer owning the transaction rolls
//!   it back and runs its work again (`cliquet-resource` and
//!   `cliquet-batch` do), so clients see a 503 only when it keeps losing.
//! - Kinto servers writing the same database at the same time do not take
//!   the collection locks, so their writes keep Kinto's races.
//! - A requested timestamp in the past is replaced by a fresh one
//!   (`cliquet_storage::timestamp`); Kinto kept it.
//!
//! [`Storage`]: cliquet_storage::Storage
//! [`Permission`]: cliquet_storage::Permission
//! [`Cache`]: cliquet_storage::Cache
//! [`StorageError::InvalidInput`]: cliquet_storage::StorageError::InvalidInput
//! [`StorageError::Backend`]: cliquet_storage::StorageError::Backend
//! [`StorageError::TransactionConflict`]: cliquet_storage::StorageError::TransactionConflict
//! [`Transaction::conflicted`]: cliquet_storage::Transaction::conflicted
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod conn;
mod error;
pub mod list_cache;
pub mod migrate;
mod permission;
mod pool;
pub mod scratch;
pub mod settings;
pub mod sort_index;
mod sql;
mod storage;

use std::sync::Arc;

pub use cache::PostgresCache;
pub use error::Error;
pub use list_cache::ListCacheStats;
pub use migrate::{Component, Report, Step, migrate};
pub use permission::PostgresPermission;
pub use pool::Pool;
pub use scratch::ScratchSchema;
pub use settings::{PoolSettings, PostgresSettings};
pub use storage::{PostgresStorage, PostgresTransaction, statements};

use cliquet_storage::Backends;

/// Builds the three backends from settings, sharing one pool when their
/// URLs are equal (then transactions carry permission writes too). With
/// `migrate_schema`, creates or migrates the schema first ([`migrate()`]).
pub async fn backends(
    settings: &PostgresSettings,
    migrate_schema: bool,
) -> Result<Backends, Error> {
    let storage_settings = settings.storage_pool();
    let permission_settings = settings.permission_pool();
    let cache_settings = settings.cache_pool();
    let storage_pool = Pool::new(&storage_settings)?;
    let shared = permission_settings.url == storage_settings.url;
    let permission_pool = if shared {
        storage_pool.clone()
    } else {
        Pool::new(&permission_settings)?
    };
    let cache_pool = if cache_settings.url == storage_settings.url {
        storage_pool.clone()
    } else {
        Pool::new(&cache_settings)?
    };
    if migrate_schema {
        migrate(&storage_pool, &[Component::Storage], false).await?;
        migrate(&permission_pool, &[Component::Permission], false).await?;
        migrate(&cache_pool, &[Component::Cache], false).await?;
    }
    let storage = PostgresStorage::new(storage_pool)
        .with_readonly(settings.readonly)
        .with_max_fetch_size(settings.storage_max_fetch_size)
        .with_sort_indexes(settings.storage_sort_indexes, sort_index::DEFAULT_AFTER)
        .with_list_cache(settings.storage_list_cache_size)
        .with_shared_permission(shared);
    Ok(Backends::new(
        Arc::new(storage),
        Arc::new(PostgresPermission::new(permission_pool)),
        Arc::new(PostgresCache::new(
            cache_pool,
            settings.cache_prefix.clone(),
        )),
    ))
}
