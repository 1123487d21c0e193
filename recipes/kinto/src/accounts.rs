//! Kinto's accounts plugin (`kinto.plugins.accounts`): user accounts
//! stored in the service, logged in with HTTP Basic credentials.
//!
//! Switched on by `includes = kinto.plugins.accounts` together with an
//! authentication policy: `multiauth.policy.<name>.use =
//! kinto.plugins.accounts.AccountsPolicy` (or `…AccountsAuthenticationPolicy`)
//! and `<name>` in `multiauth.policies`. Whatever the name, the user id of an
//! account is `account:<username>`.
//!
//! - **Resource** `/accounts`, `/accounts/{id}`: stored exactly as Kinto
//!   stores accounts (resource name `account`, parent id = the account id,
//!   the bcrypt hash in `data.password`, ACLs under `/accounts/{id}`), so a
//!   Kinto database's accounts log in unchanged and the other way round.
//!   Ids match `^[a-zA-Z0-9][+.@a-zA-Z0-9_-]*$`.
//! - **Who may do what**: `account_create_principals` may create accounts
//!   (`system.Everyone` for open sign-up); `account_write_principals` are
//!   administrators, who see and edit every account;
//!   `account_read_principals` may read any account, but like every
//!   non-administrator only reach their own. Everyone else reaches their
//!   own account only ([`scope`] decides each request's parent id as
//!   Kinto's `get_parent_id` does). A new account is owned by
//!   `account:<its id>`, also when an administrator creates it.
//! - **Passwords** are hashed with bcrypt (`$2b$`, cost 12 as Kinto, or the
//!   `account_bcrypt_cost` setting) on every write that changes them;
//!   responses show the hash, never the plain text.
//! - **Logins** ([`AccountsPolicy`]) check the password against the stored
//!   hash, and remember a successful check in the **cache backend** for
//!   `account_cache_ttl_seconds` (30 s) under Kinto's keys
//!   (`HMAC(userid_hmac_secret, "accounts:<user>:verified")`). Failures are
//!   never remembered; writing or deleting an account forgets its entry;
//!   flushing the cache backend (`POST /__flush__`) forgets them all.
//!
//! # Decisions
//!
//! - A write re-hashes `password` only when it differs from the stored
//!   value: a `PATCH` without password, or a `PUT` that sends back the hash
//!   it read, keeps the hash (Kinto versions that re-hash unconditionally
//!   turn the stored hash into the hash of a hash, locking the user out).
//! - `account_validation` (e-mail activation) is not implemented: setting
//!   it true is refused at start, rather than silently accepting accounts
//!   that were meant to be validated. `validation_enabled` is always
//!   `false` in the capability.
//! - A `POST` by a non-administrator without `data.id` is a 400 naming
//!   `data.id`, as for anonymous users.
//! - Logins are remembered in the cache backend rather than in the
//!   process (`cliquet_auth::CredentialsCache`): every instance on one
//!   database sees a password change at once, and a flush of the backends
//!   leaves no stale login valid.
//! - As in Kinto, the entry is forgotten inside the write's transaction,
//!   before it commits: a login checked against the old hash in that
//!   instant can remember the old password for one more cache TTL.
//! - As in Kinto, an administrator's `GET /accounts` reads the collection
//!   timestamp of the parent `*` (the `ETag` of that list does not follow
//!   the accounts' changes).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use cliquet::{Cliquet, InitError};
use cliquet_auth::{AuthPolicy, Identity, basic_challenge, basic_credentials, hmac_hex};
use cliquet_errors::{ApiError, Errno, Location};
use cliquet_resource::{
    Change, HookContext, IdGenerator, Names, ParentId, Resource, ResourceHooks, Schema, Writer,
};
use cliquet_storage::storage::{Get, Update};
use cliquet_storage::{Backends, BoundPermission, Cache, Object, Storage, StorageError};
use http::header::HeaderValue;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

use crate::{KintoSettings, Settings};

