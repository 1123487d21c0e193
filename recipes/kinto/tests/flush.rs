//! The flush plugin, on memory and PostgreSQL (in a schema of its own:
//! a flush empties the whole database), and the version redirects the
//! conformance suites rely on.

mod support;

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use support::{Env, basic, both};

async fn flushes(env: &Env) {
    let alice = basic("alice");
    let bob = basic("bob");
    let bob_id = env.hello(Some(&bob)).await["user"]["id"].clone();
    for (method, path, body) in [
        ("PUT", "/v1/buckets/b", None),
        ("PUT", "/v1/buckets/b/collections/c", None),
        ("PUT", "/v1/buckets/b/collections/c/records/r", None),
        (
            "PUT",
            "/v1/buckets/b/groups/g",
            Some(json!({"data": {"members": [bob_id]}})),
        ),
        ("DELETE", "/v1/buckets/b/collections/c/records/r", None),
    ] {
        let reply = env.call(method, path, Some(&alice), body.as_ref()).await;
        assert!(reply.status.is_success(), "{method} {path}: {reply:?}");
    }
    let principals = env.hello(Some(&bob)).await["user"]["principals"].clone();
    assert!(
        principals
            .as_array()
            .unwrap()
            .contains(&json!("/buckets/b/groups/g"))
    );
    env.backends
        .cache
        .set("key", json!("value"), Duration::from_secs(60))
        .await
        .unwrap();

    // Anonymous, no body.
    let reply = env.call("POST", "/v1/__flush__", None, None).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.json, json!({}));
    assert_eq!(reply.header("content-type"), Some("application/json"));

    // Objects, tombstones, ACLs, memberships and the cache are gone.
    let reply = env.call("GET", "/v1/buckets/b", Some(&alice), None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = env.call("GET", "/v1/buckets", Some(&alice), None).await;
    assert_eq!(reply.json["data"], json!([]));
    let principals = env.hello(Some(&bob)).await["user"]["principals"].clone();
    assert!(
        !principals
            .as_array()
            .unwrap()
            .contains(&json!("/buckets/b/groups/g"))
    );
    assert_eq!(env.backends.cache.get("key").await.unwrap(), None);
    let reply = env.call("PUT", "/v1/buckets/b", Some(&alice), None).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = env
        .call("PUT", "/v1/buckets/b/collections/c", Some(&alice), None)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = env
        .call(
            "GET",
            "/v1/buckets/b/collections/c/records?_since=0",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(reply.json["data"], json!([]), "tombstones are gone");

    // POST only.
    let reply = env.call("GET", "/v1/__flush__", None, None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn flush_on_every_backend() {
    for env in both("flush", &[("KINTO_INCLUDES", "kinto.plugins.flush")]).await {
        let hello = env.hello(None).await;
        assert_eq!(
            hello["capabilities"]["flush_endpoint"],
            json!({
                "description": "The __flush__ endpoint can be used to remove all data from all backends.",
                "url": "https://kinto.readthedocs.io/en/latest/api/1.x/flush.html"
            })
        );
        flushes(&env).await;
        env.finish().await;
    }
}

#[tokio::test]
async fn no_flush_without_the_plugin() {
    let env = support::memory(&[]);
    let reply = env
        .call("PUT", "/v1/buckets/b", Some(&basic("alice")), None)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = env.call("POST", "/v1/__flush__", None, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json["errno"], 111);
    let reply = env
        .call("GET", "/v1/buckets/b", Some(&basic("alice")), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        env.hello(None).await["capabilities"]
            .get("flush_endpoint")
            .is_none()
    );
}

#[tokio::test]
async fn unprefixed_paths_are_redirected() {
    // The redirect does not depend on the target existing.
    let env = support::memory(&[("KINTO_INCLUDES", "flush prometheus")]);
    for (method, path, location) in [
        ("POST", "/__flush__", "http://kinto.test/v1/__flush__"),
        ("GET", "/accounts", "http://kinto.test/v1/accounts"),
        ("POST", "/accounts?x=1", "http://kinto.test/v1/accounts?x=1"),
        (
            "GET",
            "/accounts/alice",
            "http://kinto.test/v1/accounts/alice",
        ),
        ("GET", "/__metrics__", "http://kinto.test/v1/__metrics__"),
        ("GET", "/", "http://kinto.test/v1/"),
        ("GET", "/v1", "http://kinto.test/v1/"),
        ("GET", "/v1?a=b", "http://kinto.test/v1/?a=b"),
        ("POST", "/batch", "http://kinto.test/v1/batch"),
    ] {
        let reply = env.call(method, path, None, None).await;
        assert_eq!(
            reply.status,
            StatusCode::TEMPORARY_REDIRECT,
            "{method} {path}"
        );
        assert_eq!(reply.header("location"), Some(location), "{method} {path}");
    }
    // Followed, the flush works.
    let reply = env.call("POST", "/v1/__flush__", None, None).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
}
