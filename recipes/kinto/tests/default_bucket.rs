//! The personal bucket plugin, on memory and PostgreSQL.

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::{Env, basic, both, send};

const PLUGIN: (&str, &str) = ("KINTO_INCLUDES", "kinto.plugins.default_bucket");

fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

async fn user_id(env: &Env, auth: &str) -> String {
    env.hello(Some(auth)).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn bucket_of(env: &Env, auth: &str) -> String {
    env.hello(Some(auth)).await["user"]["bucket"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn ids_and_hello() {
    // Kinto's observed id: credentials alice:pw, `userid_hmac_secret =
    // secret`, no `default_bucket_hmac_secret` (so the key is empty).
    let env = support::memory(&[PLUGIN, ("KINTO_USERID_HMAC_SECRET", "secret")]);
    let hello = env.hello(Some(&basic("alice"))).await;
    let user = hello["user"]["id"].as_str().unwrap();
    assert!(
        user.starts_with("basicauth:741990a9") && user.ends_with("5fba94"),
        "{user}"
    );
    assert_eq!(
        hello["user"]["bucket"],
        "aa6d96d9-f873-b78e-2054-c501193cde29"
    );
    assert_eq!(
        hello["capabilities"]["default_bucket"],
        json!({
            "description": "The default bucket is an alias for a personal bucket where collections are created implicitly.",
            "url": "https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html#personal-bucket-default"
        })
    );
    // Anonymous: no user.
    assert!(env.hello(None).await.get("user").is_none());
    // GET /buckets/default shows the same id.
    let reply = env
        .call("GET", "/v1/buckets/default", Some(&basic("alice")), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json["data"]["id"],
        "aa6d96d9-f873-b78e-2054-c501193cde29"
    );

    // The key setting.
    let env = support::memory(&[
        PLUGIN,
        ("KINTO_USERID_HMAC_SECRET", "secret"),
        ("KINTO_DEFAULT_BUCKET_HMAC_SECRET", "bucket-secret"),
    ]);
    let alice = basic("alice");
    let user = user_id(&env, &alice).await;
    assert_eq!(
        bucket_of(&env, &alice).await,
        kinto::default_bucket::bucket_id("bucket-secret", &user)
    );
    assert_ne!(
        bucket_of(&env, &alice).await,
        "aa6d96d9-f873-b78e-2054-c501193cde29"
    );
}

#[tokio::test]
async fn without_the_plugin_default_is_a_bucket_id() {
    let env = support::memory(&[]);
    let alice = basic("alice");
    let hello = env.hello(Some(&alice)).await;
    assert!(hello["user"].get("bucket").is_none());
    assert!(hello["capabilities"].get("default_bucket").is_none());
    let reply = env
        .call("GET", "/v1/buckets/default", Some(&alice), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = env
        .call("PUT", "/v1/buckets/default", Some(&alice), None)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json["data"]["id"], "default");
}

#[tokio::test]
async fn read_only_service() {
    let env = support::memory(&[PLUGIN, ("KINTO_READONLY", "true")]);
    let reply = env
        .call("GET", "/v1/buckets/default", Some(&basic("alice")), None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{:?}", reply);
    assert_eq!(reply.json["errno"], 115);
}

async fn aliasing(env: &Env) {
    let run = run_id();
    let alice = basic(&format!("alice-{run}"));
    let bob = basic(&format!("bob-{run}"));
    let alice_id = user_id(env, &alice).await;
    let bid = bucket_of(env, &alice).await;
    let real = format!("/v1/buckets/{bid}");

    // Anonymous: 401 with a challenge.
    let reply = env.call("GET", "/v1/buckets/default", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json["errno"], 104);
    assert!(reply.header("www-authenticate").is_some());
    let reply = env
        .call(
            "POST",
            "/v1/buckets/default/collections/tasks/records",
            None,
            Some(&json!({"data": {}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Created on first use, with the user as writer; idempotent.
    let first = env
        .call("GET", "/v1/buckets/default", Some(&alice), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first);
    assert_eq!(first.json["data"]["id"], bid.as_str());
    assert_eq!(first.json["permissions"]["write"], json!([alice_id]));
    assert!(first.header("etag").is_some());
    let again = env
        .call("GET", "/v1/buckets/default", Some(&alice), None)
        .await;
    assert_eq!(again.json, first.json);
    let direct = env.call("GET", &real, Some(&alice), None).await;
    assert_eq!(direct.json, first.json);
    // Another user's default bucket is another bucket; alice's is private.
    let bob_bucket = env
        .call("GET", "/v1/buckets/default", Some(&bob), None)
        .await;
    assert_eq!(bob_bucket.status, StatusCode::OK);
    assert_ne!(bob_bucket.json["data"]["id"], bid.as_str());
    let denied = env.call("GET", &real, Some(&bob), None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    // Records in a missing collection: the collection is created.
    let created = env
        .call(
            "POST",
            "/v1/buckets/default/collections/tasks/records",
            Some(&alice),
            Some(&json!({"data": {"title": "one"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created);
    let rid = created.json["data"]["id"].as_str().unwrap().to_owned();
    let collection = env
        .call(
            "GET",
            &format!("{real}/collections/tasks"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(collection.status, StatusCode::OK);
    // Collection permissions only show the implicit creator's write.
    assert_eq!(collection.json["permissions"]["write"], json!([alice_id]));
    // Every method, object URLs, querystrings.
    let record = format!("/v1/buckets/default/collections/tasks/records/{rid}");
    let patched = env
        .call(
            "PATCH",
            &record,
            Some(&alice),
            Some(&json!({"data": {"done": true}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.json["data"]["done"], true);
    let put = env
        .call(
            "PUT",
            "/v1/buckets/default/collections/tasks/records/two",
            Some(&alice),
            Some(&json!({"data": {"title": "two"}})),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let list = env
        .call(
            "GET",
            "/v1/buckets/default/collections/tasks/records?title=two&_fields=title",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json["data"],
        json!([{"id": "two", "title": "two", "last_modified": list.json["data"][0]["last_modified"]}])
    );
    let list = env
        .call(
            "GET",
            "/v1/buckets/default/collections/tasks/records?_sort=title",
            Some(&alice),
            None,
        )
        .await;
    let titles: Vec<&Value> = list.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["title"])
        .collect();
    assert_eq!(titles, [&json!("one"), &json!("two")]);
    let head = env
        .call(
            "HEAD",
            "/v1/buckets/default/collections/tasks/records",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(head.header("total-objects"), Some("2"));
    let deleted = env.call("DELETE", &record, Some(&alice), None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json["data"]["deleted"], true);
    // A GET on a collection creates it too; lists of collections.
    let other = env
        .call(
            "GET",
            "/v1/buckets/default/collections/other",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    let collections = env
        .call(
            "GET",
            "/v1/buckets/default/collections?_sort=id",
            Some(&alice),
            None,
        )
        .await;
    let ids: Vec<&Value> = collections.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, [&json!("other"), &json!("tasks")]);
    // Groups are aliased, not created implicitly.
    let group = env
        .call(
            "GET",
            "/v1/buckets/default/groups/friends",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(group.status, StatusCode::NOT_FOUND);
    let group = env
        .call(
            "PUT",
            "/v1/buckets/default/groups/friends",
            Some(&alice),
            Some(&json!({"data": {"members": ["x"]}})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    let group = env
        .call("GET", &format!("{real}/groups/friends"), Some(&alice), None)
        .await;
    assert_eq!(group.json["data"]["members"], json!(["x"]));

    // Invalid collection ids.
    for path in [
        "/v1/buckets/default/collections/__files__/records",
        "/v1/buckets/default/collections/%C3%A9t%C3%A9",
    ] {
        let reply = env.call("GET", path, Some(&alice), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.json["errno"], 107);
        assert_eq!(reply.json["message"], "path: Invalid collection id");
        assert_eq!(
            reply.json["details"],
            json!([{"location": "path", "name": null, "description": "Invalid collection id"}])
        );
    }

    // Trailing slashes redirect to the alias.
    let reply = env
        .call(
            "GET",
            "/v1/buckets/default/collections/?_limit=1",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        reply.header("location"),
        Some("http://kinto.test/v1/buckets/default/collections?_limit=1")
    );
}

async fn explicit_writes(env: &Env) {
    let run = run_id();
    // PUT /buckets/default creates it, `default` in the body's id is the
    // real id.
    let carol = basic(&format!("carol-{run}"));
    let carol_id = user_id(env, &carol).await;
    let bid = bucket_of(env, &carol).await;
    let reply = env
        .call(
            "PUT",
            "/v1/buckets/default",
            Some(&carol),
            Some(&json!({"data": {"id": "default", "title": "mine"}, "permissions": {"read": ["system.Authenticated"]}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply);
    assert_eq!(reply.json["data"]["id"], bid.as_str());
    assert_eq!(reply.json["data"]["title"], "mine");
    assert_eq!(
        reply.json["permissions"]["read"],
        json!(["system.Authenticated"])
    );
    assert_eq!(reply.json["permissions"]["write"], json!([carol_id]));

    // PUT of a collection of a missing bucket: the bucket is implicit,
    // the collection is the PUT's.
    let dave = basic(&format!("dave-{run}"));
    let reply = env
        .call(
            "PUT",
            "/v1/buckets/default/collections/notes",
            Some(&dave),
            Some(&json!({"data": {"sort": "asc"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply);
    assert_eq!(reply.json["data"]["sort"], "asc");
    // A PUT of a record whose id is the collection's.
    let reply = env
        .call(
            "PUT",
            "/v1/buckets/default/collections/todo/records/todo",
            Some(&dave),
            Some(&json!({"data": {}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply);
    // A POST with an explicit id under the alias.
    let reply = env
        .call(
            "POST",
            "/v1/buckets/default/collections",
            Some(&dave),
            Some(&json!({"data": {"id": "posted"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply);

    // Deleting the bucket, then using it again: re-created.
    let reply = env
        .call("DELETE", "/v1/buckets/default", Some(&dave), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = env
        .call(
            "GET",
            "/v1/buckets/default/collections/notes/records",
            Some(&dave),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
    assert_eq!(reply.json["data"], json!([]));
}

/// The implicit creations bypass `bucket_create_principals`.
async fn restricted_bucket_creation(env: &Env) {
    let eve = basic(&format!("eve-{}", run_id()));
    let reply = env.call("PUT", "/v1/buckets/eves", Some(&eve), None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = env
        .call(
            "POST",
            "/v1/buckets/default/collections/c/records",
            Some(&eve),
            Some(&json!({"data": {"n": 1}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply);
}

async fn in_batches(env: &Env) {
    let run = run_id();
    let frank = basic(&format!("frank-{run}"));
    let bid = bucket_of(env, &frank).await;
    let requests: Vec<Value> = (0..25)
        .map(|n| json!({"body": {"data": {"n": n}}}))
        .collect();
    let batch = json!({
        "defaults": {"method": "POST", "path": "/buckets/default/collections/stack/records"},
        "requests": requests,
    });
    let reply = env
        .call("POST", "/v1/batch", Some(&frank), Some(&batch))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
    let statuses: Vec<&Value> = reply.json["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, vec![&json!(201); 25], "{}", reply.json);
    let list = env
        .call(
            "HEAD",
            &format!("/v1/buckets/{bid}/collections/stack/records"),
            Some(&frank),
            None,
        )
        .await;
    assert_eq!(list.header("total-objects"), Some("25"));

    // Mixed with explicit writes that hold the same locks, in one batch.
    let grace = basic(&format!("grace-{run}"));
    let batch = json!({"requests": [
        {"method": "PUT", "path": format!("/buckets/g{run}")},
        {"method": "GET", "path": "/buckets/default"},
        {"method": "PUT", "path": format!("/buckets/g{run}/collections/c")},
        {"method": "POST", "path": "/buckets/default/collections/c/records", "body": {"data": {}}},
        {"method": "GET", "path": "/buckets/default/collections/c/records"},
    ]});
    let reply = env
        .call("POST", "/v1/batch", Some(&grace), Some(&batch))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
    let statuses: Vec<&Value> = reply.json["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!(201),
            &json!(200),
            &json!(201),
            &json!(201),
            &json!(200)
        ],
        "{}",
        reply.json
    );
    assert_eq!(
        reply.json["responses"][4]["body"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A subrequest refused with a 4xx does not undo the batch's implicit
/// creations: the batch goes on, as batch.md says, on every backend.
async fn refused_subrequest_in_batch(env: &Env) {
    let heidi = basic(&format!("heidi-{}", run_id()));
    let bid = bucket_of(env, &heidi).await;
    let batch = json!({"requests": [
        {"method": "POST", "path": "/buckets/default/collections/c/records", "body": {"data": {}}},
        {"method": "PUT", "path": "/buckets/default/collections/c/records/nul", "body": {"data": {"x": "a\u{0}b"}}},
    ]});
    let reply = env
        .call("POST", "/v1/batch", Some(&heidi), Some(&batch))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
    let responses = &reply.json["responses"];
    assert_eq!(responses[0]["status"], 201, "{:?}", reply);
    assert_eq!(responses[1]["status"], 400, "{:?}", reply);
    assert_eq!(responses[1]["body"]["errno"], 107, "{:?}", reply);
    let stored = env
        .backends
        .storage
        .get(cliquet_storage::storage::Get::new(
            "bucket",
            "",
            bid.as_str(),
        ))
        .await;
    assert!(stored.is_ok(), "the implicit bucket stays");
}

/// First requests of one user at the same time all succeed, plain or in
/// batches.
///
/// The batches touch one collection each: two batches of one transaction
/// each that write into two collections in opposite orders may deadlock on
/// PostgreSQL's collection locks (one of them then answers 503), with or
/// without the alias.
async fn concurrent_first_use(env: &Env) {
    let run = run_id();
    for user in 0..4 {
        let auth = basic(&format!("racer{user}-{run}"));
        let mut tasks = Vec::new();
        for n in 0..8 {
            let app = env.app.clone();
            let auth = auth.clone();
            tasks.push(tokio::spawn(async move {
                if n % 4 == 3 {
                    let batch = json!({"requests": [
                        {"method": "POST", "path": "/buckets/default/collections/c/records", "body": {"data": {"n": n}}},
                        {"method": "GET", "path": "/buckets/default/collections/c"},
                    ]});
                    let reply = send(app.clone(), "POST", "/v1/batch", Some(&auth), Some(&batch)).await;
                    let statuses: Vec<u64> = reply.json["responses"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|r| r["status"].as_u64()).collect())
                        .unwrap_or_default();
                    (reply.status, statuses == [201, 200], reply.json)
                } else {
                    let reply = send(
                            app.clone(),
                            "POST",
                            "/v1/buckets/default/collections/c/records",
                            Some(&auth),
                            Some(&json!({"data": {"n": n}})),
                        )
                        .await;
                    (reply.status, reply.status == StatusCode::CREATED, reply.json)
                }
            }));
        }
        for task in tasks {
            let (status, ok, json) = task.await.unwrap();
            assert!(ok, "{}: {status} {json}", env.backend);
        }
        let list = env
            .call(
                "HEAD",
                "/v1/buckets/default/collections/c/records",
                Some(&auth),
                None,
            )
            .await;
        assert_eq!(list.header("total-objects"), Some("8"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alias_on_every_backend() {
    for env in both("defbucket", &[PLUGIN]).await {
        aliasing(&env).await;
        explicit_writes(&env).await;
        in_batches(&env).await;
        refused_subrequest_in_batch(&env).await;
        concurrent_first_use(&env).await;
        env.finish().await;
    }
}

#[tokio::test]
async fn creation_bypasses_the_create_settings() {
    for env in both(
        "defbucketrestricted",
        &[PLUGIN, ("KINTO_BUCKET_CREATE_PRINCIPALS", "account:admin")],
    )
    .await
    {
        restricted_bucket_creation(&env).await;
        env.finish().await;
    }
}

#[tokio::test]
async fn pages_link_to_the_real_bucket() {
    let env = support::memory(&[PLUGIN, ("KINTO_PAGINATE_BY", "1")]);
    let alice = basic("alice");
    let bid = bucket_of(&env, &alice).await;
    for n in 0..2 {
        let reply = env
            .call(
                "POST",
                "/v1/buckets/default/collections/c/records",
                Some(&alice),
                Some(&json!({"data": {"n": n}})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let first = env
        .call(
            "GET",
            "/v1/buckets/default/collections/c/records?_sort=n",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(first.json["data"][0]["n"], 0);
    let next = first.header("next-page").unwrap();
    let path = next.strip_prefix("http://kinto.test").unwrap();
    assert!(
        path.starts_with(&format!("/v1/buckets/{bid}/collections/c/records?")),
        "{next}"
    );
    let second = env.call("GET", path, Some(&alice), None).await;
    assert_eq!(second.json["data"][0]["n"], 1);
}
