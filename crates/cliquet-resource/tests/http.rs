//! The resource protocol end to end over HTTP: every endpoint, status and
//! errno, on memory and on PostgreSQL.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::{TestApp, apps, user_id};
use http::Method;
use serde_json::{Value, json};

async fn each(test: &str, scenario: impl AsyncFn(&TestApp)) {
    for app in apps(test).await {
        eprintln!("{test} on {}", app.backend);
        scenario(&app).await;
        app.cleanup().await;
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_crud() {
    each("private_crud", async |app| {
        let created = app
            .post(
                "/v1/bookmarks",
                json!({"data": {"url": "https://a.org", "title": "A"}}),
            )
            .user("alice")
            .send()
            .await;
        created.expect(201);
        assert!(created.headers.get("location").is_none());
        assert!(created.header("last-modified").is_some());
        let id = created.data()["id"].as_str().unwrap().to_owned();
        let ts = created.data()["last_modified"].as_i64().unwrap();
        assert_eq!(created.etag(), ts);
        assert_eq!(
            created.body["permissions"],
            json!({"write": [user_id("alice")]})
        );
        assert_eq!(created.header("content-type"), Some("application/json"));

        let path = format!("/v1/bookmarks/{id}");
        let got = app.get(&path).user("alice").send().await;
        got.expect(200);
        assert_eq!(got.data()["url"], "https://a.org");
        assert_eq!(got.etag(), ts);
        assert_eq!(got.header("cache-control"), Some("no-cache, no-store"));

        let head = app.request(Method::HEAD, &path).user("alice").send().await;
        head.expect(200);
        assert_eq!(head.body, Value::Null);
        assert_eq!(head.etag(), ts);

        let fields = app
            .get(&format!("{path}?_fields=title"))
            .user("alice")
            .send()
            .await;
        fields.expect(200);
        assert_eq!(
            fields.data(),
            &json!({"id": id, "last_modified": ts, "title": "A"})
        );

        // PUT replaces: the title disappears.
        let put = app
            .put(&path, json!({"data": {"url": "https://b.org"}}))
            .user("alice")
            .send()
            .await;
        put.expect(200);
        assert!(put.data().get("title").is_none());
        assert!(put.etag() > ts);

        // PATCH merges.
        let patched = app
            .patch(&path, json!({"data": {"title": "B"}}))
            .user("alice")
            .send()
            .await;
        patched.expect(200);
        assert_eq!(patched.data()["url"], "https://b.org");
        assert_eq!(patched.data()["title"], "B");

        // PUT of a new id creates.
        let new_id = uuid();
        app.put(
            &format!("/v1/bookmarks/{new_id}"),
            json!({"data": {"url": "https://c.org"}}),
        )
        .user("alice")
        .send()
        .await
        .expect(201);

        // POST with an existing id: 200 with the existing object, data ignored.
        let again = app
            .post(
                "/v1/bookmarks",
                json!({"data": {"id": new_id, "url": "https://ignored.org"}}),
            )
            .user("alice")
            .send()
            .await;
        again.expect(200);
        assert_eq!(again.data()["url"], "https://c.org");

        let list = app.get("/v1/bookmarks").user("alice").send().await;
        list.expect(200);
        assert_eq!(list.ids().len(), 2);
        let head = app
            .request(Method::HEAD, "/v1/bookmarks")
            .user("alice")
            .send()
            .await;
        head.expect(200);
        assert_eq!(head.header("total-objects"), Some("2"));
        assert_eq!(head.header("total-records"), Some("2"));
        assert_eq!(head.body, Value::Null);
        assert_eq!(head.etag(), list.etag());

        let deleted = app.delete(&path).user("alice").send().await;
        deleted.expect(200);
        assert_eq!(deleted.data()["deleted"], true);
        assert_eq!(deleted.data()["id"], id);
        assert_eq!(
            deleted.etag(),
            deleted.data()["last_modified"].as_i64().unwrap()
        );

        let gone = app.get(&path).user("alice").send().await;
        gone.expect_error(404, 110);
        assert_eq!(
            gone.body["details"],
            json!({"id": id, "resource_name": "bookmark"})
        );
        app.delete(&path)
            .user("alice")
            .send()
            .await
            .expect_error(404, 110);
        app.patch(&path, json!({"data": {}}))
            .user("alice")
            .send()
            .await
            .expect_error(404, 110);

        // Plural DELETE.
        let all = app.delete("/v1/bookmarks").user("alice").send().await;
        all.expect(200);
        assert_eq!(all.ids(), vec![new_id.clone()]);
        assert_eq!(all.data()[0]["deleted"], true);
        let empty = app.delete("/v1/bookmarks").user("alice").send().await;
        empty.expect(200);
        assert_eq!(empty.data(), &json!([]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_objects_are_per_user() {
    each("private_per_user", async |app| {
        let created = app
            .post("/v1/bookmarks", json!({"data": {"url": "https://a.org"}}))
            .user("alice")
            .send()
            .await;
        let id = created.data()["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/bookmarks/{id}");
        app.get(&path)
            .user("bob")
            .send()
            .await
            .expect_error(404, 110);
        let list = app.get("/v1/bookmarks").user("bob").send().await;
        list.expect(200);
        assert_eq!(list.data(), &json!([]));
        let anonymous = app.get(&path).send().await;
        anonymous.expect_error(401, 104);
        assert!(anonymous.header("www-authenticate").is_some());
        app.get("/v1/bookmarks").send().await.expect_error(401, 104);
        app.post("/v1/bookmarks", json!({"data": {"url": "x"}}))
            .send()
            .await
            .expect_error(401, 104);
        // Bob's own object with the same id is another object.
        app.put(&path, json!({"data": {"url": "https://bob.org"}}))
            .user("bob")
            .send()
            .await
            .expect(201);
        let alice = app.get(&path).user("alice").send().await;
        assert_eq!(alice.data()["url"], "https://a.org");
        // Private objects cannot be shared.
        app.patch(&path, json!({"permissions": {"read": ["system.Everyone"]}}))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix() {
    each("permission_matrix", async |app| {
        let created = app
            .put("/v1/articles/a1", json!({"data": {"title": "x"}}))
            .user("alice")
            .send()
            .await;
        created.expect(201);
        assert_eq!(
            created.body["permissions"],
            json!({"write": [user_id("alice")]})
        );
        let path = "/v1/articles/a1";

        // Object GET: owner, another user, anonymous.
        let owner = app.get(path).user("alice").send().await;
        owner.expect(200);
        assert_eq!(
            owner.body["permissions"]["write"],
            json!([user_id("alice")])
        );
        app.get(path)
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        let anonymous = app.get(path).send().await;
        anonymous.expect_error(401, 104);
        assert!(anonymous.header("www-authenticate").is_some());

        // Writes.
        app.patch(path, json!({"data": {"title": "y"}}))
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        app.patch(path, json!({"data": {"title": "y"}}))
            .send()
            .await
            .expect_error(401, 104);
        app.put(path, json!({"data": {"title": "y"}}))
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        app.delete(path)
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        app.delete(path).send().await.expect_error(401, 104);

        // Lists: the owner sees the object one by one; bob may create, so
        // he gets an empty list; anonymous users may not.
        let list = app.get("/v1/articles").user("alice").send().await;
        list.expect(200);
        assert_eq!(list.ids(), vec!["a1"]);
        let list = app.get("/v1/articles").user("bob").send().await;
        list.expect(200);
        assert_eq!(list.data(), &json!([]));
        app.get("/v1/articles").send().await.expect_error(401, 104);
        app.post("/v1/articles", json!({"data": {}}))
            .send()
            .await
            .expect_error(401, 104);

        // Writes on a missing object: nobody may read the plural endpoint,
        // so it is a denial, not a 404 (no leak of existence).
        app.patch("/v1/articles/missing", json!({"data": {}}))
            .user("alice")
            .send()
            .await
            .expect_error(403, 121);
        app.delete("/v1/articles/missing")
            .send()
            .await
            .expect_error(401, 104);

        // POST with the existing id of an object bob cannot read.
        app.post("/v1/articles", json!({"data": {"id": "a1"}}))
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);

        // Alice shares reading with bob.
        let shared = app
            .patch(path, json!({"permissions": {"read": [user_id("bob")]}}))
            .user("alice")
            .send()
            .await;
        shared.expect(200);
        assert_eq!(shared.body["permissions"]["read"], json!([user_id("bob")]));
        assert_eq!(
            shared.body["permissions"]["write"],
            json!([user_id("alice")])
        );
        let bob = app.get(path).user("bob").send().await;
        bob.expect(200);
        assert_eq!(bob.body["permissions"], json!({}));
        let list = app.get("/v1/articles").user("bob").send().await;
        assert_eq!(list.ids(), vec!["a1"]);
        app.patch(path, json!({"data": {"t": 1}}))
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        let again = app
            .post("/v1/articles", json!({"data": {"id": "a1"}}))
            .user("bob")
            .send()
            .await;
        again.expect(200);
        assert_eq!(again.body["permissions"], json!({}));

        // Bob creates his own; bob's plural DELETE only deletes his.
        app.post("/v1/articles", json!({"data": {"id": "b1"}}))
            .user("bob")
            .send()
            .await
            .expect(201);
        let deleted = app.delete("/v1/articles").user("bob").send().await;
        deleted.expect(200);
        assert_eq!(deleted.ids(), vec!["b1"]);
        app.get(path).user("alice").send().await.expect(200);

        // Deleting an object deletes its ACL: a new object with that id is
        // not readable by bob.
        app.delete(path).user("alice").send().await.expect(200);
        app.put(path, json!({"data": {}}))
            .user("carol")
            .send()
            .await
            .expect(201);
        app.get(path)
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        app.get(path)
            .user("alice")
            .send()
            .await
            .expect_error(403, 121);

        // Write granted to everyone: anonymous users may write, and are
        // recorded as system.Everyone.
        app.patch(path, json!({"permissions": {"write": ["system.Everyone"]}}))
            .user("carol")
            .send()
            .await
            .expect(200);
        let anonymous = app.patch(path, json!({"data": {"n": 1}})).send().await;
        anonymous.expect(200);
        assert!(
            anonymous.body["permissions"]["write"]
                .as_array()
                .unwrap()
                .contains(&json!("system.Everyone"))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_match_star_does_not_leak() {
    each("no_leak", async |app| {
        app.put("/v1/articles/secret", json!({"data": {"pin": 1234}}))
            .user("alice")
            .send()
            .await
            .expect(201);
        // Bob may create (so the PUT is authorized), but may not read.
        let bob = app
            .put("/v1/articles/secret", json!({"data": {}}))
            .user("bob")
            .header("if-none-match", "*")
            .send()
            .await;
        bob.expect_error(412, 114);
        assert!(bob.body.get("details").is_none(), "{}", bob.body);
        let alice = app
            .put("/v1/articles/secret", json!({"data": {}}))
            .user("alice")
            .header("if-none-match", "*")
            .send()
            .await;
        alice.expect_error(412, 114);
        assert_eq!(alice.body["details"]["existing"]["pin"], 1234);
        assert!(
            alice.body["details"]["existing"]
                .get("permissions")
                .is_none()
        );
        // Creation with If-None-Match: * on a free id.
        app.put("/v1/articles/fresh", json!({"data": {}}))
            .user("bob")
            .header("if-none-match", "*")
            .send()
            .await
            .expect(201);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconditions() {
    each("preconditions", async |app| {
        let created = app
            .post("/v1/bookmarks", json!({"data": {"url": "u"}}))
            .user("alice")
            .send()
            .await;
        let id = created.data()["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/bookmarks/{id}");
        let first = created.etag();
        let updated = app
            .patch(&path, json!({"data": {"url": "v"}}))
            .user("alice")
            .send()
            .await;
        let current = updated.etag();

        // Stale If-Match: 412 with the existing object and current ETag.
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let stale = app
                .request(method.clone(), &path)
                .json(json!({"data": {"url": "w"}}))
                .user("alice")
                .header("if-match", &format!("\"{first}\""))
                .send()
                .await;
            stale.expect_error(412, 114);
            assert_eq!(stale.body["message"], "Resource was modified meanwhile");
            assert_eq!(stale.body["details"]["existing"]["url"], "v");
            assert_eq!(stale.etag(), current, "{method}");
        }
        // Current If-Match passes.
        let ok = app
            .patch(&path, json!({"data": {"url": "w"}}))
            .user("alice")
            .header("if-match", &format!("\"{current}\""))
            .send()
            .await;
        ok.expect(200);
        let current = ok.etag();

        // 304 on a matching If-None-Match, object and plural.
        let not_modified = app
            .get(&path)
            .user("alice")
            .header("if-none-match", &format!("\"{current}\""))
            .send()
            .await;
        not_modified.expect(304);
        assert_eq!(not_modified.body, Value::Null);
        assert_eq!(not_modified.etag(), current);
        assert!(not_modified.header("cache-control").is_none());
        let list = app.get("/v1/bookmarks").user("alice").send().await;
        app.get("/v1/bookmarks")
            .user("alice")
            .header("if-none-match", &format!("\"{}\"", list.etag()))
            .send()
            .await
            .expect(304);
        app.get("/v1/bookmarks")
            .user("alice")
            .header("if-none-match", &format!("\"{}\"", list.etag() - 1))
            .send()
            .await
            .expect(200);

        // If-None-Match: * on an existing target.
        let star = app
            .get(&path)
            .user("alice")
            .header("if-none-match", "*")
            .send()
            .await;
        star.expect_error(412, 114);
        app.get("/v1/bookmarks")
            .user("alice")
            .header("if-none-match", "*")
            .send()
            .await
            .expect_error(412, 114);
        let post = app
            .post("/v1/bookmarks", json!({"data": {"id": id, "url": "x"}}))
            .user("alice")
            .header("if-none-match", "*")
            .send()
            .await;
        post.expect_error(412, 114);
        assert_eq!(post.body["details"]["existing"]["id"], id);

        // If-Match on a missing object.
        let missing = format!("/v1/bookmarks/{}", uuid::Uuid::new_v4());
        app.put(&missing, json!({"data": {"url": "x"}}))
            .user("alice")
            .header("if-match", "*")
            .send()
            .await
            .expect_error(412, 114);
        app.get(&missing)
            .user("alice")
            .header("if-match", "\"1\"")
            .send()
            .await
            .expect_error(404, 110);

        // Malformed tags.
        for bad in ["123", "W/\"1\"", "\"*\"", "\"1\", \"2\""] {
            let reply = app
                .get(&path)
                .user("alice")
                .header("if-match", bad)
                .send()
                .await;
            reply.expect_error(400, 107);
            assert_eq!(
                reply.body["message"],
                "If-Match in header: The value should be integer between double quotes."
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_flavours_and_response_behavior() {
    each("patch_flavours", async |app| {
        app.put(
            "/v1/articles/p",
            json!({"data": {"a": {"b": 1, "c": 2}, "x": 1, "z": 7}}),
        )
        .user("alice")
        .send()
        .await
        .expect(201);
        let merge = app
            .request(Method::PATCH, "/v1/articles/p")
            .raw(
                "application/merge-patch+json",
                json!({"data": {"a": {"b": null, "d": 3}, "x": null}}).to_string(),
            )
            .user("alice")
            .send()
            .await;
        merge.expect(200);
        let data = merge.data().as_object().unwrap().clone();
        assert_eq!(data["a"], json!({"c": 2, "d": 3}));
        assert!(!data.contains_key("x"));

        // Default JSON merge is shallow, and null sets null.
        let shallow = app
            .patch(
                "/v1/articles/p",
                json!({"data": {"a": {"e": 1}, "x": null}}),
            )
            .user("alice")
            .send()
            .await;
        assert_eq!(shallow.data()["a"], json!({"e": 1}));
        assert_eq!(shallow.data()["x"], Value::Null);

        // JSON Patch, with permissions.
        let ops = json!([
            {"op": "add", "path": "/data/tags", "value": ["a"]},
            {"op": "replace", "path": "/data/z", "value": 8},
            {"op": "add", "path": "/permissions/read/system.Everyone"}
        ]);
        let patched = app
            .request(Method::PATCH, "/v1/articles/p")
            .raw("application/json-patch+json", ops.to_string())
            .user("alice")
            .send()
            .await;
        patched.expect(200);
        assert_eq!(patched.data()["tags"], json!(["a"]));
        assert_eq!(patched.data()["z"], 8);
        assert_eq!(
            patched.body["permissions"]["read"],
            json!(["system.Everyone"])
        );
        app.get("/v1/articles/p").send().await.expect(200);

        let failing = app
            .request(Method::PATCH, "/v1/articles/p")
            .raw(
                "application/json-patch+json",
                json!([{"op": "test", "path": "/data/z", "value": 0}]).to_string(),
            )
            .user("alice")
            .send()
            .await;
        failing.expect_error(400, 107);
        assert!(
            failing.body["message"]
                .as_str()
                .unwrap()
                .starts_with("body: JSON Patch operation failed")
        );
        let invalid = app
            .request(Method::PATCH, "/v1/articles/p")
            .raw(
                "application/json-patch+json",
                json!([{"op": "foo", "path": "/data/z"}]).to_string(),
            )
            .user("alice")
            .send()
            .await;
        invalid.expect_error(400, 107);
        assert_eq!(
            invalid.body["message"],
            "0.op in body: \"foo\" is not one of test, add, remove, replace, move, copy"
        );
        // Merge patch is not accepted on PUT.
        app.request(Method::PUT, "/v1/articles/p")
            .raw("application/merge-patch+json", "{}")
            .user("alice")
            .send()
            .await
            .expect_error(415, 107);

        // Response-Behavior.
        let light = app
            .patch(
                "/v1/articles/p",
                json!({"data": {"z": 6, "tags": ["a"], "n": null}}),
            )
            .user("alice")
            .header("response-behavior", "light")
            .send()
            .await;
        light.expect(200);
        assert_eq!(light.body, json!({"data": {"z": 6}}));
        let diff = app
            .patch(
                "/v1/articles/p",
                json!({"data": {"z": 5, "last_modified": 1}}),
            )
            .user("alice")
            .header("response-behavior", "diff")
            .send()
            .await;
        diff.expect(200);
        assert_eq!(diff.body, json!({"data": {"last_modified": diff.etag()}}));
        let bad = app
            .patch("/v1/articles/p", json!({"data": {}}))
            .user("alice")
            .header("response-behavior", "foo")
            .send()
            .await;
        bad.expect_error(400, 107);
        assert_eq!(
            bad.body["message"],
            "Response-Behavior in header: \"foo\" is not one of full, light, diff"
        );
        app.patch("/v1/articles/p", json!({}))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors() {
    each("validation", async |app| {
        let schema = app
            .post("/v1/bookmarks", json!({"data": {"url": 42}}))
            .user("alice")
            .send()
            .await;
        schema.expect_error(400, 107);
        assert_eq!(schema.body["details"][0]["name"], "data.url");
        assert_eq!(schema.body["details"][0]["location"], "body");
        let missing = app
            .post("/v1/bookmarks", json!({}))
            .user("alice")
            .send()
            .await;
        missing.expect_error(400, 107);
        assert_eq!(missing.body["message"], "data in body: Required");

        // JSON schema, strict: unknown fields dropped, filters refused.
        let note = app
            .put(
                "/v1/notes/n1",
                json!({"data": {"title": "t", "bogus": 1, "device": "d"}}),
            )
            .user("alice")
            .send()
            .await;
        note.expect(201);
        assert!(note.data().get("bogus").is_none());
        let bad = app
            .put("/v1/notes/n2", json!({"data": {"n": "x"}}))
            .user("alice")
            .send()
            .await;
        bad.expect_error(400, 107);
        let names: BTreeSet<&str> = bad.body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert!(names.contains("data.n"), "{}", bad.body);
        app.patch("/v1/notes/n1", json!({"data": {"device": "other"}}))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/notes?bogus=1")
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/notes?_sort=bogus")
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/notes?title=t")
            .user("alice")
            .send()
            .await
            .expect(200);
        // Notes have no object DELETE: 405 with Allow.
        let not_allowed = app.delete("/v1/notes/n1").user("alice").send().await;
        not_allowed.expect_error(405, 115);
        assert_eq!(not_allowed.header("allow"), Some("HEAD, GET, PUT, PATCH"));
        app.request(Method::PUT, "/v1/bookmarks")
            .user("alice")
            .send()
            .await
            .expect_error(405, 115);

        // Ids.
        let invalid = app
            .put("/v1/bookmarks/abc", json!({"data": {"url": "u"}}))
            .user("alice")
            .send()
            .await;
        invalid.expect_error(400, 107);
        assert_eq!(invalid.body["message"], "path: Invalid object id");
        app.post("/v1/bookmarks", json!({"data": {"id": 12, "url": "u"}}))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.put("/v1/articles/a", json!({"data": {"id": "b"}}))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);

        // Bodies.
        let not_json = app
            .request(Method::POST, "/v1/bookmarks")
            .raw("application/json", "{oops")
            .user("alice")
            .send()
            .await;
        not_json.expect_error(400, 107);
        assert!(
            not_json.body["message"]
                .as_str()
                .unwrap()
                .contains("Invalid JSON")
        );
        let array = app
            .post("/v1/bookmarks", json!([1, 2]))
            .user("alice")
            .send()
            .await;
        array.expect_error(400, 107);
        assert!(
            array.body["message"]
                .as_str()
                .unwrap()
                .contains("is not a mapping type")
        );
        let unknown = app
            .post("/v1/bookmarks", json!({"data": {"url": "u"}, "foo": 1}))
            .user("alice")
            .send()
            .await;
        unknown.expect_error(400, 107);
        assert!(
            unknown.body["message"]
                .as_str()
                .unwrap()
                .starts_with("Unrecognized keys in mapping")
        );
        let perms = app
            .post(
                "/v1/articles",
                json!({"data": {}, "permissions": {"foo": []}}),
            )
            .user("alice")
            .send()
            .await;
        perms.expect_error(400, 107);
        assert_eq!(
            perms.body["message"],
            "permissions in body: \"foo\" is not one of read, write"
        );
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let deep = app
            .request(Method::POST, "/v1/bookmarks")
            .raw("application/json", deep)
            .user("alice")
            .send()
            .await;
        deep.expect_error(400, 107);
        let huge = app
            .request(Method::POST, "/v1/bookmarks")
            .raw("application/json", vec![b' '; 3 * 1024 * 1024])
            .user("alice")
            .send()
            .await;
        huge.expect_error(413, 113);

        // Content negotiation.
        app.request(Method::POST, "/v1/bookmarks")
            .raw("text/plain", "{}")
            .user("alice")
            .send()
            .await
            .expect_error(415, 107);
        app.get("/v1/bookmarks")
            .header("accept", "text/html")
            .user("alice")
            .send()
            .await
            .expect_error(406, 107);
        app.get("/v1/bookmarks")
            .header("accept", "application/json, text/plain")
            .user("alice")
            .send()
            .await
            .expect(200);
        // A PUT without body nor Content-Type is an empty object.
        app.request(Method::PUT, "/v1/articles/empty")
            .raw("", "")
            .user("alice")
            .send()
            .await
            .expect(201);

        // Querystrings.
        let filters: Vec<String> = (0..5000).map(|i| format!("f{i}=1")).collect();
        app.get(&format!("/v1/bookmarks?{}", filters.join("&")))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        let sorts: Vec<String> = (0..5000).map(|i| format!("f{i}")).collect();
        app.get(&format!("/v1/bookmarks?_sort={}", sorts.join(",")))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.delete(&format!("/v1/bookmarks?_sort={}", sorts.join(",")))
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/bookmarks?_limit=-1")
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/bookmarks?_since=abc")
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/bookmarks?like_url=1")
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        app.get("/v1/bookmarks?url=%00")
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        let token = app
            .get("/v1/bookmarks?_token=garbage")
            .user("alice")
            .send()
            .await;
        token.expect_error(400, 107);
        assert_eq!(
            token.body["message"],
            "querystring: _token has invalid content"
        );
        let created = app
            .post("/v1/bookmarks", json!({"data": {"url": "u"}}))
            .user("alice")
            .send()
            .await;
        let id = created.data()["id"].as_str().unwrap().to_owned();
        let bad_ts = app
            .delete(&format!("/v1/bookmarks/{id}?last_modified=abc"))
            .user("alice")
            .send()
            .await;
        bad_ts.expect_error(400, 107);
        assert_eq!(bad_ts.body["details"][0]["name"], "last_modified");
        assert_eq!(bad_ts.body["details"][0]["location"], "querystring");
        // The object is still there.
        app.get(&format!("/v1/bookmarks/{id}"))
            .user("alice")
            .send()
            .await
            .expect(200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filters_sorts_fields() {
    each("lists", async |app| {
        for (i, title) in ["b", "a", "c", "a"].iter().enumerate() {
            app.put(
                &format!("/v1/articles/o{i}"),
                json!({"data": {"title": title, "n": i}}),
            )
            .user("alice")
            .send()
            .await
            .expect(201);
        }
        let sorted = app
            .get("/v1/articles?_sort=title,-n")
            .user("alice")
            .send()
            .await;
        assert_eq!(sorted.ids(), vec!["o3", "o1", "o0", "o2"]);
        let filtered = app
            .get("/v1/articles?title=a&_sort=n")
            .user("alice")
            .send()
            .await;
        assert_eq!(filtered.ids(), vec!["o1", "o3"]);
        let ranged = app
            .get("/v1/articles?min_n=1&lt_n=3&_sort=n")
            .user("alice")
            .send()
            .await;
        assert_eq!(ranged.ids(), vec!["o1", "o2"]);
        let within = app
            .get("/v1/articles?in_title=b,c&_sort=-n")
            .user("alice")
            .send()
            .await;
        assert_eq!(within.ids(), vec!["o2", "o0"]);
        let fields = app
            .get("/v1/articles?_fields=title&_sort=n&_limit=1")
            .user("alice")
            .send()
            .await;
        let first = fields.data()[0].as_object().unwrap();
        let keys: BTreeSet<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "last_modified", "title"]));
        let next = fields.header("next-page").unwrap();
        assert!(next.starts_with("http://localhost/v1/articles?"), "{next}");
        assert!(next.contains("_limit=1") && next.contains("_token="));
        let head = app
            .request(Method::HEAD, "/v1/articles?title=a")
            .user("alice")
            .send()
            .await;
        assert_eq!(head.header("total-objects"), Some("2"));
        let to = app.get("/v1/articles?_to=1").user("alice").send().await;
        assert!(
            to.header("alert")
                .unwrap()
                .contains("_to is now deprecated")
        );

        // Anonymous reads of a resource with cache_expires are cacheable.
        app.patch(
            "/v1/articles/o0",
            json!({"permissions": {"read": ["system.Everyone"]}}),
        )
        .user("alice")
        .send()
        .await
        .expect(200);
        let anonymous = app.get("/v1/articles/o0").send().await;
        anonymous.expect(200);
        assert_eq!(anonymous.header("cache-control"), Some("max-age=30"));
        assert!(anonymous.header("expires").is_some());
        let anonymous_list = app.get("/v1/articles").send().await;
        assert_eq!(anonymous_list.ids(), vec!["o0"]);

        // Plural DELETE with filters and single-use tokens.
        let deleted = app
            .delete("/v1/articles?title=a&_limit=1")
            .user("alice")
            .send()
            .await;
        deleted.expect(200);
        assert_eq!(deleted.ids().len(), 1);
        let next = deleted.header("next-page").unwrap().to_owned();
        let path = next.trim_start_matches("http://localhost");
        let rest = app.delete(path).user("alice").send().await;
        rest.expect(200);
        assert_eq!(rest.ids().len(), 1);
        assert!(rest.header("next-page").is_none());
        app.delete(path)
            .user("alice")
            .send()
            .await
            .expect_error(400, 107);
        let left = app.get("/v1/articles?_sort=n").user("alice").send().await;
        assert_eq!(left.ids(), vec!["o0", "o2"]);

        // Nested resource: the parent id comes from the path.
        app.put("/v1/folders/f1/items/i1", json!({"data": {"v": 1}}))
            .send()
            .await
            .expect(201);
        app.put("/v1/folders/f2/items/i1", json!({"data": {"v": 2}}))
            .send()
            .await
            .expect(201);
        let f1 = app.get("/v1/folders/f1/items").send().await;
        assert_eq!(f1.ids(), vec!["i1"]);
        assert_eq!(f1.data()[0]["v"], 1);
        let f2 = app.get("/v1/folders/f2/items/i1").send().await;
        assert_eq!(f2.data()["v"], 2);
        // The application's hook says which parents exist.
        let missing = app.get("/v1/folders/missing/items").send().await;
        missing.expect_error(404, 111);
        assert_eq!(
            missing.body["details"],
            json!({"id": "missing", "resource_name": "folder"})
        );
        app.put("/v1/folders/missing/items/i1", json!({"data": {}}))
            .send()
            .await
            .expect_error(404, 111);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walk_with_concurrent_writes() {
    each("pagination_walk", async |app| {
        let mut live: HashSet<String> = HashSet::new();
        let batch: Vec<Value> = (0..1000)
            .map(|i| json!({"method": "POST", "path": "/bookmarks", "body": {"data": {"url": format!("https://{i}.org")}}}))
            .collect();
        for chunk in batch.chunks(25) {
            let reply = app
                .post("/v1/batch", json!({"requests": chunk}))
                .user("alice")
                .send()
                .await;
            reply.expect(200);
            for response in reply.body["responses"].as_array().unwrap() {
                assert_eq!(response["status"], 201);
                live.insert(response["body"]["data"]["id"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(live.len(), 1000);

        for sort in ["", "&_sort=url", "&_sort=last_modified"] {
            let original = live.clone();
            let mut seen: HashSet<String> = HashSet::new();
            let mut deleted: HashSet<String> = HashSet::new();
            let mut path = format!("/v1/bookmarks?_limit=37{sort}");
            let mut pages = 0;
            loop {
                let page = app.get(&path).user("alice").send().await;
                page.expect(200);
                for id in page.ids() {
                    assert!(seen.insert(id.clone()), "{id} seen twice ({sort})");
                    assert!(!deleted.contains(&id), "deleted {id} listed ({sort})");
                }
                pages += 1;
                // Writes during the walk: one insert, one deletion of an
                // object not seen yet, one of an object seen already.
                let created = app
                    .post("/v1/bookmarks", json!({"data": {"url": format!("https://new{pages}.org")}}))
                    .user("alice")
                    .send()
                    .await;
                live.insert(created.data()["id"].as_str().unwrap().to_owned());
                if let Some(unseen) = live.iter().find(|id| !seen.contains(*id) && original.contains(*id)).cloned() {
                    app.delete(&format!("/v1/bookmarks/{unseen}")).user("alice").send().await.expect(200);
                    live.remove(&unseen);
                    deleted.insert(unseen);
                }
                if let Some(old) = seen.iter().find(|id| live.contains(*id)).cloned() {
                    app.delete(&format!("/v1/bookmarks/{old}")).user("alice").send().await.expect(200);
                    live.remove(&old);
                }
                match page.header("next-page") {
                    Some(next) => path = next.trim_start_matches("http://localhost").to_owned(),
                    None => break,
                }
            }
            assert!(pages > 1000 / 37 / 2);
            // Every object that lived through the walk was seen once.
            for id in &original {
                if !deleted.contains(id) {
                    assert!(seen.contains(id), "{id} lost ({sort})");
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_round_trip_with_tombstones() {
    each("sync", async |app| {
        let mut ids = Vec::new();
        for i in 0..3 {
            let reply = app
                .post("/v1/bookmarks", json!({"data": {"url": format!("u{i}")}}))
                .user("alice")
                .send()
                .await;
            ids.push(reply.data()["id"].as_str().unwrap().to_owned());
        }
        let first = app.get("/v1/bookmarks").user("alice").send().await;
        let since = first.etag();
        assert_eq!(first.ids().len(), 3);

        app.patch(
            &format!("/v1/bookmarks/{}", ids[0]),
            json!({"data": {"title": "t"}}),
        )
        .user("alice")
        .send()
        .await
        .expect(200);
        app.delete(&format!("/v1/bookmarks/{}", ids[1]))
            .user("alice")
            .send()
            .await
            .expect(200);
        let created = app
            .post("/v1/bookmarks", json!({"data": {"url": "u3"}}))
            .user("alice")
            .send()
            .await;
        let new_id = created.data()["id"].as_str().unwrap().to_owned();

        let changes = app
            .get(&format!("/v1/bookmarks?_since={since}"))
            .user("alice")
            .send()
            .await;
        changes.expect(200);
        let data = changes.data().as_array().unwrap();
        assert_eq!(data.len(), 3, "{}", changes.body);
        assert_eq!(data[0]["id"], new_id);
        assert_eq!(
            data[1],
            json!({"id": ids[1], "last_modified": data[1]["last_modified"], "deleted": true})
        );
        assert_eq!(data[2]["id"], ids[0]);
        assert_eq!(data[2]["title"], "t");
        let latest = changes.etag();
        assert!(latest > since);
        // Quoted _since, as the ETag, works too.
        let quoted = app
            .get(&format!("/v1/bookmarks?_since=%22{since}%22"))
            .user("alice")
            .send()
            .await;
        assert_eq!(quoted.ids().len(), 3);
        // Tombstones never show without a timestamp filter.
        let plain = app.get("/v1/bookmarks").user("alice").send().await;
        assert_eq!(plain.ids().len(), 3);
        assert!(
            plain
                .data()
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o.get("deleted").is_none())
        );
        // Nothing new: 304.
        app.get(&format!("/v1/bookmarks?_since={latest}"))
            .user("alice")
            .header("if-none-match", &format!("\"{latest}\""))
            .send()
            .await
            .expect(304);
        let empty = app
            .get(&format!("/v1/bookmarks?_since={latest}"))
            .user("alice")
            .send()
            .await;
        assert_eq!(empty.data(), &json!([]));
        let before = app
            .get(&format!("/v1/bookmarks?_before={latest}"))
            .user("alice")
            .send()
            .await;
        let before_ids = before.ids();
        assert_eq!(before_ids.len(), 3, "{}", before.body);
        assert!(!before_ids.contains(&new_id));
        assert!(before_ids.contains(&ids[1]));
        // A tombstone with _fields keeps id and last_modified.
        let fields = app
            .get(&format!("/v1/bookmarks?_since={since}&_fields=url,deleted"))
            .user("alice")
            .send()
            .await;
        assert_eq!(fields.data()[1]["deleted"], true);
        // Deleting with a requested timestamp in the future.
        let future = created.etag() + 1_000_000;
        let tomb = app
            .delete(&format!("/v1/bookmarks/{new_id}?last_modified={future}"))
            .user("alice")
            .send()
            .await;
        tomb.expect(200);
        assert_eq!(tomb.etag(), future);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_one_transaction() {
    each("batch", async |app| {
        let id = uuid::Uuid::new_v4().to_string();
        let ok = app
            .post(
                "/v1/batch",
                json!({"requests": [
                    {"method": "PUT", "path": format!("/bookmarks/{id}"), "body": {"data": {"url": "a"}}},
                    {"method": "GET", "path": format!("/bookmarks/{id}")},
                    {"method": "PATCH", "path": format!("/bookmarks/{id}"), "body": {"data": {"url": "b"}}, "headers": {"If-Match": "\"1\""}},
                    {"method": "GET", "path": "/bookmarks/not-an-id"}
                ]}),
            )
            .user("alice")
            .send()
            .await;
        ok.expect(200);
        let statuses: Vec<u64> = ok.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, vec![201, 200, 412, 400]);
        // A 4xx does not undo the others.
        let got = app.get(&format!("/v1/bookmarks/{id}")).user("alice").send().await;
        got.expect(200);
        assert_eq!(got.data()["url"], "a");

        // A 5xx rolls back every write of the batch.
        let other = uuid::Uuid::new_v4().to_string();
        let failed = app
            .post(
                "/v1/batch",
                json!({"requests": [
                    {"method": "PUT", "path": format!("/bookmarks/{other}"), "body": {"data": {"url": "x"}}},
                    {"method": "DELETE", "path": format!("/bookmarks/{id}")},
                    {"method": "POST", "path": "/bookmarks", "body": {"data": {"url": "y", "title": "boom"}}}
                ]}),
            )
            .user("alice")
            .send()
            .await;
        assert_eq!(failed.status, 500, "{}", failed.body);
        app.get(&format!("/v1/bookmarks/{other}")).user("alice").send().await.expect_error(404, 110);
        app.get(&format!("/v1/bookmarks/{id}")).user("alice").send().await.expect(200);
        let list = app.get("/v1/bookmarks").user("alice").send().await;
        assert_eq!(list.ids(), vec![id.clone()]);

        // Outside batches, a failing hook rolls its own request back.
        app.post("/v1/bookmarks", json!({"data": {"url": "z", "title": "boom"}}))
            .user("alice")
            .send()
            .await
            .expect_error(500, 999);
        let list = app.get("/v1/bookmarks").user("alice").send().await;
        assert_eq!(list.ids(), vec![id]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_real_socket() {
    each("socket", async |app| {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = app.service.clone();
        let server = tokio::spawn(async move {
            let make = tower::service_fn(move |_: axum::serve::IncomingStream<'_, tokio::net::TcpListener>| {
                let service = service.clone();
                async move { Ok::<_, std::convert::Infallible>(service) }
            });
            axum::serve(listener, make).await.unwrap();
        });
        let exchange = |request: String| async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            response
        };
        let body = r#"{"data": {"url": "https://socket.org"}}"#;
        let auth = common::basic("alice");
        let response = exchange(format!(
            "POST /v1/bookmarks HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
        .await;
        assert!(response.starts_with("HTTP/1.1 201"), "{response}");
        let json_start = response.find("\r\n\r\n").unwrap() + 4;
        let created: Value = serde_json::from_str(&response[json_start..]).unwrap();
        let id = created["data"]["id"].as_str().unwrap();
        let response = exchange(format!(
            "GET /v1/bookmarks/{id} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        ))
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.to_ascii_lowercase().contains("etag: \""));
        assert!(response.contains("https://socket.org"));
        let response = exchange(
            "GET /v1/bookmarks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 401"), "{response}");
        server.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_failures() {
    each("backend_failures", async |app| {
        app.put("/v1/articles/a", json!({"data": {}}))
            .user("alice")
            .send()
            .await
            .expect(201);
        app.switch.set(common::failing::DOWN);
        let down = app.get("/v1/articles/a").user("alice").send().await;
        down.expect_error(503, 201);
        assert!(down.header("retry-after").is_some());
        app.get("/v1/articles")
            .user("alice")
            .send()
            .await
            .expect_error(503, 201);
        app.post("/v1/articles", json!({"data": {}}))
            .user("alice")
            .send()
            .await
            .expect_error(503, 201);
        app.delete("/v1/articles/a")
            .user("alice")
            .send()
            .await
            .expect_error(503, 201);

        // Another writer created the id between the check and the write.
        app.switch.set(common::failing::RACE);
        let conflict = app
            .post("/v1/articles", json!({"data": {"id": "a"}}))
            .user("alice")
            .send()
            .await;
        conflict.expect_error(409, 122);
        assert!(conflict.header("retry-after").is_some());
        app.switch.set(common::failing::OK);
        app.get("/v1/articles/a")
            .user("alice")
            .send()
            .await
            .expect(200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inheritance_tree_of_the_application() {
    each("inheritance", async |app| {
        app.put("/v1/shelves/s1/docs/d1", json!({"data": {"n": 1}}))
            .user("alice")
            .send()
            .await
            .expect(201);
        app.put("/v1/shelves/s2/docs/d2", json!({"data": {"n": 2}}))
            .user("alice")
            .send()
            .await
            .expect(201);
        // Bob cannot read anything yet, but may create: empty list.
        app.get("/v1/shelves/s1/docs/d1")
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        assert_eq!(
            app.get("/v1/shelves/s1/docs")
                .user("bob")
                .send()
                .await
                .data(),
            &json!([])
        );
        // Read on the shelf gives read on every doc of it, and the list.
        app.backends
            .permission
            .add_principal_to_ace("/shelves/s1", "read", &user_id("bob"))
            .await
            .unwrap();
        app.get("/v1/shelves/s1/docs/d1")
            .user("bob")
            .send()
            .await
            .expect(200);
        assert_eq!(
            app.get("/v1/shelves/s1/docs")
                .user("bob")
                .send()
                .await
                .ids(),
            vec!["d1"]
        );
        app.get("/v1/shelves/s2/docs/d2")
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        app.patch("/v1/shelves/s1/docs/d1", json!({"data": {"n": 3}}))
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        // A reader of the shelf learns that a doc is missing; others do not.
        app.patch("/v1/shelves/s1/docs/nope", json!({"data": {}}))
            .user("bob")
            .send()
            .await
            .expect_error(404, 110);
        app.patch("/v1/shelves/s2/docs/nope", json!({"data": {}}))
            .user("bob")
            .send()
            .await
            .expect_error(403, 121);
        // Write on the shelf gives write on its docs.
        app.backends
            .permission
            .add_principal_to_ace("/shelves/s1", "write", &user_id("carol"))
            .await
            .unwrap();
        let carol = app
            .patch("/v1/shelves/s1/docs/d1", json!({"data": {"n": 4}}))
            .user("carol")
            .send()
            .await;
        carol.expect(200);
        assert!(
            carol.body["permissions"]["write"]
                .as_array()
                .unwrap()
                .contains(&json!(user_id("carol")))
        );
        let deleted = app.delete("/v1/shelves/s1/docs").user("carol").send().await;
        assert_eq!(deleted.ids(), vec!["d1"]);
        app.get("/v1/shelves/s2/docs/d2")
            .user("alice")
            .send()
            .await
            .expect(200);
    })
    .await;
}
