//! Concurrent batches writing two collections in opposite orders on
//! PostgreSQL: each holds the lock of the first collection it writes while
//! it waits for the other's, so pairs of them deadlock and PostgreSQL
//! aborts one. The loser is rolled back and run again, so every batch
//! answers 200 and every record is written exactly once. Skipped without
//! `CLIQUET_TEST_POSTGRES_URL`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use cliquet_e2e::TestServer;
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Pairs of batches run one pair after the other, both of a pair at once.
const PAIRS: usize = 12;
/// Records each batch writes into each collection.
const PER_COLLECTION: usize = 3;

async fn server(url: &str) -> TestServer {
    // Deadlocks are detected after `deadlock_timeout` (1 s by default):
    // shorter for this test's connections, so it runs fast.
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}options=-c%20deadlock_timeout%3D100ms");
    let settings = kinto::settings(
        None,
        vec![
            ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
            ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
            ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
            ("KINTO_STORAGE_URL".into(), url),
            ("KINTO_MIGRATE_ON_START".into(), "true".into()),
        ],
    )
    .unwrap();
    TestServer::start(kinto::service(settings).await.unwrap()).await
}

/// A batch creating `PER_COLLECTION` records tagged `tag` in `first`, then
/// as many in `second`.
fn batch(tag: &str, first: &str, second: &str) -> Value {
    let mut requests = Vec::new();
    for collection in [first, second] {
        for n in 0..PER_COLLECTION {
            requests.push(json!({
                "method": "POST",
                "path": format!("{collection}/records"),
                "body": {"data": {"tag": tag, "n": n}},
            }));
        }
    }
    json!({"requests": requests})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_in_opposite_orders_all_succeed_exactly_once() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = Arc::new(server(&url).await);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice-{run}:pw"))
    );
    let bucket = format!("/v1/buckets/b{run}");
    let one = format!("{bucket}/collections/one");
    let two = format!("{bucket}/collections/two");
    for path in [&bucket, &one, &two] {
        let reply = server
            .send_json(Method::PUT, path, &[("authorization", &auth)], &json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}");
    }

    let started = std::time::Instant::now();
    for pair in 0..PAIRS {
        let mut batches = Vec::new();
        for (tag, first, second) in [
            (format!("a{pair}"), one.clone(), two.clone()),
            (format!("b{pair}"), two.clone(), one.clone()),
        ] {
            let (server, auth) = (server.clone(), auth.clone());
            batches.push(tokio::spawn(async move {
                let reply = server
                    .send_json(
                        Method::POST,
                        "/v1/batch",
                        &[("authorization", &auth)],
                        &batch(&tag, &first, &second),
                    )
                    .await;
                (tag, reply.status, reply.json())
            }));
        }
        for batch in batches {
            let (tag, status, body) = batch.await.unwrap();
            assert_eq!(status, StatusCode::OK, "batch {tag}: {body}");
            let responses = body["responses"].as_array().unwrap();
            assert_eq!(responses.len(), 2 * PER_COLLECTION, "{body}");
            for response in responses {
                let status = response["status"].as_u64().unwrap();
                assert!((200..300).contains(&status), "batch {tag}: {response}");
            }
        }
    }
    eprintln!("{PAIRS} pairs of batches in {:?}", started.elapsed());

    // Every record of every batch, in both collections, exactly once.
    for collection in [&one, &two] {
        let reply = server
            .get(
                &format!("{collection}/records?_limit=10000"),
                &[("authorization", auth.as_str())],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let mut seen: HashMap<(String, u64), usize> = HashMap::new();
        for record in reply.json()["data"].as_array().unwrap() {
            let key = (
                record["tag"].as_str().unwrap().to_owned(),
                record["n"].as_u64().unwrap(),
            );
            *seen.entry(key).or_default() += 1;
        }
        assert_eq!(seen.len(), 2 * PAIRS * PER_COLLECTION, "{collection}");
        for pair in 0..PAIRS {
            for tag in [format!("a{pair}"), format!("b{pair}")] {
                for n in 0..PER_COLLECTION as u64 {
                    assert_eq!(
                        seen.get(&(tag.clone(), n)),
                        Some(&1),
                        "{collection} {tag} {n}"
                    );
                }
            }
        }
    }
    Arc::into_inner(server).unwrap().stop().await;
}

/// A bucket's `DELETE` wipes the records of its collections in the order
/// of their ids, under their locks, while a batch writes records into the
/// same collections in the opposite order: one of them loses the deadlock
/// and is run again. Neither answers a 5xx, and the bucket ends up deleted
/// with everything in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cascading_delete_racing_a_batch_never_fails() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = Arc::new(server(&url).await);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice-{run}:pw"))
    );
    let headers = [("authorization", auth.as_str())];
    for round in 0..PAIRS {
        let bucket = format!("/v1/buckets/b{run}-{round}");
        let one = format!("{bucket}/collections/one");
        let two = format!("{bucket}/collections/two");
        for path in [&bucket, &one, &two] {
            let reply = server
                .send_json(Method::PUT, path, &headers, &json!({}))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{path}");
        }
        for collection in [&one, &two] {
            let reply = server
                .send_json(
                    Method::PUT,
                    &format!("{collection}/records/old"),
                    &headers,
                    &json!({"data": {}}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED);
        }
        let writes = {
            let (server, auth) = (server.clone(), auth.clone());
            let body = batch("w", &two, &one);
            tokio::spawn(async move {
                let reply = server
                    .send_json(
                        Method::POST,
                        "/v1/batch",
                        &[("authorization", &auth)],
                        &body,
                    )
                    .await;
                (reply.status, reply.json())
            })
        };
        let delete = {
            let (server, auth, bucket) = (server.clone(), auth.clone(), bucket.clone());
            tokio::spawn(async move {
                let reply = server
                    .request(
                        Method::DELETE,
                        &bucket,
                        &[("authorization", &auth)],
                        Vec::new(),
                    )
                    .await;
                (reply.status, reply.json())
            })
        };
        let (status, body) = writes.await.unwrap();
        assert_eq!(status, StatusCode::OK, "batch: {body}");
        for response in body["responses"].as_array().unwrap() {
            let status = response["status"].as_u64().unwrap();
            assert!(status < 500, "batch: {response}");
        }
        let (status, body) = delete.await.unwrap();
        assert_eq!(status, StatusCode::OK, "delete: {body}");
        // Whatever ran first, nothing of the bucket is left.
        for collection in [&one, &two] {
            let reply = server.get(&format!("{collection}/records"), &headers).await;
            assert!(
                reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND,
                "{collection}: {}",
                reply.status
            );
        }
    }
    Arc::into_inner(server).unwrap().stop().await;
}
