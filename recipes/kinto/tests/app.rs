//! The assembled service, in process, on memory backends.

use axum::body::Body;
use base64::Engine as _;
use http::Request;
use http_body_util::BodyExt;
use kinto::{App, memory_app};
use serde_json::{Value, json};
use tower::ServiceExt;

fn auth(user: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:secret"));
    format!("Basic {token}")
}

async fn call(
    app: &App,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(user) = user {
        builder = builder.header("authorization", auth(user));
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
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The user id (`basicauth:…`) the service gives `user`.
async fn user_id(app: &App, user: &str) -> String {
    let (status, hello) = call(app, "GET", "/v1/", Some(user), None).await;
    assert_eq!(status, 200);
    hello["user"]["id"].as_str().unwrap().to_owned()
}

async fn principals(app: &App, user: &str) -> Vec<String> {
    let (_, hello) = call(app, "GET", "/v1/", Some(user), None).await;
    serde_json::from_value(hello["user"]["principals"].clone()).unwrap()
}

#[tokio::test]
async fn bucket_collection_records() {
    let app = memory_app();
    let (status, hello) = call(&app, "GET", "/v1/", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(hello["project_name"], "kinto");
    assert_eq!(hello["http_api_version"], "1.23");

    let (status, bucket) = call(&app, "PUT", "/v1/buckets/blog", Some("alice"), None).await;
    assert_eq!(status, 201, "{bucket}");
    let alice = user_id(&app, "alice").await;
    assert_eq!(bucket["permissions"]["write"], json!([alice]));

    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/blog/collections/articles",
        Some("alice"),
        Some(json!({"data": {"title": "Articles"}})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, created) = call(
        &app,
        "POST",
        "/v1/buckets/blog/collections/articles/records",
        Some("alice"),
        Some(json!({"data": {"title": "Hello"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let generated = created["data"]["id"].as_str().unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    // Any valid id on PUT.
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/blog/collections/articles/records/a-simple-id",
        Some("alice"),
        Some(json!({"data": {"title": "Two"}})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, list) = call(
        &app,
        "GET",
        "/v1/buckets/blog/collections/articles/records?_sort=title",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let titles: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].clone())
        .collect();
    assert_eq!(titles, [json!("Hello"), json!("Two")]);

    // Generated bucket ids are Kinto's 8-character names.
    let (status, posted) = call(
        &app,
        "POST",
        "/v1/buckets",
        Some("alice"),
        Some(json!({"data": {}})),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["data"]["id"].as_str().unwrap().len(), 8);

    // Ids outside the regex.
    let (status, error) = call(&app, "PUT", "/v1/buckets/__x__", Some("alice"), None).await;
    assert_eq!(
        (status, error["errno"].as_u64()),
        (400, Some(107)),
        "{error}"
    );
    let (status, _) = call(&app, "GET", "/v1/buckets/__x__", Some("bob"), None).await;
    assert_eq!(status, 403);

    // Listing buckets: anyone authenticated may (bucket:create), sees only
    // theirs; anonymous users may not.
    let (status, list) = call(&app, "GET", "/v1/buckets", Some("bob"), None).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 0));
    let (status, list) = call(&app, "GET", "/v1/buckets", Some("alice"), None).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 2));
    let (status, error) = call(&app, "GET", "/v1/buckets", None, None).await;
    assert_eq!((status, error["errno"].as_u64()), (401, Some(104)));
    let (status, _) = call(&app, "PUT", "/v1/buckets/anon", None, None).await;
    assert_eq!(status, 401);

    // Only the listed permission names.
    let (status, error) = call(
        &app,
        "PATCH",
        "/v1/buckets/blog",
        Some("alice"),
        Some(json!({"permissions": {"record:create": ["x"]}})),
    )
    .await;
    assert_eq!(
        (status, error["errno"].as_u64()),
        (400, Some(107)),
        "{error}"
    );
}

#[tokio::test]
async fn permissions_are_inherited() {
    let app = memory_app();
    let bob = user_id(&app, "bob").await;
    let carol = user_id(&app, "carol").await;
    call(&app, "PUT", "/v1/buckets/b", Some("alice"), None).await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c",
        Some("alice"),
        None,
    )
    .await;
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/r1",
        Some("alice"),
        Some(json!({"data": {"n": 1}})),
    )
    .await;
    assert_eq!(status, 201);
    let record = "/v1/buckets/b/collections/c/records/r1";

    // Nobody else may touch it yet.
    assert_eq!(call(&app, "GET", record, Some("bob"), None).await.0, 403);
    let (status, error) = call(&app, "GET", record, None, None).await;
    assert_eq!((status, error["errno"].as_u64()), (401, Some(104)));

    // Bucket write for bob, bucket read for carol.
    let (status, _) = call(
        &app,
        "PATCH",
        "/v1/buckets/b",
        Some("alice"),
        Some(json!({"permissions": {"write": [bob], "read": [carol]}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, written) = call(
        &app,
        "PATCH",
        record,
        Some("bob"),
        Some(json!({"data": {"n": 2}})),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    let (status, _) = call(
        &app,
        "POST",
        "/v1/buckets/b/collections/c/records",
        Some("bob"),
        Some(json!({"data": {"n": 3}})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/d",
        Some("bob"),
        None,
    )
    .await;
    assert_eq!(status, 201);

    let (status, got) = call(&app, "GET", record, Some("carol"), None).await;
    assert_eq!((status, got["data"]["n"].as_i64()), (200, Some(2)));
    // Inherited write is not shown in the object's own permissions.
    assert_eq!(got["permissions"], json!({}));
    let (status, list) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c/records",
        Some("carol"),
        None,
    )
    .await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 2));
    let (status, error) = call(
        &app,
        "PATCH",
        record,
        Some("carol"),
        Some(json!({"data": {}})),
    )
    .await;
    assert_eq!((status, error["errno"].as_u64()), (403, Some(121)));
    assert_eq!(
        call(&app, "DELETE", "/v1/buckets/b", Some("carol"), None)
            .await
            .0,
        403
    );
    assert_eq!(call(&app, "GET", record, Some("dave"), None).await.0, 403);
    assert_eq!(call(&app, "GET", record, None, None).await.0, 401);

    // Record-level read for dave only gives that record.
    let dave = user_id(&app, "dave").await;
    call(
        &app,
        "PATCH",
        record,
        Some("alice"),
        Some(json!({"permissions": {"read": [dave]}})),
    )
    .await;
    assert_eq!(call(&app, "GET", record, Some("dave"), None).await.0, 200);
    let (status, list) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c/records",
        Some("dave"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(
            &app,
            "GET",
            "/v1/buckets/b/collections/c",
            Some("dave"),
            None
        )
        .await
        .0,
        403
    );

    // collection:create lets one read the bucket's metadata, not its children.
    let erin = user_id(&app, "erin").await;
    call(
        &app,
        "PATCH",
        "/v1/buckets/b",
        Some("alice"),
        Some(json!({"permissions": {"collection:create": [erin]}})),
    )
    .await;
    assert_eq!(
        call(&app, "GET", "/v1/buckets/b", Some("erin"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(
            &app,
            "GET",
            "/v1/buckets/b/collections/c",
            Some("erin"),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &app,
            "PUT",
            "/v1/buckets/b/collections/e",
            Some("erin"),
            None
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/b/groups/g", Some("erin"), None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn missing_parents() {
    let app = memory_app();
    call(&app, "PUT", "/v1/buckets/b", Some("alice"), None).await;
    let missing = "/v1/buckets/b/collections/missing/records";

    // Writes: 404 errno 111 before authorization, even anonymous.
    for user in [None, Some("alice"), Some("bob")] {
        let (status, error) = call(&app, "POST", missing, user, Some(json!({"data": {}}))).await;
        assert_eq!(status, 404, "{user:?}");
        assert_eq!(error["errno"], 111);
        assert_eq!(
            error["details"],
            json!({"id": "missing", "resource_name": "collection"})
        );
    }
    let (status, error) = call(
        &app,
        "PUT",
        &format!("{missing}/r"),
        None,
        Some(json!({"data": {}})),
    )
    .await;
    assert_eq!((status, error["errno"].as_u64()), (404, Some(111)));
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/ghost/collections/c/records/r",
        Some("bob"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Reads: authorization first.
    let (status, error) = call(&app, "GET", missing, Some("alice"), None).await;
    assert_eq!((status, error["errno"].as_u64()), (404, Some(111)));
    assert_eq!(
        call(&app, "GET", &format!("{missing}/r"), Some("alice"), None)
            .await
            .0,
        404
    );
    assert_eq!(call(&app, "GET", missing, Some("bob"), None).await.0, 403);
    assert_eq!(call(&app, "GET", missing, None, None).await.0, 401);

    // Missing objects: 403 on a missing bucket (its ACL is empty), 404
    // errno 110 to a reader of the parent.
    assert_eq!(
        call(&app, "GET", "/v1/buckets/nothing", Some("alice"), None)
            .await
            .0,
        403
    );
    let (status, error) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/nothing",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!((status, error["errno"].as_u64()), (404, Some(110)));
    assert_eq!(
        error["details"],
        json!({"id": "nothing", "resource_name": "collection"})
    );
    let (status, error) = call(
        &app,
        "DELETE",
        "/v1/buckets/b/groups/nothing",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!((status, error["errno"].as_u64()), (404, Some(110)));
    assert_eq!(
        call(
            &app,
            "DELETE",
            "/v1/buckets/b/groups/nothing",
            Some("bob"),
            None
        )
        .await
        .0,
        403
    );
    // No collection:create on b for bob.
    assert_eq!(
        call(
            &app,
            "PUT",
            "/v1/buckets/b/collections/x",
            Some("bob"),
            None
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn deletes_cascade() {
    let app = memory_app();
    let bob = user_id(&app, "bob").await;
    call(&app, "PUT", "/v1/buckets/b", Some("alice"), None).await;
    call(&app, "PUT", "/v1/buckets/bb", Some("alice"), None).await;
    call(
        &app,
        "PUT",
        "/v1/buckets/bb/collections/c",
        Some("alice"),
        None,
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c",
        Some("alice"),
        None,
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c2",
        Some("alice"),
        None,
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/groups/g",
        Some("alice"),
        Some(json!({"data": {"members": [bob]}})),
    )
    .await;
    for path in [
        "/v1/buckets/b/collections/c/records/r",
        "/v1/buckets/b/collections/c2/records/r",
        "/v1/buckets/bb/collections/c/records/r",
    ] {
        let (status, _) = call(
            &app,
            "PUT",
            path,
            Some("alice"),
            Some(json!({"data": {}, "permissions": {"read": [bob]}})),
        )
        .await;
        assert_eq!(status, 201);
    }
    assert!(
        principals(&app, "bob")
            .await
            .contains(&"/buckets/b/groups/g".to_owned())
    );

    // A collection takes its records with it.
    let (status, deleted) = call(
        &app,
        "DELETE",
        "/v1/buckets/b/collections/c2",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!((status, &deleted["data"]["deleted"]), (200, &json!(true)));
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c2",
        Some("alice"),
        None,
    )
    .await;
    let (_, list) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c2/records?_since=0",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(list["data"], json!([]));

    // A bucket takes everything with it, tombstones and ACLs included.
    let (status, deleted) = call(&app, "DELETE", "/v1/buckets/b", Some("alice"), None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["data"]["id"], "b");
    assert!(
        !principals(&app, "bob")
            .await
            .contains(&"/buckets/b/groups/g".to_owned())
    );
    assert_eq!(
        call(&app, "GET", "/v1/buckets/b", Some("alice"), None)
            .await
            .0,
        403
    );
    call(&app, "PUT", "/v1/buckets/b", Some("alice"), None).await;
    for plural in ["collections", "groups"] {
        let (status, list) = call(
            &app,
            "GET",
            &format!("/v1/buckets/b/{plural}?_since=0"),
            Some("alice"),
            None,
        )
        .await;
        assert_eq!((status, &list["data"]), (200, &json!([])), "{plural}");
    }
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c",
        Some("alice"),
        None,
    )
    .await;
    let (_, list) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c/records?_since=0",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(list["data"], json!([]));
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/r",
        Some("alice"),
        Some(json!({"data": {}})),
    )
    .await;
    // bob's old read grant on that record URI is gone.
    assert_eq!(
        call(
            &app,
            "GET",
            "/v1/buckets/b/collections/c/records/r",
            Some("bob"),
            None
        )
        .await
        .0,
        403
    );

    // The bucket with a longer id sharing the prefix is untouched.
    let (status, _) = call(
        &app,
        "GET",
        "/v1/buckets/bb/collections/c/records/r",
        Some("bob"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Plural DELETE cascades too.
    let (status, _) = call(&app, "DELETE", "/v1/buckets", Some("alice"), None).await;
    assert_eq!(status, 200);
    call(&app, "PUT", "/v1/buckets/bb", Some("alice"), None).await;
    let (_, list) = call(
        &app,
        "GET",
        "/v1/buckets/bb/collections",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn groups_are_principals() {
    let app = memory_app();
    let bob = user_id(&app, "bob").await;
    call(&app, "PUT", "/v1/buckets/b", Some("alice"), None).await;
    let (status, group) = call(
        &app,
        "PUT",
        "/v1/buckets/b/groups/readers",
        Some("alice"),
        Some(json!({"data": {"members": [bob]}})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c",
        Some("alice"),
        Some(json!({"permissions": {"read": ["/buckets/b/groups/readers"]}})),
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/r",
        Some("alice"),
        Some(json!({"data": {}})),
    )
    .await;

    let record = "/v1/buckets/b/collections/c/records/r";
    assert!(
        principals(&app, "bob")
            .await
            .contains(&"/buckets/b/groups/readers".to_owned())
    );
    assert_eq!(call(&app, "GET", record, Some("bob"), None).await.0, 200);
    assert_eq!(
        call(
            &app,
            "GET",
            "/v1/buckets/b/collections/c",
            Some("bob"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(call(&app, "GET", record, Some("carol"), None).await.0, 403);
    assert_eq!(
        call(
            &app,
            "PATCH",
            record,
            Some("bob"),
            Some(json!({"data": {}}))
        )
        .await
        .0,
        403
    );

    // Members are kept in sync on every write…
    let carol = user_id(&app, "carol").await;
    let (status, _) = call(
        &app,
        "PATCH",
        "/v1/buckets/b/groups/readers",
        Some("alice"),
        Some(json!({"data": {"members": [carol]}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(call(&app, "GET", record, Some("bob"), None).await.0, 403);
    assert_eq!(call(&app, "GET", record, Some("carol"), None).await.0, 200);
    // … and on deletion.
    call(
        &app,
        "DELETE",
        "/v1/buckets/b/groups/readers",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(call(&app, "GET", record, Some("carol"), None).await.0, 403);

    // system.Authenticated as a member: everyone authenticated.
    call(
        &app,
        "PUT",
        "/v1/buckets/b/groups/readers",
        Some("alice"),
        Some(json!({"data": {"members": ["system.Authenticated"]}})),
    )
    .await;
    assert_eq!(call(&app, "GET", record, Some("dave"), None).await.0, 200);
    assert_eq!(call(&app, "GET", record, None, None).await.0, 401);

    // Members default to [] and are validated.
    let (status, group) = call(
        &app,
        "PUT",
        "/v1/buckets/b/groups/empty",
        Some("alice"),
        Some(json!({"data": {"alias": "x"}})),
    )
    .await;
    assert_eq!((status, &group["data"]["members"]), (201, &json!([])));
    for bad in ["system.Everyone", "/buckets/b/groups/readers"] {
        let (status, error) = call(
            &app,
            "PUT",
            "/v1/buckets/b/groups/bad",
            Some("alice"),
            Some(json!({"data": {"members": ["ok", bad]}})),
        )
        .await;
        assert_eq!(
            (status, error["errno"].as_u64()),
            (400, Some(107)),
            "{error}"
        );
        assert_eq!(error["details"][0]["name"], "data.members.1");
    }
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/b/groups/bad",
        Some("alice"),
        Some(json!({"data": {"members": "bob"}})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn batches_run_in_one_transaction() {
    let app = memory_app();
    let (status, batch) = call(
        &app,
        "POST",
        "/v1/batch",
        Some("alice"),
        Some(json!({"requests": [
            {"method": "PUT", "path": "/buckets/b"},
            {"method": "PUT", "path": "/buckets/b/collections/c"},
            {"method": "POST", "path": "/buckets/b/collections/c/records", "body": {"data": {"x": 1}}},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{batch}");
    let statuses: Vec<_> = batch["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(201), json!(201), json!(201)]);
    let (_, list) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c/records",
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn creations_need_the_create_permission() {
    let app = memory_app();
    call(&app, "PUT", "/v1/buckets/b", Some("alice"), None).await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c",
        Some("alice"),
        None,
    )
    .await;
    // PUT of a missing object without <child>:create.
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/b/groups/g", Some("bob"), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(&app, "PUT", "/v1/buckets/b/groups/g", None, None)
            .await
            .0,
        401
    );
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/r",
        Some("bob"),
        Some(json!({"data": {}})),
    )
    .await;
    assert_eq!(status, 403);
    // POST of an existing id one cannot read.
    let (status, _) = call(
        &app,
        "POST",
        "/v1/buckets",
        Some("bob"),
        Some(json!({"data": {"id": "b"}})),
    )
    .await;
    assert_eq!(status, 403);
    // record:create on the collection: create records, read the collection
    // metadata, not the others' records.
    let bob = user_id(&app, "bob").await;
    call(
        &app,
        "PUT",
        "/v1/buckets/b/collections/c/records/mine",
        Some("alice"),
        Some(json!({"data": {}})),
    )
    .await;
    call(
        &app,
        "PATCH",
        "/v1/buckets/b/collections/c",
        Some("alice"),
        Some(json!({"permissions": {"record:create": [bob]}})),
    )
    .await;
    let (status, created) = call(
        &app,
        "POST",
        "/v1/buckets/b/collections/c/records",
        Some("bob"),
        Some(json!({"data": {"by": "bob"}})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        call(
            &app,
            "GET",
            "/v1/buckets/b/collections/c",
            Some("bob"),
            None
        )
        .await
        .0,
        200
    );
    let (status, list) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c/records",
        Some("bob"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], created["data"]["id"]);
    let (status, _) = call(
        &app,
        "GET",
        "/v1/buckets/b/collections/c/records/mine",
        Some("bob"),
        None,
    )
    .await;
    assert_eq!(status, 403);
}
