//! Transactions: one per write request, one per batch.
//!
//! Outside a batch, every write request (POST, PUT, PATCH, DELETE) runs its
//! reads, checks, writes, permission writes and
//! [`after_write`](crate::ResourceHooks::after_write) hooks in one storage
//! transaction, committed when the response is a success and rolled back
//! otherwise. Reads (GET, HEAD) run outside transactions.
//!
//! In a batch, [`TransactionScope`] (the scope hook of `cliquet-batch`)
//! puts a [`BatchTransaction`] into every subrequest's extensions; the
//! resource then runs every storage operation of the subrequest, reads
//! included, in that one transaction, which the batch layer commits at the
//! end, or rolls back when a subresponse is a 5xx or a 409. The transaction
//! begins with the first subrequest that touches the storage, so a batch
//! that does not is free.
//!
//! ```
//! use cliquet_batch::BatchLayer;
//! use cliquet_resource::TransactionScope;
//!
//! let backends = cliquet_memory::backends();
//! let batch = BatchLayer::new().scope(TransactionScope::new(backends.storage.clone()));
//! # let _ = batch;
//! ```
//!
//! # Transaction conflicts
//!
//! A transaction can lose to a concurrent one: on PostgreSQL every write
//! holds its collection's lock until the transaction ends, so two batches
//! writing two collections in opposite orders (or two requests whose hooks
//! do) deadlock, and the database aborts one (SQLSTATE 40P01; 40001 for a
//! serialization failure). The storage reports it as
//! [`StorageError::TransactionConflict`], and the transaction remembers it
//! ([`Transaction::conflicted`], so an error a hook converted still
//! counts). The work is then run again from its start, in a new
//! transaction:
//!
//! - a write request outside a batch is rolled back and its handler re-run,
//!   with the body it buffered, up to [`Retry::default`]'s attempts (3),
//!   after a short jittered pause;
//! - in a batch, the subresponse is marked with
//!   [`RetryBatch`](cliquet_batch::RetryBatch), and the batch layer rolls
//!   back and re-runs the whole batch, up to its own [`Retry`] policy.
//!
//! Nothing of a lost attempt reaches the response. Only when the last
//! attempt loses too does the client get the 503 (errno 201, with
//! `Retry-After`).
//!
//! [`Retry`]: cliquet_batch::Retry
//! [`Retry::default`]: cliquet_batch::Retry
//!
//! # Caveat
//!
//! A storage error that leaves a PostgreSQL transaction unusable but is
//! answered with a 4xx (an invalid value refused by the database) marks the
//! subresponse with [`AbortBatch`](cliquet_batch::AbortBatch), so the batch
//! stops there and rolls back.

use std::fmt;
use std::sync::Arc;

use cliquet_batch::ScopeHook;
use cliquet_errors::ApiError;
use cliquet_storage::{Backends, Permission, Storage, StorageError, Transaction};
use http::request::Parts;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The transaction of a batch, found in the extensions of its subrequests.
#[derive(Clone)]
pub struct BatchTransaction {
    storage: Arc<dyn Storage>,
    slot: Arc<Mutex<Slot>>,
}

/// The state of a batch's transaction.
#[derive(Default)]
pub(crate) struct Slot {
    transaction: Option<Box<dyn Transaction>>,
}

impl fmt::Debug for BatchTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchTransaction").finish_non_exhaustive()
    }
}

impl BatchTransaction {
    /// A transaction on `storage`, begun when first used.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            slot: Arc::new(Mutex::new(Slot::default())),
        }
    }

    /// Commits what was written (nothing if it never began).
    pub async fn commit(&self) -> Result<(), ApiError> {
        let transaction = self.slot.lock().await.transaction.take();
        match transaction {
            Some(transaction) => transaction.commit().await.map_err(ApiError::from),
            None => Ok(()),
        }
    }

    /// Rolls back what was written.
    pub async fn rollback(&self) {
        let transaction = self.slot.lock().await.transaction.take();
        if let Some(transaction) = transaction {
            // Dropping a transaction rolls it back too: the error of an
            // explicit rollback has nothing left to undo.
            let _ = transaction.rollback().await;
        }
    }

    async fn enter(&self) -> Result<OwnedMutexGuard<Slot>, ApiError> {
        let mut guard = self.slot.clone().lock_owned().await;
        if guard.transaction.is_none() {
            guard.transaction = Some(self.storage.begin().await?);
        }
        Ok(guard)
    }
}

/// The [`ScopeHook`] that makes a whole batch one storage transaction.
#[derive(Clone)]
pub struct TransactionScope {
    storage: Arc<dyn Storage>,
}

impl fmt::Debug for TransactionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionScope").finish_non_exhaustive()
    }
}

impl TransactionScope {
    /// Batches in transactions of `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }
}

impl ScopeHook for TransactionScope {
    type Scope = BatchTransaction;

    async fn begin(&self, _batch: &Parts) -> Result<BatchTransaction, ApiError> {
        Ok(BatchTransaction::new(self.storage.clone()))
    }

    async fn commit(&self, scope: BatchTransaction) -> Result<(), ApiError> {
        scope.commit().await
    }

    async fn rollback(&self, scope: BatchTransaction) {
        scope.rollback().await;
    }
}

