//! `ParentId` and `Writer` request extensions: a layer in front of the
//! router decides where a request's objects live and who owns what it
//! writes.

use axum::body::Body;
use axum::extract::Request;
use cliquet_auth::Identity;
use cliquet_resource::{Access, Names, ParentId, Resource, Writer};
use cliquet_storage::storage::Get;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn resource() -> Resource {
    Resource::builder("note")
        .access(Access::shared_default().grant("note:create", ["system.Everyone"]))
        .ids(Names)
        .build()
        .unwrap()
}

async fn put(router: axum::Router, path: &str) -> (u16, Value) {
    let request = Request::put(path)
        .header("content-type", "application/json")
        .body(Body::from(json!({"data": {"n": 1}}).to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_layer_decides_the_parent_and_the_writer() {
    let backends = cliquet_memory::backends();
    let router = resource()
        .router(backends.clone())
        .route_layer(axum::middleware::map_request(
            |mut request: Request| async {
                request.extensions_mut().insert(Identity::anonymous());
                request
                    .extensions_mut()
                    .insert(ParentId("elsewhere".to_owned()));
                request
                    .extensions_mut()
                    .insert(Writer("owner:a".to_owned()));
                request
            },
        ));
    let (status, body) = put(router, "/notes/a").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["permissions"], json!({"write": ["owner:a"]}));
    let stored = backends
        .storage
        .get(Get::new("note", "elsewhere", "a"))
        .await
        .unwrap();
    assert_eq!(stored.data["n"], 1);
    assert!(
        backends
            .storage
            .get(Get::new("note", "", "a"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn without_them_the_template_and_the_user() {
    let backends = cliquet_memory::backends();
    let (status, body) = put(resource().router(backends.clone()), "/notes/a").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["permissions"], json!({"write": ["system.Everyone"]}));
    assert!(
        backends
            .storage
            .get(Get::new("note", "", "a"))
            .await
            .is_ok()
    );
}
