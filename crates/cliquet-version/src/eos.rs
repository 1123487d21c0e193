//! [`EosLayer`]: the end of service (`eos`) — an `Alert` header before the
//! date, `410 Gone` errno 202 from it on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use bytes::Bytes;
use cliquet_errors::ApiError;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::{Clock, SystemClock};
use crate::settings::{SettingsError, VersionSettings};

/// The `Alert` header name.
pub const ALERT: HeaderName = HeaderName::from_static("alert");

/// A tower layer for the protocol's end of service.
///
/// With an end-of-service moment set (the `eos` setting, a date taken at
/// midnight UTC):
///
/// - **before it**, requests are served as usual and every response gets
///   `Alert: {"code":"soft-eol","message":…,"url":…}`, replacing an
///   `Alert` the inner service set;
/// - **from it on**, no request reaches the inner service: every method on
///   every path is answered `410 Gone` errno 202 `"The service you are
///   trying to connect no longer exists at this location."` with
///   `Alert: {"code":"hard-eol",…}`.
///
/// The `Alert` value is compact JSON with exactly the keys `code`,
/// `message` (`eos_message`) and `url` (`eos_url`, else `project_docs`),
/// `null` when unset; non-ASCII characters are written as `\uXXXX` escapes,
/// as Kinto writes them, so the value is plain ASCII.
///
/// Without a moment ([`EosLayer::from_settings`] with `eos` unset) the layer
/// passes everything through untouched.
///
/// Stack it outside the other protocol layers (version redirects, 404s,
/// batch): the protocol applies it to every response, and the `410` must
/// still get the CORS headers, so put the CORS layer outside it.
///
/// The time is read from a [`Clock`] (the system's by default).
#[derive(Clone)]
pub struct EosLayer {
    config: Option<Arc<Config>>,
}

#[derive(Clone)]
struct Config {
    moment: SystemTime,
    message: Option<String>,
    url: Option<String>,
    soft: HeaderValue,
    hard: HeaderValue,
    clock: Arc<dyn Clock>,
}

impl Config {
    /// Renders both `Alert` values, once, when the layer is built.
    fn render(&mut self) {
        let value = |code| {
            alert_value(&Alert {
                code,
                message: self.message.as_deref(),
                url: self.url.as_deref(),
            })
        };
        self.soft = value("soft-eol");
        self.hard = value("hard-eol");
    }
}

#[derive(Serialize)]
struct Alert<'a> {
    code: &'a str,
    message: Option<&'a str>,
    url: Option<&'a str>,
}

impl EosLayer {
    /// A layer whose service ends at `moment`, with no message and no URL
    /// in its `Alert`.
    pub fn new(moment: SystemTime) -> Self {
        Self::with_alert(moment, None, None)
    }

    /// A layer that does nothing: no end of service.
    pub fn disabled() -> Self {
        Self { config: None }
    }

    /// The layer the settings describe (`eos`, `eos_message`, `eos_url`,
    /// `project_docs`); a layer that does nothing when `eos` is unset.
    ///
    /// # Errors
    ///
    /// When `eos` is not a date.
    pub fn from_settings(settings: &VersionSettings) -> Result<Self, SettingsError> {
        Ok(match settings.eos_moment()? {
            None => Self::disabled(),
            Some(moment) => Self::with_alert(
                moment,
                settings.eos_message.clone(),
                settings.eos_url.clone().or(settings.project_docs.clone()),
            ),
        })
    }

    fn with_alert(moment: SystemTime, message: Option<String>, url: Option<String>) -> Self {
        let mut config = Config {
            moment,
            message,
            url,
            soft: HeaderValue::from_static(""),
            hard: HeaderValue::from_static(""),
            clock: Arc::new(SystemClock),
        };
        config.render();
        Self {
            config: Some(Arc::new(config)),
        }
    }

    /// Sets the `message` of the `Alert` (`eos_message`).
    pub fn message(self, message: impl Into<String>) -> Self {
        self.update(|config| config.message = Some(message.into()))
    }

