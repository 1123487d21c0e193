//! [`Cliquet::initialize`]: backends, authentication and every protocol
//! layer, assembled from settings — what Cliquet's `initialize(config,
//! version)` did.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use bytes::Bytes;
use cliquet_auth::{AuthLayer, AuthPolicy, BasicAuthPolicy, Identity, PrincipalsProvider};
use cliquet_backoff::BackoffLayer;
use cliquet_batch::{BatchLayer, ScopeHook, Subrequest};
use cliquet_cors::CorsLayer;
use cliquet_errors::{ApiError, ErrorLayer};
use cliquet_heartbeat::{BuildInfo, HealthCheck, HeartbeatLayer};
use cliquet_storage::{Backends, Permission};
use cliquet_telemetry::{ContextLayer, RequestContext, RequestLogLayer, RequestMetricsLayer};
use cliquet_version::{EosLayer, SecurityHeadersLayer, VersionLayer};
use http::Response;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tower::ServiceBuilder;
use tower_service::Service;

use crate::settings::Settings;
use crate::{Capabilities, Hello, UserInfoHook};

/// A failure at start-up, with a message that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError(String);

impl InitError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InitError {}

/// The backend implementations a backend setting can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// In memory (`memory`, `kinto.core.storage.memory`, …).
    Memory,
    /// PostgreSQL (`postgresql`, `kinto.core.storage.postgresql`, …).
    Postgresql,
}

impl BackendKind {
    /// The kind a `storage_backend`, `cache_backend` or
    /// `permission_backend` value names: ours (`memory`, `postgresql`) or
    /// Kinto's dotted module names. An empty value is memory.
    pub fn from_setting(key: &str, value: &str) -> Result<Self, InitError> {
        let name = value.trim();
        let last = name.rsplit('.').next().unwrap_or(name);
        match last {
            "" | "memory" => Ok(BackendKind::Memory),
            "postgresql" | "postgres" => Ok(BackendKind::Postgresql),
            _ => Err(InitError::new(format!(
                "setting `{key}`: the backend `{value}` is not available (use memory or postgresql)"
            ))),
        }
    }
}

/// Builds the storage, permission and cache backends the settings name.
///
/// PostgreSQL backends share one pool when their URLs are equal (then a
/// storage transaction carries permission writes too); an empty
/// `permission_url` or `cache_url` means `storage_url`. With
/// `migrate_on_start`, the schema is created or migrated first, under an
/// advisory lock so that instances starting together do it once.
pub async fn backends_from_settings<E>(settings: &Settings<E>) -> Result<Backends, InitError> {
    let core = &settings.core;
    let storage = BackendKind::from_setting("storage_backend", &core.storage_backend)?;
    let permission = BackendKind::from_setting("permission_backend", &core.permission_backend)?;
    let cache = BackendKind::from_setting("cache_backend", &core.cache_backend)?;
    let memory = cliquet_memory::backends();
    if [storage, permission, cache] == [BackendKind::Memory; 3] {
        return Ok(memory);
    }
    if storage != BackendKind::Postgresql {
        return Err(InitError::new(
            "setting `storage_backend`: PostgreSQL permission or cache backends need PostgreSQL storage",
        ));
    }
    let (mut pg, _) = settings
        .raw
        .extract::<cliquet_postgres::PostgresSettings>()
        .map_err(|e| InitError::new(e.to_string()))?;
    if pg.storage_url.is_empty() {
        return Err(InitError::new(
            "setting `storage_url`: the PostgreSQL storage needs a URL",
        ));
    }
    if pg.permission_url.is_empty() {
        pg.permission_url = pg.storage_url.clone();
    }
    if pg.cache_url.is_empty() {
        pg.cache_url = pg.storage_url.clone();
    }
    pg.readonly = settings.backoff.readonly;
    let postgres = cliquet_postgres::backends(&pg, core.migrate_on_start)
        .await
        .map_err(|e| InitError::new(format!("PostgreSQL backends: {e}")))?;
    Ok(Backends::new(
        postgres.storage,
        match permission {
            BackendKind::Postgresql => postgres.permission,
            BackendKind::Memory => memory.permission,
        },
        match cache {
            BackendKind::Postgresql => postgres.cache,
            BackendKind::Memory => memory.cache,
        },
    ))
}

