//! Collection schemas, record cache headers, the history plugin and
//! `explicit_permissions`, in process on memory and on PostgreSQL (when
//! `CLIQUET_TEST_POSTGRES_URL` is set).

use axum::body::Body;
use base64::Engine as _;
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use kinto::App;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The service with these settings (`KINTO_`-less names), on each backend.
async fn apps(pairs: &[(&str, &str)]) -> Vec<(&'static str, App)> {
    let env = |extra: &[(&str, &str)]| {
        pairs
            .iter()
            .chain(extra)
            .map(|(k, v)| (format!("KINTO_{}", k.to_uppercase()), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    let mut apps = Vec::new();
    let settings = kinto::settings(None, env(&[])).unwrap();
    apps.push(("memory", kinto::service(settings).await.unwrap()));
    match std::env::var("CLIQUET_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let settings = kinto::settings(
                None,
                env(&[
                    ("storage_backend", "postgresql"),
                    ("permission_backend", "postgresql"),
                    ("cache_backend", "postgresql"),
                    ("storage_url", &url),
                    ("migrate_on_start", "true"),
                ]),
            )
            .unwrap();
            apps.push(("postgresql", kinto::service(settings).await.unwrap()));
        }
        _ => eprintln!("CLIQUET_TEST_POSTGRES_URL is not set: PostgreSQL skipped"),
    }
    apps
}

/// A fresh bucket name, so that runs on a shared database stay apart.
fn fresh() -> String {
    format!("b{}", uuid::Uuid::new_v4().simple())
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    app: &App,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(user) = user {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:secret"));
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
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn user_id(app: &App, user: &str) -> String {
    let hello = call(app, "GET", "/v1/", Some(user), None).await;
    hello.body["user"]["id"].as_str().unwrap().to_owned()
}

#[track_caller]
fn expect(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.body);
}

fn articles_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "file": {"type": "object", "properties": {"size": {"type": "number"}}},
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["title"],
        "additionalProperties": false
    })
}

