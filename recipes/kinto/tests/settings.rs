//! Kinto's `*_principals` settings, and the defaults.

use axum::body::Body;
use base64::Engine as _;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app_with(env: &[(&str, &str)]) -> kinto::App {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = kinto::settings(None, env).unwrap();
    kinto::app(settings, cliquet_memory::backends()).unwrap()
}

async fn call(app: &kinto::App, method: &str, path: &str, user: Option<&str>) -> (u16, Value) {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(user) = user {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"));
        builder = builder.header("authorization", format!("Basic {token}"));
    }
    let response = app
        .clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn defaults() {
    let settings = kinto::settings(None, Vec::new()).unwrap();
    assert_eq!(settings.core.project_name, "kinto");
    assert_eq!(settings.core.http_api_version, "1.23");
    assert_eq!(settings.core.retry_after_seconds, 3);
    assert_eq!(settings.core.multiauth_policies, ["basicauth"]);
    assert_eq!(
        settings.raw.get_text("bucket_create_principals").as_deref(),
        Some("system.Authenticated")
    );
}

#[tokio::test]
async fn nobody_creates_buckets_when_the_setting_is_empty() {
    let app = app_with(&[("KINTO_BUCKET_CREATE_PRINCIPALS", "")]);
    let (status, error) = call(&app, "PUT", "/v1/buckets/b", Some("alice")).await;
    assert_eq!((status, error["errno"].as_u64()), (403, Some(121)));
}

#[tokio::test]
async fn anonymous_buckets_are_world_writable() {
    let app = app_with(&[("KINTO_BUCKET_CREATE_PRINCIPALS", "system.Everyone")]);
    let (status, created) = call(&app, "PUT", "/v1/buckets/open", None).await;
    assert_eq!(status, 201);
    assert_eq!(created["permissions"]["write"], json!(["system.Everyone"]));
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/open/collections/c", Some("bob"))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn settings_grant_on_their_endpoint_only() {
    let app = app_with(&[
        ("KINTO_BUCKET_WRITE_PRINCIPALS", "system.Authenticated"),
        ("KINTO_RECORD_READ_PRINCIPALS", "system.Everyone"),
    ]);
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/b", Some("alice")).await.0,
        201
    );
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/b/collections/c", Some("alice"))
            .await
            .0,
        201
    );
    assert_eq!(
        call(
            &app,
            "PUT",
            "/v1/buckets/b/collections/c/records/r",
            Some("alice")
        )
        .await
        .0,
        201
    );
    // bucket_write_principals: bob may not create in the bucket, but may
    // write (replace) it, which makes him one of its writers.
    let (status, _) = call(&app, "PUT", "/v1/buckets/b/collections/x", Some("bob")).await;
    assert_eq!(status, 403);
    assert_eq!(call(&app, "PUT", "/v1/buckets/b", Some("bob")).await.0, 200);
    let (status, _) = call(&app, "PUT", "/v1/buckets/b/collections/x", Some("bob")).await;
    assert_eq!(status, 201);
    // record_read_principals: every record is readable, not the collection.
    assert_eq!(
        call(&app, "GET", "/v1/buckets/b/collections/c/records/r", None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&app, "GET", "/v1/buckets/b/collections/c/records", None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&app, "GET", "/v1/buckets/b/collections/c", None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn collection_create_principals_allow_orphans() {
    // As in Kinto, collections do not check that their bucket exists.
    let app = app_with(&[("KINTO_COLLECTION_CREATE_PRINCIPALS", "system.Authenticated")]);
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/ghost/collections/x", Some("bob"))
            .await
            .0,
        201
    );
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/ghost/collections/x/records/r",
        Some("bob"),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn cache_expires_on_anonymous_reads() {
    let app = app_with(&[
        ("KINTO_RECORD_CACHE_EXPIRES_SECONDS", "3600"),
        ("KINTO_RECORD_READ_PRINCIPALS", "system.Everyone"),
    ]);
    call(&app, "PUT", "/v1/buckets/b", Some("alice")).await;
    call(&app, "PUT", "/v1/buckets/b/collections/c", Some("alice")).await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/r",
        Some("alice"),
    )
    .await;
    let request = Request::get("/v1/buckets/b/collections/c/records/r")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let cache_control = response.headers().get("cache-control").unwrap();
    assert!(
        cache_control.to_str().unwrap().contains("max-age=3600"),
        "{cache_control:?}"
    );
    // Collections have no such setting here.
    let request = Request::get("/v1/buckets/b/collections/c")
        .header("authorization", "Basic YWxpY2U6cHc=")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("cache-control")
            .is_none_or(|v| !v.to_str().unwrap().contains("3600"))
    );
}

#[tokio::test]
async fn settings_readers_learn_that_buckets_are_missing() {
    let app = app_with(&[("KINTO_BUCKET_READ_PRINCIPALS", "system.Authenticated")]);
    let (status, error) = call(&app, "GET", "/v1/buckets/nothing", Some("bob")).await;
    assert_eq!((status, error["errno"].as_u64()), (404, Some(110)));
    assert_eq!(
        error["details"],
        json!({"id": "nothing", "resource_name": "bucket"})
    );
    // Without the setting, a missing bucket is a 403.
    let app = app_with(&[]);
    assert_eq!(
        call(&app, "GET", "/v1/buckets/nothing", Some("bob"))
            .await
            .0,
        403
    );
}
