//! The Kinto service started from its settings and served over a real
//! socket, on memory and on PostgreSQL.

use base64::Engine as _;
use cliquet_e2e::TestServer;
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn start(env: Vec<(String, String)>) -> TestServer {
    let settings = kinto::settings(None, env).unwrap();
    TestServer::start(kinto::service(settings).await.unwrap()).await
}

fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"))
    )
}

async fn user_id(server: &TestServer, auth: &str) -> String {
    let hello = server.get("/v1/", &[("authorization", auth)]).await;
    hello.json()["user"]["id"].as_str().unwrap().to_owned()
}

async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    auth: &str,
    body: Value,
) -> (StatusCode, Value) {
    let reply = server
        .send_json(method, path, &[("authorization", auth)], &body)
        .await;
    let json = reply.json();
    (reply.status, json)
}

async fn scenario(server: &TestServer) {
    let hello = server.get("/v1/", &[]).await;
    assert_eq!(hello.json()["project_name"], "kinto");
    let heartbeat = server.get("/v1/__heartbeat__", &[]).await;
    assert_eq!(heartbeat.status, StatusCode::OK, "{:?}", heartbeat.json());

    // Fresh names, so that runs on a shared database stay apart.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (alice, bob, carol) = (
        basic(&format!("alice-{run}")),
        basic(&format!("bob-{run}")),
        basic(&format!("carol-{run}")),
    );
    let bob_id = user_id(server, &bob).await;
    let bucket = format!("/v1/buckets/b{run}");
    let collection = format!("{bucket}/collections/c");
    let records = format!("{collection}/records");

    let (status, _) = send(server, Method::PUT, &bucket, &alice, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = send(server, Method::POST, &records, &bob, json!({"data": {}})).await;
    assert_eq!(
        (status, &error["errno"]),
        (StatusCode::NOT_FOUND, &json!(111))
    );
    let (status, _) = send(server, Method::PUT, &collection, &alice, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);

    // A group of one, reading the collection; bob may then read, not write.
    let (status, _) = send(
        server,
        Method::PUT,
        &format!("{bucket}/groups/readers"),
        &alice,
        json!({"data": {"members": [bob_id]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let group = format!("/buckets/b{run}/groups/readers");
    let (status, _) = send(
        server,
        Method::PATCH,
        &collection,
        &alice,
        json!({"permissions": {"read": [group]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let batch = json!({"requests": [
        {"method": "PUT", "path": format!("{}/r1", &records[3..]), "body": {"data": {"n": 1}}},
        {"method": "PUT", "path": format!("{}/r2", &records[3..]), "body": {"data": {"n": 2}}},
    ]});
    let (status, reply) = send(server, Method::POST, "/v1/batch", &alice, batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["responses"][1]["status"], 201, "{reply}");
    let list = server
        .get(&records, &[("authorization", bob.as_str())])
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()["data"].as_array().unwrap().len(), 2);
    let (status, _) = send(server, Method::POST, &records, &bob, json!({"data": {}})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let denied = server
        .get(&records, &[("authorization", carol.as_str())])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let anonymous = server.get(&records, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Deleting the bucket takes everything with it.
    let (status, _) = send(server, Method::DELETE, &bucket, &alice, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(server, Method::PUT, &bucket, &alice, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = send(server, Method::PUT, &collection, &alice, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let list = server
        .get(
            &format!("{records}?_since=0"),
            &[("authorization", alice.as_str())],
        )
        .await;
    assert_eq!(list.json()["data"], json!([]));
    let gone = server
        .get(&records, &[("authorization", bob.as_str())])
        .await;
    assert_eq!(gone.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn served_on_memory() {
    let server = start(Vec::new()).await;
    scenario(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn served_on_postgresql() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = start(vec![
        ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
        ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
        ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
        ("KINTO_STORAGE_URL".into(), url),
        ("KINTO_MIGRATE_ON_START".into(), "true".into()),
    ])
    .await;
    scenario(&server).await;
    server.stop().await;
}

/// Reads one HTTP/1.1 response (headers and a `Content-Length` body) from
/// a kept-alive connection; `None` when the server closed it first.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if received.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&received[..end + 4 + length]).into_owned());
            }
        }
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("the server answers")
                .unwrap();
        if read == 0 {
            return None;
        }
        received.extend_from_slice(&chunk[..read]);
    }
}

/// Answers given before the body is read (a redirect, a 401) keep the
/// connection usable: clients reuse it for their next request.
#[tokio::test]
async fn early_answers_keep_the_connection_alive() {
    use tokio::io::AsyncWriteExt;
    let server = start(Vec::new()).await;
    let mut stream = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let body = format!("{{\"data\": {{\"password\": \"{}\"}}}}", "x".repeat(20_000));
    for (request, status) in [
        // Unprefixed: redirected without looking at the body.
        (
            format!(
                "PUT /accounts/alice HTTP/1.1\r\nHost: kinto.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            "307",
        ),
        // A bucket write by an anonymous user: refused before reading.
        (
            format!(
                "PUT /v1/buckets/b HTTP/1.1\r\nHost: kinto.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            "401",
        ),
        (
            "GET /v1/ HTTP/1.1\r\nHost: kinto.test\r\n\r\n".to_owned(),
            "200",
        ),
    ] {
        // The body follows the headers a moment later, as HTTP clients
        // send it: the answer may be ready before it arrives.
        let (head, body) = request.split_at(request.find("\r\n\r\n").unwrap() + 4);
        stream.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stream.write_all(body.as_bytes()).await.unwrap();
        let response = read_response(&mut stream)
            .await
            .expect("the connection stays open");
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{response}"
        );
    }
}
