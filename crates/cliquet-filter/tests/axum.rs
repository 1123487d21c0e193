//! The querystring of an HTTP request, under a bare tower service and as an
//! axum extractor (feature `axum`).

#![cfg(feature = "axum")]

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use cliquet_filter::{ParseOptions, Query, next_page_url};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::{ServiceExt, service_fn};

fn things() -> Vec<Value> {
    (1..=5)
        .map(|i| json!({"id": format!("t{i}"), "last_modified": i, "size": i * 10}))
        .collect()
}

/// A list endpoint as a resource would write it: filter, sort, limit,
/// Next-Page.
fn list(query: &Query, url: &str) -> Response<Body> {
    let objects = things();
    let mut page = query.apply(&objects, query.limit + 1);
    let mut builder = Response::builder();
    if page.len() > query.limit {
        page.truncate(query.limit);
        let token = query.next_token(page[page.len() - 1], page.len() as u64);
        builder = builder.header("Next-Page", next_page_url(url, query.limit, &token));
    }
    let data: Vec<Value> = page.into_iter().map(|o| query.project(o)).collect();
    builder
        .header("Content-Type", "application/json")
        .body(Body::from(json!({ "data": data }).to_string()))
        .unwrap()
}

async fn body_json(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn under_a_bare_service() {
    let options = ParseOptions::new().paginate_by(Some(2));
    let service = service_fn(move |request: Request<Body>| {
        let options = options.clone();
        async move {
            let url = format!("http://localhost{}", request.uri());
            let response = match Query::parse(request.uri().query().unwrap_or(""), &options) {
                Ok(query) => list(&query, &url),
                Err(error) => error.into_response(),
            };
            Ok::<_, std::convert::Infallible>(response)
        }
    });

    let response = service
        .clone()
        .oneshot(get_request(
            "/v1/things?min_size=20&_sort=size&_fields=size",
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let next = response.headers()["Next-Page"].to_str().unwrap().to_owned();
    assert!(next.starts_with(
        "http://localhost/v1/things?min_size=20&_sort=size&_fields=size&_limit=2&_token="
    ));
    assert_eq!(
        body_json(response).await,
        json!({"data": [
            {"id": "t2", "last_modified": 2, "size": 20},
            {"id": "t3", "last_modified": 3, "size": 30},
        ]})
    );

    // Following Next-Page gives the rest.
    let path = next.strip_prefix("http://localhost").unwrap();
    let response = service.clone().oneshot(get_request(path)).await.unwrap();
    assert!(response.headers().get("Next-Page").is_none());
    let data = body_json(response).await;
    assert_eq!(data["data"][0]["id"], "t4");
    assert_eq!(data["data"][1]["id"], "t5");

    let response = service
        .oneshot(get_request("/v1/things?like_size=1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["errno"], 107);
}

async fn list_handler(query: Query) -> Json<Value> {
    let objects = things();
    let ids: Vec<Value> = query
        .apply(&objects, query.limit)
        .into_iter()
        .map(|o| o["id"].clone())
        .collect();
    Json(json!({"ids": ids, "limit": query.limit}))
}

fn router() -> Router {
    Router::new().route("/v1/things", get(list_handler))
}

#[tokio::test]
async fn as_an_axum_extractor() {
    let response = router()
        .oneshot(get_request("/v1/things?in_size=10,30,50&_sort=-size"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        json!({"ids": ["t5", "t3", "t1"], "limit": 10_000})
    );
}

#[tokio::test]
async fn options_come_from_the_extensions() {
    let app = router().layer(Extension(ParseOptions::new().paginate_by(Some(2))));
    let response = app.oneshot(get_request("/v1/things")).await.unwrap();
    assert_eq!(
        body_json(response).await,
        json!({"ids": ["t5", "t4"], "limit": 2})
    );
}

#[tokio::test]
async fn rejection_is_the_protocol_error() {
    let response = router()
        .oneshot(get_request("/v1/things?_limit=-1&_token=nope"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["Content-Type"], "application/json");
    let body = body_json(response).await;
    assert_eq!(body["errno"], 107);
    assert_eq!(body["error"], "Invalid parameters");
    assert_eq!(
        body["details"],
        // Sorted as the protocol sorts them: a null name as "None".
        json!([
            {"location": "querystring", "name": null, "description": "_token has invalid content"},
            {"location": "querystring", "name": "_limit", "description": "-1 is less than minimum value 0"},
        ])
    );
}
