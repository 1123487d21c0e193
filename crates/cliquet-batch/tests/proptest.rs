//! Arbitrary batch bodies get a 200 or a 400 errno 107, never a panic or a
//! server error.

use std::convert::Infallible;

use bytes::Bytes;
use cliquet_batch::BatchLayer;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tower::{Layer, ServiceExt, service_fn};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Sends `body` to a batch over an inner service that always answers 200.
fn send(runtime: &tokio::runtime::Runtime, body: Vec<u8>) -> (StatusCode, Value) {
    let service = BatchLayer::new().layer(service_fn(|request: Request<Full<Bytes>>| async move {
        let path = request.uri().path().to_owned();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
            json!({ "path": path }).to_string(),
        ))))
    }));
    let request = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    runtime.block_on(async move {
        let response = service.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&body).expect("a JSON answer");
        (status, value)
    })
}

fn check(status: StatusCode, value: &Value, requests: Option<usize>) -> Result<(), TestCaseError> {
    match status {
        StatusCode::OK => {
            let responses = value["responses"].as_array().expect("responses");
            if let Some(requests) = requests {
                prop_assert_eq!(responses.len(), requests);
            }
            for response in responses {
                prop_assert_eq!(&response["status"], 200);
                prop_assert!(response["path"].as_str().unwrap().starts_with("/v1"));
            }
        }
        StatusCode::BAD_REQUEST => {
            prop_assert_eq!(&value["code"], 400);
            prop_assert_eq!(&value["errno"], 107);
            prop_assert!(value["message"].is_string());
            let details = value["details"].as_array().expect("details");
            prop_assert!(!details.is_empty());
            for detail in details {
                prop_assert_eq!(&detail["location"], "body");
                prop_assert!(detail["description"].is_string());
            }
        }
        other => prop_assert!(false, "unexpected status {other}: {value}"),
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("/a"),
            Just("/batch"),
            Just("GET"),
            Just("POST"),
            Just("/v1/x?y=1")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("method".to_owned()),
                    Just("path".to_owned()),
                    Just("headers".to_owned()),
                    Just("body".to_owned()),
                    Just("requests".to_owned()),
                    Just("defaults".to_owned()),
                    ".{0,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A request object that is often valid, sometimes not.
fn request_object() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![
            Just(json!("GET")),
            Just(json!("PUT")),
            Just(json!("HEAD")),
            Just(json!("options")),
            json_value(),
        ]),
        prop::option::of(prop_oneof![
            "/[a-z0-9/?=&%é ]{0,20}".prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
            json_value(),
        ]),
        prop::option::of(prop_oneof![
            prop::collection::btree_map("[A-Za-z-]{1,10}", "[ -~]{0,10}", 0..3).prop_map(|map| {
                Value::Object(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }),
            prop::collection::btree_map(".{0,6}", ".{0,6}", 0..3).prop_map(|map| Value::Object(
                map.into_iter().map(|(k, v)| (k, Value::from(v))).collect()
            )),
            json_value(),
        ]),
        prop::option::of(json_value()),
    )
        .prop_map(|(method, path, headers, body)| {
            let mut object = Map::new();
            for (key, value) in [
                ("method", method),
                ("path", path),
                ("headers", headers),
                ("body", body),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        })
}

/// A request object that is valid unless its path holds `/batch`.
fn valid_request() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(vec![
            "GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH",
        ])),
        "/[a-zé0-9/?=&% {}]{0,20}",
        prop::collection::btree_map("[A-Za-z-]{1,10}", "[ -~]{0,10}", 0..3),
        prop::option::of(json_value().prop_map(|value| json!({ "data": value }))),
    )
        .prop_map(|(method, path, headers, body)| {
            let mut object = json!({"path": path, "headers": headers});
            if let Some(method) = method {
                object["method"] = json!(method);
            }
            if let Some(body) = body {
                object["body"] = body;
            }
            object
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let runtime = runtime();
        let (status, value) = send(&runtime, body);
        check(status, &value, None)?;
    }

    #[test]
    fn arbitrary_json(body in json_value()) {
        let runtime = runtime();
        let (status, value) = send(&runtime, body.to_string().into_bytes());
        check(status, &value, None)?;
    }

    #[test]
    fn valid_requests(requests in prop::collection::vec(valid_request(), 0..25)) {
        let runtime = runtime();
        let body = json!({"requests": requests}).to_string();
        let (status, value) = send(&runtime, body.into_bytes());
        check(status, &value, Some(requests.len()))?;
        let recursive = requests.iter().any(|r| r["path"].as_str().unwrap().contains("/batch"));
        prop_assert_eq!(status == StatusCode::OK, !recursive, "{}", value);
    }

    #[test]
    fn arbitrary_requests(
        defaults in prop::option::of(request_object()),
        requests in prop::collection::vec(
            prop_oneof![4 => valid_request(), 1 => request_object()],
            0..27,
        ),
    ) {
        let runtime = runtime();
        let mut body = json!({"requests": requests});
        if let Some(defaults) = defaults {
            body["defaults"] = defaults;
        }
        let (status, value) = send(&runtime, body.to_string().into_bytes());
        check(status, &value, Some(requests.len()))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the inner service answers, the batch response is JSON and
    /// embeds the subresponse's body as JSON when it is JSON, as text when
    /// it is not.
    #[test]
    fn arbitrary_subresponses(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            json_value().prop_map(|value| value.to_string().into_bytes()),
        ],
        status in prop_oneof![200u16..300, 300u16..307, 400u16..409, 410u16..500],
    ) {
        let runtime = runtime();
        let answer = Bytes::from(body.clone());
        let service = BatchLayer::new().layer(service_fn(move |_: Request<Full<Bytes>>| {
            let answer = answer.clone();
            async move {
                let mut response = Response::new(Full::new(answer));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok::<_, Infallible>(response)
            }
        }));
        let request = Request::post("/v1/batch")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"requests": [{"path": "/a"}]}"#)))
            .unwrap();
        let value: Value = runtime.block_on(async move {
            let response = service.oneshot(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice(&body).expect("a JSON answer")
        });
        let entry = &value["responses"][0];
        prop_assert_eq!(&entry["status"], status);
        match serde_json::from_slice::<Value>(&body) {
            Ok(json) => prop_assert_eq!(&entry["body"], &json),
            Err(_) if status >= 400 => prop_assert_eq!(&entry["body"]["errno"], 999),
            Err(_) => prop_assert_eq!(
                &entry["body"],
                &Value::from(String::from_utf8_lossy(&body).into_owned())
            ),
        }
    }
}