/// The prefix of account user ids, whatever the policy's name in
/// `multiauth.policies`.
pub const POLICY_NAME: &str = "account";
/// The storage resource name of accounts.
pub const RESOURCE_NAME: &str = "account";
/// Kinto's `account_cache_ttl_seconds` default.
pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 30;
/// The bcrypt cost of Kinto's hashes (`bcrypt.gensalt()`).
pub const DEFAULT_BCRYPT_COST: u32 = 12;
/// The class names that select the accounts policy in
/// `multiauth.policy.<name>.use`.
const POLICY_CLASSES: [&str; 2] = ["AccountsPolicy", "AccountsAuthenticationPolicy"];
const CAPABILITY_URL: &str = "https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html";
/// The largest `POST /accounts` body read to find `data.id` (the resource's
/// own limit).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Kinto's `AccountIdGenerator`: ids match
/// `^[a-zA-Z0-9][+.@a-zA-Z0-9_-]*$` (e-mail addresses are valid ids), at
/// most 255 bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountIds;

impl IdGenerator for AccountIds {
    fn generate(&self) -> String {
        Names.generate()
    }

    fn is_valid(&self, id: &str) -> bool {
        let bytes = id.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 255
            && bytes[0].is_ascii_alphanumeric()
            && bytes[1..]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"+.@_-".contains(&c))
    }
}

/// The pairs that grant `permission` on an account URI: Kinto's tree
/// (`write` on an account grants `read` on it). On the plural URI
/// `/accounts`, `read` is granted by `write` only, which only
/// `account_write_principals` hold: readers and owners list their own
/// account, through their permissions on it.
pub fn bound_permissions(object_id: &str, permission: &str) -> Vec<BoundPermission> {
    let pair = BoundPermission::new;
    match (object_id, permission) {
        ("/accounts", "read" | "write") => vec![pair(object_id, "write")],
        (_, "read") => vec![pair(object_id, "write"), pair(object_id, "read")],
        _ => vec![pair(object_id, permission)],
    }
}

/// Splits a principals setting as Kinto's `aslist` does.
fn principals_setting(settings: &Settings, key: &str) -> Vec<String> {
    match settings.raw.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) => text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The accounts configuration: who may create, administer and read
/// accounts, and how logins are checked and cached.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// `includes` has the plugin: `/accounts` is served.
    pub plugin: bool,
    /// The `multiauth.policies` names configured as the accounts policy.
    pub policy_names: Vec<String>,
    /// `account_create_principals`.
    pub create_principals: Vec<String>,
    /// `account_write_principals`: the administrators.
    pub write_principals: Vec<String>,
    /// `account_read_principals`.
    pub read_principals: Vec<String>,
    /// `userid_hmac_secret`: the key of the credentials cache.
    pub secret: String,
    /// `account_cache_ttl_seconds`.
    pub cache_ttl: Duration,
    /// `account_bcrypt_cost`: the bcrypt cost of new hashes.
    pub bcrypt_cost: u32,
}

