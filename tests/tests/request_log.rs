//! The request summary log line, alone in its test binary: `tracing`
//! caches per call site whether anyone listens, and a test of another
//! thread reaching the call site first, while this test's scoped
//! subscriber was being set, could leave it cached as unheard.

mod demo;

use demo::{settings, start};

/// A writer appending to a shared buffer, for capturing logs.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_is_summarised_in_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start(settings(&[])).await;
    server
        .get(
            "/v1/things?_limit=2",
            &[("authorization", "Basic YWxpY2U6cHc=")],
        )
        .await;
    server.get("/v1/nothing", &[]).await;
    server.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let summaries: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["target"] == "request.summary")
        .collect();
    assert_eq!(summaries.len(), 2, "{text}");
    let first = &summaries[0]["fields"];
    assert_eq!(first["path"], "/v1/things");
    assert_eq!(first["code"], 200);
    assert_eq!(first["errno"], 0);
    assert_eq!(first["querystring"], "_limit=2");
    assert_eq!(
        first["uid"],
        "basicauth:741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94"
    );
    assert_eq!(first["authn_type"], "basicauth");
    let second = &summaries[1]["fields"];
    assert_eq!(second["code"], 404);
    assert_eq!(second["errno"], 111);
}
