//! [`HeartbeatLayer`], its settings, its service and its response future.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use cliquet_errors::ApiError;
use futures_util::future::{JoinAll, join_all};
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use serde::Deserialize;
use tower_layer::Layer;
use tower_service::Service;

use crate::check::{self, Health, HealthCheck, NamedCheck, RunFuture};
use crate::version::{BuildInfo, VersionFileError, read_version_file};

/// The default of `heartbeat_timeout_seconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default version prefix of the endpoints.
pub const DEFAULT_PREFIX: &str = "/v1";

/// The default of `version_json_path`.
pub const DEFAULT_VERSION_JSON_PATH: &str = "version.json";

/// The settings of the heartbeat endpoints, with the protocol's names and
/// defaults.
///
/// ```
/// use cliquet_heartbeat::HeartbeatSettings;
///
/// let settings: HeartbeatSettings =
///     serde_json::from_str(r#"{"heartbeat_timeout_seconds": 2.5}"#).unwrap();
/// assert_eq!(settings.heartbeat_timeout_seconds, 2.5);
/// assert_eq!(settings.version_json_path.to_str(), Some("version.json"));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HeartbeatSettings {
    /// How long each check may run before it is reported `false` (seconds,
    /// fractions allowed). Default 10.
    pub heartbeat_timeout_seconds: f64,
    /// The `version.json` file `/__version__` serves, relative to the working
    /// directory. Default `version.json`.
    pub version_json_path: PathBuf,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        Self {
            heartbeat_timeout_seconds: DEFAULT_TIMEOUT.as_secs_f64(),
            version_json_path: PathBuf::from(DEFAULT_VERSION_JSON_PATH),
        }
    }
}

/// Why [`HeartbeatLayer::from_settings`] refused the settings. The message
/// names the setting to fix.
#[derive(Debug)]
pub enum SettingsError {
    /// `heartbeat_timeout_seconds` is not a positive, finite number.
    Timeout(f64),
    /// The `version.json` file exists but cannot be read or is not JSON.
    VersionFile(VersionFileError),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Timeout(value) => write!(
                f,
                "heartbeat_timeout_seconds: expected a positive number of seconds, got {value}"
            ),
            SettingsError::VersionFile(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SettingsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SettingsError::Timeout(_) => None,
            SettingsError::VersionFile(error) => Some(error),
        }
    }
}

impl From<VersionFileError> for SettingsError {
    fn from(error: VersionFileError) -> Self {
        SettingsError::VersionFile(error)
    }
}

/// A tower layer that answers the protocol's health endpoints and passes
/// every other request to the inner service.
///
/// Under the version prefix (`/v1` unless set with
/// [`prefix`](Self::prefix)):
///
/// - `GET {prefix}/__heartbeat__` runs every registered check concurrently,
///   each bounded by the timeout, and answers the map `name → true | false |
///   null` in registration order: **200** when no value is `false`, **503**
///   otherwise. The 503 is that same map, not an error body, and has no
///   `Retry-After`. A check that fails, panics or does not finish in time is
///   `false` and is logged (with `tracing`); the endpoint answers within the
///   timeout even when a check never completes.
/// - `GET {prefix}/__lbheartbeat__` is always 200 `{}` and runs no check.
/// - `GET {prefix}/__version__` answers the `version.json` file read at
///   start-up, or else the application's [`BuildInfo`]. With neither, it is
///   a **404** errno 111: Kinto answers 500 errno 999 there (its view
///   raises), its documentation promises a 404, and a missing file is not a
///   server bug.
///
/// `HEAD` is answered like `GET` without the body (`Content-Length` is the
/// length of the `GET` body). Any other method on these paths is **405**
/// errno 115 with `Allow: GET, HEAD`; place a CORS layer outside this one
/// to answer preflight requests.
///
/// The responses keep the inner service's body type (any `B: From<Bytes>`).
/// The timer is tokio's: the service must run on a tokio runtime with the
/// time driver enabled (the default of `#[tokio::main]`).
#[derive(Clone)]
pub struct HeartbeatLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    prefix: String,
    timeout: Duration,
    checks: Vec<NamedCheck>,
    version_file: Option<Bytes>,
    build_info: Option<Bytes>,
}

impl fmt::Debug for HeartbeatLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        f.debug_struct("HeartbeatLayer")
            .field("prefix", &config.prefix)
            .field("timeout", &config.timeout)
            .field(
                "checks",
                &config.checks.iter().map(|c| &*c.name).collect::<Vec<_>>(),
            )
            .field("version_file", &config.version_file.is_some())
            .field("build_info", &config.build_info.is_some())
            .finish()
    }
}

