//! The smallest Cliquet service: private bookmarks.
//!
//! [`app`] assembles the whole service from its parts — the `bookmark`
//! resource served at `/v1/bookmarks` (private per user), a custom
//! `/v1/stats` handler that uses the storage directly — and hands them to
//! the umbrella crate, which adds everything else the protocol has: the
//! hello endpoint, the batch endpoint (one transaction per batch), Basic
//! authentication, heartbeat, version redirects, CORS, backoff and the
//! error format. `main.rs` only reads the command line and serves it.

use std::convert::Infallible;
use std::path::Path;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use cliquet::settings::{RawSettings, SettingsError, Sources};
use cliquet::{Cliquet, InitError};
use cliquet_auth::Identity;
use cliquet_errors::ApiError;
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

/// The service's settings: the toolkit's, with the bookmarks' defaults
/// (`project_name = "bookmarks"`, Basic auth, memory backends).
pub type Settings = cliquet::settings::Settings;

/// Reads the settings: the bookmarks' defaults, then the optional file
/// (TOML, or a Kinto-style `.ini`), then `BOOKMARKS_*` environment
/// variables.
pub fn settings(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, SettingsError> {
    let mut defaults = RawSettings::new();
    defaults.set("project_name", "bookmarks");
    defaults.set("project_version", env!("CARGO_PKG_VERSION"));
    defaults.set("http_api_version", "1.0");
    defaults.set("multiauth.policies", "basicauth");
    Settings::load(Sources {
        file,
        prefix: "bookmarks",
        env: env.into_iter().collect(),
        defaults,
    })
}

/// The whole service, as one cloneable tower service.
pub type App = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

/// The bookmark resource.
pub fn bookmarks(settings: &Settings) -> Resource {
    Resource::builder("bookmark")
        .schema(Schema::typed::<Bookmark>())
        .paginate_by(settings.core.paginate_by.map(|n| n as usize))
        .max_fetch_size(settings.core.storage_max_fetch_size as usize)
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

/// Assembles the service on `backends`: the bookmark resource and the
/// stats handler under `/v1`, in every layer of the protocol
/// ([`Cliquet::service`]), batches in one storage transaction.
pub fn app(settings: Settings, backends: Backends) -> Result<App, InitError> {
    let api = bookmarks(&settings).router(backends.clone()).merge(
        Router::new()
            .route("/stats", get(stats))
            .with_state(backends.clone()),
    );
    let routes = Router::new().nest("/v1", api);
    let scope = TransactionScope::new(backends.storage.clone());
    let cliquet = Cliquet::with_backends(settings, backends, cliquet_heartbeat::build_info!());
    let service = cliquet
        .service(routes, scope)?
        .map_response(|response| response.map(Body::new));
    Ok(BoxCloneService::new(service))
}

/// The service on the backends its settings name.
pub async fn service(settings: Settings) -> Result<App, InitError> {
    let backends = cliquet::backends_from_settings(&settings).await?;
    app(settings, backends)
}

/// The service on fresh memory backends, with the default settings.
pub fn memory_app() -> App {
    let settings = settings(None, Vec::new()).expect("the default settings are valid");
    app(settings, cliquet_memory::backends()).expect("the default service assembles")
}
