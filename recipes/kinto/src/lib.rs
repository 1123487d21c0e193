//! A Kinto-compatible JSON storage service.
//!
//! [`app`] assembles Kinto's four resources under `/v1` with Kinto's URLs
//! and hands them to the umbrella crate, which adds the rest of the
//! protocol (hello, batch in one transaction, Basic authentication,
//! heartbeat, version redirects, CORS, backoff, the error format):
//!
//! | resource | plural URL | object URL |
//! | --- | --- | --- |
//! | bucket | `/buckets` | `/buckets/{id}` |
//! | collection | `/buckets/{bucket_id}/collections` | `…/collections/{id}` |
//! | group | `/buckets/{bucket_id}/groups` | `…/groups/{id}` |
//! | record | `/buckets/{bucket_id}/collections/{collection_id}/records` | `…/records/{id}` |
//!
//! Permissions follow Kinto's inheritance tree ([`permissions`]): `write`
//! on a bucket grants everything inside it, `read` on a bucket grants
//! `read` inside it, and so on; the `<resource>_<permission>_principals`
//! settings grant permissions whatever the ACLs say
//! (`bucket_create_principals` defaults to `system.Authenticated`).
//! Deleting a bucket deletes everything in it, deleting a collection its
//! records; group members get the group URI as a principal ([`hooks`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use axum::body::Body;
//! use tower::ServiceExt;
//!
//! let app = kinto::memory_app();
//! let request = http::Request::put("/v1/buckets/blog")
//!     .header("authorization", "Basic YWxpY2U6c2VjcmV0")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 201);
//! # });
//! ```
//!
//! Across the service ([`permissions_endpoint`], [`metrics`],
//! [`openapi`], [`capabilities`]): `GET /permissions` when
//! `experimental_permissions_endpoint` is on (or the admin plugin
//! included), `/__metrics__` with the prometheus plugin, StatsD with the
//! statsd plugin, the OpenAPI description at `/__api__`, and
//! `DELETE /__user_data__/{principal}` ([`user_data`]).
//!
//! Plugins: the personal bucket ([`default_bucket`]) and the flush
//! endpoint ([`flush`]), when `includes` names them.
//! With `kinto.plugins.accounts` included, `/accounts` and the accounts
//! authentication policy are served too ([`accounts`]).
//!
//! Collection JSON schemas ([`schema`]), record cache headers ([`cache`])
//! and the history plugin ([`history`]) follow the settings.

use std::convert::Infallible;
use std::path::Path;

use axum::Router;
use axum::body::Body;
use cliquet::settings::{RawSettings, SettingsError, Sources};
use cliquet::{Cliquet, InitError};
use cliquet_resource::{Names, Resource, ResourceHooks, TransactionScope};
use cliquet_storage::Backends;
use http::{Request, Response};
use tower::ServiceExt;
use tower::util::BoxCloneService;

pub mod accounts;
pub mod cache;
pub mod capabilities;
pub mod compose;
pub mod default_bucket;
pub mod flush;
pub mod history;
pub mod hooks;
pub mod ids;
pub mod metrics;
pub mod openapi;
pub mod permissions;
pub mod permissions_endpoint;
pub mod plugins;
pub mod schema;
pub mod user_data;

use compose::Chain;
use hooks::{BucketHooks, CollectionHooks, GroupHooks, RecordHooks};
use ids::ShortNames;
use permissions::Grants;
use plugins::Plugins;
use schema::{SchemaHooks, Target};

/// The service's settings: the toolkit's and Kinto's own
/// ([`KintoSettings`]), with Kinto's defaults. Kinto's `*_principals`
/// settings are read from [`Settings::raw`](cliquet::settings::Settings::raw).
pub type Settings = cliquet::settings::Settings<KintoSettings>;