#[tokio::test]
async fn records_follow_their_collection_schema() {
    for (backend, app) in apps(&[("experimental_collection_schema_validation", "true")]).await {
        eprintln!("on {backend}");
        let hello = call(&app, "GET", "/v1/", None, None).await;
        assert!(hello.body["capabilities"]["schema"]["description"].is_string());
        let b = fresh();
        let bucket = format!("/v1/buckets/{b}");
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        let collection = format!("{bucket}/collections/articles");
        // The stored schema must be a schema.
        let bad = call(
            &app,
            "PUT",
            &collection,
            Some("alice"),
            Some(json!({"data": {"schema": {"type": "Washmachine"}}})),
        )
        .await;
        expect(&bad, 400);
        assert_eq!(bad.body["errno"], 107);
        assert_eq!(bad.body["details"][0]["name"], "data.schema");
        let bad = call(
            &app,
            "PUT",
            &collection,
            Some("alice"),
            Some(json!({"data": {"cache_expires": "abc"}})),
        )
        .await;
        assert_eq!(bad.body["details"][0]["name"], "data.cache_expires");
        let created = call(
            &app,
            "PUT",
            &collection,
            Some("alice"),
            Some(json!({"data": {"schema": articles_schema()}})),
        )
        .await;
        expect(&created, 201);
        let version = created.body["data"]["last_modified"].clone();
        let records = format!("{collection}/records");

        let missing = call(
            &app,
            "POST",
            &records,
            Some("alice"),
            Some(json!({"data": {}})),
        )
        .await;
        expect(&missing, 400);
        assert_eq!(missing.body["errno"], 107);
        assert_eq!(missing.body["error"], "Invalid parameters");
        assert_eq!(missing.body["details"][0]["location"], "body");
        assert_eq!(missing.body["details"][0]["name"], "title");
        let nested = call(
            &app,
            "POST",
            &records,
            Some("alice"),
            Some(json!({"data": {"title": "x", "file": {"size": "hi"}}})),
        )
        .await;
        assert_eq!(nested.body["details"][0]["name"], "size");
        assert!(
            nested.body["message"]
                .as_str()
                .unwrap()
                .starts_with("size in body: ")
        );
        let extra = call(
            &app,
            "POST",
            &records,
            Some("alice"),
            Some(json!({"data": {"title": "x", "extra": 1}})),
        )
        .await;
        assert_eq!(extra.body["details"][0]["name"], "additionalProperties");
        let item = call(
            &app,
            "POST",
            &records,
            Some("alice"),
            Some(json!({"data": {"title": "x", "tags": [1]}})),
        )
        .await;
        assert_eq!(item.body["details"][0]["name"], json!(0));

        // Valid records get the schema version; a client's value is replaced.
        let ok = call(
            &app,
            "PUT",
            &format!("{records}/r1"),
            Some("alice"),
            Some(json!({"data": {"title": "x", "schema": 1}})),
        )
        .await;
        expect(&ok, 201);
        assert_eq!(ok.body["data"]["schema"], version);
        // PATCH validates the merged record.
        let patched = call(
            &app,
            "PATCH",
            &format!("{records}/r1"),
            Some("alice"),
            Some(json!({"data": {"title": 3}})),
        )
        .await;
        expect(&patched, 400);
        let patched = call(
            &app,
            "PATCH",
            &format!("{records}/r1"),
            Some("alice"),
            Some(json!({"data": {"tags": ["a"]}})),
        )
        .await;
        expect(&patched, 200);
        // Inside a batch too; the failing subrequest is answered 400.
        let batch = call(
            &app,
            "POST",
            "/v1/batch",
            Some("alice"),
            Some(json!({"requests": [
                {"method": "POST", "path": format!("/buckets/{b}/collections/articles/records"),
                 "body": {"data": {"nope": true}}}
            ]})),
        )
        .await;
        expect(&batch, 200);
        assert_eq!(batch.body["responses"][0]["status"], 400);

        // The bucket's record:schema applies as well.
        let bucket_schema = call(
            &app,
            "PATCH",
            &bucket,
            Some("alice"),
            Some(json!({"data": {"record:schema": {"type": "object", "required": ["lang"]}}})),
        )
        .await;
        expect(&bucket_schema, 200);
        let no_lang = call(
            &app,
            "POST",
            &records,
            Some("alice"),
            Some(json!({"data": {"title": "y"}})),
        )
        .await;
        assert_eq!(no_lang.body["details"][0]["name"], "lang");
        // And collection:schema to collections.
        let meta = call(
            &app,
            "PATCH",
            &bucket,
            Some("alice"),
            Some(json!({"data": {"collection:schema": {"type": "object", "required": ["owner"]}}})),
        )
        .await;
        expect(&meta, 200);
        let coll = call(
            &app,
            "POST",
            &format!("{bucket}/collections"),
            Some("alice"),
            Some(json!({"data": {}})),
        )
        .await;
        expect(&coll, 400);
        assert_eq!(coll.body["details"][0]["name"], "owner");
        // Absurd schemas are refused, never a 500.
        let dangling = call(&app, "PUT", &format!("{bucket}/collections/refs"), Some("alice"),
            Some(json!({"data": {"owner": "a", "schema": {"properties": {"t": {"$ref": "#/definitions/nope"}}}}}))).await;
        expect(&dangling, 201);
        let blocked = call(
            &app,
            "POST",
            &format!("{bucket}/collections/refs/records"),
            Some("alice"),
            Some(json!({"data": {"lang": "fr", "t": 1}})),
        )
        .await;
        expect(&blocked, 400);
        assert_eq!(blocked.body["details"][0]["name"], "schema");
        let nest = |levels: usize| {
            let mut deep = json!({"type": "object"});
            for _ in 0..levels {
                deep = json!({"type": "object", "properties": {"a": deep}});
            }
            deep
        };
        let too_deep = call(
            &app,
            "PUT",
            &format!("{bucket}/collections/deep"),
            Some("alice"),
            Some(json!({"data": {"owner": "a", "schema": nest(40)}})),
        )
        .await;
        expect(&too_deep, 400);
        let deep = nest(20);
        let deep_reply = call(
            &app,
            "PUT",
            &format!("{bucket}/collections/deep"),
            Some("alice"),
            Some(json!({"data": {"owner": "a", "schema": deep}})),
        )
        .await;
        expect(&deep_reply, 201);
        let record = call(
            &app,
            "POST",
            &format!("{bucket}/collections/deep/records"),
            Some("alice"),
            Some(json!({"data": {"lang": "fr", "a": 1}})),
        )
        .await;
        expect(&record, 400);
        let looping = call(
            &app,
            "PUT",
            &format!("{bucket}/collections/loop"),
            Some("alice"),
            Some(json!({"data": {"owner": "a", "schema": {"properties": {"a": {"$ref": "#"}}}}})),
        )
        .await;
        expect(&looping, 201);
        let record = call(
            &app,
            "POST",
            &format!("{bucket}/collections/loop/records"),
            Some("alice"),
            Some(json!({"data": {"lang": "fr", "a": {"a": {"a": 1}}}})),
        )
        .await;
        expect(&record, 201);
    }
}

