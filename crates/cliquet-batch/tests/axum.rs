//! The batch layer around an axum `Router`.

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use cliquet_batch::{BatchLayer, Subrequest};
use cliquet_errors::{ApiError, ErrorLayer};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

async fn create(Json(body): Json<Value>) -> impl IntoResponse {
    let mut data = body["data"].clone();
    data["id"] = json!("a809");
    (StatusCode::CREATED, Json(json!({"data": data})))
}

async fn read(Path(id): Path<String>) -> Response {
    if id == "409" {
        return ApiError::object_not_found(id, "article").into_response::<Body>();
    }
    Json(json!({"data": {"id": id}})).into_response()
}

async fn whoami(headers: HeaderMap, subrequest: Option<Extension<Subrequest>>) -> Json<Value> {
    Json(json!({
        "authorization": headers.get("authorization").and_then(|v| v.to_str().ok()),
        "subrequest": subrequest.map(|Extension(s)| s.index()),
    }))
}

async fn crash() -> Response {
    ApiError::internal().into_response::<Body>()
}

fn router() -> Router {
    Router::new()
        .route("/v1/articles", post(create))
        .route("/v1/articles/{id}", get(read))
        .route("/v1/whoami", get(whoami))
        .route("/v1/crash", get(crash))
}

fn batch_request(body: Value) -> Request {
    Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("authorization", "Basic YWxpY2U6")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn call<S>(service: S, request: Request) -> (StatusCode, Value)
where
    S: Service<Request, Error = std::convert::Infallible>,
    S::Response: IntoResponse,
{
    let response = service.oneshot(request).await.unwrap().into_response();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_batch_over_a_router() {
    let service = BatchLayer::new().layer(router());
    let (status, body) = call(
        service,
        batch_request(json!({
            "defaults": {"method": "POST", "path": "/articles"},
            "requests": [
                {"body": {"data": {"title": "MoFo"}}},
                {"method": "GET", "path": "/articles/409"},
                {"method": "GET", "path": "/whoami"},
                {"method": "GET", "path": "/nowhere"},
                {"method": "DELETE", "path": "/whoami"},
            ]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 5);

    assert_eq!(responses[0]["path"], "/v1/articles");
    assert_eq!(responses[0]["status"], 201);
    assert_eq!(
        responses[0]["body"],
        json!({"data": {"id": "a809", "title": "MoFo"}})
    );
    assert_eq!(responses[0]["headers"]["Content-Type"], "application/json");

    assert_eq!(responses[1]["status"], 404);
    assert_eq!(
        responses[1]["body"],
        json!({"code": 404, "errno": 110, "error": "Not Found",
               "details": {"id": "409", "resource_name": "article"}})
    );

    assert_eq!(
        responses[2]["body"],
        json!({"authorization": "Basic YWxpY2U6", "subrequest": 2})
    );

    // The router's own empty 404 and 405 become errno 999 errors.
    assert_eq!(
        responses[3]["body"],
        json!({"code": 404, "errno": 999, "error": "Not Found"})
    );
    assert_eq!(responses[4]["status"], 405);
    assert_eq!(responses[4]["body"]["errno"], 999);
    assert!(responses[4]["headers"]["Allow"].is_string());
}

#[tokio::test]
async fn a_server_error_is_the_answer() {
    let service = BatchLayer::new().layer(router());
    let (status, body) = call(
        service,
        batch_request(json!({"requests": [
            {"path": "/whoami"},
            {"path": "/crash"},
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["errno"], 999);
}

#[tokio::test]
async fn other_requests_reach_the_router() {
    let service = BatchLayer::new().layer(router());
    let request = Request::get("/v1/whoami").body(Body::empty()).unwrap();
    let (status, body) = call(service, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["subrequest"], Value::Null);
}

#[tokio::test]
async fn stacked_with_the_error_layer() {
    // The error layer outside renders the batch's own failures; inside, it
    // makes every subresponse a protocol error.
    let service = ServiceBuilder::new()
        .layer(ErrorLayer::new())
        .layer(BatchLayer::new())
        .layer(ErrorLayer::new())
        .service(router());
    let (status, body) = call(
        service.clone(),
        batch_request(json!({"requests": [{"path": "/nowhere"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["responses"][0]["body"],
        json!({"code": 404, "errno": 111, "error": "Not Found",
               "message": "The resource you are looking for could not be found."})
    );

    let request = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .body(Body::from(Bytes::from_static(b"{")))
        .unwrap();
    let (status, body) = call(service, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errno"], 107);
}

#[tokio::test]
async fn as_the_fallback_of_an_outer_router() {
    // `axum::serve` wants a service answering axum's own `Response`: an
    // outer router whose fallback is the batch layer around the real one
    // gives that.
    let app: Router = Router::new().fallback_service(BatchLayer::new().layer(router()));
    let (status, body) = call(
        app.clone(),
        batch_request(json!({"requests": [{"path": "/whoami"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["responses"][0]["body"]["subrequest"], 0);
    let request = Request::get("/v1/whoami").body(Body::empty()).unwrap();
    assert_eq!(
        call(app.clone(), request).await.1["subrequest"],
        Value::Null
    );
    let _ = app.into_make_service();
}