/// The settings of Kinto's service layer and plugins, beside the
/// toolkit's (same namespace: `kinto.experimental_permissions_endpoint` in
/// an `.ini`, `KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT` in the environment).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct KintoSettings {
    /// `GET /permissions` (also on with the admin plugin).
    pub experimental_permissions_endpoint: bool,
    /// Records validated against their collection's JSON schema.
    pub experimental_collection_schema_validation: bool,
    /// The prefix of Prometheus metric names (default `project_name`).
    pub prometheus_prefix: Option<String>,
    /// Metric keys never recorded (Kinto's documentation calls it
    /// `disabled_metrics`).
    pub prometheus_disabled_metrics: Vec<String>,
    /// The upper bounds of the Prometheus timer buckets (`Inf` accepted).
    pub prometheus_histogram_buckets: Vec<String>,
    /// Accepted for compatibility: no `_created` series are written.
    pub prometheus_created_metrics_enabled: Option<bool>,
    /// The key of the personal bucket ids ([`default_bucket::bucket_id`]),
    /// empty by default as in Kinto (not `userid_hmac_secret`).
    pub default_bucket_hmac_secret: String,
    /// Accounts: how long a verified login is remembered (30 s when unset).
    pub account_cache_ttl_seconds: Option<u64>,
    /// Accounts: the bcrypt cost of new password hashes (12, Kinto's, when
    /// unset; 4 is the lowest, for tests).
    pub account_bcrypt_cost: Option<u32>,
    /// Accounts: e-mail validation of new accounts (not implemented: `true`
    /// is refused at start).
    pub account_validation: bool,
    /// `history.auto_trim_max_count` (read by [`history::HistorySettings`]).
    #[serde(rename = "history.auto_trim_max_count")]
    pub history_auto_trim_max_count: serde_json::Value,
    /// `history.auto_trim_threshold`.
    #[serde(rename = "history.auto_trim_threshold")]
    pub history_auto_trim_threshold: serde_json::Value,
    /// `history.auto_trim_user_ids`.
    #[serde(rename = "history.auto_trim_user_ids")]
    pub history_auto_trim_user_ids: serde_json::Value,
    /// `history.exclude_resources`.
    #[serde(rename = "history.exclude_resources")]
    pub history_exclude_resources: serde_json::Value,
    /// `history.exclude_user_ids`.
    #[serde(rename = "history.exclude_user_ids")]
    pub history_exclude_user_ids: serde_json::Value,
}

/// The version of Kinto's HTTP API this service speaks.
pub const HTTP_API_VERSION: &str = "1.23";

/// Kinto's defaults, before any file or environment variable.
pub fn default_settings() -> RawSettings {
    let mut defaults = RawSettings::new();
    defaults.set("project_name", "kinto");
    defaults.set("project_version", env!("CARGO_PKG_VERSION"));
    defaults.set("project_docs", "https://kinto.readthedocs.io/");
    defaults.set("http_api_version", HTTP_API_VERSION);
    defaults.set("multiauth.policies", "basicauth");
    defaults.set("retry_after_seconds", 3);
    defaults.set("bucket_create_principals", "system.Authenticated");
    defaults.set("metrics_matchdict_fields", metrics::MATCHDICT_FIELDS);
    defaults
}