impl Default for HeartbeatLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HeartbeatLayer {
    /// The endpoints under `/v1`, a 10 seconds timeout, no check and no
    /// version information.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                prefix: DEFAULT_PREFIX.to_owned(),
                timeout: DEFAULT_TIMEOUT,
                checks: Vec::new(),
                version_file: None,
                build_info: None,
            }),
        }
    }

    /// The layer configured from the settings: their timeout, and the
    /// `version.json` file at `version_json_path` if it exists (read now,
    /// once).
    pub fn from_settings(settings: &HeartbeatSettings) -> Result<Self, SettingsError> {
        let seconds = settings.heartbeat_timeout_seconds;
        let timeout = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or(SettingsError::Timeout(seconds))?;
        Ok(Self::new()
            .timeout(timeout)
            .version_file(&settings.version_json_path)?)
    }

    /// Sets the version prefix the endpoints live under (`/v1` by default;
    /// `/v{MAJOR}` of `http_api_version`). A trailing slash is ignored, a
    /// missing leading one added; `""` puts the endpoints at the root.
    pub fn prefix(mut self, prefix: impl AsRef<str>) -> Self {
        let trimmed = prefix.as_ref().trim_matches('/');
        Arc::make_mut(&mut self.config).prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// Sets how long each check may run (`heartbeat_timeout_seconds`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.config).timeout = timeout;
        self
    }

    /// Registers a check under `name` (`"storage"`, `"cache"`,
    /// `"permission"`, ...). Registering a name again replaces its check and
    /// keeps its place in the output.
    pub fn check(mut self, name: impl Into<String>, check: impl HealthCheck) -> Self {
        self.insert_check(name.into(), Arc::new(check));
        self
    }

    /// Registers a shared check under `name`.
    pub fn check_arc(mut self, name: impl Into<String>, check: Arc<dyn HealthCheck>) -> Self {
        self.insert_check(name.into(), check);
        self
    }

    fn insert_check(&mut self, name: String, check: Arc<dyn HealthCheck>) {
        let checks = &mut Arc::make_mut(&mut self.config).checks;
        match checks.iter_mut().find(|c| *c.name == *name) {
            Some(existing) => existing.check = check,
            None => checks.push(NamedCheck {
                name: name.into(),
                check,
            }),
        }
    }

    /// Reads the `version.json` file at `path` now, for `/__version__`. A
    /// file that does not exist is not an error (the build information, or
    /// a 404, is answered instead); one that cannot be read or is not JSON
    /// is.
    pub fn version_file(mut self, path: impl AsRef<Path>) -> Result<Self, VersionFileError> {
        let path = path.as_ref();
        let body = read_version_file(path)?;
        if body.is_none() {
            tracing::info!(path = %path.display(), "no version.json file for /__version__");
        }
        Arc::make_mut(&mut self.config).version_file = body;
        Ok(self)
    }

    /// Sets the build information `/__version__` answers when there is no
    /// `version.json` file.
    pub fn build_info(mut self, info: BuildInfo) -> Self {
        Arc::make_mut(&mut self.config).build_info = Some(info.to_json());
        self
    }
}

impl<S> Layer<S> for HeartbeatLayer {
    type Service = Heartbeat<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Heartbeat {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`HeartbeatLayer`].
#[derive(Clone)]
pub struct Heartbeat<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for Heartbeat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("inner", &self.inner)
            .field(
                "layer",
                &HeartbeatLayer {
                    config: self.config.clone(),
                },
            )
            .finish()
    }
}

impl<S> Heartbeat<S> {
    /// Wraps `inner` with the default [`HeartbeatLayer`].
    pub fn new(inner: S) -> Self {
        HeartbeatLayer::new().layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Heartbeat,
    LbHeartbeat,
    Version,
}

impl Config {
    fn route(&self, path: &str) -> Option<Endpoint> {
        match path.strip_prefix(self.prefix.as_str())? {
            "/__heartbeat__" => Some(Endpoint::Heartbeat),
            "/__lbheartbeat__" => Some(Endpoint::LbHeartbeat),
            "/__version__" => Some(Endpoint::Version),
            _ => None,
        }
    }

    fn health_map(&self, results: &[Health]) -> (StatusCode, Bytes) {
        let mut body = String::from("{");
        for (i, (check, health)) in self.checks.iter().zip(results).enumerate() {
            if i > 0 {
                body.push(',');
            }
            // A string always serialises.
            body.push_str(&serde_json::to_string(&*check.name).unwrap_or_default());
            body.push(':');
            body.push_str(health.as_json());
        }
        body.push('}');
        let status = if results.iter().all(|h| h.is_ok()) {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, Bytes::from(body))
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Heartbeat<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(endpoint) = self.config.route(request.uri().path()) else {
            return ResponseFuture::inner(self.inner.call(request));
        };
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let error = ApiError::method_not_allowed()
                    .with_header(ALLOW, HeaderValue::from_static("GET, HEAD"));
                return ResponseFuture::ready(error.into_response());
            }
        };
        match endpoint {
            Endpoint::LbHeartbeat => ResponseFuture::ready(json_response(
                StatusCode::OK,
                Bytes::from_static(b"{}"),
                head,
            )),
            Endpoint::Version => {
                let config = &self.config;
                let response = match config.version_file.as_ref().or(config.build_info.as_ref()) {
                    Some(body) => json_response(StatusCode::OK, body.clone(), head),
                    None => without_body(ApiError::not_found().into_response(), head),
                };
                ResponseFuture::ready(response)
            }
            Endpoint::Heartbeat => {
                let timeout = self.config.timeout;
                let runs = self.config.checks.iter().map(|c| check::run(c, timeout));
                ResponseFuture {
                    kind: Kind::Checks {
                        future: join_all(runs),
                        config: self.config.clone(),
                        head,
                    },
                }
            }
        }
    }
}

fn json_response<B: From<Bytes>>(status: StatusCode, body: Bytes, head: bool) -> Response<B> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(B::from(if head { Bytes::new() } else { body }));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, length);
    response
}

fn without_body<B: From<Bytes>>(response: Response<B>, head: bool) -> Response<B> {
    if head {
        response.map(|_| B::from(Bytes::new()))
    } else {
        response
    }
}

pin_project! {
    /// The response future of [`Heartbeat`]: the inner service's, or the
    /// heartbeat's own.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response<B>> },
        Checks {
            #[pin]
            future: JoinAll<RunFuture>,
            config: Arc<Config>,
            head: bool,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn ready(response: Response<B>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Ready { .. } => "Ready",
            Kind::Checks { .. } => "Checks",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
            KindProj::Checks {
                future,
                config,
                head,
            } => {
                let results = ready!(future.poll(cx));
                let (status, body) = config.health_map(&results);
                Poll::Ready(Ok(json_response(status, body, *head)))
            }
        }
    }
}
