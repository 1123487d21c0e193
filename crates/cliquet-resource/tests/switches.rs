//! Builder switches and hooks beyond the protocol's defaults: writers kept
//! out of ACLs (`explicit_permissions = false`), list-only resources, the
//! object id and cache headers given to hooks; on memory and PostgreSQL.

mod common;

use common::{TestApp, apps, user_id};
use serde_json::json;

async fn each(test: &str, scenario: impl AsyncFn(&TestApp)) {
    for app in apps(test).await {
        eprintln!("{test} on {}", app.backend);
        scenario(&app).await;
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_are_not_added_without_explicit_permissions() {
    each("explicit", async |app| {
        let created = app
            .put("/v1/memos/m1", json!({"data": {"n": 1}}))
            .user("alice")
            .send()
            .await;
        created.expect(201);
        // The ACL is what was sent: nothing.
        let acl = app
            .backends
            .permission
            .get_object_permissions("/memos/m1", None)
            .await
            .unwrap();
        assert!(acl.values().all(|p| p.is_empty()), "{acl:?}");
        // So alice may read (granted to everyone authenticated) but not
        // write what she created.
        app.get("/v1/memos/m1")
            .user("alice")
            .send()
            .await
            .expect(200);
        app.patch("/v1/memos/m1", json!({"data": {"n": 2}}))
            .user("alice")
            .send()
            .await
            .expect_error(403, 121);
        // Permissions sent are stored as they are, without the writer.
        let bob = user_id("bob");
        let posted = app
            .post(
                "/v1/memos",
                json!({"data": {"id": "m2"}, "permissions": {"write": [bob]}}),
            )
            .user("alice")
            .send()
            .await;
        posted.expect(201);
        assert_eq!(posted.body["permissions"], json!({"write": [bob]}));
        let patched = app
            .patch("/v1/memos/m2", json!({"data": {"n": 3}}))
            .user("bob")
            .send()
            .await;
        patched.expect(200);
        assert_eq!(patched.body["permissions"], json!({"write": [bob]}));
        // The default still adds the writer.
        let article = app
            .put("/v1/articles/a1", json!({"data": {}}))
            .user("alice")
            .send()
            .await;
        article.expect(201);
        assert_eq!(
            article.body["permissions"]["write"],
            json!([user_id("alice")])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_see_the_object_id_and_choose_cache_headers() {
    each("object-id", async |app| {
        let posted = app
            .post("/v1/memos", json!({"data": {}}))
            .user("alice")
            .send()
            .await;
        posted.expect(201);
        assert_eq!(posted.data()["seen_id"], posted.data()["id"]);
        let put = app
            .put("/v1/memos/hot", json!({"data": {}}))
            .user("alice")
            .send()
            .await;
        assert_eq!(put.data()["seen_id"], "hot");
        let hot = app.get("/v1/memos/hot").user("alice").send().await;
        hot.expect(200);
        assert_eq!(hot.header("cache-control"), Some("max-age=60"));
        assert!(hot.header("expires").is_some());
        let list = app.get("/v1/memos").user("alice").send().await;
        assert_eq!(list.header("cache-control"), Some("no-cache, no-store"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_path_without_methods_is_not_served() {
    each("list-only", async |app| {
        let posted = app
            .post("/v1/entries", json!({"data": {"id": "e1"}}))
            .user("alice")
            .send()
            .await;
        posted.expect(201);
        app.get("/v1/entries/e1")
            .user("alice")
            .send()
            .await
            .expect_error(404, 111);
        // The writer's ACL on the object URI still lists it for her only.
        assert_eq!(
            app.get("/v1/entries").user("alice").send().await.ids(),
            vec!["e1"]
        );
        assert_eq!(
            app.get("/v1/entries").user("bob").send().await.data(),
            &json!([])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_without_permissions_keeps_them() {
    each("put-keeps-acl", async |app| {
        let bob = user_id("bob");
        let carol = user_id("carol");
        app.put(
            "/v1/articles/a1",
            json!({"data": {"n": 1}, "permissions": {"read": [bob]}}),
        )
        .user("alice")
        .send()
        .await
        .expect(201);
        // No `permissions` (or an empty object): the ACL stays, the writer
        // is added to `write`.
        for body in [
            json!({"data": {"n": 2}}),
            json!({"data": {"n": 3}, "permissions": {}}),
        ] {
            let replaced = app.put("/v1/articles/a1", body).user("alice").send().await;
            replaced.expect(200);
            assert_eq!(replaced.body["permissions"]["read"], json!([bob]));
            assert_eq!(
                replaced.body["permissions"]["write"],
                json!([user_id("alice")])
            );
        }
        // Given permissions replace every one of them.
        let replaced = app
            .put(
                "/v1/articles/a1",
                json!({"data": {"n": 4}, "permissions": {"write": [carol]}}),
            )
            .user("alice")
            .send()
            .await;
        replaced.expect(200);
        assert!(
            replaced.body["permissions"].get("read").is_none(),
            "{}",
            replaced.body
        );
    })
    .await;
}
