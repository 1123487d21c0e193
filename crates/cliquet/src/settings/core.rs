//! [`CoreSettings`]: the toolkit's own settings (those no layer crate owns).

use serde::Deserialize;

/// The toolkit's settings that no layer crate owns: project identity,
/// backends, authentication, pagination, URLs. Names, defaults and meaning
/// are Kinto's (`kinto.core`'s `DEFAULT_SETTINGS`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct CoreSettings {
    /// Prefix of the environment variables (`kinto` → `KINTO_…`).
    pub settings_prefix: String,
    /// The project's name, in the hello endpoint and the logs.
    pub project_name: String,
    /// The project's version, in the hello endpoint.
    pub project_version: String,
    /// The project's documentation URL, in the hello endpoint.
    pub project_docs: String,
    /// The HTTP API version (`MAJOR.MINOR`); its major number makes the
    /// URL prefix (`/v1`).
    pub http_api_version: String,
    /// Forces the scheme of generated URLs (`url`, `Next-Page`, `Location`).
    pub http_scheme: Option<String>,
    /// Forces the host (and port) of generated URLs.
    pub http_host: Option<String>,
    /// Default and maximum page size of lists (none: unbounded up to
    /// `storage_max_fetch_size`).
    pub paginate_by: Option<u64>,
    /// Hard cap on the objects one storage read returns.
    pub storage_max_fetch_size: u64,
    /// Lifetime of pagination tokens, in seconds.
    pub pagination_token_validity_seconds: u64,
    /// Whether the author of a write is added to the object's `write`
    /// principals.
    pub explicit_permissions: bool,
    /// The `info` link of 500 errors.
    pub error_info_link: Option<String>,
    /// `Retry-After` seconds on 503 and 409 responses.
    pub retry_after_seconds: u64,
    /// `Cache-Control` max-age of the hello endpoint in read-only mode.
    pub root_cache_expires_seconds: u64,
    /// The storage backend (`memory`, `postgresql`, or Kinto's dotted
    /// names such as `kinto.core.storage.postgresql`).
    pub storage_backend: String,
    /// The storage backend's URL.
    pub storage_url: String,
    /// Connections in the storage pool.
    pub storage_pool_size: u32,
    /// Extra connections beyond the pool size.
    pub storage_max_overflow: u32,
    /// Recycle connections after this many seconds (-1: never).
    pub storage_pool_recycle: i64,
    /// Seconds to wait for a connection.
    pub storage_pool_timeout: f64,
    /// Requests that may wait for a connection (-1: no limit).
    pub storage_max_backlog: i64,
    /// Kinto's pool class; accepted and ignored.
    pub storage_poolclass: Option<String>,
    /// The cache backend.
    pub cache_backend: String,
    /// The cache backend's URL.
    pub cache_url: String,
    /// Memcached hosts; accepted for compatibility, unused.
    pub cache_hosts: Vec<String>,
    /// A prefix for every cache key.
    pub cache_prefix: String,
    /// Size bound of the memory cache.
    pub cache_max_size_bytes: u64,
    /// Connections in the cache pool.
    pub cache_pool_size: u32,
    /// Extra cache connections.
    pub cache_max_overflow: u32,
    /// Recycle cache connections after this many seconds (-1: never).
    pub cache_pool_recycle: i64,
    /// Seconds to wait for a cache connection.
    pub cache_pool_timeout: f64,
    /// Requests that may wait for a cache connection (-1: no limit).
    pub cache_max_backlog: i64,
    /// The permission backend.
    pub permission_backend: String,
    /// The permission backend's URL.
    pub permission_url: String,
    /// Connections in the permission pool.
    pub permission_pool_size: u32,
    /// Extra permission connections.
    pub permission_max_overflow: u32,
    /// Recycle permission connections after this many seconds (-1: never).
    pub permission_pool_recycle: i64,
    /// Seconds to wait for a permission connection.
    pub permission_pool_timeout: f64,
    /// Requests that may wait for a permission connection (-1: no limit).
    pub permission_max_backlog: i64,
    /// One storage transaction per request (and per batch).
    pub transaction_per_request: bool,
    /// The key of Basic auth user ids and of the credentials cache.
    pub userid_hmac_secret: String,
    /// The authentication policies, in order.
    #[serde(rename = "multiauth.policies")]
    pub multiauth_policies: Vec<String>,
    /// Kinto's authorization policy; accepted and ignored.
    #[serde(rename = "multiauth.authorization_policy")]
    pub multiauth_authorization_policy: Option<String>,
    /// Kinto's group finder; accepted and ignored.
    #[serde(rename = "multiauth.groupfinder")]
    pub multiauth_groupfinder: Option<String>,
    /// Plugins to include.
    pub includes: Vec<String>,
    /// Event listener names.
    pub event_listeners: Vec<String>,
    /// Kinto's JSON renderer; accepted and ignored.
    pub json_renderer: Option<String>,
    /// StatsD server (`udp://host:8125`).
    pub statsd_url: Option<String>,
    /// StatsD metric prefix.
    pub statsd_prefix: Option<String>,
    /// Kinto's StatsD backend; accepted and ignored.
    pub statsd_backend: Option<String>,
    /// URL fields used as metric labels.
    pub metrics_matchdict_fields: Vec<String>,
    /// Sentry DSN.
    pub sentry_dsn: Option<String>,
    /// Sentry environment.
    pub sentry_env: Option<String>,
    /// Minimum level of Sentry breadcrumbs (Python level number).
    pub sentry_breadcrumbs_min_level: Option<u32>,
    /// Minimum level of Sentry events (Python level number).
    pub sentry_events_min_level: Option<u32>,
    /// Kinto's default id generator; accepted and ignored.
    pub id_generator: Option<String>,
    /// The most subrequests a batch may hold (`None`: no limit).
    pub batch_max_requests: Option<u64>,
    /// Create or migrate the PostgreSQL schema at start (under an advisory
    /// lock). Not a Kinto setting: Kinto only migrates with `kinto migrate`.
    pub migrate_on_start: bool,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            settings_prefix: String::new(),
            project_name: String::new(),
            project_version: String::new(),
            project_docs: String::new(),
            http_api_version: "1.0".to_owned(),
            http_scheme: None,
            http_host: None,
            paginate_by: None,
            storage_max_fetch_size: 10_000,
            pagination_token_validity_seconds: 600,
            explicit_permissions: true,
            error_info_link: Some("https://github.com/Kinto/kinto/issues/".to_owned()),
            retry_after_seconds: 30,
            root_cache_expires_seconds: 86_400,
            storage_backend: String::new(),
            storage_url: String::new(),
            storage_pool_size: 25,
            storage_max_overflow: 5,
            storage_pool_recycle: -1,
            storage_pool_timeout: 30.0,
            storage_max_backlog: -1,
            storage_poolclass: None,
            cache_backend: String::new(),
            cache_url: String::new(),
            cache_hosts: Vec::new(),
            cache_prefix: String::new(),
            cache_max_size_bytes: 524_288,
            cache_pool_size: 25,
            cache_max_overflow: 5,
            cache_pool_recycle: -1,
            cache_pool_timeout: 30.0,
            cache_max_backlog: -1,
            permission_backend: String::new(),
            permission_url: String::new(),
            permission_pool_size: 25,
            permission_max_overflow: 5,
            permission_pool_recycle: -1,
            permission_pool_timeout: 30.0,
            permission_max_backlog: -1,
            transaction_per_request: true,
            userid_hmac_secret: String::new(),
            multiauth_policies: Vec::new(),
            multiauth_authorization_policy: None,
            multiauth_groupfinder: None,
            includes: Vec::new(),
            event_listeners: Vec::new(),
            json_renderer: None,
            statsd_url: None,
            statsd_prefix: None,
            statsd_backend: None,
            metrics_matchdict_fields: Vec::new(),
            sentry_dsn: None,
            sentry_env: None,
            sentry_breadcrumbs_min_level: None,
            sentry_events_min_level: None,
            id_generator: None,
            batch_max_requests: Some(25),
            migrate_on_start: true,
        }
    }
}

impl CoreSettings {
    /// The URL prefix of the API: `/v` and the major number of
    /// `http_api_version` (`"1.23"` → `/v1`).
    pub fn version_prefix(&self) -> String {
        let major = self
            .http_api_version
            .split('.')
            .next()
            .unwrap_or("1")
            .trim();
        format!("/v{major}")
    }
}
