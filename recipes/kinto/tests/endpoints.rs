//! The endpoints that read across the service: `GET /permissions`,
//! `/__metrics__` and `/__api__`, on memory and on PostgreSQL.

use axum::body::Body;
use base64::Engine as _;
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Environment variables selecting PostgreSQL backends, `None` (with a
/// message) when `CLIQUET_TEST_POSTGRES_URL` is not set.
fn postgres_env() -> Option<Vec<(String, String)>> {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return None;
    };
    Some(vec![
        ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
        ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
        ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
        ("KINTO_STORAGE_URL".into(), url),
        ("KINTO_MIGRATE_ON_START".into(), "true".into()),
    ])
}

/// The backends `base` selects, shared by the services of one scenario.
async fn backends(base: &[(String, String)]) -> cliquet_storage::Backends {
    let settings = kinto::settings(None, base.to_vec()).unwrap();
    cliquet::backends_from_settings(&settings).await.unwrap()
}

/// A service on `base` with more settings.
async fn app_with(base: &[(String, String)], env: &[(&str, &str)]) -> kinto::App {
    let backends = backends(base).await;
    app_on(&backends, base, env)
}

fn app_on(
    backends: &cliquet_storage::Backends,
    base: &[(String, String)],
    env: &[(&str, &str)],
) -> kinto::App {
    let env = base
        .iter()
        .cloned()
        .chain(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = kinto::settings(None, env).unwrap();
    kinto::app(settings, backends.clone()).unwrap()
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(
    app: &kinto::App,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "server.test");
    if let Some(user) = user {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"));
        builder = builder.header("authorization", format!("Basic {token}"));
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn call(app: &kinto::App, method: &str, path: &str, user: Option<&str>) -> (u16, Value) {
    let reply = send(app, method, path, user, None).await;
    (reply.status, reply.json())
}

async fn user_id(app: &kinto::App, user: &str) -> String {
    let (_, hello) = call(app, "GET", "/v1/", Some(user)).await;
    hello["user"]["id"].as_str().unwrap().to_owned()
}

fn unique(name: &str) -> String {
    format!(
        "{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn entries(body: &Value) -> Vec<Value> {
    body["data"].as_array().cloned().unwrap_or_default()
}

fn uris(body: &Value) -> Vec<String> {
    entries(body)
        .iter()
        .map(|e| e["uri"].as_str().unwrap().to_owned())
        .collect()
}

fn entry<'a>(list: &'a [Value], uri: &str) -> Option<&'a Value> {
    list.iter().find(|e| e["uri"] == uri)
}

fn permissions_of(entry: &Value) -> Vec<String> {
    let mut list: Vec<String> = serde_json::from_value(entry["permissions"].clone()).unwrap();
    list.sort();
    list
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    list.sort();
    list
}

async fn permissions_scenario(base: Vec<(String, String)>) {
    let backends = backends(&base).await;
    let off = app_on(&backends, &base, &[]);
    let (status, _) = call(&off, "GET", "/v1/permissions", Some("alice")).await;
    assert_eq!(status, 404, "the endpoint is off by default");

    let app = app_on(
        &backends,
        &base,
        &[("KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT", "true")],
    );
    let alice = unique("alice");
    let bob = unique("bob");
    let (a, b, c) = (unique("a"), unique("b"), unique("c"));
    let bucket = format!("/v1/buckets/{a}");
    let collection = format!("{bucket}/collections/{b}");
    let record = format!("{collection}/records/{c}");
    for path in [&bucket, &collection, &record] {
        let (status, body) = call(&app, "PUT", path, Some(&alice)).await;
        assert_eq!(status, 201, "{path}: {body}");
    }
    let x = unique("x");
    let (status, _) = call(&app, "PUT", &format!("/v1/buckets/{x}"), Some(&bob)).await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &app,
        "PUT",
        &format!("/v1/buckets/{x}/collections/secret"),
        Some(&bob),
    )
    .await;
    assert_eq!(status, 201);

    // Alice's own objects, expanded on each object only.
    let (status, body) = call(&app, "GET", "/v1/permissions", Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    let list = entries(&body);
    let record_uri = format!("/buckets/{a}/collections/{b}/records/{c}");
    let r = entry(&list, &record_uri).expect("the record is listed");
    assert_eq!(r["resource_name"], "record");
    assert_eq!(r["id"], c.as_str());
    assert_eq!(r["record_id"], c.as_str());
    assert_eq!(r["collection_id"], b.as_str());
    assert_eq!(r["bucket_id"], a.as_str());
    assert_eq!(permissions_of(r), sorted(&["write", "read"]));
    let col = entry(&list, &format!("/buckets/{a}/collections/{b}")).unwrap();
    assert_eq!(col["resource_name"], "collection");
    assert_eq!(
        permissions_of(col),
        sorted(&["write", "read", "read:attributes", "record:create"])
    );
    let bkt = entry(&list, &format!("/buckets/{a}")).unwrap();
    assert_eq!(bkt["id"], a.as_str());
    assert_eq!(
        permissions_of(bkt),
        sorted(&[
            "write",
            "read",
            "read:attributes",
            "collection:create",
            "group:create"
        ])
    );
    let root = entry(&list, "/").expect("bucket:create from the default setting");
    assert_eq!(
        root,
        &json!({"uri": "/", "resource_name": "root", "permissions": ["bucket:create"]})
    );
    // Nothing of Bob's.
    assert!(
        !list.iter().any(|e| e["uri"].as_str().unwrap().contains(&x)),
        "{list:?}"
    );

    // Bob shares one collection with Alice: that collection only.
    let alice_id = user_id(&app, &alice).await;
    let reply = send(
        &app,
        "PATCH",
        &format!("/v1/buckets/{x}/collections/secret"),
        Some(&bob),
        Some(json!({"permissions": {"read": [alice_id]}})),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (_, body) = call(&app, "GET", "/v1/permissions", Some(&alice)).await;
    let list = entries(&body);
    let shared = entry(&list, &format!("/buckets/{x}/collections/secret")).unwrap();
    assert_eq!(permissions_of(shared), sorted(&["read", "read:attributes"]));
    assert!(entry(&list, &format!("/buckets/{x}")).is_none());

    // Bob sees his objects, none of Alice's.
    let (_, body) = call(&app, "GET", "/v1/permissions", Some(&bob)).await;
    let bob_uris = uris(&body);
    assert!(bob_uris.contains(&format!("/buckets/{x}")));
    assert!(!bob_uris.iter().any(|u| u.contains(&a)), "{bob_uris:?}");

    // Groups are principals: a member of a group sees what it is given.
    let reply = send(
        &app,
        "PUT",
        &format!("/v1/buckets/{x}/groups/friends"),
        Some(&bob),
        Some(json!({"data": {"members": [alice_id]}})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = send(
        &app,
        "PATCH",
        &format!("/v1/buckets/{x}"),
        Some(&bob),
        Some(
            json!({"permissions": {"collection:create": [format!("/buckets/{x}/groups/friends")]}}),
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (_, body) = call(&app, "GET", "/v1/permissions", Some(&alice)).await;
    let list = entries(&body);
    let through_group = entry(&list, &format!("/buckets/{x}")).expect("granted to the group");
    assert_eq!(
        permissions_of(through_group),
        sorted(&["collection:create", "read:attributes"])
    );

    // Anonymous: nothing of theirs, no root (bucket creation needs an
    // authenticated user).
    let (status, body) = call(&app, "GET", "/v1/permissions", None).await;
    assert_eq!(status, 200);
    assert!(
        !uris(&body)
            .iter()
            .any(|u| u == "/" || u.contains(&a) || u.contains(&x)),
        "{body}"
    );

    // The querystring: filters, sorting, pagination, fields, HEAD.
    let only = format!("/v1/permissions?bucket_id={a}&_sort=uri");
    let (status, body) = call(&app, "GET", &only, Some(&alice)).await;
    assert_eq!(status, 200);
    assert_eq!(
        uris(&body),
        [
            format!("/buckets/{a}"),
            format!("/buckets/{a}/collections/{b}"),
            record_uri.clone()
        ]
    );
    let (_, body) = call(
        &app,
        "GET",
        &format!("/v1/permissions?bucket_id={a}&in_resource_name=bucket,record"),
        Some(&alice),
    )
    .await;
    let mut found = uris(&body);
    found.sort();
    assert_eq!(found, [format!("/buckets/{a}"), record_uri.clone()]);
    // Default order: uri descending.
    let (_, body) = call(
        &app,
        "GET",
        &format!("/v1/permissions?bucket_id={a}"),
        Some(&alice),
    )
    .await;
    assert_eq!(uris(&body)[0], record_uri);
    let (_, body) = call(
        &app,
        "GET",
        &format!("/v1/permissions?bucket_id={a}&contains_permissions=record:create"),
        Some(&alice),
    )
    .await;
    assert_eq!(uris(&body), [format!("/buckets/{a}/collections/{b}")]);

    let first = send(
        &app,
        "GET",
        &format!(
            "/v1/permissions?bucket_id={a}&_sort=uri&_limit=2&_fields=resource_name&_since=42"
        ),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.json()["data"],
        json!([
            {"id": a, "resource_name": "bucket"},
            {"id": b, "resource_name": "collection"},
        ])
    );
    assert!(first.headers.contains_key("etag"));
    let next = first.headers["next-page"].to_str().unwrap().to_owned();
    let next = next.strip_prefix("http://server.test").unwrap();
    let second = send(&app, "GET", next, Some(&alice), None).await;
    assert_eq!(
        second.json()["data"],
        json!([{"id": c, "resource_name": "record"}])
    );
    assert!(!second.headers.contains_key("next-page"));

    let head = send(
        &app,
        "HEAD",
        &format!("/v1/permissions?bucket_id={a}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["total-objects"], "3");
    assert!(head.text.is_empty());

    let (status, body) = call(&app, "GET", "/v1/permissions?unknown=1", Some(&alice)).await;
    assert_eq!(status, 400);
    assert_eq!(body["errno"], 107);
    let (status, body) = call(
        &app,
        "GET",
        &format!("/v1/permissions?bucket_id={a}&_sort=-anything,resource_name"),
        Some(&alice),
    )
    .await;
    assert_eq!(status, 200, "sorting takes any field: {body}");
    assert_eq!(entries(&body)[0]["resource_name"], "bucket");
    let (status, _) = call(&app, "POST", "/v1/permissions", Some(&alice)).await;
    assert_eq!(status, 405);
    let reply = send(&app, "GET", "/v1/permissions", Some(&alice), None).await;
    assert_eq!(reply.status, 200);

    // A deleted object is gone from the list.
    let (status, _) = call(&app, "DELETE", &record, Some(&alice)).await;
    assert_eq!(status, 200);
    let (_, body) = call(&app, "GET", "/v1/permissions", Some(&alice)).await;
    assert!(!uris(&body).contains(&record_uri));

    // Settings grants reach every existing object of their kind.
    let granted = app_on(
        &backends,
        &base,
        &[
            ("KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT", "true"),
            ("KINTO_COLLECTION_CREATE_PRINCIPALS", "system.Authenticated"),
            ("KINTO_GROUP_READ_PRINCIPALS", "system.Authenticated"),
        ],
    );
    let carol = unique("carol");
    let (_, body) = call(
        &granted,
        "GET",
        &format!("/v1/permissions?bucket_id={x}"),
        Some(&carol),
    )
    .await;
    let list = entries(&body);
    let bucket_x = entry(&list, &format!("/buckets/{x}")).expect("every bucket");
    assert_eq!(
        permissions_of(bucket_x),
        sorted(&["collection:create", "read:attributes"])
    );
    let group = entry(&list, &format!("/buckets/{x}/groups/friends")).expect("every group");
    assert_eq!(permissions_of(group), sorted(&["read"]));
    assert!(entry(&list, &format!("/buckets/{x}/collections/secret")).is_none());

    // Who may call it.
    let restricted = app_on(
        &backends,
        &base,
        &[
            ("KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT", "true"),
            ("KINTO_PERMISSIONS_READ_PRINCIPALS", "system.Authenticated"),
        ],
    );
    let (status, _) = call(&restricted, "GET", "/v1/permissions", None).await;
    assert_eq!(status, 401);
    let (status, _) = call(&restricted, "GET", "/v1/permissions", Some(&alice)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn permissions_endpoint_on_memory() {
    permissions_scenario(Vec::new()).await;
}

#[tokio::test]
async fn permissions_endpoint_on_postgresql() {
    if let Some(env) = postgres_env() {
        permissions_scenario(env).await;
    }
}

#[tokio::test]
async fn the_permissions_capability_follows_the_switches() {
    let app = app_with(&[], &[]).await;
    let (_, hello) = call(&app, "GET", "/v1/", None).await;
    assert!(hello["capabilities"].get("permissions_endpoint").is_none());
    let app = app_with(&[], &[("KINTO_INCLUDES", "kinto.plugins.admin")]).await;
    let (status, _) = call(&app, "GET", "/v1/permissions", None).await;
    assert_eq!(status, 200, "the admin plugin switches the endpoint on");
    let (_, hello) = call(&app, "GET", "/v1/", None).await;
    assert_eq!(
        hello["capabilities"]["permissions_endpoint"]["description"],
        "The permissions endpoint can be used to list all user objects permissions."
    );
}

async fn metrics_text(app: &kinto::App) -> String {
    let reply = send(app, "GET", "/v1/__metrics__", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    reply.text
}

async fn metrics_scenario(base: Vec<(String, String)>) {
    let off = app_with(&base, &[]).await;
    let (status, _) = call(&off, "GET", "/v1/__metrics__", None).await;
    assert_eq!(status, 404);
    let (_, hello) = call(&off, "GET", "/v1/", None).await;
    assert!(hello["capabilities"].get("prometheus").is_none());

    let app = app_with(&base, &[("KINTO_INCLUDES", "kinto.plugins.prometheus")]).await;
    let other = app_with(&base, &[("KINTO_INCLUDES", "kinto.plugins.prometheus")]).await;
    let user = unique("metrics");
    let bucket = unique("m");
    let (status, _) = call(&app, "PUT", &format!("/v1/buckets/{bucket}"), Some(&user)).await;
    assert_eq!(status, 201);
    let (status, _) = call(&app, "GET", "/v1/buckets/missing-one", Some(&user)).await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, "GET", "/v1/", None).await;
    assert_eq!(status, 200);

    let text = metrics_text(&app).await;
    let line = format!(
        r#"kinto_request_summary_total{{method="put",endpoint="bucket-object",bucket_id="{bucket}",collection_id="",group_id="",record_id="",status="201"}} 1"#
    );
    assert!(text.contains(&line), "{text}");
    // Errors blank the URL fields.
    assert!(
        text.contains(r#"endpoint="bucket-object",bucket_id="",collection_id="",group_id="",record_id="",status="403"}"#),
        "{text}"
    );
    assert!(text.contains(r#"endpoint="hello""#), "{text}");
    assert!(
        text.contains("kinto_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("kinto_users_total{"), "{text}");
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        assert!(seen.insert(line), "duplicate line {line}");
    }

    // Another service in the same process counts its own requests.
    let elsewhere = metrics_text(&other).await;
    assert!(!elsewhere.contains(&bucket), "{elsewhere}");

    // Kinto's functional tests read it at the root, through the redirect,
    // with `Accept: text/plain`.
    let reply = send(&app, "GET", "/__metrics__", None, None).await;
    assert_eq!(reply.status, 307);
    let request = Request::get("/v1/__metrics__")
        .header("accept", "text/plain")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        reply.headers["location"]
            .to_str()
            .unwrap()
            .ends_with("/v1/__metrics__")
    );

    let (_, hello) = call(&app, "GET", "/v1/", None).await;
    assert_eq!(
        hello["capabilities"]["prometheus"],
        json!({"description": "Prometheus metrics.", "url": "https://github.com/Kinto/kinto/",
               "prefix": "kinto_", "disabled_metrics": []})
    );

    let renamed = app_with(
        &base,
        &[
            ("KINTO_INCLUDES", "kinto.plugins.prometheus"),
            ("KINTO_PROMETHEUS_PREFIX", "remote-settings"),
            ("KINTO_PROMETHEUS_DISABLED_METRICS", "request_size users"),
        ],
    )
    .await;
    let (_, hello) = call(&renamed, "GET", "/v1/", Some(&user)).await;
    assert_eq!(
        hello["capabilities"]["prometheus"]["prefix"],
        "remotesettings_"
    );
    assert_eq!(
        hello["capabilities"]["prometheus"]["disabled_metrics"],
        json!(["request_size", "users"])
    );
    let text = metrics_text(&renamed).await;
    assert!(
        text.contains("remotesettings_request_summary_total{"),
        "{text}"
    );
    assert!(!text.contains("request_size"), "{text}");
    assert!(!text.contains("users_total"), "{text}");
}

#[tokio::test]
async fn metrics_on_memory() {
    metrics_scenario(Vec::new()).await;
}

#[tokio::test]
async fn metrics_on_postgresql() {
    if let Some(env) = postgres_env() {
        metrics_scenario(env).await;
    }
}

#[tokio::test]
async fn statsd_sends_to_its_url() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let url = format!("udp://{}", socket.local_addr().unwrap());

    // Without the plugin, the URL alone sends nothing.
    let quiet = app_with(&[], &[("KINTO_STATSD_URL", &url)]).await;
    let (status, _) = call(&quiet, "GET", "/v1/", None).await;
    assert_eq!(status, 200);

    let app = app_with(
        &[],
        &[
            ("KINTO_INCLUDES", "kinto.plugins.statsd"),
            ("KINTO_STATSD_URL", &url),
        ],
    )
    .await;
    let (_, hello) = call(&app, "GET", "/v1/", None).await;
    assert!(hello["capabilities"].get("statsd").is_none());
    let (status, _) = call(&app, "GET", "/v1/__metrics__", None).await;
    assert_eq!(status, 404, "StatsD has no endpoint");
    let mut received = Vec::new();
    let mut buffer = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buffer) {
        let datagram = String::from_utf8_lossy(&buffer[..n]).into_owned();
        let done = datagram.starts_with("kinto.request_summary:");
        received.push(datagram);
        if done {
            break;
        }
    }
    assert!(
        received.iter().any(
            |d| d.starts_with("kinto.request_summary:method.get.endpoint.hello.")
                && d.ends_with("|s")
        ),
        "{received:?}"
    );
}

/// Fills the parameters of an OpenAPI path with the ids of objects that
/// exist.
fn concrete(path: &str) -> String {
    let mut out = path
        .replace("{principal}", "someone")
        .replace("{bucket_id}", "b")
        .replace("{collection_id}", "c");
    let id = if out.starts_with("/buckets/b/collections/c/records") {
        "r"
    } else if out.starts_with("/buckets/b/collections") {
        "c"
    } else if out.starts_with("/buckets/b/groups") {
        "g"
    } else {
        "b"
    };
    out = out.replace("{id}", id);
    out
}

#[tokio::test]
async fn openapi_lists_what_is_routed() {
    let app = app_with(&[], &[]).await;
    let reply = send(&app, "GET", "/v1/__api__", None, None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["info"], json!({"title": "kinto", "version": "1.23"}));
    assert_eq!(doc["basePath"], "/v1");
    assert_eq!(doc["host"], "server.test");
    assert_eq!(doc["schemes"], json!(["http"]));
    assert_eq!(
        doc["securityDefinitions"],
        json!({"basicauth": {"type": "basic"}})
    );
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for expected in [
        "/",
        "/batch",
        "/__heartbeat__",
        "/__lbheartbeat__",
        "/__version__",
        "/__api__",
        "/__user_data__/{principal}",
        "/buckets",
        "/buckets/{id}",
        "/buckets/{bucket_id}/collections",
        "/buckets/{bucket_id}/collections/{id}",
        "/buckets/{bucket_id}/groups",
        "/buckets/{bucket_id}/groups/{id}",
        "/buckets/{bucket_id}/collections/{collection_id}/records",
        "/buckets/{bucket_id}/collections/{collection_id}/records/{id}",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(!paths.contains(&"/permissions"));
    assert!(!paths.contains(&"/__metrics__"));
    assert_eq!(doc["paths"]["/"]["get"]["operationId"], "server_info");
    assert_eq!(doc["paths"]["/__api__"]["get"]["security"], json!([]));

    // Every operation id is unique, every path parameter declared.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let declared: Vec<&str> = item["parameters"]
            .as_array()
            .map(|list| list.iter().map(|p| p["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        for name in path
            .split('{')
            .skip(1)
            .map(|r| r.split('}').next().unwrap())
        {
            assert!(declared.contains(&name), "{path}: {name}");
        }
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(ids.insert(operation["operationId"].as_str().unwrap().to_owned()));
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty())
            );
        }
    }

    // Every described path is routed: reading each one (with objects that
    // exist) answers.
    for path in [
        "/v1/buckets/b",
        "/v1/buckets/b/collections/c",
        "/v1/buckets/b/groups/g",
    ] {
        let (status, body) = call(&app, "PUT", path, Some("owner")).await;
        assert_eq!(status, 201, "{path}: {body}");
    }
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/r",
        Some("owner"),
    )
    .await;
    assert_eq!(status, 201);
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = format!("/v1{}", concrete(path));
        if item.get("get").is_some() {
            let reply = send(&app, "GET", &url, Some("owner"), None).await;
            assert_eq!(reply.status, 200, "GET {url}: {}", reply.text);
        } else {
            let method = item
                .as_object()
                .unwrap()
                .keys()
                .find(|k| *k != "parameters")
                .unwrap()
                .to_uppercase();
            let body = json!({"requests": []});
            let reply = send(&app, &method, &url, Some("owner"), Some(body)).await;
            assert_ne!(reply.status, 404, "{method} {url}: {}", reply.text);
            assert_ne!(reply.status, 405, "{method} {url}: {}", reply.text);
        }
    }

    // Plugins add their paths.
    let app = app_with(
        &[],
        &[
            ("KINTO_INCLUDES", "kinto.plugins.prometheus"),
            ("KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT", "true"),
        ],
    )
    .await;
    let doc = send(&app, "GET", "/v1/__api__", None, None).await.json();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/permissions"));
    assert!(paths.contains_key("/__metrics__"));
    for path in ["/v1/permissions", "/v1/__metrics__"] {
        let (status, _) = call(&app, "GET", path, None).await;
        assert_eq!(status, 200, "{path}");
    }
    validate_with_python(&doc);
}

/// Checks the document with `openapi-spec-validator` when Python has it.
fn validate_with_python(doc: &Value) {
    let dir = std::env::temp_dir().join(format!("kinto-openapi-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let script = "import json, sys\n\
        try:\n    from openapi_spec_validator import validate\n\
        except ImportError:\n    sys.exit(3)\n\
        validate(json.load(open(sys.argv[1])))\n";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match output {
        Ok(output) if output.status.code() == Some(3) => {
            eprintln!("skipped: openapi-spec-validator is not installed");
        }
        Ok(output) => assert!(
            output.status.success(),
            "invalid OpenAPI document: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => eprintln!("skipped: python3 not available ({error})"),
    }
}

async fn user_data_scenario(base: Vec<(String, String)>) {
    let backends = backends(&base).await;
    let admin = unique("admin");
    let plain = app_on(&backends, &base, &[]);
    let (status, _) = call(&plain, "DELETE", "/v1/__user_data__/x", Some(&admin)).await;
    assert_eq!(status, 403, "nobody may by default");
    let (status, _) = call(&plain, "DELETE", "/v1/__user_data__/x", None).await;
    assert_eq!(status, 401);

    let probe = app_on(&backends, &base, &[]);
    let admin_id = user_id(&probe, &admin).await;
    let app = app_on(
        &backends,
        &base,
        &[
            ("KINTO_EXPERIMENTAL_PERMISSIONS_ENDPOINT", "true"),
            ("KINTO_USER-DATA_DELETE_PRINCIPALS", &admin_id),
        ],
    );
    let (dana, erin) = (unique("dana"), unique("erin"));
    let dana_id = user_id(&app, &dana).await;
    let erin_id = user_id(&app, &erin).await;
    let (own, shared) = (unique("own"), unique("shared"));
    // Dana owns a bucket with a collection and a record.
    for path in [
        format!("/v1/buckets/{own}"),
        format!("/v1/buckets/{own}/collections/c"),
        format!("/v1/buckets/{own}/collections/c/records/r"),
    ] {
        let (status, _) = call(&app, "PUT", &path, Some(&dana)).await;
        assert_eq!(status, 201, "{path}");
    }
    // Erin's bucket, which Dana may also write, and a group Dana is in.
    let reply = send(
        &app,
        "PUT",
        &format!("/v1/buckets/{shared}"),
        Some(&erin),
        Some(json!({"permissions": {"write": [dana_id], "read": [dana_id]}})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = send(
        &app,
        "PUT",
        &format!("/v1/buckets/{shared}/groups/team"),
        Some(&erin),
        Some(json!({"data": {"members": [dana_id, erin_id]}})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);

    let reply = send(
        &app,
        "DELETE",
        &format!("/v1/__user_data__/{dana_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!({"data": {"principal": dana_id}}));

    // What Dana owned is gone, with its content.
    let (status, _) = call(&app, "GET", &format!("/v1/buckets/{own}"), Some(&dana)).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        "GET",
        &format!("/v1/buckets/{own}/collections/c/records/r"),
        Some(&erin),
    )
    .await;
    assert_eq!(status, 403);
    // Erin's bucket stays, without Dana in its ACL nor in the group.
    let (status, body) = call(&app, "GET", &format!("/v1/buckets/{shared}"), Some(&erin)).await;
    assert_eq!(status, 200);
    assert_eq!(body["permissions"], json!({"write": [erin_id]}));
    let (_, body) = call(
        &app,
        "GET",
        &format!("/v1/buckets/{shared}/groups/team"),
        Some(&erin),
    )
    .await;
    assert_eq!(body["data"]["members"], json!([erin_id]));
    let (_, hello) = call(&app, "GET", "/v1/", Some(&dana)).await;
    assert!(
        !hello["user"]["principals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("/groups/")),
        "{hello}"
    );
    let (_, body) = call(&app, "GET", "/v1/permissions", Some(&dana)).await;
    // Other tests sharing the database may leave objects open to
    // everyone: only this scenario's buckets matter.
    let left: Vec<String> = uris(&body)
        .into_iter()
        .filter(|uri| uri == "/" || uri.contains(&own) || uri.contains(&shared))
        .collect();
    assert_eq!(left, ["/"], "only the settings' root entry is left");
}

#[tokio::test]
async fn user_data_on_memory() {
    user_data_scenario(Vec::new()).await;
}

#[tokio::test]
async fn user_data_on_postgresql() {
    if let Some(env) = postgres_env() {
        user_data_scenario(env).await;
    }
}