/// Reads the settings: Kinto's defaults, then the optional file (TOML, or
/// a Kinto `.ini`), then `KINTO_*` environment variables.
pub fn settings(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, SettingsError> {
    Settings::load(Sources {
        file,
        prefix: "kinto",
        env: env.into_iter().collect(),
        defaults: default_settings(),
    })
}

/// The whole service, as one cloneable tower service.
pub type App = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

fn resource(
    settings: &Settings,
    grants: &Grants,
    name: &str,
    plural: &str,
    parent_id: &str,
    permissions: &[&str],
    hooks: impl ResourceHooks,
) -> Resource {
    // Kinto's `<resource>_cache_expires_seconds`: `Cache-Control` on
    // anonymous reads.
    let cache_expires = settings
        .raw
        .get_text(&format!("{name}_cache_expires_seconds"))
        .and_then(|text| text.trim().parse::<i64>().ok());
    let builder = Resource::builder(name)
        .cache_expires(cache_expires)
        .plural_path(plural)
        .object_path(Some(format!("{plural}/{{id}}")))
        .parent_id(parent_id)
        .access(grants.access(name))
        .permissions(permissions.iter().copied())
        .hooks(hooks)
        .explicit_permissions(settings.core.explicit_permissions)
        .paginate_by(settings.core.paginate_by.map(|n| n as usize))
        .max_fetch_size(settings.core.storage_max_fetch_size as usize)
        .delete_token_ttl(std::time::Duration::from_secs(
            settings.core.pagination_token_validity_seconds,
        ));
    let builder = if name == "record" {
        builder.ids(Names)
    } else {
        builder.ids(ShortNames)
    };
    builder.build().expect("Kinto's resources are valid")
}

/// Kinto's four resources, configured by the settings.
pub fn resources(settings: &Settings) -> Vec<Resource> {
    let plugins = Plugins::from_settings(settings);
    let mut grants = Grants::from_settings(&settings.raw);
    if plugins.default_bucket {
        grants = default_bucket::grant(grants);
    }
    let schemas = |target| SchemaHooks::new(target, plugins.schema_validation);
    let history = plugins
        .history
        .then(|| std::sync::Arc::new(history::HistorySettings::from_settings(settings)));
    let tracked = |name| {
        history
            .clone()
            .map(|history| history::HistoryHooks::new(name, history))
    };
    let mut resources = vec![
        resource(
            settings,
            &grants,
            "bucket",
            "/buckets",
            "",
            &["read", "write", "collection:create", "group:create"],
            Chain::new(BucketHooks)
                .then(schemas(Target::Bucket))
                .then_some(tracked("bucket")),
        ),
        resource(
            settings,
            &grants,
            "collection",
            "/buckets/{bucket_id}/collections",
            "/buckets/{bucket_id}",
            &["read", "write", "record:create"],
            Chain::new(CollectionHooks)
                .then(schemas(Target::Collection))
                .then_some(tracked("collection")),
        ),
        resource(
            settings,
            &grants,
            "group",
            "/buckets/{bucket_id}/groups",
            "/buckets/{bucket_id}",
            &["read", "write"],
            Chain::new(GroupHooks)
                .then(schemas(Target::Group))
                .then_some(tracked("group")),
        ),
        resource(
            settings,
            &grants,
            "record",
            "/buckets/{bucket_id}/collections/{collection_id}/records",
            "/buckets/{bucket_id}/collections/{collection_id}",
            &["read", "write"],
            Chain::new(RecordHooks::new(grants.clone()))
                .then(cache::RecordCache::from_settings(settings))
                .then(schemas(Target::Record))
                .then_some(tracked("record")),
        ),
    ];
    if let Some(history) = &history {
        resources.push(history::resource(settings, history));
    }
    resources
}

/// Assembles the service on `backends`: the four resources under `/v1`,
/// in every layer of the protocol, batches in one storage transaction.
pub fn app(settings: Settings, backends: Backends) -> Result<App, InitError> {
    let plugins = plugins::Plugins::from_settings(&settings);
    let accounts = accounts::Accounts::from_settings(&settings)?;
    let mut api = resources(&settings)
        .iter()
        .fold(Router::new(), |router, resource| {
            router.merge(resource.router(backends.clone()))
        });
    if accounts.plugin {
        api = api.merge(accounts.router(&settings, backends.clone()));
    }
    if plugins.history {
        api = api.merge(history::snapshot_router(backends.clone()));
    }
    let service_metrics = metrics::ServiceMetrics::from_settings(&settings, &plugins)?;
    let api = api
        .merge(capabilities::plugin_routes(
            &settings,
            &plugins,
            &backends,
            service_metrics.as_ref(),
        ))
        .merge(openapi::describe(&settings, &plugins).router());
    let prefix = settings.core.version_prefix();
    let mut routes = Router::new().nest(&prefix, api);
    if plugins.flush {
        routes = routes.merge(flush::routes(&prefix, backends.clone(), Vec::new()));
    }
    // Last: the alias forwards to every route above.
    if plugins.default_bucket {
        routes = default_bucket::alias(&settings, backends.clone(), routes);
    }
    let scope = TransactionScope::new(backends.storage.clone());
    let mut cliquet = Cliquet::with_backends(settings, backends, cliquet_heartbeat::build_info!());
    accounts.install(&mut cliquet)?;
    capabilities::register(&mut cliquet, &plugins, service_metrics.as_ref(), &accounts)?;
    let service = cliquet
        .service(routes, scope)?
        .map_response(|response| response.map(Body::new));
    Ok(match service_metrics {
        Some(service_metrics) => {
            BoxCloneService::new(tower::Layer::layer(&service_metrics.scope(), service))
        }
        None => BoxCloneService::new(service),
    })
}

/// The service on the backends its settings name.
pub async fn service(settings: Settings) -> Result<App, InitError> {
    let backends = cliquet::backends_from_settings(&settings).await?;
    app(settings, backends)
}

/// Creates or migrates the PostgreSQL schema of the backends the settings
/// name (nothing to do for memory backends).
pub async fn migrate(mut settings: Settings) -> Result<(), InitError> {
    settings.core.migrate_on_start = true;
    cliquet::backends_from_settings(&settings).await.map(drop)
}

/// The service on fresh memory backends, with the default settings.
pub fn memory_app() -> App {
    let settings = settings(None, Vec::new()).expect("the default settings are valid");
    app(settings, cliquet_memory::backends()).expect("the default service assembles")
}
