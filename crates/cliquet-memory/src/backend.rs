//! [`MemoryBackend`]: storage and permissions in one lock-protected state,
//! and its transactions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use cliquet_storage::storage::{
    AllResourcesTimestamps, Count, Create, Delete, DeleteAll, Deleted, Get, List, PurgeDeleted,
    ResourceTimestamp, Update, Updated,
};
use cliquet_storage::timestamp::{Clock, SystemClock};
use cliquet_storage::{
    Acl, BoundPermission, Object, Permission, Principals, Result, Storage, StorageError, Timestamp,
    Transaction,
};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::store::{self, Layered, Staged, State, Store};

/// In-memory [`Storage`] and [`Permission`] backends sharing one state, so
/// that a [`Transaction`] covers both.
///
/// Cloning gives another handle on the same data. Reads take a read lock
/// for the time of a scan; writes are serialised (by an async gate, then a
/// short write lock); no lock is held across an `.await`. A transaction
/// holds the write gate until it ends: other writers wait, readers do not
/// (they see the committed state).
#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

struct Inner {
    state: RwLock<State>,
    gate: Arc<AsyncMutex<()>>,
    clock: Arc<dyn Clock>,
    readonly: AtomicBool,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("clock", &self.inner.clock)
            .field("readonly", &self.is_readonly())
            .finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// An empty backend on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty backend reading time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(State::default()),
                gate: Arc::new(AsyncMutex::new(())),
                clock,
                readonly: AtomicBool::new(false),
            }),
        }
    }

    /// Makes storage writes (and the initialisation of collection
    /// timestamps) fail with [`StorageError::Readonly`], or allows them again.
    pub fn set_readonly(&self, readonly: bool) {
        self.inner.readonly.store(readonly, Ordering::SeqCst);
    }

    /// Whether storage writes are refused.
    pub fn is_readonly(&self) -> bool {
        self.inner.readonly.load(Ordering::SeqCst)
    }

    fn access(&self) -> Access<'_> {
        Access::Direct(&self.inner)
    }
}

/// A transaction of a [`MemoryBackend`]: its writes are staged (copies of
/// the collections it touches) and published at once on commit.
pub struct MemoryTransaction {
    inner: Arc<Inner>,
    staged: Mutex<Staged>,
    _gate: OwnedMutexGuard<()>,
}

impl fmt::Debug for MemoryTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransaction").finish_non_exhaustive()
    }
}

/// Where an operation runs: on the committed state, or in a transaction.
enum Access<'a> {
    Direct(&'a Inner),
    Transaction(&'a MemoryTransaction),
}

impl Access<'_> {
    fn inner(&self) -> &Inner {
        match self {
            Access::Direct(inner) => inner,
            Access::Transaction(transaction) => &transaction.inner,
        }
    }

    fn read<T>(&self, f: impl FnOnce(&dyn Store) -> T) -> T {
        match self {
            Access::Direct(inner) => f(&*inner.state.read()),
            Access::Transaction(transaction) => {
                let mut staged = transaction.staged.lock();
                let committed = transaction.inner.state.read();
                f(&Layered {
                    staged: &mut staged,
                    committed: &committed,
                })
            }
        }
    }

    async fn write<T>(
        &self,
        storage: bool,
        f: impl FnOnce(&mut dyn Store, Timestamp) -> Result<T>,
    ) -> Result<T> {
        let inner = self.inner();
        if storage && inner.readonly.load(Ordering::SeqCst) {
            return Err(StorageError::Readonly);
        }
        match self {
            Access::Direct(inner) => {
                let _gate = inner.gate.lock().await;
                let mut state = inner.state.write();
                let now = inner.clock.now();
                f(&mut *state, now)
            }
            Access::Transaction(transaction) => {
                let mut staged = transaction.staged.lock();
                let committed = transaction.inner.state.read();
                let now = transaction.inner.clock.now();
                f(
                    &mut Layered {
                        staged: &mut staged,
                        committed: &committed,
                    },
                    now,
                )
            }
        }
    }

    async fn write_acls(&self, f: impl FnOnce(&mut crate::acl::Acls)) -> Result<()> {
        self.write(false, |store, _| {
            f(store.acls_mut());
            Ok(())
        })
        .await
    }

    async fn list(&self, params: List) -> Result<Vec<Object>> {
        // Sorting happens after the lock is released.
        let (selected, ordered) = self.read(|store| store::list(store, &params));
        let selected = if ordered {
            selected
        } else {
            store::order(selected, |(_, entry)| entry, &params.sort, params.limit)
        };
        Ok(selected
            .iter()
            .map(|(_, entry)| entry.object.clone())
            .collect())
    }

    async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp> {
        let known =
            self.read(|store| store::timestamp(store, &params.resource_name, &params.parent_id));
        if let Some(timestamp) = known {
            return Ok(timestamp);
        }
        self.write(true, |store, now| {
            Ok(store::init_timestamp(
                store,
                now,
                &params.resource_name,
                &params.parent_id,
            ))
        })
        .await
    }
}