impl Accounts {
    /// Reads the accounts settings, refusing the configurations Kinto
    /// refuses (and `account_validation`, not implemented).
    pub fn from_settings(settings: &Settings) -> Result<Self, InitError> {
        let plugin = crate::plugins::Plugins::from_settings(settings).accounts;
        let mut policy_names: Vec<String> = settings
            .raw
            .keys()
            .filter_map(|key| {
                let name = key
                    .strip_prefix("multiauth.policy.")?
                    .strip_suffix(".use")?;
                let class = settings.raw.get_text(key)?;
                let class = class.trim();
                POLICY_CLASSES
                    .iter()
                    .any(|c| class.ends_with(c))
                    .then(|| name.to_owned())
            })
            .collect();
        policy_names.sort();
        policy_names.dedup();
        let extra: &KintoSettings = &settings.extra;
        let bcrypt_cost = extra.account_bcrypt_cost.unwrap_or(DEFAULT_BCRYPT_COST);
        let accounts = Self {
            plugin,
            create_principals: principals_setting(settings, "account_create_principals"),
            write_principals: principals_setting(settings, "account_write_principals"),
            read_principals: principals_setting(settings, "account_read_principals"),
            secret: settings.core.userid_hmac_secret.clone(),
            cache_ttl: Duration::from_secs(
                extra
                    .account_cache_ttl_seconds
                    .unwrap_or(DEFAULT_CACHE_TTL_SECONDS),
            ),
            bcrypt_cost,
            policy_names,
        };
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(InitError::new(format!(
                "setting `account_bcrypt_cost`: {bcrypt_cost} is not a bcrypt cost (4 to 31; Kinto uses 12)"
            )));
        }
        if !plugin {
            return Ok(accounts);
        }
        if extra.account_validation {
            return Err(InitError::new(
                "setting `account_validation`: account validation by e-mail is not implemented; \
                 remove the setting or set it to false",
            ));
        }
        let Some(name) = accounts.policy_names.first() else {
            return Err(InitError::new(
                "Account policy missing the 'multiauth.policy.*.use' setting: add \
                 `multiauth.policy.account.use = kinto.plugins.accounts.AccountsPolicy` \
                 and `account` to `multiauth.policies`",
            ));
        };
        let policies = &settings.core.multiauth_policies;
        let position = |wanted: &str| policies.iter().position(|p| p == wanted);
        if let (Some(basicauth), Some(account)) = (position("basicauth"), position(name))
            && basicauth < account
        {
            return Err(InitError::new(format!(
                "setting `multiauth.policies`: 'basicauth' should not be mentioned before '{name}' \
                 (basicauth accepts any credentials and would hide the accounts)"
            )));
        }
        let mut creators: Vec<&String> = accounts
            .create_principals
            .iter()
            .filter(|p| *p != cliquet_auth::EVERYONE && !accounts.write_principals.contains(p))
            .collect();
        creators.dedup();
        if !creators.is_empty() {
            return Err(InitError::new(format!(
                "setting `account_create_principals`: {creators:?} may create accounts but are not \
                 in `account_write_principals`, so they could only ever create their own account; \
                 add them to `account_write_principals`"
            )));
        }
        Ok(accounts)
    }

    /// Whether `identity` is an administrator (`account_write_principals`).
    pub fn is_admin(&self, identity: &Identity) -> bool {
        self.write_principals
            .iter()
            .any(|p| identity.has_principal(p))
    }

    /// Whether `identity` may create accounts (`account_create_principals`).
    pub fn may_create(&self, identity: &Identity) -> bool {
        self.create_principals
            .iter()
            .any(|p| identity.has_principal(p))
    }

    /// The cache key of `username`'s verified credentials (Kinto's).
    pub fn cache_key(&self, username: &str) -> String {
        hmac_hex(
            self.secret.as_bytes(),
            format!("accounts:{username}:verified").as_bytes(),
        )
    }

    /// The `/accounts` resource.
    pub fn resource(&self, settings: &Settings, cache: Arc<dyn Cache>) -> Resource {
        let mut access = cliquet_resource::Access::shared(bound_permissions);
        for (permission, principals) in [
            ("account:create", &self.create_principals),
            ("write", &self.write_principals),
            ("read", &self.read_principals),
        ] {
            if !principals.is_empty() {
                access = access.grant(permission, principals.iter().cloned());
            }
        }
        Resource::builder(RESOURCE_NAME)
            .plural_path("/accounts")
            .object_path(Some("/accounts/{id}"))
            .schema(Schema::typed::<AccountData>())
            .access(access)
            .ids(AccountIds)
            .hooks(AccountHooks {
                accounts: self.clone(),
                cache,
            })
            .paginate_by(settings.core.paginate_by.map(|n| n as usize))
            .max_fetch_size(settings.core.storage_max_fetch_size as usize)
            .delete_token_ttl(Duration::from_secs(
                settings.core.pagination_token_validity_seconds,
            ))
            .build()
            .expect("the accounts resource is valid")
    }

    /// The `/accounts` routes on `backends`, each request scoped by
    /// [`scope`].
    pub fn router(&self, settings: &Settings, backends: Backends) -> Router {
        let resource = self.resource(settings, backends.cache.clone());
        resource
            .router(backends)
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::new(self.clone()),
                scope,
            ))
    }

    /// Registers the accounts policy under each name configured for it
    /// (and `account`), and, with the plugin, the `accounts` capability.
    pub fn install(&self, cliquet: &mut Cliquet<KintoSettings>) -> Result<(), InitError> {
        if !self.plugin && self.policy_names.is_empty() {
            return Ok(());
        }
        let backends = cliquet.backends.clone();
        let mut names = self.policy_names.clone();
        if !names.iter().any(|n| n == POLICY_NAME) {
            names.push(POLICY_NAME.to_owned());
        }
        for name in names {
            let realm = cliquet
                .settings
                .raw
                .get_text(&format!("multiauth.policy.{name}.realm"))
                .unwrap_or_else(|| "Realm".to_owned());
            let policy = AccountsPolicy::new(self.clone(), &backends).realm(&realm);
            cliquet.register_policy(name, Arc::new(policy));
        }
        if self.plugin {
            let storage = &cliquet.settings.core.storage_backend;
            if cliquet::BackendKind::from_setting("storage_backend", storage)
                .is_ok_and(|kind| kind == cliquet::BackendKind::Memory)
            {
                tracing::warn!("accounts are kept in memory: they vanish when the server stops");
            }
        }
        Ok(())
    }

    /// Announces the `accounts` capability (at the plugin's place in
    /// `includes`).
    pub fn register_capability(
        &self,
        cliquet: &mut Cliquet<KintoSettings>,
    ) -> Result<(), InitError> {
        let mut extra = Map::new();
        extra.insert("validation_enabled".to_owned(), Value::Bool(false));
        cliquet
            .capabilities
            .register("accounts", "Manage user accounts.", CAPABILITY_URL, extra)
            .map_err(|e| InitError::new(e.to_string()))
    }
}

