//! The smallest Cliquet service: private bookmarks.
//!
//! [`app`] assembles the whole service from its parts — the `bookmark`
//! resource served at `/v1/bookmarks` (private per user), a custom
//! `/v1/stats` handler that uses the storage directly, the batch endpoint
//! (`/v1/batch`, one transaction per batch), Basic authentication and the
//! protocol's error format. `main.rs` only reads the command line and
//! serves it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use cliquet_auth::{AuthLayer, AuthPolicy, BasicAuthPolicy, Identity};
use cliquet_batch::BatchLayer;
use cliquet_errors::{ApiError, ErrorLayer};
use cliquet_resource::{Resource, Schema, TransactionScope};
use cliquet_storage::Backends;
use cliquet_storage::storage::{Count, ResourceTimestamp};
use http::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower::util::BoxCloneService;

/// A bookmark: what `data` holds. Unknown fields are kept; `url` is
/// required and must be a string.
#[derive(Debug, Deserialize, Serialize)]
pub struct Bookmark {
    /// Where it points.
    pub url: String,
    /// An optional title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The settings of the service (a TOML file, every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where to listen (`--bind` wins).
    pub bind: String,
    /// The secret Basic credentials are hashed with into user ids.
    pub userid_hmac_secret: String,
    /// The default page size of lists.
    pub paginate_by: Option<usize>,
    /// The most subrequests of a batch.
    pub batch_max_requests: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8888".to_owned(),
            userid_hmac_secret: "change me".to_owned(),
            paginate_by: None,
            batch_max_requests: 25,
        }
    }
}

/// The whole service, as one cloneable tower service.
pub type App = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

/// The bookmark resource.
pub fn bookmarks(settings: &Settings) -> Resource {
    Resource::builder("bookmark")
        .schema(Schema::typed::<Bookmark>())
        .paginate_by(settings.paginate_by)
        .build()
        .expect("the bookmark resource is valid")
}

/// `GET /v1/stats`: how many bookmarks the user has, and when they last
/// changed — straight from the storage, no resource involved.
async fn stats(
    State(backends): State<Backends>,
    identity: Option<Extension<Identity>>,
) -> Result<Json<Value>, ApiError> {
    let Some(user_id) = identity.as_ref().and_then(|Extension(i)| i.user_id()) else {
        return Err(ApiError::unauthorized());
    };
    let count = backends
        .storage
        .count(Count::new("bookmark", user_id))
        .await?;
    let timestamp = backends
        .storage
        .resource_timestamp(ResourceTimestamp::new("bookmark", user_id))
        .await?;
    Ok(Json(
        json!({"bookmarks": count, "last_modified": timestamp}),
    ))
}

/// Assembles the service on `backends`.
pub fn app(settings: &Settings, backends: Backends) -> App {
    let api = bookmarks(settings).router(backends.clone()).merge(
        Router::new()
            .route("/stats", get(stats))
            .with_state(backends.clone()),
    );
    let router = Router::new().nest("/v1", api);
    let basic: Arc<dyn AuthPolicy> = Arc::new(BasicAuthPolicy::new(&settings.userid_hmac_secret));
    let service = tower::ServiceBuilder::new()
        .layer(ErrorLayer::new())
        .layer(
            BatchLayer::new()
                .max_requests(settings.batch_max_requests)
                .scope(TransactionScope::new(backends.storage.clone())),
        )
        .layer(AuthLayer::new([basic]))
        .service(router)
        .map_request(|request: Request<Body>| request)
        .map_response(|response| response.map(Body::new));
    BoxCloneService::new(service)
}

/// The service on fresh memory backends.
pub fn memory_app(settings: &Settings) -> App {
    app(settings, cliquet_memory::backends())
}
