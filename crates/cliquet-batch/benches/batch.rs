//! A batch of 25 subrequests over a trivial inner service, against the same
//! 25 requests sent to the inner service one by one: the difference divided
//! by 25 is the layer's overhead per subrequest. (On a busy machine, wall
//! time overstates it: compare the two figures from one run.)

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use cliquet_batch::BatchLayer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

const SUBREQUESTS: usize = 25;

async fn inner(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = request.into_body().collect().await?.to_bytes();
    let answer = if body.is_empty() {
        Bytes::from_static(br#"{"data":{"id":"abc","last_modified":1795429035265}}"#)
    } else {
        body
    };
    let mut response = Response::new(Full::new(answer));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
        .headers_mut()
        .insert("etag", "\"1795429035265\"".parse().unwrap());
    Ok(response)
}

fn batch_body() -> Bytes {
    let requests: Vec<_> = (0..SUBREQUESTS)
        .map(|i| {
            if i % 2 == 0 {
                json!({"method": "PUT", "path": format!("/buckets/b/collections/c/records/r{i}"),
                       "body": {"data": {"title": format!("record {i}"), "done": false}}})
            } else {
                json!({"path": format!("/buckets/b/collections/c/records/r{i}")})
            }
        })
        .collect();
    Bytes::from(
        json!({"defaults": {"headers": {"Response-Behavior": "full"}}, "requests": requests})
            .to_string(),
    )
}

fn direct_requests() -> Vec<Request<Full<Bytes>>> {
    (0..SUBREQUESTS)
        .map(|i| {
            let path = format!("/v1/buckets/b/collections/c/records/r{i}");
            if i % 2 == 0 {
                let body = json!({"data": {"title": format!("record {i}"), "done": false}});
                Request::put(path)
                    .header("content-type", "application/json")
                    .header("authorization", "Basic dG9rZW46")
                    .header("response-behavior", "full")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap()
            } else {
                Request::get(path)
                    .header("authorization", "Basic dG9rZW46")
                    .header("response-behavior", "full")
                    .body(Full::default())
                    .unwrap()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let service = BatchLayer::new().layer(service_fn(inner));
    let body = batch_body();

    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(SUBREQUESTS as u64));
    group.bench_function("one_batch_of_25", |b| {
        b.iter(|| {
            let request = Request::post("/v1/batch")
                .header("content-type", "application/json")
                .header("authorization", "Basic dG9rZW46")
                .body(Full::new(body.clone()))
                .unwrap();
            runtime.block_on(async {
                let response = service.clone().oneshot(request).await.unwrap();
                black_box(response.into_body().collect().await.unwrap().to_bytes())
            })
        })
    });
    group.bench_function("25_direct_requests", |b| {
        b.iter(|| {
            let requests = direct_requests();
            runtime.block_on(async {
                for request in requests {
                    let response = service_fn(inner).oneshot(request).await.unwrap();
                    black_box(response.into_body().collect().await.unwrap().to_bytes());
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
