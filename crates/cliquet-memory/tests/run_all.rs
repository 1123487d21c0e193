//! The whole test kit in one call, as a backend without per-case tests
//! would run it; also checks that `run_all` reports a broken backend.

use std::sync::Arc;

use async_trait::async_trait;
use cliquet_storage::storage::{
    AllResourcesTimestamps, Count, Create, Delete, DeleteAll, Deleted, Get, List, PurgeDeleted,
    ResourceTimestamp, Update, Updated,
};
use cliquet_storage::{Backends, Object, Result, Storage, Timestamp, Transaction};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_backends_keep_the_contract() {
    cliquet_storage::testkit::run_all(|| async { cliquet_memory::backends() }).await;
}

#[tokio::test]
async fn a_factory_without_backends_skips_the_kit() {
    cliquet_storage::testkit::run_all(|| async { None::<Backends> }).await;
}

/// The memory backend, except that lists forget their limit.
struct Limitless(cliquet_memory::MemoryBackend);

#[async_trait]
impl Storage for Limitless {
    async fn create(&self, params: Create) -> Result<Object> {
        self.0.create(params).await
    }
    async fn get(&self, params: Get) -> Result<Object> {
        self.0.get(params).await
    }
    async fn update(&self, params: Update) -> Result<Updated> {
        self.0.update(params).await
    }
    async fn delete(&self, params: Delete) -> Result<Deleted> {
        self.0.delete(params).await
    }
    async fn delete_all(&self, params: DeleteAll) -> Result<Vec<Deleted>> {
        self.0.delete_all(params).await
    }
    async fn list(&self, params: List) -> Result<Vec<Object>> {
        self.0.list(params.with_limit(None)).await
    }
    async fn count(&self, params: Count) -> Result<u64> {
        self.0.count(params).await
    }
    async fn purge_deleted(&self, params: PurgeDeleted) -> Result<u64> {
        self.0.purge_deleted(params).await
    }
    async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp> {
        self.0.resource_timestamp(params).await
    }
    async fn all_resources_timestamps(
        &self,
        params: AllResourcesTimestamps,
    ) -> Result<std::collections::BTreeMap<String, Timestamp>> {
        self.0.all_resources_timestamps(params).await
    }
    async fn flush(&self) -> Result<()> {
        Storage::flush(&self.0).await
    }
    async fn healthcheck(&self) -> Result<()> {
        Storage::healthcheck(&self.0).await
    }
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        self.0.begin().await
    }
}

#[test]
fn a_broken_backend_fails_the_kit() {
    let kit = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(cliquet_storage::testkit::run_all(|| async {
            let memory = cliquet_memory::MemoryBackend::new();
            Backends::new(
                Arc::new(Limitless(memory.clone())),
                Arc::new(memory),
                Arc::new(cliquet_memory::MemoryCache::new()),
            )
        }));
    });
    let panic = kit.join().expect_err("the kit fails");
    let message = panic.downcast_ref::<String>().expect("a message");
    assert!(message.contains("\"limit\""), "{message}");
    assert!(
        !message.contains("create_returns_the_stored_object"),
        "{message}"
    );
}
