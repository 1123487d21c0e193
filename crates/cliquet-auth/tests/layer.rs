//! `AuthLayer` end to end, under a bare `service_fn` and under an axum `Router`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cliquet_auth::{
    AccountStore, AccountsPolicy, AuthLayer, AuthPolicy, BasicAuthPolicy, BearerPolicy,
    CredentialsCache, Identity, PrincipalsProvider, TokenVerifier,
};
use cliquet_errors::{ApiError, ErrorLayer};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

struct Accounts;

#[async_trait]
impl AccountStore for Accounts {
    async fn verify(&self, username: &str, password: &str) -> Result<bool, ApiError> {
        match (username, password) {
            ("down", _) => Err(ApiError::backend_unavailable()),
            (user, pass) => Ok(user == "alice" && pass == "wonderland"),
        }
    }
}

struct Groups;

#[async_trait]
impl PrincipalsProvider for Groups {
    async fn principals(&self, user_id: &str) -> Result<Vec<String>, ApiError> {
        Ok(match user_id {
            "account:alice" => vec!["/buckets/b/groups/readers".to_owned()],
            _ => Vec::new(),
        })
    }
}

struct Tokens;

#[async_trait]
impl TokenVerifier for Tokens {
    async fn verify(&self, token: &str) -> Result<Option<String>, ApiError> {
        Ok((token == "valid-token").then(|| "1234".to_owned()))
    }
}

fn layer() -> AuthLayer {
    let accounts: Arc<dyn AuthPolicy> = Arc::new(AccountsPolicy::new(
        Arc::new(Accounts),
        Arc::new(CredentialsCache::new("secret", Duration::from_secs(30))),
    ));
    let basicauth: Arc<dyn AuthPolicy> = Arc::new(BasicAuthPolicy::new("secret"));
    let bearer: Arc<dyn AuthPolicy> = Arc::new(BearerPolicy::new("google", Arc::new(Tokens)));
    AuthLayer::new([accounts, basicauth, bearer]).principals_provider(Arc::new(Groups))
}

/// Answers the identity as JSON; `/protected` needs a user.
async fn whoami(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, ApiError> {
    let identity = request.extensions().get::<Identity>().unwrap().clone();
    if request.uri().path() == "/protected" && !identity.is_authenticated() {
        return Ok(ApiError::unauthorized().into_response());
    }
    if request.uri().path() == "/admin" {
        return Ok(ApiError::forbidden().into_response());
    }
    let body = json!({
        "user_id": identity.user_id(),
        "authn_type": identity.authn_type(),
        "principals": identity.principals(),
    });
    Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
}

fn request(path: &str, authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path);
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.body(Full::default()).unwrap()
}

fn basic(credentials: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

async fn call(path: &str, authorization: Option<&str>) -> (StatusCode, http::HeaderMap, Value) {
    let service = ServiceBuilder::new()
        .layer(ErrorLayer::new())
        .layer(layer())
        .service(service_fn(whoami));
    let response = service.oneshot(request(path, authorization)).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

#[tokio::test]
async fn basicauth_user_id_is_kintos() {
    let (status, _, body) = call("/", Some(&basic("user:p4ssw0rd"))).await;
    assert_eq!(status, StatusCode::OK);
    // HMAC-SHA256 of "user:p4ssw0rd" keyed by "secret", as Kinto computes it.
    assert_eq!(
        body["user_id"],
        "basicauth:710ced08406ae761b37e87e282092983cf35030cb030d7b4d5f843539ad09653"
    );
    assert_eq!(body["authn_type"], "basicauth");
    assert_eq!(body["principals"][1], "system.Everyone");
    assert_eq!(body["principals"][2], "system.Authenticated");
}

#[tokio::test]
async fn accounts_come_first_and_add_group_principals() {
    let (_, _, body) = call("/", Some(&basic("alice:wonderland"))).await;
    assert_eq!(body["user_id"], "account:alice");
    assert_eq!(body["authn_type"], "account");
    assert_eq!(
        body["principals"],
        json!([
            "account:alice",
            "system.Everyone",
            "system.Authenticated",
            "/buckets/b/groups/readers"
        ])
    );
    // A wrong password falls through to the next policy, as with Kinto's
    // `account basicauth` configuration.
    let (_, _, body) = call("/", Some(&basic("alice:wrong"))).await;
    assert_eq!(body["authn_type"], "basicauth");
}

#[tokio::test]
async fn bearer_tokens() {
    let (_, _, body) = call("/", Some("Bearer valid-token")).await;
    assert_eq!(body["user_id"], "google:1234");
    let (_, _, body) = call("/", Some("Bearer forged")).await;
    assert_eq!(body["user_id"], Value::Null);
}

#[tokio::test]
async fn no_or_invalid_credentials_are_anonymous() {
    for authorization in [None, Some("Basic abc"), Some("Bearer "), Some("Digest x")] {
        let (status, _, body) = call("/", authorization).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["user_id"], Value::Null, "{authorization:?}");
        assert_eq!(body["principals"], json!(["system.Everyone"]));
    }
    let (_, _, body) = call("/", Some(&basic(":password"))).await;
    assert_eq!(body["principals"], json!(["system.Everyone"]));
}

#[tokio::test]
async fn a_401_carries_every_policys_challenge() {
    let (status, headers, body) = call("/protected", Some("Basic abc")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errno"], 104);
    let challenges: Vec<&str> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        [
            "Basic realm=\"Realm\"",
            "Basic realm=\"Realm\"",
            "Bearer realm=\"Realm\""
        ]
    );
}

#[tokio::test]
async fn a_403_gets_challenges_only_when_anonymous() {
    let (status, headers, _) = call("/admin", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers.get_all(WWW_AUTHENTICATE).iter().count(), 3);
    let (status, headers, _) = call("/admin", Some(&basic("bob:x"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key(WWW_AUTHENTICATE));
}

#[tokio::test]
async fn a_failing_store_is_a_503() {
    let (status, _, body) = call("/", Some(&basic("down:x"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errno"], 201);
}

#[tokio::test]
async fn an_inherited_identity_is_kept() {
    let service = layer().layer(service_fn(whoami));
    let mut request = request("/", Some(&basic("alice:wonderland")));
    request
        .extensions_mut()
        .insert(Identity::authenticated("account:bob", "account", []));
    let response = service.oneshot(request).await.unwrap();
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["user_id"], "account:bob");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn under_an_axum_router() {
    async fn me(identity: Identity) -> Result<String, ApiError> {
        identity
            .user_id()
            .map(str::to_owned)
            .ok_or_else(ApiError::unauthorized)
    }
    let app = axum::Router::new()
        .route("/v1/me", axum::routing::get(me))
        .layer(layer());

    let request = Request::get("/v1/me")
        .header(AUTHORIZATION, basic("alice:wonderland"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "account:alice"
    );

    let request = Request::get("/v1/me")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers().get_all(WWW_AUTHENTICATE).iter().count(),
        3
    );
}
