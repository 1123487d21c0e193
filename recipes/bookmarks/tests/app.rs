//! The assembled service, in process.

use axum::body::Body;
use base64::Engine as _;
use bookmarks::memory_app;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn auth(user: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:secret"));
    format!("Basic {token}")
}

async fn call(app: &bookmarks::App, request: Request<Body>) -> (u16, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

fn post(path: &str, user: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", auth(user))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get(path: &str, user: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(user) = user {
        builder = builder.header("authorization", auth(user));
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn bookmarks_are_private_and_counted() {
    let app = memory_app();
    let (status, created) = call(
        &app,
        post(
            "/v1/bookmarks",
            "alice",
            json!({"data": {"url": "https://rust-lang.org"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap();

    let (status, got) = call(&app, get(&format!("/v1/bookmarks/{id}"), Some("alice"))).await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["url"], "https://rust-lang.org");
    let (status, _) = call(&app, get(&format!("/v1/bookmarks/{id}"), Some("bob"))).await;
    assert_eq!(status, 404);
    let (status, error) = call(&app, get("/v1/bookmarks", None)).await;
    assert_eq!((status, error["errno"].as_u64()), (401, Some(104)));

    let (status, invalid) = call(
        &app,
        post("/v1/bookmarks", "alice", json!({"data": {"title": "x"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(invalid["details"][0]["name"], "data.url");

    let (status, stats) = call(&app, get("/v1/stats", Some("alice"))).await;
    assert_eq!(status, 200);
    assert_eq!(stats["bookmarks"], 1);
    assert_eq!(stats["last_modified"], got["data"]["last_modified"]);
    let (status, stats) = call(&app, get("/v1/stats", Some("bob"))).await;
    assert_eq!((status, stats["bookmarks"].as_u64()), (200, Some(0)));
    let (status, _) = call(&app, get("/v1/stats", None)).await;
    assert_eq!(status, 401);

    // The batch endpoint runs subrequests as the batch's user.
    let (status, batch) = call(
        &app,
        post(
            "/v1/batch",
            "alice",
            json!({"requests": [
                {"method": "POST", "path": "/bookmarks", "body": {"data": {"url": "https://a.org"}}},
                {"path": "/bookmarks"}
            ]}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["responses"][0]["status"], 201);
    assert_eq!(
        batch["responses"][1]["body"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Unknown routes are protocol errors.
    let (status, error) = call(&app, get("/v1/nothing", Some("alice"))).await;
    assert_eq!((status, error["errno"].as_u64()), (404, Some(111)));
}