/// Where the storage operations of one request go.
pub(crate) enum Unit {
    /// Straight to the backends (reads outside a batch).
    Direct,
    /// The request's own transaction.
    Own(Box<dyn Transaction>),
    /// The batch's transaction, held for the time of the subrequest.
    Batch(OwnedMutexGuard<Slot>),
}

impl Unit {
    /// The unit of a read.
    pub(crate) async fn read(batch: Option<&BatchTransaction>) -> Result<Self, ApiError> {
        match batch {
            Some(batch) => Ok(Unit::Batch(batch.enter().await?)),
            None => Ok(Unit::Direct),
        }
    }

    /// The unit of a write.
    pub(crate) async fn write(
        backends: &Backends,
        batch: Option<&BatchTransaction>,
    ) -> Result<Self, ApiError> {
        match batch {
            Some(batch) => Ok(Unit::Batch(batch.enter().await?)),
            None => Ok(Unit::Own(backends.storage.begin().await?)),
        }
    }

    fn transaction(&self) -> Option<&dyn Transaction> {
        match self {
            Unit::Direct => None,
            Unit::Own(transaction) => Some(transaction.as_ref()),
            Unit::Batch(slot) => slot.transaction.as_deref(),
        }
    }

    /// The storage of this unit.
    pub(crate) fn storage<'a>(&'a self, backends: &'a Backends) -> &'a dyn Storage {
        match self.transaction() {
            Some(transaction) => transaction.storage(),
            None => backends.storage.as_ref(),
        }
    }

    /// The permission backend of this unit.
    pub(crate) fn permission<'a>(&'a self, backends: &'a Backends) -> &'a dyn Permission {
        match self.transaction().and_then(|t| t.permission()) {
            Some(permission) => permission,
            None => backends.permission.as_ref(),
        }
    }

    /// Whether the object's ACL may be written before the object itself:
    /// the unit is the request's own transaction (rolled back whole when
    /// the request fails) and the permission backend takes part in it.
    ///
    /// On PostgreSQL a write holds its collection's lock from its object
    /// statement to its `COMMIT`, and every other writer of the collection
    /// waits for it: an ACL statement written first is one round trip less
    /// inside that window. In a batch (whose failed subrequests do not
    /// roll back) or with permissions in another backend, the ACL is
    /// written after the object, so that a refused write leaves none.
    pub(crate) fn acl_first(&self) -> bool {
        matches!(self, Unit::Own(transaction) if transaction.permission().is_some())
    }

    /// Whether a statement of the unit's transaction lost to a concurrent
    /// transaction: its work must be run again.
    pub(crate) fn conflicted(&self) -> bool {
        self.transaction().is_some_and(|t| t.conflicted())
    }

    /// Ends the unit: commits its own transaction when `ok`, rolls it back
    /// otherwise; a batch's transaction is the batch layer's to end.
    pub(crate) async fn finish(self, ok: bool) -> Result<(), StorageError> {
        match self {
            Unit::Own(transaction) if ok => transaction.commit().await,
            Unit::Own(transaction) => {
                let _ = transaction.rollback().await;
                Ok(())
            }
            Unit::Direct | Unit::Batch(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliquet_storage::storage::{Create, Get};

    async fn write(batch: &BatchTransaction, backends: &Backends, id: &str) {
        let unit = Unit::write(backends, Some(batch)).await.unwrap();
        unit.storage(backends)
            .create(Create::new("thing", "", id, Default::default()))
            .await
            .unwrap();
        // Seen inside the batch.
        assert!(
            unit.storage(backends)
                .get(Get::new("thing", "", id))
                .await
                .is_ok()
        );
        unit.finish(true).await.unwrap();
    }

    #[tokio::test]
    async fn a_batch_commits_or_rolls_back_as_one() {
        let backends = cliquet_memory::backends();
        let hook = TransactionScope::new(backends.storage.clone());
        let parts = http::Request::new(()).into_parts().0;

        let batch = hook.begin(&parts).await.unwrap();
        write(&batch, &backends, "a").await;
        write(&batch, &backends, "b").await;
        hook.rollback(batch).await;
        assert!(
            backends
                .storage
                .get(Get::new("thing", "", "a"))
                .await
                .is_err()
        );

        let batch = hook.begin(&parts).await.unwrap();
        write(&batch, &backends, "a").await;
        write(&batch, &backends, "b").await;
        hook.commit(batch).await.unwrap();
        assert!(
            backends
                .storage
                .get(Get::new("thing", "", "b"))
                .await
                .is_ok()
        );

        // A batch that never touched the storage commits nothing.
        let batch = hook.begin(&parts).await.unwrap();
        hook.commit(batch).await.unwrap();
    }

    #[tokio::test]
    async fn a_request_transaction_commits_only_on_success() {
        let backends = cliquet_memory::backends();
        let unit = Unit::write(&backends, None).await.unwrap();
        unit.storage(&backends)
            .create(Create::new("thing", "", "x", Default::default()))
            .await
            .unwrap();
        unit.finish(false).await.unwrap();
        assert!(
            backends
                .storage
                .get(Get::new("thing", "", "x"))
                .await
                .is_err()
        );
        let read = Unit::read(None).await.unwrap();
        assert!(matches!(read, Unit::Direct));
    }
}
