//! Two server instances on one PostgreSQL database, many clients at once:
//! guarded increments lose nothing, concurrent creations neither conflict
//! nor escape a `_since` poll. Skipped without `CLIQUET_TEST_POSTGRES_URL`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cliquet_e2e::TestServer;
use http::{Method, StatusCode};
use serde_json::json;

const CLIENTS: usize = 16;

async fn instance(url: &str) -> TestServer {
    let settings = kinto::settings(
        None,
        vec![
            ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
            ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
            ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
            ("KINTO_STORAGE_URL".into(), url.to_owned()),
            ("KINTO_MIGRATE_ON_START".into(), "true".into()),
        ],
    )
    .unwrap();
    TestServer::start(kinto::service(settings).await.unwrap()).await
}

/// Two instances on the database, and a bucket and collection of a fresh
/// user; `None` when PostgreSQL is not configured.
async fn setup() -> Option<([Arc<TestServer>; 2], String, String)> {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return None;
    };
    let first = Arc::new(instance(&url).await);
    let second = Arc::new(instance(&url).await);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice-{run}:pw"))
    );
    let collection = format!("/v1/buckets/b{run}/collections/c");
    for path in [format!("/v1/buckets/b{run}"), collection.clone()] {
        let reply = first
            .send_json(Method::PUT, &path, &[("authorization", &auth)], &json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}");
    }
    Some(([first, second], auth, collection))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guarded_increments_across_two_instances_lose_nothing() {
    let Some((servers, auth, collection)) = setup().await else {
        return;
    };
    let record = format!("{collection}/records/counter");
    let reply = servers[0]
        .send_json(
            Method::PUT,
            &record,
            &[("authorization", &auth)],
            &json!({"data": {"n": 0}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    const INCREMENTS: usize = 5;
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let server = servers[client % 2].clone();
        let (auth, record) = (auth.clone(), record.clone());
        clients.push(tokio::spawn(async move {
            let headers = [("authorization", auth.as_str())];
            let (mut done, mut refused) = (0, 0);
            while done < INCREMENTS {
                let current = server.get(&record, &headers).await;
                assert_eq!(current.status, StatusCode::OK);
                let etag = current.header("etag").unwrap().to_owned();
                let n = current.json()["data"]["n"].as_u64().unwrap();
                let reply = server
                    .send_json(
                        Method::PATCH,
                        &record,
                        &[("authorization", &auth), ("if-match", &etag)],
                        &json!({"data": {"n": n + 1}}),
                    )
                    .await;
                match reply.status {
                    StatusCode::OK => done += 1,
                    StatusCode::PRECONDITION_FAILED => refused += 1,
                    other => panic!("PATCH answered {other}: {:?}", reply.json()),
                }
            }
            (done, refused)
        }));
    }
    let (mut done, mut refused) = (0, 0);
    for client in clients {
        let (d, r) = client.await.unwrap();
        done += d;
        refused += r;
    }
    eprintln!("{done} increments, {refused} refused with 412 and retried");
    let last = servers[1]
        .get(&record, &[("authorization", auth.as_str())])
        .await;
    assert_eq!(last.json()["data"]["n"], json!(done), "{refused} refused");
    assert_eq!(done, CLIENTS * INCREMENTS);
    for server in servers {
        Arc::into_inner(server).unwrap().stop().await;
    }
}

/// The ids in a page, with the collection's `ETag` to poll from next.
async fn poll(
    server: &TestServer,
    auth: &str,
    records: &str,
    since: &str,
) -> (Vec<String>, String) {
    let reply = server
        .get(
            &format!("{records}?_since={since}"),
            &[("authorization", auth)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert!(reply.header("next-page").is_none(), "one page");
    let etag = reply.header("etag").unwrap().trim_matches('"').to_owned();
    let ids = reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, etag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_show_up_once_in_since_polls() {
    let Some((servers, auth, collection)) = setup().await else {
        return;
    };
    let records = format!("{collection}/records");
    const CREATES: usize = 10;

    let writers: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let server = servers[client % 2].clone();
            let (auth, records) = (auth.clone(), records.clone());
            tokio::spawn(async move {
                let mut created = Vec::new();
                for i in 0..CREATES {
                    let reply = server
                        .send_json(
                            Method::POST,
                            &records,
                            &[("authorization", &auth)],
                            &json!({"data": {"client": client, "i": i}}),
                        )
                        .await;
                    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
                    created.push(reply.json()["data"]["id"].as_str().unwrap().to_owned());
                }
                created
            })
        })
        .collect();

    // Poll while the writers write, alternating instances, each poll from
    // the previous one's ETag.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut since = "0".to_owned();
    let mut polls = 0;
    let record_seen = |seen: &mut HashMap<String, usize>, ids: Vec<String>| {
        for id in ids {
            *seen.entry(id).or_default() += 1;
        }
    };
    while !writers.iter().all(|w| w.is_finished()) {
        let (ids, etag) = poll(&servers[polls % 2], &auth, &records, &since).await;
        record_seen(&mut seen, ids);
        since = etag;
        polls += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut created = Vec::new();
    for writer in writers {
        created.extend(writer.await.unwrap());
    }
    let (ids, _) = poll(&servers[0], &auth, &records, &since).await;
    record_seen(&mut seen, ids);

    assert_eq!(created.len(), CLIENTS * CREATES);
    let missing: Vec<&String> = created
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    let twice: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "{polls} polls: {} missed {missing:?}, seen twice {twice:?}",
        missing.len()
    );
    assert_eq!(seen.len(), created.len());
    assert!(polls > 0, "no poll ran during the writes");
    eprintln!(
        "{} creations, seen once each in {polls} polls",
        created.len()
    );
    for server in servers {
        Arc::into_inner(server).unwrap().stop().await;
    }
}