/// Implements [`Storage`] for a type with an `access()` method.
macro_rules! storage_impl {
    ($type:ty) => {
        #[async_trait]
        impl Storage for $type {
            async fn create(&self, params: Create) -> Result<Object> {
                self.access()
                    .write(true, |store, now| store::create(store, now, params))
                    .await
            }

            async fn get(&self, params: Get) -> Result<Object> {
                self.access().read(|store| store::get(store, &params))
            }

            async fn update(&self, params: Update) -> Result<Updated> {
                self.access()
                    .write(true, |store, now| store::update(store, now, params))
                    .await
            }

            async fn delete(&self, params: Delete) -> Result<Deleted> {
                self.access()
                    .write(true, |store, now| store::delete(store, now, params))
                    .await
            }

            async fn delete_all(&self, params: DeleteAll) -> Result<Vec<Deleted>> {
                self.access()
                    .write(true, |store, now| store::delete_all(store, now, params))
                    .await
            }

            async fn list(&self, params: List) -> Result<Vec<Object>> {
                self.access().list(params).await
            }

            async fn count(&self, params: Count) -> Result<u64> {
                Ok(self.access().read(|store| store::count(store, &params)))
            }

            async fn purge_deleted(&self, params: PurgeDeleted) -> Result<u64> {
                self.access()
                    .write(true, |store, _| store::purge_deleted(store, &params))
                    .await
            }

            async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp> {
                self.access().resource_timestamp(params).await
            }

            async fn all_resources_timestamps(
                &self,
                params: AllResourcesTimestamps,
            ) -> Result<BTreeMap<String, Timestamp>> {
                Ok(self
                    .access()
                    .read(|store| store::all_timestamps(store, &params)))
            }

            async fn flush(&self) -> Result<()> {
                self.access()
                    .write(false, |store, _| {
                        store.clear();
                        Ok(())
                    })
                    .await
            }

            async fn healthcheck(&self) -> Result<()> {
                Ok(())
            }

            async fn begin(&self) -> Result<Box<dyn Transaction>> {
                self.begin_transaction().await
            }
        }
    };
}