#[tokio::test]
async fn schemas_are_checked_but_not_applied_when_validation_is_off() {
    for (backend, app) in apps(&[]).await {
        eprintln!("on {backend}");
        let hello = call(&app, "GET", "/v1/", None, None).await;
        assert!(hello.body["capabilities"].get("schema").is_none());
        let b = fresh();
        let bucket = format!("/v1/buckets/{b}");
        let bad = call(
            &app,
            "PUT",
            &bucket,
            Some("alice"),
            Some(json!({"data": {"collection:schema": {"type": "Washmachine"}}})),
        )
        .await;
        expect(&bad, 400);
        assert_eq!(bad.body["details"][0]["name"], "data.collection:schema");
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        let collection = format!("{bucket}/collections/c");
        expect(
            &call(
                &app,
                "PUT",
                &collection,
                Some("alice"),
                Some(json!({"data": {"schema": articles_schema()}})),
            )
            .await,
            201,
        );
        let record = call(
            &app,
            "POST",
            &format!("{collection}/records"),
            Some("alice"),
            Some(json!({"data": {"schema": "mine"}})),
        )
        .await;
        expect(&record, 201);
        assert_eq!(record.body["data"]["schema"], "mine");
        // Without validation, a collection's bucket need not exist.
        let orphan = call(
            &app,
            "PUT",
            &format!("/v1/buckets/{}/collections/c", fresh()),
            Some("alice"),
            Some(json!({"data": {}})),
        )
        .await;
        assert_ne!(orphan.status, 404, "{}", orphan.body);
        let _ = user_id(&app, "alice").await;
        let _ = &record.headers;
    }
}

