//! The scope hook that makes a batch one unit of work, and the extension
//! types subrequests carry.

use std::future::{Future, ready};
use std::sync::{Arc, Mutex, PoisonError};

use cliquet_errors::ApiError;
use http::Extensions;
use http::request::Parts;

/// Makes a whole batch one unit of work: typically one storage transaction.
///
/// The layer calls [`begin`](ScopeHook::begin) before the first subrequest,
/// inserts the [`Scope`](ScopeHook::Scope) value it returns into the
/// extensions of every subrequest (where a resource layer finds it and runs
/// its reads and writes in that transaction), then, after the last
/// subrequest, either [`commit`](ScopeHook::commit)s or
/// [`rollback`](ScopeHook::rollback)s it:
///
/// - no subresponse is a 5xx or a 409: commit. Any other 4xx (400, 403,
///   404, 412...) is recorded in the batch response and undoes nothing, as
///   in Kinto;
/// - a subresponse is 5xx or 409, carries [`AbortBatch`], or the inner
///   service fails: rollback, and the batch answers that error;
/// - `begin` or `commit` fails: the batch answers that error.
///
/// An empty batch begins no scope.
///
/// The trait is generic (the layer is `BatchLayer<H>`), with `async`
/// methods whose futures are `Send`. An application that picks its backend
/// at run time implements it once on a type holding its `Arc<dyn …>`
/// storage.
///
/// # Caveats
///
/// - If the batch's future is dropped (the client went away, or a
///   subrequest panicked), neither `commit` nor `rollback` is called: the
///   scope must roll back when its last clone is dropped, as the
///   transactions of database drivers do.
/// - A 4xx subresponse does not end the scope. A storage that cannot go on
///   after a failed statement (PostgreSQL aborts the whole transaction)
///   must protect each write with a savepoint, or mark the subresponse
///   with [`AbortBatch`].
/// - `commit` that fails must leave nothing applied; the layer does not
///   call `rollback` after it.
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use cliquet_batch::ScopeHook;
/// use cliquet_errors::ApiError;
/// use http::request::Parts;
///
/// /// Writes are buffered in the scope and applied on commit.
/// #[derive(Clone, Default)]
/// struct Pending(Arc<Mutex<Vec<String>>>);
///
/// #[derive(Clone, Default)]
/// struct Store(Arc<Mutex<Vec<String>>>);
///
/// impl ScopeHook for Store {
///     type Scope = Pending;
///
///     async fn begin(&self, _batch: &Parts) -> Result<Pending, ApiError> {
///         Ok(Pending::default())
///     }
///
///     async fn commit(&self, scope: Pending) -> Result<(), ApiError> {
///         let writes = std::mem::take(&mut *scope.0.lock().unwrap());
///         self.0.lock().unwrap().extend(writes);
///         Ok(())
///     }
///
///     async fn rollback(&self, scope: Pending) {
///         scope.0.lock().unwrap().clear();
///     }
/// }
/// ```
pub trait ScopeHook: Send + Sync + 'static {
    /// The value put into every subrequest's extensions: a transaction
    /// handle, say. Clones must share the scope.
    type Scope: Clone + Send + Sync + 'static;

    /// Begins the scope of a batch, given the batch request's head. An
    /// error is the batch's answer (a 503 when the storage is down, say).
    fn begin(&self, batch: &Parts) -> impl Future<Output = Result<Self::Scope, ApiError>> + Send;

    /// Makes the work of the batch permanent. An error is the batch's
    /// answer (a 409 from a deferred constraint, a 503).
    fn commit(&self, scope: Self::Scope) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Undoes the work of the batch.
    fn rollback(&self, scope: Self::Scope) -> impl Future<Output = ()> + Send;
}

impl<T: ScopeHook> ScopeHook for Arc<T> {
    type Scope = T::Scope;

    fn begin(&self, batch: &Parts) -> impl Future<Output = Result<Self::Scope, ApiError>> + Send {
        (**self).begin(batch)
    }

    fn commit(&self, scope: Self::Scope) -> impl Future<Output = Result<(), ApiError>> + Send {
        (**self).commit(scope)
    }

    fn rollback(&self, scope: Self::Scope) -> impl Future<Output = ()> + Send {
        (**self).rollback(scope)
    }
}

/// The default hook: no unit of work. Subrequests run one after the other
/// and nothing is undone when one fails (Kinto's behaviour with
/// `transaction_per_request = false` or the memory backends). Its scope
/// value is `NoScope` itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoScope;

impl ScopeHook for NoScope {
    type Scope = NoScope;

    fn begin(&self, _batch: &Parts) -> impl Future<Output = Result<Self::Scope, ApiError>> + Send {
        ready(Ok(NoScope))
    }

    fn commit(&self, _scope: Self::Scope) -> impl Future<Output = Result<(), ApiError>> + Send {
        ready(Ok(()))
    }

    fn rollback(&self, _scope: Self::Scope) -> impl Future<Output = ()> + Send {
        ready(())
    }
}

/// Marks a request as a subrequest of a batch: found in the extensions of
/// every request the batch layer sends to its inner service.
///
/// Inner layers use it to know they run inside a batch (a logger writes
/// `subrequest.summary` instead of `request.summary`; an authentication
/// layer looks principals up once per batch through [`cache`](Self::cache)).
#[derive(Debug, Clone)]
pub struct Subrequest {
    index: usize,
    count: usize,
    cache: BatchCache,
}

impl Subrequest {
    pub(crate) fn new(index: usize, count: usize, cache: BatchCache) -> Self {
        Self {
            index,
            count,
            cache,
        }
    }

    /// The position of this subrequest in the batch, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many subrequests the batch holds.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The cache shared by every subrequest of this batch.
    pub fn cache(&self) -> &BatchCache {
        &self.cache
    }
}

/// A type map shared by the subrequests of one batch, and dropped with it:
/// the protocol's request-bound cache (a user's principals fetched once per
/// batch, a parent object read once).
#[derive(Debug, Clone, Default)]
pub struct BatchCache {
    values: Arc<Mutex<Extensions>>,
}

impl BatchCache {
    /// A clone of the value of type `T`, if one was inserted.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock().get::<T>().cloned()
    }

    /// Inserts a value, returning the one of the same type it replaces.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.lock().insert(value)
    }

    /// Removes and returns the value of type `T`.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock().remove::<T>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Extensions> {
        // The map holds plain values: a panic while it was locked leaves
        // nothing half-written that matters.
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Put into a subresponse's extensions, makes the batch stop and roll back
/// whatever its status, and answer that subresponse.
///
/// For a resource layer whose storage cannot go on after an error that it
/// still answers with a 4xx.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AbortBatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_shared_by_clones() {
        let cache = BatchCache::default();
        let subrequest = Subrequest::new(1, 3, cache.clone());
        assert_eq!(subrequest.index(), 1);
        assert_eq!(subrequest.count(), 3);
        assert_eq!(subrequest.cache().insert(7u32), None);
        assert_eq!(cache.get::<u32>(), Some(7));
        assert_eq!(cache.insert(8u32), Some(7));
        assert_eq!(subrequest.cache().remove::<u32>(), Some(8));
        assert_eq!(cache.get::<u32>(), None);
    }
}