/// What an account's `data` must hold: a `password` string; any other
/// field is free metadata.
#[derive(serde::Deserialize, serde::Serialize)]
struct AccountData {
    password: String,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Hashes `password` with bcrypt at `cost`, in Kinto's format
/// (`$2b$<cost>$<salt><hash>`).
pub fn hash_password(password: &str, cost: u32) -> Result<String, ApiError> {
    bcrypt::hash_with_result(password, cost)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoB))
        .map_err(|error| {
            tracing::error!(%error, "bcrypt hashing failed");
            ApiError::internal()
        })
}

/// Whether `password` matches the bcrypt `hash` (`$2a$`, `$2b$`, `$2y$`);
/// a malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// Runs a bcrypt computation off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::internal())
}

/// The unprefixed user id of an authenticated request (Kinto's
/// `selected_userid`: `bob` for `account:bob`).
fn selected_userid(identity: &Identity) -> Option<&str> {
    let user_id = identity.user_id()?;
    Some(
        user_id
            .split_once(':')
            .map_or(user_id, |(_, unprefixed)| unprefixed),
    )
}

fn id_required() -> ApiError {
    ApiError::invalid_parameter(Location::Body, "data.id", "data.id in body: Required")
}

fn id_mismatch() -> ApiError {
    ApiError::invalid_parameter(
        Location::Body,
        "data.id",
        "Username and account ID do not match.",
    )
}

fn denied(identity: &Identity) -> ApiError {
    if identity.is_authenticated() {
        ApiError::forbidden()
    } else {
        ApiError::unauthorized()
    }
}

/// The `data.id` string of a JSON body, if any.
fn posted_id(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    value.get("data")?.get("id")?.as_str().map(str::to_owned)
}

/// Decides where each `/accounts` request looks, as Kinto's
/// `get_parent_id`: administrators reach the account of the URL (all of
/// them, parent `*`, on the plural endpoint; the posted id on `POST`);
/// other authenticated users only their own account; anonymous requests
/// the account they create (the URL's id, or the posted `data.id`), and
/// nothing else (`401` errno 999 `Cannot read accounts.`).
///
/// Accounts created anonymously or by an administrator are owned by
/// `account:<id>`; a non-administrator may only post their own id.
pub async fn scope(
    State(accounts): State<Arc<Accounts>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let identity = parts
        .extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or_default();
    let id = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(key, _)| *key == "id")
                .map(|(_, value)| value.to_owned())
        });
    let post = parts.method == Method::POST && id.is_none();
    let (body, posted) = if post {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => {
                let posted = posted_id(&bytes);
                (Body::from(bytes), posted)
            }
            Err(_) => return ApiError::request_too_large().into_response(),
        }
    } else {
        (body, None)
    };
    let admin = accounts.is_admin(&identity);
    let own = selected_userid(&identity).map(str::to_owned);
    let parent = if admin {
        match (id, post) {
            (Some(id), _) => Ok(id),
            (None, true) => posted.ok_or_else(id_required),
            (None, false) => Ok("*".to_owned()),
        }
    } else if let Some(own) = own {
        match posted {
            _ if !post => Ok(own),
            None => Err(id_required()),
            Some(posted) if posted == own => Ok(own),
            Some(_) if accounts.may_create(&identity) => Err(id_mismatch()),
            Some(_) => Err(denied(&identity)),
        }
    } else {
        match (id, post) {
            (Some(id), _) => Ok(id),
            (None, true) => posted.ok_or_else(id_required),
            (None, false) => Err(ApiError::new(StatusCode::UNAUTHORIZED, Errno::Undefined)
                .with_title("Cannot read accounts.")),
        }
    };
    let parent = match parent {
        Ok(parent) => parent,
        Err(error) => return error.into_response(),
    };
    if admin || !identity.is_authenticated() {
        parts
            .extensions
            .insert(Writer(format!("{POLICY_NAME}:{parent}")));
    }
    parts.extensions.insert(ParentId(parent));
    next.run(Request::from_parts(parts, body)).await
}

