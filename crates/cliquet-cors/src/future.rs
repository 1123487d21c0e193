//! [`ResponseFuture`]: the future of [`CorsService`](crate::CorsService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use cliquet_errors::{ApiError, Location};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use pin_project_lite::pin_project;

use crate::expose::{DEFAULT_EXPOSED_HEADERS, ExposedHeaders, join};
use crate::layer::Config;

/// What the layer keeps of a preflight request.
pub(crate) struct Preflight {
    pub(crate) origin: Option<HeaderValue>,
    pub(crate) method: Option<HeaderValue>,
    pub(crate) headers: Vec<HeaderValue>,
}

pin_project! {
    /// The future of [`CorsService`](crate::CorsService).
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
        config: Arc<Config>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        // Any request but `OPTIONS`, through `tower-http`.
        Simple {
            #[pin]
            future: tower_http::cors::ResponseFuture<F>,
            any_origin: bool,
        },
        // `OPTIONS`: the inner service's answer, and `tower-http`'s
        // preflight headers.
        Preflight {
            #[pin]
            probe: F,
            #[pin]
            answer: tower_http::cors::ResponseFuture<F>,
            probed: Option<Response<B>>,
            preflight: Preflight,
        },
        // Refused before the inner service ran.
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn simple(
        future: tower_http::cors::ResponseFuture<F>,
        config: Arc<Config>,
        any_origin: bool,
    ) -> Self {
        Self {
            kind: Kind::Simple { future, any_origin },
            config,
        }
    }

    pub(crate) fn preflight(
        probe: F,
        answer: tower_http::cors::ResponseFuture<F>,
        preflight: Preflight,
        config: Arc<Config>,
    ) -> Self {
        Self {
            kind: Kind::Preflight {
                probe,
                answer,
                probed: None,
                preflight,
            },
            config,
        }
    }

    pub(crate) fn refused(response: Response<B>, config: Arc<Config>) -> Self {
        Self {
            kind: Kind::Refused {
                response: Some(response),
            },
            config,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default + From<Bytes>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let config = &**this.config;
        match this.kind.project() {
            KindProj::Simple { future, any_origin } => {
                let mut response = ready!(future.poll(cx))?;
                if *any_origin {
                    wildcard(response.headers_mut());
                }
                config.expose(&mut response);
                Poll::Ready(Ok(response))
            }
            KindProj::Preflight {
                probe,
                answer,
                probed,
                preflight,
            } => {
                if probed.is_none() {
                    *probed = Some(ready!(probe.poll(cx))?);
                }
                let answer = ready!(answer.poll(cx))?;
                let probed = probed.take().expect("polled after completion");
                let service_headers = (probed.status() == StatusCode::METHOD_NOT_ALLOWED)
                    .then(|| probed.headers().clone());
                let mut response = config.answer_preflight(probed, answer, preflight);
                if let Some(service_headers) = service_headers {
                    carry_over(service_headers, response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

/// Keeps, on the answer the layer wrote for an endpoint's preflight, the
/// headers the layers below added to the endpoint's `405` (`Backoff`,
/// `Alert`, security headers...), but not those describing that `405`.
fn carry_over(from: HeaderMap, to: &mut HeaderMap) {
    let written: Vec<HeaderName> = to.keys().cloned().collect();
    let mut last = None;
    for (name, value) in from {
        let name = match name {
            Some(name) => {
                last = Some(name.clone());
                name
            }
            None => match &last {
                Some(name) => name.clone(),
                None => continue,
            },
        };
        let skip = name == ALLOW
            || name == CONTENT_TYPE
            || name == CONTENT_LENGTH
            || name == TRANSFER_ENCODING
            || name.as_str().starts_with("access-control-")
            || (written.contains(&name) && name != VARY);
        if !skip {
            to.append(name, value);
        }
    }
}

/// Replaces an echoed origin with `*` (the configuration allows any).
fn wildcard(headers: &mut HeaderMap) {
    if headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
}

impl Config {
    /// Sets `Access-Control-Expose-Headers`: the default list and the
    /// endpoint's own.
    fn expose<B>(&self, response: &mut Response<B>) {
        let value = match response.extensions().get::<ExposedHeaders>() {
            Some(extra) => join(
                DEFAULT_EXPOSED_HEADERS.iter().copied().chain(extra.iter()),
                ", ",
            )
            .unwrap_or_else(|| self.exposed.clone()),
            None => self.exposed.clone(),
        };
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }

    /// 400 errno 107 for an `Origin` that is not allowed.
    pub(crate) fn origin_not_allowed<B: From<Bytes>>(&self, origin: &HeaderValue) -> Response<B> {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        self.bad_header("Origin", &format!("{origin} not allowed"), None)
    }

    /// 400 errno 107 about a request header, with the exposed headers and,
    /// when given, the allowed origin.
    fn bad_header<B: From<Bytes>>(
        &self,
        name: &str,
        description: &str,
        allow_origin: Option<HeaderValue>,
    ) -> Response<B> {
        let mut response =
            ApiError::invalid_parameter(Location::Header, name, description).into_response::<B>();
        if let Some(allow_origin) = allow_origin {
            response
                .headers_mut()
                .insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        }
        self.expose(&mut response);
        response
    }

    /// The response to an `OPTIONS` request, given the inner service's
    /// answer (`probed`) and `tower-http`'s preflight answer.
    fn answer_preflight<B>(
        &self,
        mut probed: Response<B>,
        answer: Response<B>,
        preflight: &Preflight,
    ) -> Response<B>
    where
        B: From<Bytes>,
    {
        let (mut parts, _) = answer.into_parts();
        if self.origins.any {
            wildcard(&mut parts.headers);
        }
        let allow_origin = parts.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).cloned();

        if probed.status() != StatusCode::METHOD_NOT_ALLOWED {
            // Not an endpoint answering preflights (an unknown URL, an
            // `OPTIONS` handler of its own): its answer, made readable.
            let headers = probed.headers_mut();
            if let Some(allow_origin) = allow_origin {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
            }
            for vary in parts.headers.get_all(VARY) {
                headers.append(VARY, vary.clone());
            }
            self.expose(&mut probed);
            return probed;
        }

        let Some(origin) = &preflight.origin else {
            return self.bad_header("Origin", "this header is mandatory", None);
        };
        let Some(method) = &preflight.method else {
            return self.bad_header(
                "Access-Control-Request-Method",
                "this header is mandatory",
                allow_origin,
            );
        };
        let methods = endpoint_methods(probed.headers());
        if let Some(methods) = &methods
            && !methods
                .iter()
                .any(|m| m.as_str().as_bytes() == method.as_bytes())
        {
            return self.bad_header(
                "Access-Control-Request-Method",
                "Method not allowed",
                allow_origin,
            );
        }
        if !self.origins.allows(origin.as_bytes()) {
            return self.origin_not_allowed(origin);
        }

        let headers = &mut parts.headers;
        let allow_methods = match &methods {
            Some(methods) => join(
                methods
                    .iter()
                    .filter(|m| **m != Method::OPTIONS)
                    .map(Method::as_str)
                    .chain(["OPTIONS"]),
                ",",
            ),
            // The endpoint did not say: the requested method.
            None => method
                .to_str()
                .ok()
                .and_then(|method| join([method, "OPTIONS"], ",")),
        };
        match allow_methods {
            Some(value) => headers.insert(ACCESS_CONTROL_ALLOW_METHODS, value),
            None => headers.remove(ACCESS_CONTROL_ALLOW_METHODS),
        };
        let requested = preflight
            .headers
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        let configured = self.preflight_headers.iter().map(String::as_str);
        match join(requested.chain(configured), ",") {
            Some(value) => headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, value),
            None => headers.remove(ACCESS_CONTROL_ALLOW_HEADERS),
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.status = StatusCode::OK;
        Response::from_parts(parts, B::from(Bytes::from_static(b"null")))
    }
}

/// The methods of an endpoint, from the `Allow` header(s) of its `405`.
fn endpoint_methods(headers: &HeaderMap) -> Option<Vec<Method>> {
    let mut methods = Vec::new();
    for value in headers.get_all(ALLOW) {
        let value = value.to_str().ok()?;
        for method in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let method = Method::from_bytes(method.as_bytes()).ok()?;
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
    }
    (!methods.is_empty()).then_some(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_from_allow() {
        let mut headers = HeaderMap::new();
        assert_eq!(endpoint_methods(&headers), None);
        headers.insert(ALLOW, HeaderValue::from_static("GET,HEAD, POST"));
        headers.append(ALLOW, HeaderValue::from_static("GET, DELETE"));
        assert_eq!(
            endpoint_methods(&headers).unwrap(),
            [Method::GET, Method::HEAD, Method::POST, Method::DELETE]
        );
        headers.insert(ALLOW, HeaderValue::from_static(""));
        assert_eq!(endpoint_methods(&headers), None);
    }
}
