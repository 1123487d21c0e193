//! The flush plugin (`kinto.plugins.flush`): `POST /v1/__flush__` wipes
//! every backend. A development and testing aid: **anyone, anonymous
//! included, may call it**; never include it in production.
//!
//! The endpoint empties the storage (objects, tombstones, collection
//! timestamps), the permission backend (ACLs and group memberships) and
//! the cache backend, then runs the [`FlushHook`]s given to [`routes`]
//! (state kept in memory by the process, such as a cache of verified
//! credentials), and answers `202 Accepted` with `{}`. Without the plugin
//! the path is unknown (404); other methods are 405.
//!
//! Kinto also emits a "server flushed" event for its listeners; no
//! listener of this service needs one.

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cliquet::{Capabilities, DuplicateCapability};
use cliquet_errors::ApiError;
use cliquet_storage::Backends;
use http::StatusCode;
use serde_json::Map;

/// Work to do after the backends were emptied: forgetting what the process
/// keeps in memory about their former content.
pub type FlushHook = Arc<dyn Fn() + Send + Sync>;

/// Announces the `flush_endpoint` capability.
pub fn register_capability(capabilities: &mut Capabilities) -> Result<(), DuplicateCapability> {
    capabilities.register(
        "flush_endpoint",
        "The __flush__ endpoint can be used to remove all data from all backends.",
        "https://kinto.readthedocs.io/en/latest/api/1.x/flush.html",
        Map::new(),
    )
}

/// The route `POST {prefix}/__flush__` on `backends`, running `hooks`
/// after each flush.
pub fn routes(prefix: &str, backends: Backends, hooks: Vec<FlushHook>) -> Router {
    let hooks: Arc<[FlushHook]> = hooks.into();
    Router::new().route(
        &format!("{prefix}/__flush__"),
        post(move || {
            let backends = backends.clone();
            let hooks = hooks.clone();
            async move { flush(&backends, &hooks).await }
        }),
    )
}

async fn flush(backends: &Backends, hooks: &[FlushHook]) -> Response {
    let result = async {
        backends.storage.flush().await?;
        backends.permission.flush().await?;
        backends.cache.flush().await
    }
    .await;
    if let Err(error) = result {
        tracing::error!(%error, "flush failed");
        return ApiError::from(error).into_response();
    }
    for hook in hooks {
        hook();
    }
    tracing::info!("every backend flushed");
    (
        StatusCode::ACCEPTED,
        [(http::header::CONTENT_TYPE, "application/json")],
        "{}",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use cliquet_storage::storage::{Create, Get};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn flush_empties_and_runs_the_hooks() {
        let backends = cliquet_memory::backends();
        backends
            .storage
            .create(Create::new("thing", "", "a", Map::new()))
            .await
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let hook: FlushHook = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let router = routes("/v1", backends.clone(), vec![hook]);
        let request = http::Request::post("/v1/__flush__")
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            backends
                .storage
                .get(Get::new("thing", "", "a"))
                .await
                .is_err()
        );
    }
}