/// Hashes passwords, keeps non-administrators to their own account, and
/// forgets cached logins of changed accounts.
struct AccountHooks {
    accounts: Accounts,
    cache: Arc<dyn Cache>,
}

#[async_trait]
impl ResourceHooks for AccountHooks {
    async fn process_object(
        &self,
        ctx: &HookContext<'_>,
        mut new: Map<String, Value>,
        old: Option<&Object>,
    ) -> Result<Map<String, Value>, ApiError> {
        let identity = ctx.identity;
        if identity.is_authenticated()
            && !self.accounts.is_admin(identity)
            && let Some(id) = ctx.param("id")
            && Some(id) != selected_userid(identity)
        {
            return Err(id_mismatch());
        }
        let stored = old.and_then(|old| old.data.get("password"));
        if let Some(Value::String(password)) = new.get("password")
            && stored != new.get("password")
        {
            let password = password.clone();
            let cost = self.accounts.bcrypt_cost;
            let hash = blocking(move || hash_password(&password, cost)).await??;
            new.insert("password".to_owned(), Value::String(hash));
        }
        Ok(new)
    }

    async fn after_write(
        &self,
        _ctx: &HookContext<'_>,
        changes: &[Change],
    ) -> Result<(), ApiError> {
        // Kinto forgets on updates and deletions; a creation forgets too,
        // in case an entry outlived a deletion made elsewhere.
        for change in changes {
            let username = change.old.as_ref().map_or(&change.new.id, |old| &old.id);
            self.cache
                .delete(&self.accounts.cache_key(username))
                .await?;
        }
        Ok(())
    }
}

/// The accounts authentication policy: Basic credentials checked against
/// the stored bcrypt hash, successful checks remembered in the cache
/// backend (see the module documentation). Its user ids are
/// `account:<username>` whatever name `multiauth.policies` gives it.
pub struct AccountsPolicy {
    accounts: Accounts,
    storage: Arc<dyn Storage>,
    cache: Arc<dyn Cache>,
    challenge: HeaderValue,
}

impl std::fmt::Debug for AccountsPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountsPolicy")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl AccountsPolicy {
    /// The policy over the storage and cache of `backends`.
    pub fn new(accounts: Accounts, backends: &Backends) -> Self {
        Self {
            accounts,
            storage: backends.storage.clone(),
            cache: backends.cache.clone(),
            challenge: basic_challenge("Realm"),
        }
    }

    /// Sets the realm of the `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = basic_challenge(realm);
        self
    }

    /// Whether `password` is `username`'s.
    pub async fn check(&self, username: &str, password: &str) -> Result<bool, ApiError> {
        let cache_key = self.accounts.cache_key(username);
        let token = hmac_hex(cache_key.as_bytes(), password.as_bytes());
        let ttl = self.accounts.cache_ttl;
        if let Some(Value::String(cached)) = self.cache.get(&cache_key).await?
            && cached == token
        {
            self.cache.expire(&cache_key, ttl).await?;
            return Ok(true);
        }
        let account = match self
            .storage
            .get(Get::new(RESOURCE_NAME, username, username))
            .await
        {
            Ok(account) => account,
            Err(StorageError::NotFound { .. }) => return Ok(false),
            Err(error) => return Err(error.into()),
        };
        let Some(Value::String(hash)) = account.data.get("password").cloned() else {
            return Ok(false);
        };
        let password = password.to_owned();
        if !blocking(move || verify_password(&password, &hash)).await? {
            return Ok(false);
        }
        self.cache
            .set(&cache_key, Value::String(token), ttl)
            .await?;
        Ok(true)
    }
}

#[async_trait]
impl AuthPolicy for AccountsPolicy {
    fn name(&self) -> &str {
        POLICY_NAME
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        let Some((username, password)) = basic_credentials(headers) else {
            return Ok(None);
        };
        Ok(self.check(&username, &password).await?.then_some(username))
    }
}

/// Why `kinto create-user` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUserError(String);

