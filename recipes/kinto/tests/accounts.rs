//! The accounts plugin, in process, on memory and on PostgreSQL.
//!
//! PostgreSQL cases run when `CLIQUET_TEST_POSTGRES_URL` is set; they are
//! serialized (an administrator's `DELETE /accounts` deletes every account
//! of the database) and use fresh account names.

use std::path::PathBuf;

use axum::body::Body;
use base64::Engine as _;
use cliquet_storage::Backends;
use cliquet_storage::storage::{Get, List, Update};
use http::Request;
use http_body_util::BodyExt;
use kinto::accounts::{Accounts, create_user};
use kinto::{App, Settings};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A hash of `correct horse battery staple` made by libxcrypt's bcrypt
/// (`crypt(3)`), not by this service.
const FOREIGN_HASH: &str = "$2b$04$OATU5i7K2Yy.jR38m2.0MeXvbckPLDkUDf2VdaXOm7IPRB/1/4B9a";
const FOREIGN_PASSWORD: &str = "correct horse battery staple";

static PG_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Writes a Kinto `.ini` file with these `[app:main]` lines.
fn ini(lines: &[&str]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("kinto-accounts-{}.ini", uuid::Uuid::new_v4()));
    let text = format!("[app:main]\n{}\n", lines.join("\n"));
    std::fs::write(&path, text).unwrap();
    path
}

const BASE: &[&str] = &[
    "kinto.includes = kinto.plugins.accounts",
    "multiauth.policies = account basicauth",
    "multiauth.policy.account.use = kinto.plugins.accounts.AccountsPolicy",
    "kinto.userid_hmac_secret = s3cret",
    "kinto.account_bcrypt_cost = 4",
];

