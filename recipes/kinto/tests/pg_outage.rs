//! PostgreSQL lost for 10 s under load: the server answers 503 errno 201
//! with `Retry-After` to what needs the database, never a 500 or a hang,
//! and writes succeed again within a second of the database's return.
//!
//! The outage is a TCP proxy between the server and PostgreSQL, cut by the
//! test: while cut it refuses new connections and drops the existing ones
//! (the real database keeps serving the other tests).
//! `tests/scripts/pg-outage.sh` does the same with a real
//! `pg_ctlcluster stop`, for manual runs. Skipped without
//! `CLIQUET_TEST_POSTGRES_URL`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use cliquet_e2e::{Reply, TestServer};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to `target`, up or cut by [`Proxy::set_up`].
struct Proxy {
    address: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let (up, _) = watch::channel(true);
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = socket.local_addr().unwrap();
        let mut listener = Some(socket.listen(128).unwrap());
        let mut state = up.subscribe();
        let for_pumps = up.subscribe();
        tokio::spawn(async move {
            loop {
                let Some(accepting) = listener.as_ref() else {
                    // Cut: nothing listens, connections are refused.
                    if state.wait_for(|up| *up).await.is_err() {
                        return;
                    }
                    let socket = TcpSocket::new_v4().unwrap();
                    socket.set_reuseaddr(true).unwrap();
                    socket.bind(address).unwrap();
                    listener = Some(socket.listen(128).unwrap());
                    continue;
                };
                tokio::select! {
                    accepted = accepting.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        tokio::spawn(pump(client, target, for_pumps.clone()));
                    }
                    changed = state.wait_for(|up| !*up) => {
                        if changed.is_err() {
                            return;
                        }
                        listener = None;
                    }
                }
            }
        });
        Self { address, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Carries one connection until either side closes it or the proxy is cut.
async fn pump(mut client: TcpStream, target: SocketAddr, mut state: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        // Cut: both sockets are dropped, mid-statement or not.
        _ = state.wait_for(|up| !*up) => {}
    }
}

/// What the test saw.
#[derive(Default)]
struct Seen {
    ok: usize,
    unavailable: usize,
    wrong: Vec<String>,
}

impl Seen {
    fn judge(&mut self, what: &str, reply: &Reply, took: Duration) {
        if took > Duration::from_secs(5) {
            self.wrong.push(format!("{what}: {took:?} to answer"));
        }
        if reply.status.is_success() {
            self.ok += 1;
            return;
        }
        let body = reply.json();
        if reply.status == StatusCode::SERVICE_UNAVAILABLE
            && body["errno"] == 201
            && body["code"] == 503
            && reply.header("retry-after").is_some()
        {
            self.unavailable += 1;
        } else {
            self.wrong
                .push(format!("{what}: {} {}", reply.status, body));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_outage_gives_503_then_recovers_within_a_second() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let (named, target) = postgres_address(&url);
    let proxy = Proxy::start(target).await;
    let proxied = url.replacen(&named, &proxy.address.to_string(), 1);
    let settings = kinto::settings(
        None,
        vec![
            ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
            ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
            ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
            ("KINTO_STORAGE_URL".into(), proxied),
            ("KINTO_MIGRATE_ON_START".into(), "true".into()),
        ],
    )
    .unwrap();
    let server = Arc::new(TestServer::start(kinto::service(settings).await.unwrap()).await);

    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice-{run}:pw"))
    );
    let collection = format!("/v1/buckets/b{run}/collections/c");
    for path in [format!("/v1/buckets/b{run}"), collection.clone()] {
        let reply = server
            .send_json(Method::PUT, &path, &[("authorization", &auth)], &json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}");
    }

    // Eight clients writing, reading and saying hello in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (server, stop, auth) = (server.clone(), stop.clone(), auth.clone());
            let record = format!("{collection}/records/r{client}");
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let headers = [("authorization", auth.as_str())];
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    let reply = server
                        .send_json(Method::PUT, &record, &headers, &json!({"data": {"n": n}}))
                        .await;
                    seen.judge("PUT", &reply, started.elapsed());
                    let started = Instant::now();
                    let reply = server.get(&record, &headers).await;
                    if reply.status != StatusCode::NOT_FOUND {
                        seen.judge("GET", &reply, started.elapsed());
                    }
                    let started = Instant::now();
                    // An authenticated hello reads the user's principals.
                    let reply = server.get("/v1/", &headers).await;
                    seen.judge("hello", &reply, started.elapsed());
                    let started = Instant::now();
                    let reply = server.get("/v1/", &[]).await;
                    seen.judge("anonymous hello", &reply, started.elapsed());
                    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_up(false);
    let cut = Instant::now();
    // Once the cut is felt, every write must be refused with a 503.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = server
        .send_json(
            Method::PUT,
            &format!("{collection}/records/during"),
            &[("authorization", &auth)],
            &json!({"data": {}}),
        )
        .await;
    assert_eq!(during.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(during.json()["errno"], 201);
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;

    proxy.set_up(true);
    let back = Instant::now();
    let recovered = loop {
        let reply = server
            .send_json(
                Method::PUT,
                &format!("{collection}/records/after"),
                &[("authorization", &auth)],
                &json!({"data": {"n": 1}}),
            )
            .await;
        if reply.status.is_success() {
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(10), "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);

    let mut all = Seen::default();
    for client in clients {
        let seen = client.await.unwrap();
        all.ok += seen.ok;
        all.unavailable += seen.unavailable;
        all.wrong.extend(seen.wrong);
    }
    eprintln!(
        "{} answers, {} 503s; writes back {recovered:?} after the database",
        all.ok + all.unavailable,
        all.unavailable
    );
    assert!(all.wrong.is_empty(), "{:#?}", all.wrong);
    assert!(all.unavailable > 0, "the cut was felt");
    assert!(
        recovered <= Duration::from_secs(1),
        "writes came back {recovered:?} after the database"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

/// The `host[:port]` of a `postgresql://user@host:port/db` URL as written,
/// and the address it names.
fn postgres_address(url: &str) -> (String, SocketAddr) {
    let rest = url.split("://").nth(1).unwrap();
    let authority = rest.split(['/', '?']).next().unwrap();
    let named = authority.rsplit('@').next().unwrap().to_owned();
    let host_port = if named.contains(':') {
        named.clone()
    } else {
        format!("{named}:5432")
    };
    let address = host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("a numeric host in CLIQUET_TEST_POSTGRES_URL");
    (named, address)
}