/// Implements [`Permission`] for a type with an `access()` method.
macro_rules! permission_impl {
    ($type:ty) => {
        #[async_trait]
        impl Permission for $type {
            async fn add_user_principal(&self, user_id: &str, principal: &str) -> Result<()> {
                self.access()
                    .write_acls(|acls| acls.add_user_principal(user_id, principal))
                    .await
            }

            async fn remove_user_principal(&self, user_id: &str, principal: &str) -> Result<()> {
                self.access()
                    .write_acls(|acls| acls.remove_user_principal(user_id, principal))
                    .await
            }

            async fn remove_principal(&self, principal: &str) -> Result<()> {
                self.access()
                    .write_acls(|acls| acls.remove_principal(principal))
                    .await
            }

            async fn get_user_principals(&self, user_id: &str) -> Result<Principals> {
                Ok(self
                    .access()
                    .read(|store| store.acls().user_principals(user_id)))
            }

            async fn add_principal_to_ace(
                &self,
                object_id: &str,
                permission: &str,
                principal: &str,
            ) -> Result<()> {
                self.access()
                    .write_acls(|acls| acls.add_principal_to_ace(object_id, permission, principal))
                    .await
            }

            async fn remove_principal_from_ace(
                &self,
                object_id: &str,
                permission: &str,
                principal: &str,
            ) -> Result<()> {
                self.access()
                    .write_acls(|acls| {
                        acls.remove_principal_from_ace(object_id, permission, principal)
                    })
                    .await
            }

            async fn get_object_permission_principals(
                &self,
                object_id: &str,
                permission: &str,
            ) -> Result<Principals> {
                Ok(self
                    .access()
                    .read(|store| store.acls().ace(object_id, permission)))
            }

            async fn get_objects_permissions(
                &self,
                object_ids: &[String],
                permissions: Option<&[String]>,
            ) -> Result<Vec<Acl>> {
                Ok(self.access().read(|store| {
                    object_ids
                        .iter()
                        .map(|id| store.acls().acl(id, permissions))
                        .collect()
                }))
            }

            async fn replace_object_permissions(&self, object_id: &str, acl: &Acl) -> Result<()> {
                self.access()
                    .write_acls(|acls| acls.replace(object_id, acl))
                    .await
            }

            async fn delete_object_permissions(&self, object_ids: &[String]) -> Result<()> {
                self.access()
                    .write_acls(|acls| acls.delete(object_ids))
                    .await
            }

            async fn get_authorized_principals(
                &self,
                bound: &[BoundPermission],
            ) -> Result<Principals> {
                Ok(self
                    .access()
                    .read(|store| store.acls().authorized_principals(bound)))
            }

            async fn get_accessible_objects(
                &self,
                principals: &[String],
                bound: Option<&[BoundPermission]>,
                with_children: bool,
            ) -> Result<BTreeMap<String, BTreeSet<String>>> {
                Ok(self.access().read(|store| {
                    store
                        .acls()
                        .accessible_objects(principals, bound, with_children)
                }))
            }

            async fn flush(&self) -> Result<()> {
                self.access().write_acls(|acls| acls.clear()).await
            }

            async fn healthcheck(&self) -> Result<()> {
                Ok(())
            }
        }
    };
}

storage_impl!(MemoryBackend);
permission_impl!(MemoryBackend);
storage_impl!(MemoryTransaction);
permission_impl!(MemoryTransaction);

impl MemoryBackend {
    async fn begin_transaction(&self) -> Result<Box<dyn Transaction>> {
        let gate = Arc::clone(&self.inner.gate).lock_owned().await;
        Ok(Box::new(MemoryTransaction {
            inner: Arc::clone(&self.inner),
            staged: Mutex::new(Staged::default()),
            _gate: gate,
        }))
    }
}

impl MemoryTransaction {
    fn access(&self) -> Access<'_> {
        Access::Transaction(self)
    }

    async fn begin_transaction(&self) -> Result<Box<dyn Transaction>> {
        Err(StorageError::backend("transactions do not nest"))
    }
}

#[async_trait]
impl Transaction for MemoryTransaction {
    fn storage(&self) -> &dyn Storage {
        self
    }

    fn permission(&self) -> Option<&dyn Permission> {
        Some(self)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let staged = std::mem::take(&mut *self.staged.lock());
        staged.apply(&mut self.inner.state.write());
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cliquet_storage::storage::{Create, Delete, Get, List, ResourceTimestamp, Update};
    use cliquet_storage::timestamp::ManualClock;
    use cliquet_storage::{Storage, StorageError};
    use serde_json::{Map, json};

    use super::MemoryBackend;

    fn data(value: serde_json::Value) -> Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap()
    }

    #[tokio::test]
    async fn timestamps_follow_the_clock_and_survive_it_going_back() {
        let clock = Arc::new(ManualClock::new(1_000));
        let backend = MemoryBackend::with_clock(clock.clone());
        let a = backend
            .create(Create::new("r", "", "a", Map::new()))
            .await
            .unwrap();
        assert_eq!(a.last_modified, 1_000);
        let b = backend
            .create(Create::new("r", "", "b", Map::new()))
            .await
            .unwrap();
        assert_eq!(b.last_modified, 1_001, "same millisecond: bumped by one");
        clock.set(500);
        let c = backend
            .update(Update::new("r", "", "a", Map::new()))
            .await
            .unwrap();
        assert_eq!(
            c.object.last_modified, 1_002,
            "the clock went back: still increasing"
        );
        let d = backend.delete(Delete::new("r", "", "b")).await.unwrap();
        assert_eq!(d.tombstone.last_modified, 1_003);
        clock.set(5_000);
        let e = backend
            .create(Create::new("r", "", "e", Map::new()))
            .await
            .unwrap();
        assert_eq!(
            e.last_modified, 5_000,
            "the clock is followed again once ahead"
        );
        let other = backend
            .create(Create::new("r", "/other", "a", Map::new()))
            .await
            .unwrap();
        assert_eq!(
            other.last_modified, 5_000,
            "collections have their own timestamps"
        );
    }

