//! GET of one object and a list of 100 on the memory backend, through the
//! resource's router in process (identity already established).

use axum::body::Body;
use cliquet_auth::Identity;
use cliquet_resource::{Resource, Schema};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Deserialize, Serialize)]
struct Bookmark {
    url: String,
}

fn request(path: &str, identity: &Identity) -> Request<Body> {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    request.extensions_mut().insert(identity.clone());
    request
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resource = Resource::builder("bookmark")
        .schema(Schema::typed::<Bookmark>())
        .build()
        .unwrap();
    let backends = cliquet_memory::backends();
    let router = axum::Router::new().nest("/v1", resource.router(backends.clone()));
    let identity = Identity::authenticated("basicauth:alice", "basicauth", []);
    let mut ids = Vec::new();
    runtime.block_on(async {
        for i in 0..1000 {
            let mut request = Request::post("/v1/bookmarks")
                .header("content-type", "application/json")
                .body(Body::from(format!(
                    r#"{{"data": {{"url": "https://example.com/{i}", "title": "Bookmark {i}"}}}}"#
                )))
                .unwrap();
            request.extensions_mut().insert(identity.clone());
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 201);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            ids.push(json["data"]["id"].as_str().unwrap().to_owned());
        }
    });

    let one = format!("/v1/bookmarks/{}", ids[500]);
    c.bench_function("get one object", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = router
                .clone()
                .oneshot(request(&one, &identity))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap()
        })
    });
    c.bench_function("list 100 of 1000", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = router
                .clone()
                .oneshot(request("/v1/bookmarks?_limit=100", &identity))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap()
        })
    });
    // The storage's share of the list, for comparison.
    let storage = backends.storage.clone();
    c.bench_function("storage list 100 of 1000 (backend only)", |b| {
        b.to_async(&runtime).iter(|| async {
            let params = cliquet_storage::storage::List::new("bookmark", "basicauth:alice")
                .with_sort(vec![cliquet_filter::SortField::desc("last_modified")])
                .with_limit(Some(101));
            storage.list(params).await.unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
