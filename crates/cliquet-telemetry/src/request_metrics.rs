//! [`RequestMetricsLayer`]: the protocol's per-request metrics, and
//! [`Timer`] for the backend and policy timers.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http::header::CONTENT_LENGTH;
use http::{Request, Response, StatusCode};
use http_body::Body;
use metrics::{Label, SharedString};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::context::{RequestContext, SubrequestMarker};

/// Records, through the [`metrics`] facade, for each response:
///
/// | key | kind | labels |
/// | --- | --- | --- |
/// | `request_summary` | counter | `method` (lower-case), `endpoint`, the matchdict fields, `status` |
/// | `request_duration_seconds` | histogram (seconds) | `method`, `endpoint`, the matchdict fields |
/// | `request_size` | histogram (bytes of the response body) | `method`, `endpoint`, the matchdict fields |
/// | `users` | counter | `auth` (the policy), `userid` (`:` replaced by `.`) — authenticated requests |
/// | `authentication` | counter | `type` (the policy) — authenticated requests |
///
/// The endpoint name, the URL fields and the user come from the
/// [`RequestContext`]. Without an endpoint name the label is `unknown` for
/// a 404 and `unnamed` otherwise. The matchdict labels are the
/// [`matchdict_fields`](Self::matchdict_fields), in that order, `""` when
/// missing, and all `""` when the status is 400 or more (a cardinality
/// guard: an error must not make a label value of whatever a client sent).
///
/// The body size is the body's exact size hint, else its `Content-Length`;
/// a streamed body of unknown length is not observed (the layer does not
/// wrap the body, so the response keeps its type). The duration runs until
/// the response head is ready.
#[derive(Debug, Clone)]
pub struct RequestMetricsLayer {
    fields: Arc<[SharedString]>,
    marker: SubrequestMarker,
}

impl Default for RequestMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestMetricsLayer {
    /// A layer with no matchdict fields.
    pub fn new() -> Self {
        Self {
            fields: Arc::new([]),
            marker: SubrequestMarker::none(),
        }
    }

    /// The URL fields used as labels (`metrics_matchdict_fields`; Kinto's:
    /// `bucket_id collection_id group_id record_id`).
    pub fn matchdict_fields<I>(mut self, fields: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.fields = fields
            .into_iter()
            .map(|field| SharedString::from(field.into()))
            .collect();
        self
    }

    /// Requests carrying an extension of type `T` (the batch layer's
    /// subrequest marker) get a [`RequestContext`] of their own even when
    /// their extensions were copied from the batch request.
    pub fn subrequest_marker<T: Send + Sync + 'static>(mut self) -> Self {
        self.marker = SubrequestMarker::of::<T>();
        self
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequestMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    layer: RequestMetricsLayer,
}

impl<S> RequestMetrics<S> {
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let subrequest = (self.layer.marker.0)(request.extensions());
        let context = RequestContext::for_request(request.extensions_mut(), subrequest);
        let method = request.method().as_str().to_ascii_lowercase();
        ResponseFuture {
            inner: self.inner.call(request),
            state: Some(State {
                start,
                method,
                context,
                fields: self.layer.fields.clone(),
            }),
        }
    }
}

struct State {
    start: Instant,
    method: String,
    context: RequestContext,
    fields: Arc<[SharedString]>,
}

impl State {
    fn record(self, status: StatusCode, size: Option<u64>) {
        let duration = self.start.elapsed();
        let snapshot = self.context.snapshot();
        let endpoint = snapshot.endpoint.clone().unwrap_or(Cow::Borrowed(
            if status == StatusCode::NOT_FOUND {
                "unknown"
            } else {
                "unnamed"
            },
        ));
        let blank = status.as_u16() >= 400;
        let mut labels = Vec::with_capacity(self.fields.len() + 3);
        labels.push(Label::new("method", self.method));
        labels.push(Label::new("endpoint", endpoint));
        for field in self.fields.iter() {
            let value = match snapshot.field(field) {
                Some(value) if !blank => value.to_owned(),
                _ => String::new(),
            };
            labels.push(Label::new(field.clone(), value));
        }

        metrics::histogram!("request_duration_seconds", labels.clone())
            .record(duration.as_secs_f64());
        if let Some(size) = size {
            // Bodies beyond 2^53 bytes lose precision; they are not served.
            #[allow(clippy::cast_precision_loss)]
            metrics::histogram!("request_size", labels.clone()).record(size as f64);
        }
        labels.push(Label::new("status", status.as_str().to_owned()));
        metrics::counter!("request_summary", labels).increment(1);

        if let Some(user) = snapshot.user {
            metrics::counter!(
                "users",
                "auth" => user.authn_type.clone(),
                "userid" => user.user_id.replace(':', "."),
            )
            .increment(1);
            metrics::counter!("authentication", "type" => user.authn_type).increment(1);
        }
    }
}

pin_project! {
    /// The response future of [`RequestMetrics`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<State>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(state) = this.state.take() {
            match &result {
                Ok(response) => {
                    let size = response.body().size_hint().exact().or_else(|| {
                        response
                            .headers()
                            .get(CONTENT_LENGTH)
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.parse().ok())
                    });
                    state.record(response.status(), size);
                }
                Err(_) => state.record(StatusCode::INTERNAL_SERVER_ERROR, None),
            }
        }
        Poll::Ready(result)
    }
}

/// A timer histogram with a `method` label: `backend.<classname>.seconds`
/// for the storage, cache and permission backends,
/// `authentication.<policy>.seconds` for the authentication policies, or
/// any key.
///
/// ```
/// use cliquet_telemetry::Timer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let storage_timer = Timer::backend("Storage"); // backend.storage.seconds
/// let count = storage_timer.time("count_all", async { 42 }).await;
/// assert_eq!(count, 42);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Timer {
    key: SharedString,
}

impl Timer {
    /// A timer named `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: SharedString::from(key.into()),
        }
    }

    /// `backend.<classname>.seconds`, the class name lower-cased.
    pub fn backend(classname: &str) -> Self {
        Self::new(format!("backend.{}.seconds", classname.to_lowercase()))
    }

    /// `authentication.<policy>.seconds`.
    pub fn authentication(policy: &str) -> Self {
        Self::new(format!("authentication.{policy}.seconds"))
    }

    /// The metric key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Records one call of `method` that took `duration`.
    pub fn record(&self, method: &'static str, duration: Duration) {
        metrics::histogram!(self.key.clone(), "method" => method).record(duration.as_secs_f64());
    }

    /// Runs `future` and records how long it took, also when it fails.
    pub async fn time<T>(&self, method: &'static str, future: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let output = future.await;
        self.record(method, start.elapsed());
        output
    }
}
