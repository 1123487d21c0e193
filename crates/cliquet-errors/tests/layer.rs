//! `ErrorLayer` under a bare `service_fn` and under an axum `Router`.

use std::convert::Infallible;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use bytes::Bytes;
use cliquet_errors::{ApiError, Errno, ErrorLayer};
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

async fn json_of<B>(response: Response<B>) -> (StatusCode, http::HeaderMap, Value)
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&bytes)));
    (parts.status, parts.headers, value)
}

fn get_request(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

mod with_service_fn {
    use super::*;

    #[tokio::test]
    async fn panic_in_future_is_500_and_service_keeps_serving() {
        let mut service =
            ErrorLayer::new().layer(service_fn(|request: Request<Full<Bytes>>| async move {
                if request.uri().path() == "/boom" {
                    panic!("handler bug");
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            }));

        let response = service
            .ready()
            .await
            .unwrap()
            .call(get_request("/boom"))
            .await
            .unwrap();
        let (status, headers, body) = json_of(response).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(!headers.contains_key(RETRY_AFTER));
        assert_eq!(
            body,
            json!({
                "code": 500,
                "errno": 999,
                "error": "Internal Server Error",
                "message": "A programmatic error occurred, developers have been informed.",
                "info": "https://github.com/Kinto/kinto/issues/",
            })
        );

        let response = service
            .ready()
            .await
            .unwrap()
            .call(get_request("/fine"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "ok"
        );
    }

    #[derive(Clone)]
    struct PanicsInCall;

    impl Service<Request<Full<Bytes>>> for PanicsInCall {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
            if request.uri().path() == "/boom" {
                panic!("bug before any future exists");
            }
            std::future::ready(Ok(Response::new(Full::default())))
        }
    }

    #[tokio::test]
    async fn panic_in_call_is_500() {
        let mut service = ErrorLayer::new()
            .info_link(None::<String>)
            .layer(PanicsInCall);
        let response = service
            .ready()
            .await
            .unwrap()
            .call(get_request("/boom"))
            .await
            .unwrap();
        let (status, _, body) = json_of(response).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["errno"], 999);
        assert!(body.get("info").is_none(), "info link switched off: {body}");
        let response = service
            .ready()
            .await
            .unwrap()
            .call(get_request("/ok"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn inner_api_error_is_rendered() {
        let service = ErrorLayer::new().layer(service_fn(|_: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>(ApiError::forbidden())
        }));
        let (status, _, body) = json_of(service.oneshot(get_request("/x")).await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            json!({"code": 403, "errno": 121, "error": "Forbidden",
                   "message": "This user cannot access this resource."})
        );
    }

    #[tokio::test]
    async fn other_inner_error_is_500() {
        let service = ErrorLayer::new().layer(service_fn(|_: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, BoxError>("the database fell over".into())
        }));
        let (status, _, body) = json_of(service.oneshot(get_request("/x")).await.unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["errno"], 999);
    }

    #[tokio::test]
    async fn backend_error_gets_retry_after() {
        let service = ServiceBuilder::new()
            .layer(ErrorLayer::new().retry_after(3))
            .service(service_fn(|_: Request<Full<Bytes>>| async {
                Err::<Response<Full<Bytes>>, _>(ApiError::backend_unavailable())
            }));
        let (status, headers, body) =
            json_of(service.oneshot(get_request("/x")).await.unwrap()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[RETRY_AFTER], "3");
        assert_eq!(body["errno"], 201);
    }

    #[tokio::test]
    async fn conflict_gets_retry_after_but_other_409s_do_not() {
        let service =
            ErrorLayer::new().layer(service_fn(|request: Request<Full<Bytes>>| async move {
                let error = if request.uri().path() == "/unicity" {
                    ApiError::conflict()
                } else {
                    ApiError::new(StatusCode::CONFLICT, Errno::Other(130)).with_message("custom")
                };
                Ok::<Response<Full<Bytes>>, Infallible>(error.into_response())
            }));
        let response = service
            .clone()
            .oneshot(get_request("/unicity"))
            .await
            .unwrap();
        assert_eq!(response.headers()[RETRY_AFTER], "30");
        let response = service.oneshot(get_request("/custom")).await.unwrap();
        assert!(!response.headers().contains_key(RETRY_AFTER));
    }

    #[tokio::test]
    async fn hand_made_json_503_is_left_alone() {
        // A heartbeat answers 503 with its health map, not an error body.
        let service = ErrorLayer::new().layer(service_fn(|_: Request<Full<Bytes>>| async {
            let mut response =
                Response::new(Full::new(Bytes::from_static(br#"{"storage":false}"#)));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, "application/json".parse().unwrap());
            Ok::<_, Infallible>(response)
        }));
        let (status, headers, body) = json_of(
            service
                .oneshot(get_request("/__heartbeat__"))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!headers.contains_key(RETRY_AFTER));
        assert_eq!(body, json!({"storage": false}));
    }

    #[tokio::test]
    async fn bare_status_codes_are_rewritten() {
        let cases = [
            (StatusCode::UNAUTHORIZED, 104),
            (StatusCode::FORBIDDEN, 121),
            (StatusCode::NOT_FOUND, 111),
            (StatusCode::PAYLOAD_TOO_LARGE, 113),
            (StatusCode::SERVICE_UNAVAILABLE, 201),
            (StatusCode::INTERNAL_SERVER_ERROR, 999),
            (StatusCode::IM_A_TEAPOT, 999),
        ];
        for (code, errno) in cases {
            let service =
                ErrorLayer::new().layer(service_fn(move |_: Request<Full<Bytes>>| async move {
                    let mut response = Response::new(Full::new(Bytes::from_static(b"oops")));
                    *response.status_mut() = code;
                    Ok::<_, Infallible>(response)
                }));
            let (status, headers, body) =
                json_of(service.oneshot(get_request("/x")).await.unwrap()).await;
            assert_eq!(status, code);
            assert_eq!(body["code"], code.as_u16());
            assert_eq!(body["errno"], errno, "{code}");
            assert_eq!(
                headers.contains_key(RETRY_AFTER),
                code == StatusCode::SERVICE_UNAVAILABLE,
                "{code}"
            );
        }
    }

    #[tokio::test]
    async fn successes_pass_through_untouched() {
        let service = ErrorLayer::new().layer(service_fn(|_: Request<Full<Bytes>>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(b"plain text")));
            *response.status_mut() = StatusCode::CREATED;
            Ok::<_, Infallible>(response)
        }));
        let response = service.oneshot(get_request("/x")).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "plain text"
        );
    }
}

mod with_axum_router {
    use super::*;

    fn app() -> impl Service<
        Request<axum::body::Body>,
        Response = Response<cliquet_errors::ResponseBody<axum::body::Body>>,
        Error = Infallible,
        Future: Send,
    > + Clone {
        let router = Router::new()
            .route(
                "/v1/notes",
                get(|| async { "[]" }).post(|body: String| async move { body }),
            )
            .route(
                "/v1/json",
                post(|axum::Json(value): axum::Json<Value>| async move { axum::Json(value) }),
            )
            .route(
                "/v1/typed",
                post(|axum::Json(value): axum::Json<Vec<u32>>| async move { axum::Json(value) }),
            )
            .route(
                "/v1/notes/{id}",
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        Err::<String, _>(ApiError::object_not_found(id, "note"))
                    },
                ),
            )
            .route(
                "/v1/boom",
                get(|| async {
                    let boom = true;
                    if boom {
                        panic!("handler bug");
                    }
                    "never"
                }),
            )
            .layer(DefaultBodyLimit::max(16));
        ErrorLayer::new().layer(router)
    }

    fn request(method: &str, path: &str, body: &'static str) -> Request<axum::body::Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn unknown_path_is_404_errno_111() {
        let response = app()
            .oneshot(request("GET", "/v1/nothing", ""))
            .await
            .unwrap();
        let (status, headers, body) = json_of(response).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(
            body,
            json!({"code": 404, "errno": 111, "error": "Not Found",
                   "message": "The resource you are looking for could not be found."})
        );
    }

    #[tokio::test]
    async fn wrong_method_is_405_errno_115_with_allow() {
        let response = app()
            .oneshot(request("DELETE", "/v1/notes", ""))
            .await
            .unwrap();
        let (status, headers, body) = json_of(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["errno"], 115);
        assert_eq!(body["message"], "Method not allowed on this endpoint.");
        let allow = headers[ALLOW].to_str().unwrap();
        assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    }

    #[tokio::test]
    async fn body_over_the_limit_is_413_errno_113() {
        let response = app()
            .oneshot(request(
                "POST",
                "/v1/notes",
                "this body is longer than sixteen bytes",
            ))
            .await
            .unwrap();
        let (status, _, body) = json_of(response).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body,
            json!({"code": 413, "errno": 113, "error": "Request Entity Too Large"})
        );
    }

    #[tokio::test]
    async fn json_syntax_rejection_is_400_errno_107() {
        let response = app()
            .oneshot(request("POST", "/v1/json", "{not json"))
            .await
            .unwrap();
        let (status, _, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errno"], 107);
        assert_eq!(body["error"], "Invalid parameters");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("JSON"),
            "the rejection's text is kept: {message}"
        );
        assert_eq!(body["details"][0]["location"], "body");
    }

    #[tokio::test]
    async fn json_type_rejection_is_400_errno_107() {
        let response = app()
            .oneshot(request("POST", "/v1/typed", r#"["a"]"#))
            .await
            .unwrap();
        let (status, _, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], 400);
        assert_eq!(body["errno"], 107);
    }

    #[tokio::test]
    async fn wrong_content_type_is_415_errno_107() {
        let request = Request::post("/v1/json")
            .header(CONTENT_TYPE, "text/plain")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let (status, _, body) = json_of(app().oneshot(request).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["errno"], 107);
        assert_eq!(body["error"], "Invalid parameters");
        assert_eq!(
            body["message"],
            "Content-Type header should be one of ['application/json']"
        );
    }

    #[tokio::test]
    async fn handler_api_error_passes_through() {
        let (status, _, body) = json_of(
            app()
                .oneshot(request("GET", "/v1/notes/abc", ""))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"code": 404, "errno": 110, "error": "Not Found",
                   "details": {"id": "abc", "resource_name": "note"}})
        );
    }

    #[tokio::test]
    async fn panic_is_500_and_the_next_request_is_served() {
        let app = app();
        let (status, _, body) = json_of(
            app.clone()
                .oneshot(request("GET", "/v1/boom", ""))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["errno"], 999);
        let response = app.oneshot(request("GET", "/v1/notes", "")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
