//! Each authentication policy end to end over a real socket, assembled by
//! `Cliquet::initialize`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::routing::get;
use cliquet::Cliquet;
use cliquet::settings::{RawSettings, Settings, Sources};
use cliquet_auth::{
    AccountStore, AccountsPolicy, BearerPolicy, CredentialsCache, Identity, TokenVerifier,
};
use cliquet_batch::NoScope;
use cliquet_e2e::TestServer;
use cliquet_errors::ApiError;
use cliquet_heartbeat::BuildInfo;
use cliquet_storage::Permission;
use http::StatusCode;

struct OneAccount;

#[async_trait]
impl AccountStore for OneAccount {
    async fn verify(&self, username: &str, password: &str) -> Result<bool, ApiError> {
        Ok(username == "alice" && password == "wh1sp3r")
    }
}

struct OneToken;

#[async_trait]
impl TokenVerifier for OneToken {
    async fn verify(&self, token: &str) -> Result<Option<String>, ApiError> {
        Ok((token == "t0ken").then(|| "42".to_owned()))
    }
}

async fn server() -> (TestServer, Arc<dyn Permission>) {
    let mut defaults = RawSettings::new();
    defaults.set("http_api_version", "1.0");
    defaults.set("multiauth.policies", "account basicauth openid");
    let settings: Settings = Settings::load(Sources {
        file: None,
        prefix: "demo",
        env: Vec::new(),
        defaults,
    })
    .unwrap();
    let mut cliquet = Cliquet::initialize(settings, BuildInfo::new("demo", "1"))
        .await
        .unwrap();
    let cache = Arc::new(CredentialsCache::new("", Duration::from_secs(30)));
    cliquet.register_policy(
        "account",
        Arc::new(AccountsPolicy::new(Arc::new(OneAccount), cache)),
    );
    cliquet.register_policy(
        "openid",
        Arc::new(BearerPolicy::new("openid", Arc::new(OneToken))),
    );
    let routes = Router::new().route(
        "/v1/me",
        get(|identity: axum::Extension<Identity>| async move {
            match identity.user_id() {
                Some(_) => Ok(axum::Json(identity.principals().to_vec())),
                None => Err(ApiError::unauthorized()),
            }
        }),
    );
    let permission = cliquet.backends.permission.clone();
    let service = cliquet.service(routes, NoScope).unwrap();
    (TestServer::start(service).await, permission)
}

#[tokio::test]
async fn accounts_basicauth_and_bearer() {
    let (server, permission) = server().await;
    permission
        .add_user_principal("account:alice", "/buckets/b/groups/friends")
        .await
        .unwrap();

    // alice:wh1sp3r is an account, with her group.
    let reply = server
        .get("/v1/me", &[("authorization", "Basic YWxpY2U6d2gxc3Azcg==")])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()[0], "account:alice");
    assert_eq!(reply.json()[3], "/buckets/b/groups/friends");

    // bob:x is not: Basic auth takes it.
    let reply = server
        .get("/v1/me", &[("authorization", "Basic Ym9iOng=")])
        .await;
    assert!(reply.json()[0].as_str().unwrap().starts_with("basicauth:"));

    let reply = server
        .get("/v1/me", &[("authorization", "Bearer t0ken")])
        .await;
    assert_eq!(reply.json()[0], "openid:42");

    // Anonymous, or an invalid token: 401 errno 104 with every challenge.
    for headers in [vec![], vec![("authorization", "Bearer forged")]] {
        let reply = server.get("/v1/me", &headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.json()["errno"], 104);
        assert_eq!(reply.headers.get_all("www-authenticate").iter().count(), 3);
    }
    server.stop().await;
}