    #[tokio::test]
    async fn empty_collection_timestamp_is_the_clock_when_first_read() {
        let clock = Arc::new(ManualClock::new(42));
        let backend = MemoryBackend::with_clock(clock.clone());
        let params = ResourceTimestamp::new("r", "");
        assert_eq!(
            backend.resource_timestamp(params.clone()).await.unwrap(),
            42
        );
        clock.set(90);
        assert_eq!(
            backend.resource_timestamp(params.clone()).await.unwrap(),
            42
        );
        clock.set(10);
        let created = backend
            .create(Create::new("r", "", "a", Map::new()))
            .await
            .unwrap();
        assert_eq!(created.last_modified, 43);
    }

    #[tokio::test]
    async fn readonly_refuses_writes_but_serves_reads() {
        let backend = MemoryBackend::new();
        let created = backend
            .create(Create::new("r", "", "a", data(json!({"v": 1}))))
            .await
            .unwrap();
        backend.set_readonly(true);
        assert!(backend.is_readonly());
        let refused = backend.create(Create::new("r", "", "b", Map::new())).await;
        assert!(matches!(refused, Err(StorageError::Readonly)));
        assert!(matches!(
            backend.delete(Delete::new("r", "", "a")).await,
            Err(StorageError::Readonly)
        ));
        let unknown = backend
            .resource_timestamp(ResourceTimestamp::new("r", "/never"))
            .await;
        assert!(
            matches!(unknown, Err(StorageError::Readonly)),
            "initialising a timestamp is a write"
        );
        let known = backend
            .resource_timestamp(ResourceTimestamp::new("r", ""))
            .await
            .unwrap();
        assert_eq!(known, created.last_modified);
        assert_eq!(backend.get(Get::new("r", "", "a")).await.unwrap(), created);
        backend.set_readonly(false);
        backend
            .create(Create::new("r", "", "b", Map::new()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn transactions_do_not_nest() {
        let backend = MemoryBackend::new();
        let transaction = backend.begin().await.unwrap();
        assert!(matches!(
            transaction.storage().begin().await,
            Err(StorageError::Backend { .. })
        ));
        transaction.rollback().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_wait_for_an_open_transaction() {
        let backend = MemoryBackend::new();
        let transaction = backend.begin().await.unwrap();
        transaction
            .storage()
            .create(Create::new("r", "", "a", Map::new()))
            .await
            .unwrap();
        let writer = {
            let backend = backend.clone();
            tokio::spawn(async move {
                backend
                    .create(Create::new("r", "", "b", Map::new()))
                    .await
                    .unwrap()
            })
        };
        // Readers are not blocked, and see the committed state.
        assert!(backend.list(List::new("r", "")).await.unwrap().is_empty());
        tokio::task::yield_now().await;
        assert!(
            !writer.is_finished(),
            "the writer waits for the transaction"
        );
        transaction.commit().await.unwrap();
        let b = writer.await.unwrap();
        let a = backend.get(Get::new("r", "", "a")).await.unwrap();
        assert!(
            b.last_modified > a.last_modified,
            "the waiting write comes after the transaction's"
        );
    }

    #[tokio::test]
    async fn flush_inside_a_transaction() {
        let backend = MemoryBackend::new();
        backend
            .create(Create::new("r", "", "a", Map::new()))
            .await
            .unwrap();
        let transaction = backend.begin().await.unwrap();
        transaction.storage().flush().await.unwrap();
        assert!(
            transaction
                .storage()
                .list(List::new("r", ""))
                .await
                .unwrap()
                .is_empty()
        );
        transaction
            .storage()
            .create(Create::new("r", "", "b", Map::new()))
            .await
            .unwrap();
        assert_eq!(backend.list(List::new("r", "")).await.unwrap().len(), 1);
        transaction.commit().await.unwrap();
        let listed = backend
            .list(List::new("r", "").with_include_deleted(true))
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
    }
}
