//! The bookmarks service started from its settings and served over a real
//! socket, on memory and on PostgreSQL.

use cliquet_e2e::TestServer;
use http::{Method, StatusCode};
use serde_json::json;

async fn start(env: Vec<(String, String)>) -> TestServer {
    let settings = bookmarks::settings(None, env).unwrap();
    TestServer::start(bookmarks::service(settings).await.unwrap()).await
}

async fn round_trip(server: &TestServer) {
    let hello = server.get("/v1/", &[]).await;
    assert_eq!(hello.json()["project_name"], "bookmarks");
    assert!(hello.json()["capabilities"]["basicauth"].is_object());
    let heartbeat = server.get("/v1/__heartbeat__", &[]).await;
    assert_eq!(heartbeat.status, StatusCode::OK, "{:?}", heartbeat.json());

    // A fresh user, so that runs on a shared database stay apart.
    let user = format!("user-{}:pw", uuid::Uuid::new_v4());
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &user)
    );
    let headers = [("authorization", auth.as_str())];
    let created = server
        .send_json(
            Method::POST,
            "/v1/bookmarks",
            &headers,
            &json!({"data": {"url": "https://kinto.readthedocs.io"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json());

    // A batch with a 4xx subresponse keeps its other writes.
    let batch = json!({"requests": [
        {"method": "POST", "path": "/bookmarks", "body": {"data": {"url": "https://a.org"}}},
        {"method": "GET", "path": "/bookmarks/missing"},
    ]});
    let reply = server
        .send_json(Method::POST, "/v1/batch", &headers, &batch)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let list = server.get("/v1/bookmarks", &headers).await;
    assert_eq!(list.json()["data"].as_array().unwrap().len(), 2);
    let count = server
        .request(Method::HEAD, "/v1/bookmarks", &headers, "")
        .await;
    assert_eq!(count.header("total-objects"), Some("2"));

    let stats = server.get("/v1/stats", &headers).await;
    assert_eq!(stats.json()["bookmarks"], 2);
}

#[tokio::test]
async fn served_on_memory() {
    let server = start(Vec::new()).await;
    round_trip(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn served_on_postgresql() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = start(vec![
        ("BOOKMARKS_STORAGE_BACKEND".into(), "postgresql".into()),
        ("BOOKMARKS_PERMISSION_BACKEND".into(), "postgresql".into()),
        ("BOOKMARKS_CACHE_BACKEND".into(), "postgresql".into()),
        ("BOOKMARKS_STORAGE_URL".into(), url),
    ])
    .await;
    round_trip(&server).await;
    server.stop().await;
}
