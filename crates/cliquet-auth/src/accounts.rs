//! The accounts hook: Basic credentials checked against a store, with a
//! cache of successful checks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cliquet_errors::ApiError;
use http::HeaderMap;
use http::header::HeaderValue;

use crate::policy::{AuthPolicy, basic_challenge, basic_credentials, hmac_hex};

/// Where accounts live: the application checks a username and password
/// against its store (a bcrypt hash in Kinto's accounts).
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Whether `password` is the password of the account `username`;
    /// `false` when there is no such account.
    async fn verify(&self, username: &str, password: &str) -> Result<bool, ApiError>;
}

/// Successful credential checks, remembered for a while.
///
/// Password hashes are deliberately slow; a request whose credentials were
/// checked less than `ttl` ago does not pay for the hash again. Entries are
/// keyed by an HMAC of the credentials (never the password itself) and
/// dropped by [`CredentialsCache::invalidate`] when an account's password
/// changes or the account is deleted.
#[derive(Debug)]
pub struct CredentialsCache {
    secret: Vec<u8>,
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    username: String,
    expires: Instant,
}

/// Expired entries are swept when the cache grows past this many.
const SWEEP_THRESHOLD: usize = 10_000;

impl CredentialsCache {
    /// A cache keyed with `secret` (the `userid_hmac_secret` setting),
    /// keeping successful checks for `ttl` (`account_cache_ttl_seconds`,
    /// 30 s in Kinto).
    pub fn new(secret: impl AsRef<[u8]>, ttl: Duration) -> Self {
        Self {
            secret: secret.as_ref().to_vec(),
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn key(&self, username: &str, password: &str) -> String {
        hmac_hex(&self.secret, format!("{username}:{password}").as_bytes())
    }

    /// Whether these credentials were checked successfully less than `ttl`
    /// ago.
    pub fn contains(&self, username: &str, password: &str) -> bool {
        let key = self.key(username, password);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key)
            .is_some_and(|entry| entry.username == username && entry.expires > Instant::now())
    }

    /// Remembers a successful check.
    pub fn insert(&self, username: &str, password: &str) {
        let key = self.key(username, password);
        let now = Instant::now();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_THRESHOLD {
            entries.retain(|_, entry| entry.expires > now);
        }
        entries.insert(
            key,
            Entry {
                username: username.to_owned(),
                expires: now + self.ttl,
            },
        );
    }

    /// Forgets every check of `username`: call it when the password
    /// changes or the account is deleted.
    pub fn invalidate(&self, username: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| entry.username != username);
    }
}

/// The accounts policy: Basic credentials checked against an
/// [`AccountStore`]; the user id is the username (prefixed `account:`).
pub struct AccountsPolicy {
    store: Arc<dyn AccountStore>,
    cache: Arc<CredentialsCache>,
    challenge: HeaderValue,
}

impl std::fmt::Debug for AccountsPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountsPolicy")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl AccountsPolicy {
    /// The policy over `store`, remembering successful checks in `cache`.
    pub fn new(store: Arc<dyn AccountStore>, cache: Arc<CredentialsCache>) -> Self {
        Self {
            store,
            cache,
            challenge: basic_challenge("Realm"),
        }
    }

    /// Sets the realm of the challenge.
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = basic_challenge(realm);
        self
    }

    /// The cache, to invalidate when a password changes.
    pub fn cache(&self) -> &Arc<CredentialsCache> {
        &self.cache
    }
}

#[async_trait]
impl AuthPolicy for AccountsPolicy {
    fn name(&self) -> &str {
        "account"
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        let Some((username, password)) = basic_credentials(headers) else {
            return Ok(None);
        };
        if self.cache.contains(&username, &password) {
            return Ok(Some(username));
        }
        if self.store.verify(&username, &password).await? {
            self.cache.insert(&username, &password);
            Ok(Some(username))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use http::header::AUTHORIZATION;

    struct Counting {
        password: RwLock<String>,
        checks: AtomicUsize,
    }

    #[async_trait]
    impl AccountStore for Counting {
        async fn verify(&self, username: &str, password: &str) -> Result<bool, ApiError> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            Ok(username == "alice" && *self.password.read().unwrap() == password)
        }
    }

    fn basic(credentials: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(credentials));
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn successful_checks_are_cached_until_invalidated() {
        let store = Arc::new(Counting {
            password: RwLock::new("s3cret".into()),
            checks: AtomicUsize::new(0),
        });
        let cache = Arc::new(CredentialsCache::new("key", Duration::from_secs(60)));
        let policy = AccountsPolicy::new(store.clone(), cache.clone());

        for _ in 0..3 {
            let user = policy.authenticate(&basic("alice:s3cret")).await.unwrap();
            assert_eq!(user.as_deref(), Some("alice"));
        }
        assert_eq!(store.checks.load(Ordering::SeqCst), 1);

        // Failed checks are never cached.
        for _ in 0..2 {
            assert_eq!(
                policy.authenticate(&basic("alice:wrong")).await.unwrap(),
                None
            );
        }
        assert_eq!(store.checks.load(Ordering::SeqCst), 3);

        // The password changes: the old one must stop working at once.
        *store.password.write().unwrap() = "n3w".into();
        cache.invalidate("alice");
        assert_eq!(
            policy.authenticate(&basic("alice:s3cret")).await.unwrap(),
            None
        );
        assert_eq!(
            policy
                .authenticate(&basic("alice:n3w"))
                .await
                .unwrap()
                .as_deref(),
            Some("alice")
        );
    }

    #[tokio::test]
    async fn entries_expire() {
        let store = Arc::new(Counting {
            password: RwLock::new("pw".into()),
            checks: AtomicUsize::new(0),
        });
        let cache = Arc::new(CredentialsCache::new("key", Duration::ZERO));
        let policy = AccountsPolicy::new(store.clone(), cache);
        policy.authenticate(&basic("alice:pw")).await.unwrap();
        policy.authenticate(&basic("alice:pw")).await.unwrap();
        assert_eq!(store.checks.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_basic_credentials_abstains() {
        let store = Arc::new(Counting {
            password: RwLock::new("pw".into()),
            checks: AtomicUsize::new(0),
        });
        let policy = AccountsPolicy::new(
            store.clone(),
            Arc::new(CredentialsCache::new("", Duration::from_secs(1))),
        );
        assert_eq!(policy.authenticate(&HeaderMap::new()).await.unwrap(), None);
        assert_eq!(store.checks.load(Ordering::SeqCst), 0);
    }
}