/// A backend's health check result, logged when it failed.
fn healthy(backend: &str, result: cliquet_storage::Result<()>) -> bool {
    match result {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(backend, %error, "heartbeat check failed");
            false
        }
    }
}

/// Group memberships read from the permission backend.
struct PermissionPrincipals(Arc<dyn Permission>);

#[async_trait]
impl PrincipalsProvider for PermissionPrincipals {
    async fn principals(&self, user_id: &str) -> Result<Vec<String>, ApiError> {
        let principals = self.0.get_user_principals(user_id).await?;
        Ok(principals.into_iter().collect())
    }
}

/// A service being assembled: its settings, backends, authentication
/// policies, capabilities and health checks. Recipes add theirs, then
/// [`Cliquet::service`] stacks every layer around their routes.
pub struct Cliquet<E = crate::settings::NoExtraSettings> {
    /// The settings.
    pub settings: Settings<E>,
    /// The backends.
    pub backends: Backends,
    /// The capabilities announced by the hello endpoint.
    pub capabilities: Capabilities,
    /// Public settings shown by the hello endpoint.
    pub public_settings: Map<String, Value>,
    /// Extra fields of the hello endpoint's `user`.
    pub user_info: Option<UserInfoHook>,
    /// Names each request's endpoint and URL fields for the request log
    /// and metrics; it sees every request, batch and heartbeat included.
    /// Does nothing unless set with [`Cliquet::name_endpoints`].
    endpoint_names: ContextLayer,
    policies: BTreeMap<String, Arc<dyn AuthPolicy>>,
    checks: Vec<(String, Arc<dyn HealthCheck>)>,
    build_info: BuildInfo,
}

impl<E> fmt::Debug for Cliquet<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cliquet")
            .field("capabilities", &self.capabilities)
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<E: DeserializeOwned> Cliquet<E> {
    /// Builds the backends the settings name, the Basic auth policy when
    /// `multiauth.policies` lists `basicauth`, a heartbeat check per backend,
    /// and the public settings of the hello endpoint.
    pub async fn initialize(
        settings: Settings<E>,
        build_info: BuildInfo,
    ) -> Result<Self, InitError> {
        let backends = backends_from_settings(&settings).await?;
        Ok(Self::with_backends(settings, backends, build_info))
    }
}

impl<E> Cliquet<E> {
    /// [`Cliquet::initialize`] with backends built by the caller.
    pub fn with_backends(settings: Settings<E>, backends: Backends, build_info: BuildInfo) -> Self {
        let mut capabilities = Capabilities::new();
        let mut policies: BTreeMap<String, Arc<dyn AuthPolicy>> = BTreeMap::new();
        if settings
            .core
            .multiauth_policies
            .iter()
            .any(|p| p == "basicauth")
        {
            let realm = settings
                .raw
                .get_text("multiauth.policy.basicauth.realm")
                .unwrap_or_else(|| "Realm".to_owned());
            policies.insert(
                "basicauth".to_owned(),
                Arc::new(BasicAuthPolicy::new(&settings.core.userid_hmac_secret).realm(&realm)),
            );
            // Registered first, as Kinto does.
            let _ = capabilities.register(
                "basicauth",
                "Very basic authentication sessions. Not for production use.",
                "http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html",
                Map::new(),
            );
        }
        let mut public_settings = Map::new();
        public_settings.insert(
            "batch_max_requests".into(),
            json!(settings.core.batch_max_requests),
        );
        public_settings.insert("readonly".into(), json!(settings.backoff.readonly));
        public_settings.insert(
            "explicit_permissions".into(),
            json!(settings.core.explicit_permissions),
        );
        let storage = backends.storage.clone();
        let permission = backends.permission.clone();
        let cache = backends.cache.clone();
        let checks: Vec<(String, Arc<dyn HealthCheck>)> = vec![
            (
                "storage".to_owned(),
                Arc::new(move || {
                    let storage = storage.clone();
                    async move { healthy("storage", storage.healthcheck().await) }
                }),
            ),
            (
                "permission".to_owned(),
                Arc::new(move || {
                    let permission = permission.clone();
                    async move { healthy("permission", permission.healthcheck().await) }
                }),
            ),
            (
                "cache".to_owned(),
                Arc::new(move || {
                    let cache = cache.clone();
                    async move { healthy("cache", cache.healthcheck().await) }
                }),
            ),
        ];
        Self {
            settings,
            backends,
            capabilities,
            public_settings,
            user_info: None,
            endpoint_names: ContextLayer::new(|_: &http::request::Parts, _: &RequestContext| {}),
            policies,
            checks,
            build_info,
        }
    }

