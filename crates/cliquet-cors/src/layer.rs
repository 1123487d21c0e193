//! [`CorsLayer`]: the protocol's CORS configuration.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin};
use tower_layer::Layer;

use crate::CorsService;
use crate::expose::{DEFAULT_EXPOSED_HEADERS, PLURAL_HEAD_EXPOSED_HEADERS, join};
use crate::origin::Origins;
use crate::settings::{CorsSettings, DEFAULT_MAX_AGE_SECONDS};

/// A tower layer for the protocol's CORS rules, built on `tower-http`'s
/// [`CorsLayer`](tower_http::cors::CorsLayer).
///
/// On every request but `OPTIONS`:
///
/// - an `Origin` that matches none of the allowed origins is refused,
///   before the inner service runs, with `400` errno 107 `"Origin in header:
///   <origin> not allowed"`;
/// - an allowed `Origin` gets `Access-Control-Allow-Origin`: `*` when `*` is
///   one of the allowed origins, else the origin itself; no `Origin`, no
///   `Access-Control-Allow-Origin`;
/// - every response, with or without `Origin`, success or error, gets
///   `Access-Control-Expose-Headers` with `Backoff, Retry-After, Alert,
///   Content-Length, Content-Type`, plus the headers the endpoint lists in an
///   [`ExposedHeaders`](crate::ExposedHeaders) response extension.
///
/// `OPTIONS` requests are first passed to the inner service, the way Kinto
/// routes them before answering a preflight:
///
/// - when it answers `405 Method Not Allowed` (the endpoint exists but has
///   no `OPTIONS` handler, as with axum's method router), the layer answers
///   the preflight itself. The request must carry `Origin`, then
///   `Access-Control-Request-Method`, then a method the endpoint has (read
///   from the `405`'s `Allow` header), then an allowed `Origin`, else `400`
///   errno 107 says which (`"Origin in header: this header is mandatory"`,
///   `"Access-Control-Request-Method in header: this header is mandatory"`,
///   `"Access-Control-Request-Method in header: Method not allowed"`,
///   `"Origin in header: <origin> not allowed"`). The answer is `200` with
///   a JSON `null` body, `Access-Control-Allow-Origin`,
///   `Access-Control-Allow-Methods` (the endpoint's methods and `OPTIONS`),
///   `Access-Control-Allow-Headers` (every requested header plus the
///   protocol's exposed headers) and `Access-Control-Max-Age`. Headers the
///   layers below added to the endpoint's `405` (`Backoff`, `Alert`, ...)
///   are kept on that answer; those describing the `405` itself (`Allow`,
///   `Content-Type`, `Content-Length`) are not.
/// - any other answer (a `404` for an unknown URL, the empty `200` of an
///   unversioned URL, an endpoint's own `OPTIONS` handler) is returned with
///   `Access-Control-Allow-Origin` for an allowed origin and the exposed
///   headers, never a `400`.
///
/// `Access-Control-Allow-Credentials` is never sent. `Vary: origin,
/// access-control-request-method, access-control-request-headers` is added
/// (`tower-http`'s default; Kinto sends none, which only matters to caches).
#[derive(Debug, Clone)]
pub struct CorsLayer {
    pub(crate) config: Arc<Config>,
    pub(crate) tower: tower_http::cors::CorsLayer,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) origins: Origins,
    pub(crate) max_age: Option<Duration>,
    /// `Access-Control-Expose-Headers` when the endpoint adds nothing.
    pub(crate) exposed: HeaderValue,
    /// Added to the requested headers in `Access-Control-Allow-Headers`.
    pub(crate) preflight_headers: Vec<String>,
}

impl Default for CorsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CorsLayer {
    /// The layer with the protocol's defaults: every origin allowed (`*`),
    /// preflights cached for 3600 seconds.
    pub fn new() -> Self {
        let preflight_headers = DEFAULT_EXPOSED_HEADERS
            .iter()
            .chain(PLURAL_HEAD_EXPOSED_HEADERS)
            .map(|name| (*name).to_owned())
            .collect();
        Self::build(Config {
            origins: Origins::new(["*"]),
            max_age: Some(Duration::from_secs(DEFAULT_MAX_AGE_SECONDS)),
            exposed: join(DEFAULT_EXPOSED_HEADERS.iter().copied(), ", ")
                .expect("valid header names"),
            preflight_headers,
        })
    }

    /// The layer the settings describe (`cors_origins`,
    /// `cors_max_age_seconds`).
    pub fn from_settings(settings: &CorsSettings) -> Self {
        Self::new()
            .allow_origins(settings.cors_origins.iter().cloned())
            .max_age(settings.cors_max_age_seconds.map(Duration::from_secs))
    }

    /// Replaces the allowed origins: exact origins, shell-style patterns
    /// (`http://*.example.com`, `http://localhost:80[0-9][0-9]`) or `*` for
    /// every origin. Matching is case-sensitive, as in Kinto. An empty list
    /// refuses every request that has an `Origin`.
    pub fn allow_origins<I, T>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let origins = Origins::new(origins);
        self.update(|config| config.origins = origins)
    }

    /// Sets `Access-Control-Max-Age` of preflight answers (whole seconds);
    /// `None` omits it.
    pub fn max_age(self, max_age: Option<Duration>) -> Self {
        self.update(|config| config.max_age = max_age)
    }

    /// Replaces the headers listed in `Access-Control-Allow-Headers` on
    /// preflight answers besides the requested ones; by default the default
    /// exposed headers and every endpoint's extra ones
    /// ([`PLURAL_HEAD_EXPOSED_HEADERS`](crate::PLURAL_HEAD_EXPOSED_HEADERS)).
    pub fn preflight_allow_headers<I, T>(self, headers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let headers = headers.into_iter().map(Into::into).collect();
        self.update(|config| config.preflight_headers = headers)
    }

    fn update(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        change(&mut config);
        Self::build(config)
    }

    /// The `tower-http` layer doing the mechanics: the allowed origin (by
    /// our predicate), the requested method and headers echoed, the max age.
    fn build(config: Config) -> Self {
        let origins = config.origins.clone();
        let mut tower = tower_http::cors::CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origins.allows(origin.as_bytes())
            }))
            .allow_methods(AllowMethods::mirror_request())
            .allow_headers(AllowHeaders::mirror_request());
        if let Some(max_age) = config.max_age {
            tower = tower.max_age(max_age);
        }
        Self {
            config: Arc::new(config),
            tower,
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService {
            cors: self.tower.layer(inner),
            config: self.config.clone(),
        }
    }
}
