//! The notes app with every layer, over a real socket.

use std::path::Path;

use cliquet_e2e::TestServer;
use http::{Method, StatusCode};
use layers::{Settings, etag_of, service};
use serde_json::json;

fn settings(toml: &str) -> Settings {
    let dir = std::env::temp_dir().join(format!("layers-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.toml");
    std::fs::write(&file, toml).unwrap();
    Settings::load(Some(&file), Vec::new()).unwrap()
}

async fn start(toml: &str) -> TestServer {
    TestServer::start(service(&settings(toml)).unwrap()).await
}

#[tokio::test]
async fn notes_with_etags_and_preconditions() {
    let server = start("").await;
    let created = server
        .send_json(
            Method::POST,
            "/v1/notes",
            &[],
            &json!({"data": {"text": "hello"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["data"]["id"].as_str().unwrap().to_owned();
    let etag = etag_of(&created.headers).unwrap();
    assert_eq!(created.json()["data"]["last_modified"], etag);

    // A matching If-None-Match on a read is a 304 with no body.
    let path = format!("/v1/notes/{id}");
    let quoted = format!("\"{etag}\"");
    let reply = server.get(&path, &[("if-none-match", &quoted)]).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());

    // A write holding the current ETag succeeds; a second one with the
    // same, now stale, ETag gets 412 errno 114.
    let update = json!({"data": {"text": "hello again"}});
    let reply = server
        .send_json(Method::PUT, &path, &[("if-match", &quoted)], &update)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = server
        .send_json(Method::PUT, &path, &[("if-match", &quoted)], &update)
        .await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(reply.json()["errno"], 114);

    // A malformed ETag is a 400 errno 107.
    let reply = server.get(&path, &[("if-none-match", "abc")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["errno"], 107);

    let reply = server.request(Method::DELETE, &path, &[], "").await;
    assert_eq!(reply.json()["data"]["deleted"], true);
    let reply = server.get(&path, &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["errno"], 110);
    server.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_protocol_errors() {
    let server = start("").await;
    let reply = server
        .request(Method::POST, "/v1/notes", &[], "{nope")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["errno"], 107);
    let reply = server
        .send_json(
            Method::POST,
            "/v1/notes",
            &[],
            &json!({"data": {"title": 1}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["details"][0]["location"], "body");
    server.stop().await;
}

#[tokio::test]
async fn version_prefix_and_unknown_urls() {
    let server = start("").await;
    let reply = server.get("/notes?_limit=2", &[]).await;
    assert_eq!(reply.status, StatusCode::TEMPORARY_REDIRECT);
    assert!(
        reply
            .header("location")
            .unwrap()
            .ends_with("/v1/notes?_limit=2")
    );
    let reply = server.get("/v1/notes/", &[]).await;
    assert_eq!(reply.status, StatusCode::TEMPORARY_REDIRECT);
    let reply = server.get("/v1/nothing", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["errno"], 111);
    let reply = server.get("/v2/notes", &[]).await;
    assert_eq!(reply.json()["errno"], 116);
    let reply = server.request(Method::PATCH, "/v1/notes", &[], "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["errno"], 115);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    server.stop().await;
}

#[tokio::test]
async fn heartbeat_and_version() {
    let server = start("").await;
    let reply = server.get("/v1/__heartbeat__", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"notes": true}));
    let reply = server.get("/v1/__lbheartbeat__", &[]).await;
    assert_eq!(reply.json(), json!({}));
    let reply = server.get("/v1/__version__", &[]).await;
    assert_eq!(reply.json()["name"], "layers");
    server.stop().await;
}

#[tokio::test]
async fn backoff_and_readonly_from_settings() {
    let server = start("backoff = 10\nreadonly = true\nretry_after_seconds = 3\n").await;
    let reply = server.get("/v1/notes", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("backoff"), Some("10"));
    let reply = server
        .send_json(
            Method::POST,
            "/v1/notes",
            &[],
            &json!({"data": {"text": "x"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["errno"], 115);
    server.stop().await;
}

#[tokio::test]
async fn cors_from_settings() {
    let server = start("cors_origins = [\"https://app.example.com\"]\n").await;
    let reply = server
        .get("/v1/notes", &[("origin", "https://app.example.com")])
        .await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let expose = reply.header("access-control-expose-headers").unwrap();
    assert!(
        expose.contains("ETag") || expose.contains("etag"),
        "{expose}"
    );
    let reply = server
        .request(
            Method::OPTIONS,
            "/v1/notes",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.status);
    assert!(reply.header("access-control-allow-methods").is_some());
    server.stop().await;
}

#[tokio::test]
async fn end_of_service() {
    let server = start("eos = \"2000-01-01\"\neos_message = \"Gone\"\n").await;
    let reply = server.get("/v1/notes", &[]).await;
    assert_eq!(reply.status, StatusCode::GONE);
    assert_eq!(reply.json()["errno"], 202);
    assert!(reply.header("alert").unwrap().contains("hard-eol"));
    server.stop().await;
}

#[test]
fn unknown_and_wrong_settings_fail_at_start() {
    let dir = std::env::temp_dir().join(format!("layers-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.toml");
    std::fs::write(&file, "backof = 10\n").unwrap();
    let error = Settings::load(Some(&file), Vec::new()).unwrap_err();
    assert_eq!(error.key(), Some("backof"));
    std::fs::write(&file, "backoff = \"soon\"\n").unwrap();
    let error = Settings::load(Some(&file), Vec::new()).unwrap_err();
    assert_eq!(error.key(), Some("backoff"));
    // The environment overrides the file.
    std::fs::write(&file, "backoff = 10\n").unwrap();
    let settings = Settings::load(
        Some(Path::new(&file)),
        vec![("NOTES_BACKOFF".to_owned(), "20".to_owned())],
    )
    .unwrap();
    assert_eq!(settings.backoff.backoff, Some(20));
}