    /// Sets the `url` of the `Alert` (`eos_url`).
    pub fn url(self, url: impl Into<String>) -> Self {
        self.update(|config| config.url = Some(url.into()))
    }

    /// Reads the current time from `clock` instead of the system's.
    pub fn clock(self, clock: impl Clock) -> Self {
        self.update(|config| config.clock = Arc::new(clock))
    }

    /// Whether an end of service is set.
    pub fn is_enabled(&self) -> bool {
        self.config.is_some()
    }

    fn update(mut self, change: impl FnOnce(&mut Config)) -> Self {
        if let Some(config) = &mut self.config {
            let config = Arc::make_mut(config);
            change(config);
            config.render();
        }
        self
    }
}

/// The `Alert` value: compact JSON, non-ASCII escaped.
fn alert_value(alert: &Alert<'_>) -> HeaderValue {
    // A struct of strings always serialises.
    let json = serde_json::to_string(alert).unwrap_or_default();
    let mut ascii = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    // serde_json escapes control characters and the rest is ASCII now.
    HeaderValue::from_str(&ascii).expect("printable ASCII")
}

impl fmt::Debug for EosLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("EosLayer");
        if let Some(config) = &self.config {
            debug
                .field("moment", &config.moment)
                .field("message", &config.message)
                .field("url", &config.url);
        }
        debug.finish_non_exhaustive()
    }
}

impl<S> Layer<S> for EosLayer {
    type Service = EosService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EosService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`EosLayer`].
#[derive(Clone)]
pub struct EosService<S> {
    inner: S,
    config: Option<Arc<Config>>,
}

impl<S> EosService<S> {
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

impl<S: fmt::Debug> fmt::Debug for EosService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EosService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for EosService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = EosFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(config) = &self.config else {
            return EosFuture {
                kind: Kind::Inner {
                    future: self.inner.call(request),
                    alert: None,
                },
            };
        };
        if config.clock.now() >= config.moment {
            let response = ApiError::service_deprecated()
                .with_header(ALERT, config.hard.clone())
                .into_response();
            return EosFuture {
                kind: Kind::Gone {
                    response: Some(response),
                },
            };
        }
        EosFuture {
            kind: Kind::Inner {
                future: self.inner.call(request),
                alert: Some(config.soft.clone()),
            },
        }
    }
}

pin_project! {
    /// The future of [`EosService`].
    pub struct EosFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F, alert: Option<HeaderValue> },
        Gone { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for EosFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, alert } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(alert) = alert.take() {
                    // The end-of-service alert wins over any other.
                    response.headers_mut().insert(ALERT, alert);
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Gone { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_values_are_compact_ascii_json() {
        let value = alert_value(&Alert {
            code: "soft-eol",
            message: Some("Bye"),
            url: Some("http://eos"),
        });
        assert_eq!(
            value,
            r#"{"code":"soft-eol","message":"Bye","url":"http://eos"}"#
        );
        let value = alert_value(&Alert {
            code: "hard-eol",
            message: None,
            url: None,
        });
        assert_eq!(value, r#"{"code":"hard-eol","message":null,"url":null}"#);
        let value = alert_value(&Alert {
            code: "soft-eol",
            message: Some("Au revoir \u{e9}\u{1F44B}\n\"x\""),
            url: None,
        });
        assert_eq!(
            value,
            r#"{"code":"soft-eol","message":"Au revoir \u00e9\ud83d\udc4b\n\"x\"","url":null}"#
        );
    }

    #[test]
    fn builders_rewrite_both_alerts() {
        let layer = EosLayer::new(SystemTime::UNIX_EPOCH)
            .message("Bye")
            .url("http://eos");
        let config = layer.config.unwrap();
        assert_eq!(
            config.soft,
            r#"{"code":"soft-eol","message":"Bye","url":"http://eos"}"#
        );
        assert_eq!(
            config.hard,
            r#"{"code":"hard-eol","message":"Bye","url":"http://eos"}"#
        );
    }
}
