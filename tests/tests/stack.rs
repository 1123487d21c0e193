//! The error, authentication and hello pieces stacked the way recipes
//! stack them, over a real socket.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use cliquet::{Capabilities, Hello};
use cliquet_auth::{AuthLayer, AuthPolicy, BasicAuthPolicy};
use cliquet_e2e::TestServer;
use cliquet_errors::ErrorLayer;
use http::{Method, StatusCode};
use serde_json::{Map, json};
use tower::ServiceBuilder;

fn app() -> Router {
    // Layers go on the router here (`Router::layer`); recipes wrap the
    // whole router instead, which `TestServer::start` accepts too.
    let hello = Arc::new(Hello {
        project_name: "demo".into(),
        project_version: "1.0.0".into(),
        http_api_version: "1.23".into(),
        project_docs: "https://example.com/docs".into(),
        prefix: "/v1".into(),
        eos: None,
        public_settings: Map::new(),
        capabilities: Capabilities::new(),
        http_scheme: None,
        http_host: None,
        readonly_cache_seconds: None,
        user_info: None,
    });
    let basicauth: Arc<dyn AuthPolicy> = Arc::new(BasicAuthPolicy::new("secret"));
    Router::new()
        .route(
            "/v1/",
            get(move |request: axum::extract::Request| {
                let hello = hello.clone();
                async move { hello.response::<axum::body::Body>(&request.into_parts().0) }
            }),
        )
        .route(
            "/v1/boom",
            get(|| async {
                let boom = true;
                if boom {
                    panic!("a bug");
                }
                "never"
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(ErrorLayer::new())
                .layer(AuthLayer::new([basicauth])),
        )
}

#[tokio::test]
async fn hello_shows_the_authenticated_user() {
    let server = TestServer::start(app()).await;
    let reply = server
        .get("/v1/", &[("authorization", "Basic YWxpY2U6cHc=")])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["url"], server.url("/v1/"));
    assert_eq!(
        body["user"]["id"],
        "basicauth:741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94"
    );
    let reply = server.get("/v1/", &[]).await;
    assert!(reply.json().get("user").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_panic_is_a_500_and_the_server_keeps_serving() {
    let server = TestServer::start(app()).await;
    let reply = server.get("/v1/boom", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["errno"], 999);
    let reply = server.get("/v1/", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn framework_errors_are_protocol_errors() {
    let server = TestServer::start(app()).await;
    let reply = server.get("/v1/nowhere", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({"code": 404, "errno": 111, "error": "Not Found",
               "message": "The resource you are looking for could not be found."})
    );
    let reply = server
        .request(Method::DELETE, "/v1/", &[], bytes::Bytes::new())
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["errno"], 115);
    server.stop().await;
}
