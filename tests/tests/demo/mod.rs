//! The demo service the `initialize` and `request_log` tests start.
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::routing::get;
use cliquet::Cliquet;
use cliquet::settings::{RawSettings, Settings, Sources};
use cliquet_batch::NoScope;
use cliquet_e2e::TestServer;
use cliquet_heartbeat::BuildInfo;

/// The demo's settings, with `extra` on top.
pub fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut defaults = RawSettings::new();
    defaults.set("project_name", "demo");
    defaults.set("project_version", "1.2.3");
    defaults.set("http_api_version", "1.23");
    defaults.set("multiauth.policies", "basicauth");
    defaults.set("userid_hmac_secret", "secret");
    defaults.set("retry_after_seconds", 3);
    for (key, value) in extra {
        defaults.set(*key, *value);
    }
    Settings::load(Sources {
        file: None,
        prefix: "demo",
        env: Vec::new(),
        defaults,
    })
    .unwrap()
}

/// A plural endpoint answering an empty list.
pub fn routes() -> Router {
    Router::new().route("/v1/things", get(|| async { "[]" }).post(|| async { "{}" }))
}

/// The whole stack, from `settings`, on a random port.
pub async fn start(settings: Settings) -> TestServer {
    let cliquet = Cliquet::initialize(settings, BuildInfo::new("demo", "1.2.3"))
        .await
        .unwrap();
    TestServer::start(cliquet.service(routes(), NoScope).unwrap()).await
}