fn load(lines: &[&str], pg: Option<&str>) -> Result<Settings, String> {
    let mut all: Vec<String> = BASE.iter().map(|l| (*l).to_owned()).collect();
    all.extend(lines.iter().map(|l| (*l).to_owned()));
    if let Some(url) = pg {
        all.extend([
            "kinto.storage_backend = kinto.core.storage.postgresql".to_owned(),
            "kinto.permission_backend = kinto.core.permission.postgresql".to_owned(),
            "kinto.cache_backend = kinto.core.cache.postgresql".to_owned(),
            format!("kinto.storage_url = {url}"),
            "kinto.migrate_on_start = true".to_owned(),
        ]);
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let path = ini(&refs);
    let settings = kinto::settings(Some(&path), Vec::new()).map_err(|e| e.to_string());
    std::fs::remove_file(&path).ok();
    settings
}

struct Env {
    app: App,
    backends: Backends,
    settings: Settings,
    /// A suffix making names unique on a shared database.
    run: String,
}

impl Env {
    fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.run)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some((user, password)) = auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            builder = builder.header("authorization", format!("Basic {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The user id the hello endpoint gives these credentials (`None`
    /// when anonymous).
    async fn who(&self, user: &str, password: &str) -> Option<String> {
        let (status, hello) = self.call("GET", "/v1/", Some((user, password)), None).await;
        assert_eq!(status, 200);
        hello["user"]["id"].as_str().map(str::to_owned)
    }

    async fn stored(&self, id: &str) -> Option<cliquet_storage::Object> {
        self.backends
            .storage
            .get(Get::new("account", id, id))
            .await
            .ok()
    }
}

fn new_run() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

async fn env(lines: &[&str], pg: Option<&str>) -> Env {
    env_in_run(lines, pg, new_run()).await
}

async fn env_in_run(lines: &[&str], pg: Option<&str>, run: String) -> Env {
    let settings = load(lines, pg).unwrap();
    let backends = cliquet::backends_from_settings(&settings).await.unwrap();
    let app = kinto::app(settings.clone(), backends.clone()).unwrap();
    Env {
        app,
        backends,
        settings,
        run,
    }
}

/// Runs a scenario on memory, and on PostgreSQL when configured.
macro_rules! on_both {
    ($name:ident, $lines:expr) => {
        mod $name {
            #[tokio::test]
            async fn memory() {
                super::$name(&super::env($lines, None).await).await;
            }

            #[tokio::test]
            async fn postgresql() {
                let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
                    eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
                    return;
                };
                let _guard = super::PG_LOCK.lock().await;
                super::$name(&super::env($lines, Some(&url)).await).await;
            }
        }
    };
}

fn detail_names(error: &Value) -> Vec<String> {
    error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect()
}

async fn sign_up(env: &Env) {
    let bob = env.name("bob");
    let url = format!("/v1/accounts/{bob}");

    // Anonymous sign-up with PUT: the account owns itself.
    let (status, created) = env
        .call(
            "PUT",
            &url,
            None,
            Some(json!({"data": {"password": "pw1", "nick": "b"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let hash = created["data"]["password"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("$2b$04$"), "{hash}");
    assert_eq!(created["data"]["nick"], "b");
    assert_eq!(
        created["permissions"],
        json!({"write": [format!("account:{bob}")]})
    );

    // Stored as Kinto stores it: parent id = id, a `$2b$` hash that
    // verifies the password.
    let stored = env.stored(&bob).await.unwrap();
    assert_eq!(stored.data["password"], json!(hash));
    assert!(bcrypt::verify("pw1", &hash).unwrap());
    let acl = env
        .backends
        .permission
        .get_object_permissions(&format!("/accounts/{bob}"), None)
        .await
        .unwrap();
    assert_eq!(
        acl.get("write").unwrap().iter().collect::<Vec<_>>(),
        [&format!("account:{bob}")]
    );

    // Logging in; a wrong password falls through to basicauth.
    assert_eq!(
        env.who(&bob, "pw1").await.as_deref(),
        Some(format!("account:{bob}").as_str())
    );
    let wrong = env.who(&bob, "nope").await.unwrap();
    assert!(wrong.starts_with("basicauth:"), "{wrong}");

    // A user lists and reads their own account only.
    let (status, list) = env
        .call("GET", "/v1/accounts", Some((&bob, "pw1")), None)
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bob.as_str()]);
    let (status, own) = env.call("GET", &url, Some((&bob, "pw1")), None).await;
    assert_eq!(status, 200);
    assert_eq!(own["data"]["password"], json!(hash));

    // Anonymous sign-up with POST; posting an existing id.
    let carol = env.name("carol");
    let body = json!({"data": {"id": carol, "password": "pw"}});
    let (status, created) = env
        .call("POST", "/v1/accounts", None, Some(body.clone()))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["permissions"],
        json!({"write": [format!("account:{carol}")]})
    );
    let (status, _) = env
        .call("POST", "/v1/accounts", None, Some(body.clone()))
        .await;
    assert_eq!(status, 401);
    let (status, existing) = env
        .call("POST", "/v1/accounts", Some((&carol, "pw")), Some(body))
        .await;
    assert_eq!(status, 200);
    assert_eq!(existing["data"]["id"], json!(carol));

    // Nobody but carol reaches carol's account.
    let carol_url = format!("/v1/accounts/{carol}");
    let (status, error) = env
        .call(
            "PUT",
            &carol_url,
            Some((&bob, "pw1")),
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errno"], 107);
    assert_eq!(
        error["message"],
        "data.id in body: Username and account ID do not match."
    );
    assert_eq!(detail_names(&error), ["data.id"]);
    let (status, error) = env
        .call(
            "PUT",
            &carol_url,
            Some((&bob, "pw1")),
            Some(json!({"data": {"id": bob, "password": "x"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(detail_names(&error), ["id"]);
    assert_eq!(error["message"], "Object id does not match existing object");
    let (status, error) = env
        .call(
            "POST",
            "/v1/accounts",
            Some((&bob, "pw1")),
            Some(json!({"data": {"id": env.name("you"), "password": "x"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        error["message"],
        "data.id in body: Username and account ID do not match."
    );
    let (status, _) = env.call("GET", &carol_url, Some((&bob, "pw1")), None).await;
    assert_eq!(status, 403);
    let (status, _) = env
        .call(
            "PATCH",
            &format!("/v1/accounts/{}", env.name("nobody")),
            Some((&bob, "pw1")),
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = env
        .call("DELETE", &carol_url, Some((&bob, "pw1")), None)
        .await;
    assert_eq!(status, 403);
    assert!(env.stored(&carol).await.is_some());

    // Anonymous reads.
    let (status, error) = env.call("GET", "/v1/accounts", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(
        error,
        json!({"code": 401, "errno": 999, "error": "Cannot read accounts."})
    );
    let (status, _) = env.call("GET", &carol_url, None, None).await;
    assert_eq!(status, 401);

    // Bad bodies.
    let (status, error) = env
        .call(
            "POST",
            "/v1/accounts",
            None,
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        error["details"][0],
        json!({"location": "body", "name": "data.id", "description": "data.id in body: Required"})
    );
    let dave = format!("/v1/accounts/{}", env.name("dave"));
    let (status, error) = env
        .call("PUT", &dave, None, Some(json!({"data": {"nick": "d"}})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["message"], "data.password in body: Required");
    let (status, error) = env
        .call("PUT", &dave, None, Some(json!({"data": {"password": 12}})))
        .await;
    assert_eq!((status, &error["errno"]), (400, &json!(107)));
    let (status, error) = env
        .call(
            "PUT",
            "/v1/accounts/.dave",
            None,
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!((status, &error["errno"]), (400, &json!(107)));
    let email = format!("/v1/accounts/dave+{}@example.com", env.run);
    let (status, _) = env
        .call(
            "PUT",
            &email,
            None,
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 201);

    // PATCH without password keeps the hash; with one, re-hashes, and the
    // old password stops working at once (after a cached login).
    let (status, patched) = env
        .call(
            "PATCH",
            &url,
            Some((&bob, "pw1")),
            Some(json!({"data": {"nick": "bb"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["data"]["password"], json!(hash));
    assert_eq!(patched["data"]["nick"], "bb");
    assert!(env.who(&bob, "pw1").await.unwrap().starts_with("account:"));
    let (status, patched) = env
        .call(
            "PATCH",
            &url,
            Some((&bob, "pw1")),
            Some(json!({"data": {"password": "pw2"}})),
        )
        .await;
    assert_eq!(status, 200);
    let new_hash = patched["data"]["password"].as_str().unwrap();
    assert_ne!(new_hash, hash);
    assert!(bcrypt::verify("pw2", new_hash).unwrap());
    assert!(
        env.who(&bob, "pw1")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
    assert_eq!(
        env.who(&bob, "pw2").await.as_deref(),
        Some(format!("account:{bob}").as_str())
    );

    // A PUT sending back the stored hash keeps it.
    let (status, replaced) = env
        .call(
            "PUT",
            &url,
            Some((&bob, "pw2")),
            Some(json!({"data": {"password": new_hash}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(replaced["data"]["password"], json!(new_hash));
    assert!(env.who(&bob, "pw2").await.unwrap().starts_with("account:"));

    // A user's DELETE /accounts deletes their own account only.
    let (status, deleted) = env
        .call("DELETE", "/v1/accounts", Some((&carol, "pw")), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(deleted["data"].as_array().unwrap().len(), 1);
    assert_eq!(deleted["data"][0]["id"], json!(carol));
    assert!(env.stored(&carol).await.is_none());
    assert!(env.stored(&bob).await.is_some());

    // Deleting the account logs it out.
    let (status, deleted) = env.call("DELETE", &url, Some((&bob, "pw2")), None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["data"]["deleted"], true);
    assert!(
        env.who(&bob, "pw2")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
    assert!(env.stored(&bob).await.is_none());
}
on_both!(
    sign_up,
    &["kinto.account_create_principals = system.Everyone"]
);

async fn creation_needs_create_principals(env: &Env) {
    let url = format!("/v1/accounts/{}", env.name("eve"));
    let body = json!({"data": {"password": "x"}});
    let (status, _) = env.call("PUT", &url, None, Some(body.clone())).await;
    assert_eq!(status, 401);
    let (status, _) = env
        .call("PUT", &url, Some(("someone", "pw")), Some(body))
        .await;
    assert_eq!(status, 403);
    let (status, _) = env
        .call(
            "POST",
            "/v1/accounts",
            None,
            Some(json!({"data": {"id": env.name("eve"), "password": "x"}})),
        )
        .await;
    assert_eq!(status, 401);
    // A basicauth user posting someone else's id, without the right to
    // create: 403, not the id check.
    let (status, _) = env
        .call(
            "POST",
            "/v1/accounts",
            Some(("someone", "pw")),
            Some(json!({"data": {"id": env.name("eve"), "password": "x"}})),
        )
        .await;
    assert_eq!(status, 403);
    assert!(env.stored(&env.name("eve")).await.is_none());
}
on_both!(creation_needs_create_principals, &[]);

async fn administrators(env: &Env) {
    let created = create_user(&env.settings, &env.backends, "admin", "root")
        .await
        .unwrap();
    let _ = created;
    let admin = Some(("admin", "root"));
    let (alice, bob) = (env.name("alice"), env.name("bob"));

    // An administrator creates accounts that own themselves.
    let (status, reply) = env
        .call(
            "PUT",
            &format!("/v1/accounts/{alice}"),
            admin,
            Some(json!({"data": {"password": "a"}})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(
        reply["permissions"],
        json!({"write": [format!("account:{alice}")]})
    );
    let (status, reply) = env
        .call(
            "POST",
            "/v1/accounts",
            admin,
            Some(json!({"data": {"id": bob, "password": "b"}})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(
        reply["permissions"],
        json!({"write": [format!("account:{bob}")]})
    );
    assert!(env.who(&alice, "a").await.unwrap().starts_with("account:"));

    // Only administrators may create here.
    let (status, _) = env
        .call(
            "PUT",
            &format!("/v1/accounts/{}", env.name("x")),
            None,
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 401);

    // They see and edit every account.
    let (status, list) = env.call("GET", "/v1/accounts", admin, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    for id in ["admin", alice.as_str(), bob.as_str()] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let (status, reply) = env
        .call("GET", &format!("/v1/accounts/{alice}"), admin, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["data"]["id"], json!(alice));
    let (status, _) = env
        .call(
            "PATCH",
            &format!("/v1/accounts/{alice}"),
            admin,
            Some(json!({"data": {"password": "a2"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        env.who(&alice, "a")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
    assert!(env.who(&alice, "a2").await.unwrap().starts_with("account:"));
    let (status, _) = env
        .call(
            "GET",
            &format!("/v1/accounts/{}", env.name("nobody")),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A user still sees only themselves.
    let (status, list) = env
        .call("GET", "/v1/accounts", Some((&alice, "a2")), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // DELETE /accounts by an administrator deletes every account.
    let (status, _) = env.call("DELETE", "/v1/accounts", admin, None).await;
    assert_eq!(status, 200);
    let left = env
        .backends
        .storage
        .list(List::new("account", "*"))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        env.who(&alice, "a2")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
    assert!(
        env.who("admin", "root")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
}
on_both!(
    administrators,
    &[
        "kinto.account_create_principals = account:admin",
        "kinto.account_write_principals = account:admin",
    ]
);

async fn readers(env: &Env) {
    let (reader, alice) = (env.name("reader"), env.name("alice"));
    for id in [&reader, &alice] {
        let (status, _) = env
            .call(
                "PUT",
                &format!("/v1/accounts/{id}"),
                None,
                Some(json!({"data": {"password": "pw"}})),
            )
            .await;
        assert_eq!(status, 201);
    }
    // `account_read_principals` is `account:reader-<run>`.
    let me = Some((reader.as_str(), "pw"));
    let (status, list) = env.call("GET", "/v1/accounts", me, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], json!(reader));
    let (status, error) = env
        .call("GET", &format!("/v1/accounts/{alice}"), me, None)
        .await;
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["errno"], 110);
    assert_eq!(
        error["details"],
        json!({"id": alice, "resource_name": "account"})
    );
    let (status, _) = env
        .call(
            "PATCH",
            &format!("/v1/accounts/{alice}"),
            me,
            Some(json!({"data": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn readers_memory() {
    let env = reader_env(None).await;
    readers(&env).await;
}

#[tokio::test]
async fn readers_postgresql() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let _guard = PG_LOCK.lock().await;
    readers(&reader_env(Some(&url)).await).await;
}

/// An environment whose `account_read_principals` names the reader of
/// its run.
async fn reader_env(pg: Option<&str>) -> Env {
    let run = new_run();
    let line = format!("kinto.account_read_principals = account:reader-{run}");
    env_in_run(
        &["kinto.account_create_principals = system.Everyone", &line],
        pg,
        run,
    )
    .await
}

async fn credentials_cache(env: &Env) {
    let bob = env.name("bob");
    let (status, _) = env
        .call(
            "PUT",
            &format!("/v1/accounts/{bob}"),
            None,
            Some(json!({"data": {"password": "pw"}})),
        )
        .await;
    assert_eq!(status, 201);
    let accounts = Accounts::from_settings(&env.settings).unwrap();
    let key = accounts.cache_key(&bob);
    // Kinto's key: HMAC(secret, "accounts:<user>:verified").
    assert_eq!(
        key,
        cliquet_auth::hmac_hex(b"s3cret", format!("accounts:{bob}:verified").as_bytes())
    );
    let cache = &env.backends.cache;

    // A failed login is not remembered.
    assert!(
        env.who(&bob, "wrong")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
    assert_eq!(cache.get(&key).await.unwrap(), None);

    // A successful one is, in the cache backend, with Kinto's token and TTL.
    assert!(env.who(&bob, "pw").await.unwrap().starts_with("account:"));
    let token = cliquet_auth::hmac_hex(key.as_bytes(), b"pw");
    assert_eq!(cache.get(&key).await.unwrap(), Some(json!(token)));
    let ttl = cache.ttl(&key).await.unwrap().unwrap();
    assert!(ttl.as_secs() > 100 && ttl.as_secs() <= 120, "{ttl:?}");

    // The password changes behind the service's back: the cached login
    // holds until the cache is flushed (as `POST /__flush__` does).
    let other = bcrypt::hash("other", 4).unwrap();
    env.backends
        .storage
        .update(Update::new(
            "account",
            &bob,
            &bob,
            json!({"password": other}).as_object().unwrap().clone(),
        ))
        .await
        .unwrap();
    assert!(env.who(&bob, "pw").await.unwrap().starts_with("account:"));
    cache.flush().await.unwrap();
    assert!(env.who(&bob, "pw").await.unwrap().starts_with("basicauth:"));
    assert!(
        env.who(&bob, "other")
            .await
            .unwrap()
            .starts_with("account:")
    );
}
on_both!(
    credentials_cache,
    &[
        "kinto.account_cache_ttl_seconds = 120",
        "kinto.account_create_principals = system.Everyone",
    ]
);

async fn foreign_hash_logs_in(env: &Env) {
    // An account as the Python Kinto writes it.
    let id = env.name("kinto-user");
    env.backends
        .storage
        .update(Update::new(
            "account",
            &id,
            &id,
            json!({"password": FOREIGN_HASH})
                .as_object()
                .unwrap()
                .clone(),
        ))
        .await
        .unwrap();
    env.backends
        .permission
        .add_principal_to_ace(
            &format!("/accounts/{id}"),
            "write",
            &format!("account:{id}"),
        )
        .await
        .unwrap();
    assert_eq!(
        env.who(&id, FOREIGN_PASSWORD).await.as_deref(),
        Some(format!("account:{id}").as_str())
    );
    let (status, own) = env
        .call(
            "GET",
            &format!("/v1/accounts/{id}"),
            Some((&id, FOREIGN_PASSWORD)),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(own["data"]["password"], FOREIGN_HASH);
    assert!(
        env.who(&id, "correct horse")
            .await
            .unwrap()
            .starts_with("basicauth:")
    );
}
on_both!(foreign_hash_logs_in, &[]);

async fn create_user_command(env: &Env) {
    let id = env.name("admin");
    assert!(
        create_user(&env.settings, &env.backends, &id, "one")
            .await
            .unwrap()
    );
    let mut account = env.stored(&id).await.unwrap();
    assert!(
        account.data["password"]
            .as_str()
            .unwrap()
            .starts_with("$2b$04$")
    );
    // Metadata survives a password change.
    account.data.insert("nick".into(), json!("boss"));
    env.backends
        .storage
        .update(Update::new("account", &id, &id, account.data))
        .await
        .unwrap();
    assert!(env.who(&id, "one").await.unwrap().starts_with("account:"));
    assert!(
        !create_user(&env.settings, &env.backends, &id, "two")
            .await
            .unwrap()
    );
    assert_eq!(env.stored(&id).await.unwrap().data["nick"], "boss");
    assert!(env.who(&id, "one").await.unwrap().starts_with("basicauth:"));
    assert!(env.who(&id, "two").await.unwrap().starts_with("account:"));
    let acl = env
        .backends
        .permission
        .get_object_permissions(&format!("/accounts/{id}"), None)
        .await
        .unwrap();
    assert!(acl["write"].contains(&format!("account:{id}")));
    let error = create_user(&env.settings, &env.backends, ".bad", "x")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not a valid username"),
        "{error}"
    );
}
on_both!(create_user_command, &[]);

#[tokio::test]
async fn create_user_refusals() {
    let backends = cliquet_memory::backends();
    let readonly = load(&["kinto.readonly = true"], None).unwrap();
    let error = create_user(&readonly, &backends, "a", "b")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Cannot create a user with a readonly server."
    );
    let no_plugin = kinto::settings(None, Vec::new()).unwrap();
    let error = create_user(&no_plugin, &backends, "a", "b")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("plugin is not installed"),
        "{error}"
    );
}

#[tokio::test]
async fn create_user_binary() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let pg = std::env::var("CLIQUET_TEST_POSTGRES_URL").ok();
    let mut lines: Vec<String> = BASE.iter().map(|l| (*l).to_owned()).collect();
    if let Some(url) = &pg {
        lines.extend([
            "kinto.storage_backend = kinto.core.storage.postgresql".to_owned(),
            "kinto.permission_backend = kinto.core.permission.postgresql".to_owned(),
            "kinto.cache_backend = kinto.core.cache.postgresql".to_owned(),
            format!("kinto.storage_url = {url}"),
            "kinto.migrate_on_start = true".to_owned(),
        ]);
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let config = ini(&refs);
    let username = format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _guard = PG_LOCK.lock().await;

    // The password on standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinto"))
        .args(["create-user", "--config"])
        .arg(&config)
        .args(["-u", &username])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("created"));

    // An invalid username fails.
    let output = Command::new(env!("CARGO_BIN_EXE_kinto"))
        .args(["create-user", "--ini"])
        .arg(&config)
        .args(["--username=-bad", "--password", "x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a valid username"), "{stderr}");

    if pg.is_some() {
        let settings = kinto::settings(Some(&config), Vec::new()).unwrap();
        let backends = cliquet::backends_from_settings(&settings).await.unwrap();
        let app = kinto::app(settings.clone(), backends.clone()).unwrap();
        let env = Env {
            app,
            backends,
            settings,
            run: String::new(),
        };
        assert_eq!(
            env.who(&username, "from stdin").await.as_deref(),
            Some(format!("account:{username}").as_str())
        );
    }
    std::fs::remove_file(&config).ok();
}

#[tokio::test]
async fn capability_and_policy_names() {
    let env = env(&["kinto.account_create_principals = system.Everyone"], None).await;
    let (_, hello) = env.call("GET", "/v1/", None, None).await;
    assert_eq!(
        hello["capabilities"]["accounts"],
        json!({
            "description": "Manage user accounts.",
            "url": "https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html",
            "validation_enabled": false
        })
    );

    // Any policy name; user ids are still `account:`.
    let settings = load(
        &[
            "multiauth.policies = mine",
            "multiauth.policy.mine.use = kinto.plugins.accounts.authentication.AccountsAuthenticationPolicy",
            "multiauth.policy.mine.realm = Accounts",
            "kinto.account_create_principals = system.Everyone",
        ],
        None,
    )
    .unwrap();
    let backends = cliquet_memory::backends();
    let app = kinto::app(settings.clone(), backends.clone()).unwrap();
    let env = Env {
        app,
        backends,
        settings,
        run: "x".into(),
    };
    let (status, _) = env
        .call(
            "PUT",
            "/v1/accounts/bob",
            None,
            Some(json!({"data": {"password": "pw"}})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(env.who("bob", "pw").await.as_deref(), Some("account:bob"));
    assert_eq!(env.who("bob", "wrong").await, None);
    let response = env
        .app
        .clone()
        .oneshot(
            Request::get("/v1/accounts/bob")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"Accounts\""
    );

    // Without the plugin: no capability, no endpoint.
    let app = kinto::memory_app();
    let response = app
        .clone()
        .oneshot(Request::get("/v1/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let hello: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(hello["capabilities"].get("accounts").is_none());
    let response = app
        .oneshot(Request::get("/v1/accounts").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

fn start_error(lines: &[&str]) -> String {
    let settings = load(lines, None).unwrap();
    match kinto::app(settings, cliquet_memory::backends()) {
        Ok(_) => panic!("{lines:?} started"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn refused_configurations() {
    let error = start_error(&["multiauth.policy.account.use = something.Else"]);
    assert!(error.starts_with("Account policy missing"), "{error}");
    let error = start_error(&["multiauth.policies = basicauth account"]);
    assert!(
        error.contains("'basicauth' should not be mentioned before 'account'"),
        "{error}"
    );
    let error = start_error(&[
        "kinto.account_create_principals = system.Everyone account:boss",
        "kinto.account_write_principals = account:admin",
    ]);
    assert!(error.contains("account:boss"), "{error}");
    assert!(error.contains("account_write_principals"), "{error}");
    let error = start_error(&["kinto.account_validation = true"]);
    assert!(error.contains("account_validation"), "{error}");
    let error = start_error(&["kinto.account_bcrypt_cost = 3"]);
    assert!(error.contains("account_bcrypt_cost"), "{error}");
    // Accepted: system.Everyone needs no admin, and creators who are
    // admins.
    for lines in [
        &["kinto.account_create_principals = system.Everyone"][..],
        &[
            "kinto.account_create_principals = account:admin",
            "kinto.account_write_principals = account:admin account:other",
        ],
        &["kinto.account_validation = false"],
    ] {
        let settings = load(lines, None).unwrap();
        assert!(kinto::app(settings, cliquet_memory::backends()).is_ok());
    }
}

#[tokio::test]
async fn accounts_in_a_batch() {
    let env = env(&["kinto.account_create_principals = system.Everyone"], None).await;
    let batch = json!({"requests": [
        {"method": "PUT", "path": "/accounts/ann", "body": {"data": {"password": "a"}}},
        {"method": "POST", "path": "/accounts", "body": {"data": {"id": "ben", "password": "b"}}},
        {"method": "GET", "path": "/accounts"},
    ]});
    let (status, reply) = env.call("POST", "/v1/batch", None, Some(batch)).await;
    assert_eq!(status, 200);
    let statuses: Vec<&Value> = reply["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!(201), &json!(201), &json!(401)], "{reply}");
    assert!(env.who("ann", "a").await.unwrap().starts_with("account:"));
    assert!(env.who("ben", "b").await.unwrap().starts_with("account:"));
}
