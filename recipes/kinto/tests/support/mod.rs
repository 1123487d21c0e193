//! The service in process on memory, or on PostgreSQL in a scratch schema
//! of its own (when `CLIQUET_TEST_POSTGRES_URL` is set), with its backends
//! at hand.

#![allow(dead_code)]

use axum::body::Body;
use base64::Engine as _;
use cliquet_postgres::ScratchSchema;
use cliquet_storage::Backends;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use kinto::App;
use serde_json::Value;
use tower::ServiceExt;

/// A service under test.
pub(crate) struct Env {
    pub(crate) backend: &'static str,
    pub(crate) app: App,
    pub(crate) backends: Backends,
    scratch: Option<ScratchSchema>,
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) json: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `Authorization` for `user` with the password `pw`.
pub(crate) fn basic(user: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"));
    format!("Basic {token}")
}

fn settings(env: &[(&str, &str)], extra: Vec<(String, String)>) -> kinto::Settings {
    let env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain(extra);
    kinto::settings(None, env).unwrap()
}

/// The service on fresh memory backends.
pub(crate) fn memory(env: &[(&str, &str)]) -> Env {
    let backends = cliquet_memory::backends();
    let app = kinto::app(settings(env, Vec::new()), backends.clone()).unwrap();
    Env {
        backend: "memory",
        app,
        backends,
        scratch: None,
    }
}

/// The service on PostgreSQL, in a schema of its own; `None` (and a note)
/// when `CLIQUET_TEST_POSTGRES_URL` is not set.
pub(crate) async fn postgres(label: &str, env: &[(&str, &str)]) -> Option<Env> {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return None;
    };
    let _ = ScratchSchema::drop_stale(&url, label, std::time::Duration::from_secs(3600)).await;
    let scratch = ScratchSchema::create(&url, label).await.unwrap();
    let extra = vec![
        ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
        ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
        ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
        ("KINTO_STORAGE_URL".into(), scratch.url_with_search_path()),
        ("KINTO_MIGRATE_ON_START".into(), "true".into()),
    ];
    let settings = settings(env, extra);
    let backends = cliquet::backends_from_settings(&settings).await.unwrap();
    let app = kinto::app(settings, backends.clone()).unwrap();
    Some(Env {
        backend: "postgresql",
        app,
        backends,
        scratch: Some(scratch),
    })
}

/// The service on memory, then on PostgreSQL when available.
pub(crate) async fn both(label: &str, env: &[(&str, &str)]) -> Vec<Env> {
    let mut envs = vec![memory(env)];
    envs.extend(postgres(label, env).await);
    envs
}

impl Env {
    /// Sends a request, with `auth` as `Authorization` and `body` as JSON.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        send(self.app.clone(), method, path, auth, body).await
    }
}

/// Sends a request to `app`, with `auth` as `Authorization` and `body` as
/// JSON.
pub(crate) async fn send(
    app: App,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "kinto.test");
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

impl Env {
    /// The hello endpoint as `auth`.
    pub(crate) async fn hello(&self, auth: Option<&str>) -> Value {
        let reply = self.call("GET", "/v1/", auth, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json
    }

    /// Drops the scratch schema.
    pub(crate) async fn finish(self) {
        if let Some(scratch) = self.scratch {
            scratch.drop_schema().await.unwrap();
        }
    }
}
