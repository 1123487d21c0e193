//! A write whose transaction loses to a concurrent one (a deadlock) is
//! rolled back and run again, a bounded number of times; in a batch, the
//! whole batch is. On memory and PostgreSQL, the conflicts simulated by the
//! failing storage wrapper.

mod common;

use cliquet_batch::Retry;
use common::{TestApp, apps};
use serde_json::json;

async fn each(test: &str, scenario: impl AsyncFn(&TestApp)) {
    for app in apps(test).await {
        eprintln!("{test} on {}", app.backend);
        scenario(&app).await;
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_loses_is_run_again() {
    each("retry_write", async |app| {
        // Two lost attempts: the third succeeds, and the client never knows.
        app.switch.lose(Retry::DEFAULT_ATTEMPTS - 1);
        let created = app
            .put("/v1/articles/a", json!({"data": {"n": 1}}))
            .user("alice")
            .send()
            .await;
        created.expect(201);
        assert_eq!(created.data()["n"], 1);
        assert_eq!(app.switch.losses_left(), 0);
        let list = app.get("/v1/articles").user("alice").send().await;
        assert_eq!(list.ids(), ["a"]);

        // The body is replayed: a POST creates one object, with its data.
        app.switch.lose(1);
        let posted = app
            .post("/v1/articles", json!({"data": {"n": 2}}))
            .user("alice")
            .send()
            .await;
        posted.expect(201);
        assert_eq!(posted.data()["n"], 2);
        let list = app.get("/v1/articles").user("alice").send().await;
        assert_eq!(list.ids().len(), 2);

        app.switch.lose(1);
        app.patch("/v1/articles/a", json!({"data": {"n": 3}}))
            .user("alice")
            .send()
            .await
            .expect(200);
        app.switch.lose(1);
        app.delete("/v1/articles/a")
            .user("alice")
            .send()
            .await
            .expect(200);
        let list = app.get("/v1/articles").user("alice").send().await;
        assert!(!list.ids().contains(&"a".to_owned()), "{}", list.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_keeps_losing_answers_503_after_the_last_attempt() {
    each("retry_bound", async |app| {
        // One more loss than attempts: exactly the attempts are made.
        app.switch.lose(Retry::DEFAULT_ATTEMPTS + 1);
        let lost = app
            .put("/v1/articles/b", json!({"data": {}}))
            .user("alice")
            .send()
            .await;
        lost.expect_error(503, 201);
        assert!(lost.header("retry-after").is_some());
        assert_eq!(app.switch.losses_left(), 1);
        app.switch.lose(0);
        let list = app.get("/v1/articles").user("alice").send().await;
        assert!(!list.ids().contains(&"b".to_owned()), "{}", list.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_loses_is_run_again_whole() {
    each("retry_batch", async |app| {
        let batch = json!({"requests": [
            {"method": "POST", "path": "/articles", "body": {"data": {"n": 1}}},
            {"method": "PUT", "path": "/articles/c", "body": {"data": {"n": 2}}},
        ]});
        // The first attempt loses at its second write, after the first one
        // succeeded: that one is rolled back and not written twice.
        app.switch.lose_after(1, 1);
        let ok = app
            .post("/v1/batch", batch.clone())
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
        assert_eq!(statuses, [201, 201]);
        assert_eq!(ok.body["responses"][1]["body"]["data"]["n"], 2);
        assert_eq!(app.switch.losses_left(), 0);
        let list = app.get("/v1/articles").user("alice").send().await;
        assert_eq!(list.ids().len(), 2, "{}", list.body);

        // A batch that keeps losing answers the 503, nothing written.
        app.switch.lose(Retry::DEFAULT_ATTEMPTS);
        let lost = app
            .post(
                "/v1/batch",
                json!({"requests": [
                    {"method": "PUT", "path": "/articles/d", "body": {"data": {}}},
                ]}),
            )
            .user("alice")
            .send()
            .await;
        lost.expect_error(503, 201);
        assert_eq!(app.switch.losses_left(), 0);
        let list = app.get("/v1/articles").user("alice").send().await;
        assert!(!list.ids().contains(&"d".to_owned()), "{}", list.body);
    })
    .await;
}
