//! The [`AuthPolicy`] trait and the Basic auth policy.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cliquet_errors::ApiError;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};
use sha2::Sha256;

/// One way of identifying a request's user.
///
/// [`AuthLayer`](crate::AuthLayer) asks its policies in order; the first
/// that returns a user id wins, and the protocol's user id is
/// `"{name}:{user id}"`.
#[async_trait]
pub trait AuthPolicy: Send + Sync + 'static {
    /// The policy's name: the prefix of its user ids (`basicauth`,
    /// `account`), also reported as the request's `authn_type`.
    fn name(&self) -> &str;

    /// The `WWW-Authenticate` challenge this policy adds to 401 responses.
    fn challenge(&self) -> Option<HeaderValue>;

    /// The (unprefixed) user id the request's headers prove, or `None` when
    /// this policy cannot identify the request: missing or invalid
    /// credentials leave it to the next policy, and finally anonymous.
    ///
    /// An `Err` is a failure of the policy itself (its store is down, say),
    /// answered as it is.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError>;
}

/// The challenge of a Basic policy with this realm.
pub fn basic_challenge(realm: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Basic realm=\"{realm}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"Realm\""))
}

/// The username and password of an `Authorization: Basic …` header.
///
/// The scheme is case-insensitive; the decoded `user:password` is split on
/// its first colon and the password may be empty. Anything else — another
/// scheme, bad base64, a decoded text that is not UTF-8 or has no colon,
/// an empty username — is `None`.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    if username.is_empty() {
        return None;
    }
    Some((username.to_owned(), password.to_owned()))
}

/// Lower-case hex of HMAC-SHA256(`key`, `message`), the protocol's
/// `hmac_digest`.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Basic auth: any username and password, turned into a stable opaque
/// user id `hex(HMAC-SHA256(userid_hmac_secret, "user:password"))`, so
/// that the ids match those Kinto stores for the same secret.
///
/// Anyone can mint identities with it: it is for demos and tests, not for
/// production.
#[derive(Debug, Clone)]
pub struct BasicAuthPolicy {
    secret: Vec<u8>,
    challenge: HeaderValue,
}

impl BasicAuthPolicy {
    /// The policy, keyed by the `userid_hmac_secret` setting, with realm
    /// `Realm`.
    pub fn new(userid_hmac_secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: userid_hmac_secret.as_ref().to_vec(),
            challenge: basic_challenge("Realm"),
        }
    }

    /// Sets the realm of the challenge.
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = basic_challenge(realm);
        self
    }

    /// The user id of these credentials (unprefixed).
    pub fn user_id(&self, username: &str, password: &str) -> String {
        hmac_hex(&self.secret, format!("{username}:{password}").as_bytes())
    }
}

#[async_trait]
impl AuthPolicy for BasicAuthPolicy {
    fn name(&self) -> &str {
        "basicauth"
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        Ok(basic_credentials(headers)
            .map(|(username, password)| self.user_id(&username, &password)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    fn basic(credentials: &str) -> HeaderMap {
        headers(&format!("Basic {}", STANDARD.encode(credentials)))
    }

    #[test]
    fn user_id_matches_kinto_worked_example() {
        // secret "secret", credentials alice:pw (protocol/auth.md §2).
        assert_eq!(
            BasicAuthPolicy::new("secret").user_id("alice", "pw"),
            "741990a963a80c63909bfb68ab5e86ed40af0662b5fd4013398e105e6d5fba94"
        );
    }

    #[test]
    fn parsing() {
        assert_eq!(
            basic_credentials(&basic("user:p4ss:word")),
            Some(("user".into(), "p4ss:word".into()))
        );
        assert_eq!(
            basic_credentials(&basic("user:")),
            Some(("user".into(), "".into()))
        );
        assert_eq!(
            basic_credentials(&headers(&format!("bAsIc {}", STANDARD.encode("a:b")))),
            Some(("a".into(), "b".into()))
        );
        assert_eq!(basic_credentials(&basic(":password")), None);
        assert_eq!(basic_credentials(&basic("no-colon")), None);
        assert_eq!(basic_credentials(&headers("Basic abc")), None);
        assert_eq!(basic_credentials(&headers("Bearer abc")), None);
        assert_eq!(basic_credentials(&headers("Basic")), None);
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, b':', b'x']));
        assert_eq!(basic_credentials(&headers(&not_utf8)), None);
    }

    #[test]
    fn challenge_has_the_realm() {
        assert_eq!(
            BasicAuthPolicy::new("").challenge().unwrap(),
            "Basic realm=\"Realm\""
        );
        assert_eq!(
            BasicAuthPolicy::new("").realm("Kinto").challenge().unwrap(),
            "Basic realm=\"Kinto\""
        );
    }
}