    /// Makes the policy `name` available; it is used when
    /// `multiauth.policies` lists it.
    pub fn register_policy(&mut self, name: impl Into<String>, policy: Arc<dyn AuthPolicy>) {
        self.policies.insert(name.into(), policy);
    }

    /// Sets the function that reports each request's endpoint name and URL
    /// fields ([`RequestContext::set_endpoint`]); it runs just inside the
    /// request log and metrics layers, before the version, heartbeat and
    /// batch layers answer.
    pub fn name_endpoints(&mut self, fill: impl cliquet_telemetry::FillContext) {
        self.endpoint_names = ContextLayer::new(fill);
    }

    /// Adds a heartbeat check.
    pub fn add_check(&mut self, name: impl Into<String>, check: Arc<dyn HealthCheck>) {
        self.checks.push((name.into(), check));
    }

    /// The version prefix (`/v1`).
    pub fn prefix(&self) -> String {
        self.settings.core.version_prefix()
    }

    /// The authentication layer: the policies `multiauth.policies` lists,
    /// in order, with group principals from the permission backend.
    pub fn auth_layer(&self) -> Result<AuthLayer, InitError> {
        let mut policies = Vec::new();
        for name in &self.settings.core.multiauth_policies {
            let policy = self.policies.get(name).ok_or_else(|| {
                InitError::new(format!(
                    "setting `multiauth.policies`: the policy `{name}` is not available"
                ))
            })?;
            policies.push(policy.clone());
        }
        Ok(
            AuthLayer::new(policies).principals_provider(Arc::new(PermissionPrincipals(
                self.backends.permission.clone(),
            ))),
        )
    }

    /// The hello endpoint of this service.
    pub fn hello(&self) -> Hello {
        let core = &self.settings.core;
        Hello {
            project_name: core.project_name.clone(),
            project_version: core.project_version.clone(),
            http_api_version: core.http_api_version.clone(),
            project_docs: core.project_docs.clone(),
            prefix: self.prefix(),
            eos: self.settings.version.eos.clone(),
            public_settings: self.public_settings.clone(),
            capabilities: self.capabilities.clone(),
            http_scheme: core.http_scheme.clone(),
            http_host: core.http_host.clone(),
            readonly_cache_seconds: self
                .settings
                .backoff
                .readonly
                .then_some(core.root_cache_expires_seconds),
            user_info: self.user_info.clone(),
        }
    }

