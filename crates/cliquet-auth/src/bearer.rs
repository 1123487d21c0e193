//! The bearer-token hook, for token-introspecting policies (OpenID Connect).

use std::sync::Arc;

use async_trait::async_trait;
use cliquet_errors::ApiError;
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};

use crate::policy::AuthPolicy;

/// Checks an access token, typically by asking an identity provider (and
/// caching its answers).
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The user id the token belongs to, or `None` when the token is
    /// invalid (the request then stays anonymous, as in Kinto: a protected
    /// endpoint answers 401 errno 104).
    async fn verify(&self, token: &str) -> Result<Option<String>, ApiError>;
}

/// A policy reading `Authorization: <header type> <token>` and asking a
/// [`TokenVerifier`]; user ids are prefixed with the policy's name (the
/// provider's, such as `google`).
pub struct BearerPolicy {
    name: String,
    header_type: String,
    verifier: Arc<dyn TokenVerifier>,
    challenge: HeaderValue,
}

impl std::fmt::Debug for BearerPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerPolicy")
            .field("name", &self.name)
            .field("header_type", &self.header_type)
            .finish_non_exhaustive()
    }
}

impl BearerPolicy {
    /// A policy named `name` with header type `Bearer` and realm `Realm`.
    pub fn new(name: impl Into<String>, verifier: Arc<dyn TokenVerifier>) -> Self {
        let mut policy = Self {
            name: name.into(),
            header_type: String::new(),
            verifier,
            challenge: HeaderValue::from_static("Bearer realm=\"Realm\""),
        };
        policy.set_challenge("Bearer", "Realm");
        policy
    }

    /// Sets the scheme read from `Authorization` (`header_type`) and the
    /// realm of the challenge.
    pub fn header_type(mut self, header_type: &str, realm: &str) -> Self {
        self.set_challenge(header_type, realm);
        self
    }

    fn set_challenge(&mut self, header_type: &str, realm: &str) {
        self.header_type = header_type.to_owned();
        if let Ok(value) = HeaderValue::from_str(&format!("{header_type} realm=\"{realm}\"")) {
            self.challenge = value;
        }
    }
}

#[async_trait]
impl AuthPolicy for BearerPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return Ok(None);
        };
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case(&self.header_type) || token.is_empty() {
            return Ok(None);
        }
        self.verifier.verify(token).await
    }
}