impl std::fmt::Display for CreateUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CreateUserError {}

impl From<InitError> for CreateUserError {
    fn from(error: InitError) -> Self {
        Self(error.to_string())
    }
}

impl From<StorageError> for CreateUserError {
    fn from(error: StorageError) -> Self {
        Self(format!("storage: {error}"))
    }
}

/// Creates the account `username` with `password` in `backends`, or sets
/// the password of an existing one (keeping its other fields), and makes
/// the account the owner of itself (`write` for `account:<username>`), as
/// Kinto's `create-user` does. Refused on a read-only server and when the
/// plugin is not included. Returns whether the account was created.
pub async fn create_user(
    settings: &Settings,
    backends: &Backends,
    username: &str,
    password: &str,
) -> Result<bool, CreateUserError> {
    if settings.backoff.readonly {
        return Err(CreateUserError(
            "Cannot create a user with a readonly server.".into(),
        ));
    }
    let accounts = Accounts::from_settings(settings)?;
    if !accounts.plugin {
        return Err(CreateUserError(
            "Cannot create a user when the accounts plugin is not installed \
             (add kinto.plugins.accounts to `includes`)."
                .into(),
        ));
    }
    if !AccountIds.is_valid(username) {
        return Err(CreateUserError(format!(
            "{username:?} is not a valid username: it must match ^[a-zA-Z0-9][+.@a-zA-Z0-9_-]*$"
        )));
    }
    let cost = accounts.bcrypt_cost;
    let owned = password.to_owned();
    let hash = blocking(move || hash_password(&owned, cost))
        .await
        .and_then(|hash| hash)
        .map_err(|_| CreateUserError("could not hash the password".into()))?;
    let mut data = match backends
        .storage
        .get(Get::new(RESOURCE_NAME, username, username))
        .await
    {
        Ok(existing) => existing.data,
        Err(StorageError::NotFound { .. }) => Map::new(),
        Err(error) => return Err(error.into()),
    };
    data.insert("password".to_owned(), Value::String(hash));
    let updated = backends
        .storage
        .update(Update::new(RESOURCE_NAME, username, username, data))
        .await?;
    backends
        .permission
        .add_principal_to_ace(
            &format!("/accounts/{username}"),
            "write",
            &format!("{POLICY_NAME}:{username}"),
        )
        .await?;
    backends.cache.delete(&accounts.cache_key(username)).await?;
    Ok(updated.created())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        for id in ["alice", "alice+test@example.com", "a.b-c_d", "0"] {
            assert!(AccountIds.is_valid(id), "{id}");
        }
        for id in ["", ".alice", "_a", "+a", "@a", "a/b", "a b", "é"] {
            assert!(!AccountIds.is_valid(id), "{id}");
        }
        assert!(!AccountIds.is_valid(&"a".repeat(256)));
    }

    #[test]
    fn tree() {
        let objects = |uri, perm| {
            bound_permissions(uri, perm)
                .into_iter()
                .map(|p| (p.object_id, p.permission))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            objects("/accounts/a", "read"),
            [
                ("/accounts/a".to_owned(), "write".to_owned()),
                ("/accounts/a".to_owned(), "read".to_owned())
            ]
        );
        assert_eq!(
            objects("/accounts", "read"),
            [("/accounts".to_owned(), "write".to_owned())]
        );
        assert_eq!(
            objects("/accounts", "account:create"),
            [("/accounts".to_owned(), "account:create".to_owned())]
        );
    }

    #[test]
    fn kinto_default_cost_and_format() {
        let hash = hash_password("s3cr3t", DEFAULT_BCRYPT_COST).unwrap();
        assert!(hash.starts_with("$2b$12$"), "{hash}");
        assert_eq!(hash.len(), 60);
        assert!(verify_password("s3cr3t", &hash));
        assert!(!verify_password("other", &hash));
        assert!(!verify_password("s3cr3t", "not a hash"));
    }

    #[test]
    fn hashes_made_elsewhere_verify() {
        // Made by libxcrypt (crypt(3), `$2b$`, cost 4), the algorithm
        // Python's bcrypt implements.
        let hash = "$2b$04$OATU5i7K2Yy.jR38m2.0MeXvbckPLDkUDf2VdaXOm7IPRB/1/4B9a";
        assert!(verify_password("correct horse battery staple", hash));
        assert!(!verify_password("correct horse battery stapler", hash));
    }
}