    /// The whole service: `routes` (the application's, under the version
    /// prefix) with the hello endpoint, wrapped — outermost first — in the
    /// request log (`request.summary`) and request metrics, error, security
    /// headers, CORS, end of service, backoff, version, heartbeat, batch
    /// (`scope` makes a batch one unit) and authentication layers.
    pub fn service<H: ScopeHook>(
        &self,
        routes: Router,
        scope: H,
    ) -> Result<
        impl Service<
            Request,
            Response = Response<
                impl http_body::Body<Data = Bytes, Error = impl Into<BoxError> + Send + use<H, E>>
                + Send
                + 'static
                + use<H, E>,
            >,
            Error = Infallible,
            Future = impl Send + use<H, E>,
        >
        + Clone
        + Send
        + 'static
        + use<H, E>,
        InitError,
    > {
        let settings = &self.settings;
        let prefix = self.prefix();
        let hello = Arc::new(self.hello());
        let hello_route = get(move |request: Request| {
            let hello = hello.clone();
            async move { hello.response::<axum::body::Body>(&request.into_parts().0) }
        });
        let routes = routes.route(&format!("{prefix}/"), hello_route);

        let timeout =
            Duration::from_secs_f64(settings.heartbeat.heartbeat_timeout_seconds.max(0.0));
        let mut heartbeat = HeartbeatLayer::new()
            .prefix(&prefix)
            .timeout(timeout)
            .build_info(self.build_info.clone());
        if settings.heartbeat.version_json_path.exists() {
            heartbeat = heartbeat
                .version_file(&settings.heartbeat.version_json_path)
                .map_err(|e| InitError::new(e.to_string()))?;
        }
        for (name, check) in &self.checks {
            heartbeat = heartbeat.check_arc(name.clone(), check.clone());
        }
        let max_requests = settings.core.batch_max_requests.unwrap_or(0) as usize;
        let batch = BatchLayer::new()
            .prefix(&prefix)
            .max_requests(max_requests)
            .max_body_bytes(batch_body_limit(max_requests))
            .scope(scope);
        let mut errors = ErrorLayer::new().retry_after(settings.backoff.retry_after_seconds);
        errors = errors.info_link(settings.core.error_info_link.clone());

        // The identity is known inside the authentication layer; the request
        // log and metrics layers, outermost, read it from the context.
        let fill_user =
            ContextLayer::new(|parts: &http::request::Parts, context: &RequestContext| {
                if let Some(identity) = parts.extensions.get::<Identity>()
                    && let (Some(user_id), Some(authn_type)) =
                        (identity.user_id(), identity.authn_type())
                {
                    context.set_user(user_id, authn_type);
                }
            });
        let request_metrics = RequestMetricsLayer::new()
            .matchdict_fields(&settings.core.metrics_matchdict_fields)
            .subrequest_marker::<Subrequest>();

        let stack = ServiceBuilder::new()
            .layer(RequestLogLayer::new().subrequest_marker::<Subrequest>())
            .layer(request_metrics)
            .layer(self.endpoint_names.clone())
            .layer(errors)
            .layer(axum::middleware::from_fn_with_state(
                batch_body_limit(max_requests),
                read_body_first,
            ))
            .layer(SecurityHeadersLayer::new())
            .layer(CorsLayer::from_settings(&settings.cors))
            .layer(
                EosLayer::from_settings(&settings.version)
                    .map_err(|e| InitError::new(e.to_string()))?,
            )
            .layer(
                BackoffLayer::from_settings(&settings.backoff)
                    .map_err(|e| InitError::new(e.to_string()))?,
            )
            .layer(
                VersionLayer::from_settings(&settings.version)
                    .map_err(|e| InitError::new(e.to_string()))?,
            )
            .layer(heartbeat)
            .layer(batch)
            .layer(self.auth_layer()?)
            .layer(fill_user);
        Ok(stack.service(routes))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads the whole request body before anything answers.
///
/// Layers that answer early (redirects, 401s, 404s...) would otherwise
/// leave the body unread, and the HTTP server then closes the connection
/// after the response: a client that had already reused that kept-alive
/// connection for its next request sees it closed without an answer. A
/// body larger than `limit` is refused with 413 errno 113, one that cannot
/// be read (broken chunked encoding) with 400 errno 107, both with
/// `Connection: close`.
async fn read_body_first(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            let error = if too_large {
                ApiError::request_too_large()
            } else {
                ApiError::invalid_parameter(
                    cliquet_errors::Location::Body,
                    "body",
                    "The request body could not be read",
                )
            };
            let mut response = error.into_response();
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// The largest body a single resource request may carry (the resource
/// crate's default limit).
const REQUEST_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The largest batch body read: room for `batch_max_requests` requests of
/// the largest size (25 when the setting is 0, unlimited), so that a batch
/// can never make the server buffer an unbounded body.
fn batch_body_limit(max_requests: usize) -> usize {
    let requests = if max_requests == 0 { 25 } else { max_requests };
    requests.saturating_mul(REQUEST_BODY_BYTES)
}

#[cfg(test)]
mod batch_limit_tests {
    use super::*;

    #[test]
    fn batch_body_limit_follows_the_request_count() {
        assert_eq!(batch_body_limit(25), 25 * REQUEST_BODY_BYTES);
        assert_eq!(batch_body_limit(2), 2 * REQUEST_BODY_BYTES);
        assert_eq!(batch_body_limit(0), 25 * REQUEST_BODY_BYTES);
        assert_eq!(batch_body_limit(usize::MAX), usize::MAX);
    }
}
