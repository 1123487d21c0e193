//! The backend test kit of `cliquet-storage`, against the real PostgreSQL
//! named by `CLIQUET_TEST_POSTGRES_URL` (skipped without it). Each case runs
//! in a schema of its own, so runs in parallel do not collide.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cliquet_postgres::{
    Component, Pool, PostgresCache, PostgresPermission, PostgresStorage, ScratchSchema, migrate,
};
use cliquet_storage::Backends;

async fn backends() -> Option<Backends> {
    static CLEANED: AtomicBool = AtomicBool::new(false);
    let url = std::env::var("CLIQUET_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    if !CLEANED.swap(true, Ordering::SeqCst) {
        // Schemas of earlier runs (the kit cannot drop its own when a case
        // ends).
        ScratchSchema::drop_stale(&url, "kit", Duration::from_secs(3600))
            .await
            .expect("drop stale schemas");
    }
    let schema = ScratchSchema::create(&url, "kit")
        .await
        .expect("scratch schema");
    let mut settings = schema.settings();
    settings.pool_size = 24;
    let pool = Pool::new(&settings).expect("pool");
    migrate(
        &pool,
        &[Component::Storage, Component::Permission, Component::Cache],
        false,
    )
    .await
    .expect("migrate");
    Some(Backends::new(
        Arc::new(PostgresStorage::new(pool.clone()).with_shared_permission(true)),
        Arc::new(PostgresPermission::new(pool.clone())),
        Arc::new(PostgresCache::new(pool, "")),
    ))
}

cliquet_storage::backend_test_kit!(backends());
