//! `Cliquet::initialize`: the whole stack assembled from settings, over a
//! real socket, on the memory backends and on PostgreSQL.

use axum::Router;
use axum::routing::get;
use cliquet::settings::{RawSettings, Settings, Sources};
use cliquet::{Cliquet, InitError};
use cliquet_batch::NoScope;
use cliquet_e2e::TestServer;
use cliquet_heartbeat::BuildInfo;
use http::{Method, StatusCode};
use serde_json::json;

fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut defaults = RawSettings::new();
    defaults.set("project_name", "demo");
    defaults.set("project_version", "1.2.3");
    defaults.set("http_api_version", "1.23");
    defaults.set("multiauth.policies", "basicauth");
    defaults.set("userid_hmac_secret", "secret");
    defaults.set("retry_after_seconds", 3);
    for (key, value) in extra {
        defaults.set(*key, *value);
    }
    Settings::load(Sources {
        file: None,
        prefix: "demo",
        env: Vec::new(),
        defaults,
    })
    .unwrap()
}

fn routes() -> Router {
    Router::new().route("/v1/things", get(|| async { "[]" }).post(|| async { "{}" }))
}

async fn start(settings: Settings) -> TestServer {
    let cliquet = Cliquet::initialize(settings, BuildInfo::new("demo", "1.2.3"))
        .await
        .unwrap();
    TestServer::start(cliquet.service(routes(), NoScope).unwrap()).await
}

#[tokio::test]
async fn hello_heartbeat_and_auth_on_memory() {
    let server = start(settings(&[])).await;
    let reply = server
        .get("/v1/", &[("authorization", "Basic YWxpY2U6cHc=")])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["project_name"], "demo");
    assert_eq!(body["http_api_version"], "1.23");
    assert_eq!(body["url"], server.url("/v1/"));
    assert_eq!(
        body["settings"],
        json!({"batch_max_requests": 25, "readonly": false, "explicit_permissions": true})
    );
    assert_eq!(
        body["capabilities"]["basicauth"]["description"],
        "Very basic authentication sessions. Not for production use."
    );
    assert_eq!(
        body["user"]["id"],
        "basicauth:741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94"
    );

    let reply = server.get("/v1/__heartbeat__", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"storage": true, "permission": true, "cache": true})
    );
    let reply = server.get("/v1/__version__", &[]).await;
    assert_eq!(reply.json()["version"], "1.2.3");

    // Unprefixed URLs are redirected; errors are the protocol's.
    let reply = server.get("/things", &[]).await;
    assert_eq!(reply.status, StatusCode::TEMPORARY_REDIRECT);
    let reply = server.get("/v1/nothing", &[]).await;
    assert_eq!(reply.json()["errno"], 111);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    server.stop().await;
}

#[tokio::test]
async fn batch_runs_through_the_routes() {
    let server = start(settings(&[])).await;
    let batch = json!({"requests": [
        {"method": "GET", "path": "/things"},
        {"method": "POST", "path": "/things", "body": {"data": {}}},
        {"method": "GET", "path": "/nothing"},
    ]});
    let reply = server
        .send_json(Method::POST, "/v1/batch", &[], &batch)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let statuses: Vec<u64> = reply.json()["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 404]);
    server.stop().await;
}

#[tokio::test]
async fn readonly_refuses_writes_and_caches_hello() {
    let server = start(settings(&[("readonly", "true")])).await;
    let reply = server.request(Method::POST, "/v1/things", &[], "{}").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["errno"], 115);
    let reply = server.get("/v1/", &[]).await;
    assert_eq!(reply.json()["settings"]["readonly"], true);
    assert_eq!(reply.header("cache-control"), Some("max-age=86400"));
    server.stop().await;
}

#[tokio::test]
async fn start_up_errors_say_what_to_fix() {
    let error = Cliquet::initialize(
        settings(&[("storage_backend", "kinto.core.storage.mysql")]),
        BuildInfo::new("demo", "1"),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("storage_backend"), "{error}");

    let error = Cliquet::initialize(
        settings(&[("storage_backend", "postgresql")]),
        BuildInfo::new("demo", "1"),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("storage_url"), "{error}");

    let cliquet = Cliquet::initialize(
        settings(&[("multiauth.policies", "account basicauth")]),
        BuildInfo::new("demo", "1"),
    )
    .await
    .unwrap();
    let error: InitError = cliquet.service(routes(), NoScope).err().unwrap();
    assert!(error.to_string().contains("`account`"), "{error}");
}

#[tokio::test]
async fn heartbeat_on_postgresql() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = start(settings(&[
        ("storage_backend", "kinto.core.storage.postgresql"),
        ("storage_url", &url),
        ("permission_backend", "kinto.core.permission.postgresql"),
        ("cache_backend", "kinto.core.cache.memory"),
    ]))
    .await;
    let reply = server.get("/v1/__heartbeat__", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert_eq!(
        reply.json(),
        json!({"storage": true, "permission": true, "cache": true})
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_fails_the_heartbeat_not_the_start() {
    // Nothing listens on port 9 of the loopback.
    let server = start(settings(&[
        ("storage_backend", "postgresql"),
        ("storage_url", "postgresql://postgres@127.0.0.1:9/none"),
        ("migrate_on_start", "false"),
        ("storage_pool_timeout", "1"),
        ("heartbeat_timeout_seconds", "3"),
    ]))
    .await;
    let reply = server.get("/v1/__heartbeat__", &[]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    // Only the storage is on PostgreSQL here; the others are in memory.
    assert_eq!(
        reply.json(),
        json!({"storage": false, "permission": true, "cache": true})
    );
    server.stop().await;
}

/// A writer appending to a shared buffer, for capturing logs.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_is_summarised_in_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start(settings(&[])).await;
    server
        .get(
            "/v1/things?_limit=2",
            &[("authorization", "Basic YWxpY2U6cHc=")],
        )
        .await;
    server.get("/v1/nothing", &[]).await;
    server.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let summaries: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["target"] == "request.summary")
        .collect();
    assert_eq!(summaries.len(), 2, "{text}");
    let first = &summaries[0]["fields"];
    assert_eq!(first["path"], "/v1/things");
    assert_eq!(first["code"], 200);
    assert_eq!(first["errno"], 0);
    assert_eq!(first["querystring"], "_limit=2");
    assert_eq!(
        first["uid"],
        "basicauth:741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94"
    );
    assert_eq!(first["authn_type"], "basicauth");
    let second = &summaries[1]["fields"];
    assert_eq!(second["code"], 404);
    assert_eq!(second["errno"], 111);
}
