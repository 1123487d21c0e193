//! `Cliquet::initialize`: the whole stack assembled from settings, over a
//! real socket, on the memory backends and on PostgreSQL.

use cliquet::{Cliquet, InitError};
use cliquet_batch::NoScope;
use cliquet_heartbeat::BuildInfo;
use http::{Method, StatusCode};
use serde_json::json;

mod demo;
use demo::{routes, settings, start};

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
