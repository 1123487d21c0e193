//! The hello endpoint, `GET /v1/`.

use std::sync::Arc;

use bytes::Bytes;
use cliquet_auth::Identity;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, EXPIRES, HOST, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::Capabilities;

/// Extra fields of the hello endpoint's `user` object for an
/// authenticated request (Kinto's default bucket adds `bucket`).
pub type UserInfoHook = Arc<dyn Fn(&Identity) -> Map<String, Value> + Send + Sync>;

/// What the hello endpoint shows: project information, public settings,
/// capabilities, and the request's user.
#[derive(Clone)]
pub struct Hello {
    /// `project_name`.
    pub project_name: String,
    /// `project_version`.
    pub project_version: String,
    /// `http_api_version`.
    pub http_api_version: String,
    /// `project_docs`.
    pub project_docs: String,
    /// The version prefix (`/v1`).
    pub prefix: String,
    /// The `eos` setting, shown verbatim when set.
    pub eos: Option<String>,
    /// The public settings and their values.
    pub public_settings: Map<String, Value>,
    /// The announced capabilities.
    pub capabilities: Capabilities,
    /// Forces the scheme of `url` (`http_scheme`).
    pub http_scheme: Option<String>,
    /// Forces the host of `url` (`http_host`).
    pub http_host: Option<String>,
    /// In read-only mode, the response may be cached this many seconds
    /// (`root_cache_expires_seconds`).
    pub readonly_cache_seconds: Option<u64>,
    /// Adds fields to `user`.
    pub user_info: Option<UserInfoHook>,
}

impl std::fmt::Debug for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hello")
            .field("project_name", &self.project_name)
            .field("prefix", &self.prefix)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl Hello {
    /// The absolute URL of the hello endpoint for this request, with its
    /// trailing slash: `http_scheme`/`http_host` when set, else `http` and
    /// the request's `Host`.
    pub fn url(&self, request: &Parts) -> String {
        let scheme = self.http_scheme.as_deref().unwrap_or("http");
        let host = self
            .http_host
            .clone()
            .or_else(|| {
                request
                    .headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .or_else(|| request.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{scheme}://{host}{}/", self.prefix)
    }

    /// The JSON body for this request.
    pub fn body(&self, request: &Parts) -> Value {
        let mut body = Map::new();
        body.insert("project_name".into(), json!(self.project_name));
        body.insert("project_version".into(), json!(self.project_version));
        body.insert("http_api_version".into(), json!(self.http_api_version));
        body.insert("project_docs".into(), json!(self.project_docs));
        body.insert("url".into(), json!(self.url(request)));
        if let Some(eos) = &self.eos {
            body.insert("eos".into(), json!(eos));
        }
        body.insert(
            "settings".into(),
            Value::Object(self.public_settings.clone()),
        );
        if let Some(identity) = request.extensions.get::<Identity>()
            && let Some(user_id) = identity.user_id()
        {
            let mut user = Map::new();
            user.insert("id".into(), json!(user_id));
            user.insert("principals".into(), json!(identity.principals()));
            if let Some(hook) = &self.user_info {
                user.extend(hook(identity));
            }
            body.insert("user".into(), Value::Object(user));
        }
        body.insert("capabilities".into(), self.capabilities.to_json());
        Value::Object(body)
    }

    /// The response for this request (its body is empty for `HEAD`).
    pub fn response<B: From<Bytes>>(&self, request: &Parts) -> Response<B> {
        let body = if request.method == http::Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(self.body(request).to_string())
        };
        let mut response = Response::new(B::from(body));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.readonly_cache_seconds {
            if let Ok(value) = HeaderValue::from_str(&format!("max-age={seconds}")) {
                headers.insert(CACHE_CONTROL, value);
            }
            let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(seconds);
            if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(expires)) {
                headers.insert(EXPIRES, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        let mut capabilities = Capabilities::new();
        capabilities
            .register(
                "basicauth",
                "Very basic authentication sessions. Not for production use.",
                "http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html",
                Map::new(),
            )
            .unwrap();
        let mut public_settings = Map::new();
        public_settings.insert("batch_max_requests".into(), json!(25));
        public_settings.insert("readonly".into(), json!(false));
        public_settings.insert("explicit_permissions".into(), json!(true));
        Hello {
            project_name: "kinto".into(),
            project_version: "26.5.0".into(),
            http_api_version: "1.23".into(),
            project_docs: "https://kinto.readthedocs.io/".into(),
            prefix: "/v1".into(),
            eos: None,
            public_settings,
            capabilities,
            http_scheme: None,
            http_host: None,
            readonly_cache_seconds: None,
            user_info: None,
        }
    }

    fn parts(identity: Option<Identity>) -> Parts {
        let mut request = http::Request::get("/v1/")
            .header(HOST, "localhost:8888")
            .body(())
            .unwrap();
        if let Some(identity) = identity {
            request.extensions_mut().insert(identity);
        }
        request.into_parts().0
    }

    #[test]
    fn anonymous_body_is_pinned() {
        assert_eq!(
            hello().body(&parts(None)),
            json!({
                "project_name": "kinto",
                "project_version": "26.5.0",
                "http_api_version": "1.23",
                "project_docs": "https://kinto.readthedocs.io/",
                "url": "http://localhost:8888/v1/",
                "settings": {"batch_max_requests": 25, "readonly": false, "explicit_permissions": true},
                "capabilities": {
                    "basicauth": {
                        "description": "Very basic authentication sessions. Not for production use.",
                        "url": "http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html"
                    }
                }
            })
        );
    }

    #[test]
    fn authenticated_user_eos_and_forced_url() {
        let mut hello = hello();
        hello.eos = Some("2069-02-21".into());
        hello.http_scheme = Some("https".into());
        hello.http_host = Some("kinto.example.com".into());
        hello.user_info = Some(Arc::new(|_: &Identity| {
            let mut extra = Map::new();
            extra.insert("bucket".into(), json!("a1b2"));
            extra
        }));
        let identity = Identity::authenticated("basicauth:abc", "basicauth", []);
        let body = hello.body(&parts(Some(identity)));
        assert_eq!(body["url"], "https://kinto.example.com/v1/");
        assert_eq!(body["eos"], "2069-02-21");
        assert_eq!(
            body["user"],
            json!({"id": "basicauth:abc",
                   "principals": ["basicauth:abc", "system.Everyone", "system.Authenticated"],
                   "bucket": "a1b2"})
        );
        // Anonymous requests have no `user`.
        let body = hello.body(&parts(Some(Identity::anonymous())));
        assert!(body.get("user").is_none());
    }

    #[test]
    fn readonly_cache_headers() {
        let mut hello = hello();
        let response: Response<Bytes> = hello.response(&parts(None));
        assert!(!response.headers().contains_key(CACHE_CONTROL));
        hello.readonly_cache_seconds = Some(86400);
        let response: Response<Bytes> = hello.response(&parts(None));
        assert_eq!(response.headers()[CACHE_CONTROL], "max-age=86400");
        assert!(response.headers().contains_key(EXPIRES));
    }
}