fn entries(reply: &Reply) -> Vec<Value> {
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

fn summary(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["resource_name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn history_records_every_change() {
    let b = fresh();
    let quiet = format!("/buckets/{b}/collections/quiet");
    for (backend, app) in apps(&[
        ("includes", "kinto.plugins.history"),
        ("history_exclude_resources", &quiet),
    ])
    .await
    {
        eprintln!("on {backend}");
        let hello = call(&app, "GET", "/v1/", None, None).await;
        assert_eq!(
            hello.body["capabilities"]["history"]["excluded_resources"],
            json!([{"bucket": b, "collection": "quiet"}])
        );
        let alice = user_id(&app, "alice").await;
        let bob = user_id(&app, "bob").await;
        let bucket = format!("/v1/buckets/{b}");
        let history = format!("{bucket}/history");
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        expect(
            &call(
                &app,
                "PUT",
                &format!("{bucket}/collections/c"),
                Some("alice"),
                None,
            )
            .await,
            201,
        );
        let records = format!("{bucket}/collections/c/records");
        expect(
            &call(
                &app,
                "PUT",
                &format!("{records}/r1"),
                Some("alice"),
                Some(json!({"data": {"n": 1}})),
            )
            .await,
            201,
        );
        expect(
            &call(
                &app,
                "PATCH",
                &format!("{records}/r1"),
                Some("alice"),
                Some(json!({"data": {"n": 2}, "permissions": {"read": [bob]}})),
            )
            .await,
            200,
        );
        expect(
            &call(
                &app,
                "PUT",
                &format!("{records}/r2"),
                Some("alice"),
                Some(json!({"data": {"n": 3}})),
            )
            .await,
            201,
        );
        expect(
            &call(
                &app,
                "DELETE",
                &format!("{records}/r2"),
                Some("alice"),
                None,
            )
            .await,
            200,
        );
        expect(
            &call(
                &app,
                "PUT",
                &format!("{bucket}/groups/g"),
                Some("alice"),
                Some(json!({"data": {"members": []}})),
            )
            .await,
            201,
        );
        // Excluded, and a batch that fails records nothing.
        expect(
            &call(&app, "PUT", &format!("/v1{quiet}"), Some("alice"), None).await,
            201,
        );
        expect(
            &call(
                &app,
                "PUT",
                &format!("/v1{quiet}/records/x"),
                Some("alice"),
                None,
            )
            .await,
            201,
        );

        let all = call(&app, "GET", &history, Some("alice"), None).await;
        expect(&all, 200);
        let list = entries(&all);
        assert_eq!(
            summary(&list),
            [
                "create group",
                "delete record",
                "create record",
                "update record",
                "create record",
                "create collection",
                "create bucket",
            ]
        );
        let updated = &list[3];
        assert_eq!(
            updated["uri"],
            format!("/buckets/{b}/collections/c/records/r1")
        );
        assert_eq!(updated["user_id"], alice);
        assert_eq!(updated["collection_id"], "c");
        assert_eq!(updated["record_id"], "r1");
        assert!(updated.get("bucket_id").is_none());
        assert_eq!(updated["target"]["data"]["n"], 2);
        assert_eq!(updated["target"]["permissions"]["read"], json!([bob]));
        assert!(updated["date"].as_str().unwrap().ends_with("+00:00"));
        assert_eq!(list[1]["target"]["data"]["deleted"], true);
        assert_eq!(list[1]["target"]["permissions"], json!({}));
        assert_eq!(list[6]["bucket_id"], b);

        // Filters, closed to the entry fields.
        let records_only = call(
            &app,
            "GET",
            &format!("{history}?resource_name=record"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(entries(&records_only).len(), 4);
        let by_uri = call(
            &app,
            "GET",
            &format!("{history}?uri=/buckets/{b}/collections/c"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(summary(&entries(&by_uri)), ["create collection"]);
        let in_c = call(
            &app,
            "GET",
            &format!("{history}?collection_id=c&action=create"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(entries(&in_c).len(), 3);
        let since = list[2]["last_modified"].as_i64().unwrap();
        let newer = call(
            &app,
            "GET",
            &format!("{history}?_since={since}"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(entries(&newer).len(), 2);
        let unknown = call(
            &app,
            "GET",
            &format!("{history}?foo=1"),
            Some("alice"),
            None,
        )
        .await;
        expect(&unknown, 400);
        let dotted = call(
            &app,
            "GET",
            &format!("{history}?target.data.id=r1"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(entries(&dotted).len(), 2);

        // Ids that look like numbers are compared as text.
        expect(
            &call(&app, "PUT", &format!("{records}/2"), Some("alice"), None).await,
            201,
        );
        let numeric = call(
            &app,
            "GET",
            &format!("{history}?record_id=2"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(summary(&entries(&numeric)), ["create record"]);

        // Bob reads the record: he sees the entries written since.
        let bobs = call(&app, "GET", &history, Some("bob"), None).await;
        expect(&bobs, 200);
        let uris: Vec<Value> = entries(&bobs).iter().map(|e| e["uri"].clone()).collect();
        assert_eq!(
            uris,
            [json!(format!("/buckets/{b}/collections/c/records/r1"))]
        );
        let carol = call(&app, "GET", &history, Some("carol"), None).await;
        expect(&carol, 403);
        let anonymous = call(&app, "GET", &history, None, None).await;
        expect(&anonymous, 401);

        // No object endpoint, no writes.
        let id = list[0]["id"].as_str().unwrap();
        expect(
            &call(&app, "GET", &format!("{history}/{id}"), Some("alice"), None).await,
            404,
        );
        expect(
            &call(
                &app,
                "POST",
                &history,
                Some("alice"),
                Some(json!({"data": {}})),
            )
            .await,
            405,
        );

        // Deleting entries, then the bucket with what is left.
        let deleted = call(
            &app,
            "DELETE",
            &format!("{history}?resource_name=group"),
            Some("alice"),
            None,
        )
        .await;
        expect(&deleted, 200);
        let after = call(&app, "GET", &history, Some("alice"), None).await;
        assert_eq!(entries(&after).len(), 7);
        expect(
            &call(&app, "DELETE", &bucket, Some("alice"), None).await,
            200,
        );
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        let fresh_history = call(&app, "GET", &history, Some("alice"), None).await;
        assert_eq!(summary(&entries(&fresh_history)), ["create bucket"]);
        expect(
            &call(&app, "DELETE", &bucket, Some("alice"), None).await,
            200,
        );
    }
}

#[tokio::test]
async fn history_is_trimmed_and_off_by_default() {
    for (backend, app) in apps(&[]).await {
        eprintln!("on {backend}");
        let hello = call(&app, "GET", "/v1/", None, None).await;
        assert!(hello.body["capabilities"].get("history").is_none());
        let bucket = format!("/v1/buckets/{}", fresh());
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        expect(
            &call(
                &app,
                "GET",
                &format!("{bucket}/history"),
                Some("alice"),
                None,
            )
            .await,
            404,
        );
    }
    for (backend, app) in apps(&[
        ("includes", "history"),
        ("history_auto_trim_max_count", "2"),
        ("history_auto_trim_threshold", "1"),
        ("history_exclude_user_ids", "basicauth:nobody"),
    ])
    .await
    {
        eprintln!("trimming on {backend}");
        let hello = call(&app, "GET", "/v1/", None, None).await;
        assert_eq!(
            hello.body["capabilities"]["history"]["auto_trim_max_count"],
            2
        );
        let bucket = format!("/v1/buckets/{}", fresh());
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        expect(
            &call(
                &app,
                "PUT",
                &format!("{bucket}/collections/c"),
                Some("alice"),
                None,
            )
            .await,
            201,
        );
        let mut counts = Vec::new();
        for n in 0..5 {
            expect(
                &call(
                    &app,
                    "PUT",
                    &format!("{bucket}/collections/c/records/r{n}"),
                    Some("alice"),
                    None,
                )
                .await,
                201,
            );
            let list = call(
                &app,
                "GET",
                &format!("{bucket}/history?resource_name=record"),
                Some("alice"),
                None,
            )
            .await;
            counts.push(entries(&list).len());
        }
        // Up to max + threshold, then back to max.
        assert_eq!(counts, [1, 2, 3, 2, 3]);
        let others = call(
            &app,
            "GET",
            &format!("{bucket}/history?resource_name=collection"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!(entries(&others).len(), 1);
    }
}

async fn anonymous_cache(app: &App, path: &str) -> (Option<String>, bool, Option<String>) {
    let reply = call(app, "GET", path, None, None).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        header("cache-control"),
        header("expires").is_some(),
        header("pragma"),
    )
}

#[track_caller]
fn expect_written(reply: &Reply) {
    assert!(matches!(reply.status, 200 | 201), "{}", reply.body);
}

/// The bucket `b` and a fresh one, world-readable, with collections of
/// various `cache_expires` and one record each.
async fn setup(app: &App, b: &str) -> (String, String) {
    let bucket = format!("/v1/buckets/{b}");
    expect_written(
        &call(
            app,
            "PUT",
            &bucket,
            Some("alice"),
            Some(json!({"permissions": {"read": ["system.Everyone"]}})),
        )
        .await,
    );
    let other = fresh();
    let other_bucket = format!("/v1/buckets/{other}");
    expect_written(
        &call(
            app,
            "PUT",
            &other_bucket,
            Some("alice"),
            Some(json!({"permissions": {"read": ["system.Everyone"]}})),
        )
        .await,
    );
    for (bucket, cid, cache_expires) in [
        (&bucket, "c60", Some(60)),
        (&bucket, "c0", Some(0)),
        (&bucket, "c2", None),
        (&other_bucket, "c0", Some(0)),
        (&other_bucket, "c3600", Some(3600)),
        (&other_bucket, "none", None),
    ] {
        let data = match cache_expires {
            Some(n) => json!({"cache_expires": n}),
            None => json!({}),
        };
        expect_written(
            &call(
                app,
                "PUT",
                &format!("{bucket}/collections/{cid}"),
                Some("alice"),
                Some(json!({"data": data})),
            )
            .await,
        );
        expect_written(
            &call(
                app,
                "PUT",
                &format!("{bucket}/collections/{cid}/records/r"),
                Some("alice"),
                Some(json!({"data": {}})),
            )
            .await,
        );
    }
    (bucket, other_bucket)
}

#[tokio::test]
async fn record_reads_get_cache_headers() {
    let b = fresh();
    let bucket_setting = format!("{b}.record_cache_expires_seconds");
    let legacy_setting = format!("{b}_c2_record_cache_expires_seconds");
    let plain = apps(&[]).await;
    let configured = apps(&[
        ("record_cache_expires_seconds", "10"),
        (&bucket_setting, "5"),
        (&legacy_setting, "7"),
    ])
    .await;
    for ((backend, app), (_, tuned)) in plain.into_iter().zip(configured) {
        eprintln!("on {backend}");
        let (bucket, other_bucket) = setup(&app, &b).await;
        let other_tuned = setup(&tuned, &b).await.1;
        let records = |bucket: &str, cid: &str| format!("{bucket}/collections/{cid}/records");
        // The collection alone.
        let (control, expires, _) = anonymous_cache(&app, &records(&bucket, "c60")).await;
        assert_eq!((control.as_deref(), expires), (Some("max-age=60"), true));
        let (control, _, _) =
            anonymous_cache(&app, &format!("{}/r", records(&bucket, "c60"))).await;
        assert_eq!(control.as_deref(), Some("max-age=60"));
        let (control, expires, pragma) = anonymous_cache(&app, &records(&bucket, "c0")).await;
        assert_eq!(
            control.as_deref(),
            Some("max-age=0, must-revalidate, no-cache, no-store")
        );
        assert!(expires);
        assert_eq!(pragma.as_deref(), Some("no-cache"));
        let (control, expires, _) = anonymous_cache(&app, &records(&other_bucket, "none")).await;
        assert_eq!(
            (control.as_deref(), expires),
            (Some("no-cache, no-store"), false)
        );
        // Authenticated reads are never cached.
        let alice = call(&app, "GET", &records(&bucket, "c60"), Some("alice"), None).await;
        assert_eq!(alice.headers["cache-control"], "no-cache, no-store");
        assert!(alice.headers.get("expires").is_none());
        // Collection objects themselves are not concerned.
        let meta = call(
            &app,
            "GET",
            &format!("{bucket}/collections/c60"),
            None,
            None,
        )
        .await;
        assert_eq!(meta.headers["cache-control"], "no-cache, no-store");

        // With settings: the collection raises, never lowers.
        let (control, _, _) = anonymous_cache(&tuned, &records(&other_tuned, "c0")).await;
        assert_eq!(control.as_deref(), Some("max-age=10"));
        let (control, _, _) = anonymous_cache(&tuned, &records(&other_tuned, "c3600")).await;
        assert_eq!(control.as_deref(), Some("max-age=3600"));
        let (control, _, _) = anonymous_cache(&tuned, &records(&bucket, "c2")).await;
        assert_eq!(control.as_deref(), Some("max-age=5"));
        let (control, _, _) = anonymous_cache(&tuned, &records(&bucket, "c60")).await;
        assert_eq!(control.as_deref(), Some("max-age=60"));
    }
}

#[tokio::test]
async fn writers_are_not_added_without_explicit_permissions() {
    for (backend, app) in apps(&[
        ("explicit_permissions", "false"),
        ("includes", "kinto.plugins.history"),
        ("bucket_read_principals", "basicauth:nobody"),
    ])
    .await
    {
        eprintln!("on {backend}");
        let hello = call(&app, "GET", "/v1/", None, None).await;
        assert_eq!(hello.body["settings"]["explicit_permissions"], false);
        let bob = user_id(&app, "bob").await;
        let bucket = format!("/v1/buckets/{}", fresh());
        let created = call(&app, "PUT", &bucket, Some("alice"), None).await;
        expect(&created, 201);
        assert_eq!(created.body["permissions"], json!({}));
        // Alice did not list herself: she cannot even read it.
        expect(&call(&app, "GET", &bucket, Some("alice"), None).await, 403);
        // What is sent is what is stored.
        let shared = format!("/v1/buckets/{}", fresh());
        let created = call(
            &app,
            "PUT",
            &shared,
            Some("alice"),
            Some(json!({"permissions": {"write": [bob]}})),
        )
        .await;
        assert_eq!(created.body["permissions"], json!({"write": [bob]}));
        let collection = call(
            &app,
            "PUT",
            &format!("{shared}/collections/c"),
            Some("bob"),
            None,
        )
        .await;
        expect(&collection, 201);
        assert_eq!(collection.body["permissions"], json!({}));
        let patched = call(
            &app,
            "PATCH",
            &shared,
            Some("bob"),
            Some(json!({"data": {"x": 1}})),
        )
        .await;
        assert_eq!(patched.body["permissions"], json!({"write": [bob]}));
        // History entries get no ACL of their own: bucket writers see them.
        let history = call(&app, "GET", &format!("{shared}/history"), Some("bob"), None).await;
        expect(&history, 200);
        assert_eq!(entries(&history).len(), 3);
        expect(
            &call(
                &app,
                "GET",
                &format!("{shared}/history"),
                Some("alice"),
                None,
            )
            .await,
            403,
        );
    }
}

#[tokio::test]
async fn history_snapshots_rebuild_a_collection() {
    for (backend, app) in apps(&[("includes", "kinto.plugins.history")]).await {
        eprintln!("on {backend}");
        let b = fresh();
        let bucket = format!("/v1/buckets/{b}");
        expect(&call(&app, "PUT", &bucket, Some("alice"), None).await, 201);
        expect(
            &call(
                &app,
                "PUT",
                &format!("{bucket}/collections/c"),
                Some("alice"),
                None,
            )
            .await,
            201,
        );
        let records = format!("{bucket}/collections/c/records");
        for id in ["r1", "r2", "r3"] {
            expect(
                &call(
                    &app,
                    "PUT",
                    &format!("{records}/{id}"),
                    Some("alice"),
                    Some(json!({"data": {"n": 1}})),
                )
                .await,
                201,
            );
        }
        let at = call(&app, "GET", &format!("{records}/r3"), Some("alice"), None).await;
        let at = at.body["data"]["last_modified"].as_i64().unwrap();
        expect(
            &call(
                &app,
                "PATCH",
                &format!("{records}/r1"),
                Some("alice"),
                Some(json!({"data": {"n": 2}})),
            )
            .await,
            200,
        );
        expect(
            &call(
                &app,
                "DELETE",
                &format!("{records}/r2"),
                Some("alice"),
                None,
            )
            .await,
            200,
        );
        expect(
            &call(
                &app,
                "PUT",
                &format!("{records}/r4"),
                Some("alice"),
                Some(json!({"data": {"n": 1}})),
            )
            .await,
            201,
        );

        let snapshot = format!("{bucket}/snapshot/collections/c@{at}");
        let then = call(&app, "GET", &snapshot, Some("alice"), None).await;
        expect(&then, 200);
        let ids: Vec<&str> = then.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["r3", "r2", "r1"]);
        assert_eq!(then.body["data"][2]["n"], 1);
        let now = call(
            &app,
            "GET",
            &format!("{bucket}/snapshot/collections/c@{}", at + 1_000_000),
            Some("alice"),
            None,
        )
        .await;
        let ids: Vec<&str> = now.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["r4", "r1", "r3"]);

        let bad = call(
            &app,
            "GET",
            &format!("{bucket}/snapshot/collections/c@-1"),
            Some("alice"),
            None,
        )
        .await;
        expect(&bad, 400);
        assert_eq!(
            bad.body["details"][0]["description"],
            "Invalid timestamp '-1'"
        );
        expect(&call(&app, "GET", &snapshot, Some("bob"), None).await, 403);
        expect(&call(&app, "GET", &snapshot, None, None).await, 401);
    }
}

#[test]
fn history_settings_from_ini_toml_and_environment() {
    let dir = std::env::temp_dir().join(format!("kinto-history-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ini = dir.join("kinto.ini");
    std::fs::write(
        &ini,
        "[app:main]\nkinto.history.auto_trim_max_count = 10\n\
         kinto.history.exclude_user_ids = account:bot account:robot\n",
    )
    .unwrap();
    let toml = dir.join("kinto.toml");
    std::fs::write(
        &toml,
        "[history]\nauto_trim_threshold = 5\nexclude_resources = [\"/buckets/a\"]\n",
    )
    .unwrap();
    let from_ini = kinto::history::HistorySettings::from_settings(
        &kinto::settings(Some(&ini), Vec::new()).unwrap(),
    );
    assert_eq!(from_ini.auto_trim_max_count, 10);
    assert_eq!(from_ini.auto_trim_threshold, 100);
    assert_eq!(from_ini.exclude_user_ids, ["account:bot", "account:robot"]);
    let from_toml = kinto::history::HistorySettings::from_settings(
        &kinto::settings(Some(&toml), Vec::new()).unwrap(),
    );
    assert_eq!(from_toml.auto_trim_threshold, 5);
    assert_eq!(from_toml.exclude_resources, ["/buckets/a"]);
    let from_env = kinto::history::HistorySettings::from_settings(
        &kinto::settings(
            None,
            vec![(
                "KINTO_HISTORY_AUTO_TRIM_USER_IDS".to_owned(),
                "a b".to_owned(),
            )],
        )
        .unwrap(),
    );
    assert_eq!(from_env.auto_trim_user_ids, ["a", "b"]);
    std::fs::remove_dir_all(dir).unwrap();
}
