//! The application the end-to-end tests talk to, on memory and on
//! PostgreSQL (when `CLIQUET_TEST_POSTGRES_URL` is set).

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use cliquet_auth::{AuthLayer, AuthPolicy, BasicAuthPolicy};
use cliquet_batch::BatchLayer;
use cliquet_errors::{ApiError, ErrorLayer};
use cliquet_postgres::{PostgresSettings, ScratchSchema};
use cliquet_resource::{
    Access, CacheHeaders, Change, HookContext, Names, Resource, ResourceHooks, Schema,
    TransactionScope,
};
use cliquet_storage::Backends;
use cliquet_storage::permission::{BoundPermission, NoInheritance};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower::util::BoxCloneService;

/// A bookmark, as the private resource stores it.
#[derive(Deserialize, Serialize)]
pub struct Bookmark {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Fails writes of objects titled "boom" after they were made: a 500 that
/// must roll back.
pub struct Boom;

#[async_trait]
impl ResourceHooks for Boom {
    async fn after_write(
        &self,
        _ctx: &HookContext<'_>,
        changes: &[Change],
    ) -> Result<(), ApiError> {
        if changes
            .iter()
            .any(|c| c.new.data.get("title") == Some(&json!("boom")))
        {
            return Err(ApiError::internal());
        }
        Ok(())
    }
}

/// Folders named "missing" do not exist.
pub struct FolderCheck;

#[async_trait]
impl ResourceHooks for FolderCheck {
    async fn before_request(&self, ctx: &HookContext<'_>) -> Result<(), ApiError> {
        match ctx.param("folder_id") {
            Some("missing") => Err(ApiError::missing_parent("missing", "folder")),
            _ => Ok(()),
        }
    }
}

/// Memos record the id they were created with, and the object `hot` is
/// cached for a minute whoever reads it.
pub struct MemoHooks;

#[async_trait]
impl ResourceHooks for MemoHooks {
    async fn process_object(
        &self,
        ctx: &HookContext<'_>,
        mut new: serde_json::Map<String, Value>,
        _old: Option<&cliquet_storage::Object>,
    ) -> Result<serde_json::Map<String, Value>, ApiError> {
        new.insert("seen_id".into(), json!(ctx.object_id));
        Ok(new)
    }

    async fn read_cache(
        &self,
        ctx: &HookContext<'_>,
        configured: CacheHeaders,
    ) -> Result<CacheHeaders, ApiError> {
        Ok(match ctx.object_id {
            Some("hot") => CacheHeaders::MaxAge(60),
            _ => configured,
        })
    }
}

pub type Service = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

pub struct TestApp {
    pub backend: &'static str,
    pub switch: failing::Switch,
    pub service: Service,
    pub backends: Backends,
    pub router: Router,
    scratch: Option<ScratchSchema>,
}

pub fn resources() -> Vec<Resource> {
    let bookmarks = Resource::builder("bookmark")
        .schema(Schema::typed::<Bookmark>())
        .hooks(Boom)
        .build()
        .unwrap();
    let articles = Resource::builder("article")
        .access(Access::shared(NoInheritance).grant("article:create", ["system.Authenticated"]))
        .ids(Names)
        .cache_expires(Some(30))
        .build()
        .unwrap();
    let notes = Resource::builder("note")
        .schema(
            Schema::json(&json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "n": {"type": "integer"},
                    "device": {"type": "string"}
                },
                "required": ["title"]
            }))
            .unwrap()
            .preserve_unknown(false)
            .readonly_fields(["device"]),
        )
        .ids(Names)
        .object_methods([Method::GET, Method::PUT, Method::PATCH])
        .build()
        .unwrap();
    let nested = Resource::builder("item")
        .plural_path("/folders/{folder_id}/items")
        .object_path(Some("/folders/{folder_id}/items/{id}"))
        .parent_id("/folders/{folder_id}")
        .hooks(FolderCheck)
        .access(
            Access::shared(NoInheritance)
                .grant("item:create", ["system.Everyone"])
                .grant("read", ["system.Everyone"]),
        )
        .ids(Names)
        .build()
        .unwrap();
    // Permissions on a shelf are inherited by its docs.
    let tree = |object_id: &str, permission: &str| -> Vec<BoundPermission> {
        let mut pairs = vec![BoundPermission::new(object_id, permission)];
        if permission == "read" {
            pairs.push(BoundPermission::new(object_id, "write"));
        }
        let shelf: Vec<&str> = object_id.split('/').take(3).collect();
        if shelf.len() == 3 && shelf[1] == "shelves" {
            let shelf = shelf.join("/");
            pairs.push(BoundPermission::new(shelf.clone(), "write"));
            if permission == "read" {
                pairs.push(BoundPermission::new(shelf, "read"));
            }
        }
        pairs
    };
    let docs = Resource::builder("doc")
        .plural_path("/shelves/{shelf_id}/docs")
        .object_path(Some("/shelves/{shelf_id}/docs/{id}"))
        .parent_id("/shelves/{shelf_id}")
        .access(Access::shared(tree).grant("doc:create", ["system.Authenticated"]))
        .ids(Names)
        .build()
        .unwrap();
    // Writers are not added to the ACL; anyone authenticated may create
    // and read.
    let memos = Resource::builder("memo")
        .access(
            Access::shared(NoInheritance)
                .grant("memo:create", ["system.Authenticated"])
                .grant("read", ["system.Authenticated"]),
        )
        .ids(Names)
        .explicit_permissions(false)
        .hooks(MemoHooks)
        .build()
        .unwrap();
    // Listed only: the object path names ACLs, it is not served.
    let entries = Resource::builder("entry")
        .plural_path("/entries")
        .object_path(Some("/entries/{id}"))
        .object_methods([])
        .plural_methods([Method::GET, Method::POST])
        .access(Access::shared(NoInheritance).grant("entry:create", ["system.Authenticated"]))
        .ids(Names)
        .build()
        .unwrap();
    vec![bookmarks, articles, notes, nested, docs, memos, entries]
}

/// Wraps the storage of `backends` in one that fails on demand.
pub fn failing(backends: Backends) -> (Backends, failing::Switch) {
    let switch = failing::Switch(
        Arc::new(std::sync::atomic::AtomicU8::new(failing::OK)),
        Arc::default(),
        Arc::default(),
    );
    let storage = Arc::new(failing::Failing {
        inner: backends.storage.clone(),
        switch: switch.clone(),
    });
    (
        Backends::new(storage, backends.permission, backends.cache),
        switch,
    )
}

pub fn build(backends: &Backends) -> (Router, Service) {
    let mut api = Router::new();
    for resource in resources() {
        api = api.merge(resource.router(backends.clone()));
    }
    let router = Router::new().nest("/v1", api);
    let basic: Arc<dyn AuthPolicy> = Arc::new(BasicAuthPolicy::new("secret"));
    let service = tower::ServiceBuilder::new()
        .layer(ErrorLayer::new())
        .layer(BatchLayer::new().scope(TransactionScope::new(backends.storage.clone())))
        .layer(AuthLayer::new([basic]))
        .service(router.clone())
        .map_request(|request: Request<Body>| request)
        .map_response(|response| response.map(Body::new));
    (router, BoxCloneService::new(service))
}

/// The apps to run a scenario on: memory, and PostgreSQL when configured.
pub async fn apps(test: &str) -> Vec<TestApp> {
    let mut apps = Vec::new();
    let (memory, switch) = failing(cliquet_memory::backends());
    let (router, service) = build(&memory);
    apps.push(TestApp {
        backend: "memory",
        switch,
        service,
        backends: memory,
        router,
        scratch: None,
    });
    match std::env::var("CLIQUET_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let scratch = ScratchSchema::create(&url, test)
                .await
                .expect("scratch schema");
            let settings = PostgresSettings::with_url(scratch.url_with_search_path());
            let backends = cliquet_postgres::backends(&settings, true)
                .await
                .expect("postgres backends");
            let (backends, switch) = failing(backends);
            let (router, service) = build(&backends);
            apps.push(TestApp {
                backend: "postgres",
                switch,
                service,
                backends,
                router,
                scratch: Some(scratch),
            });
        }
        _ => eprintln!("{test}: CLIQUET_TEST_POSTGRES_URL is not set, PostgreSQL skipped"),
    }
    apps
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            app: self,
            method,
            path: path.to_owned(),
            user: None,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str, body: Value) -> Call<'_> {
        self.request(Method::POST, path).json(body)
    }

    pub fn put(&self, path: &str, body: Value) -> Call<'_> {
        self.request(Method::PUT, path).json(body)
    }

    pub fn patch(&self, path: &str, body: Value) -> Call<'_> {
        self.request(Method::PATCH, path).json(body)
    }

    pub fn delete(&self, path: &str) -> Call<'_> {
        self.request(Method::DELETE, path)
    }

    pub async fn cleanup(self) {
        if let Some(scratch) = self.scratch {
            let _ = scratch.drop_schema().await;
        }
    }
}

pub fn basic(user: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"));
    format!("Basic {token}")
}

/// The user id `BasicAuthPolicy::new("secret")` gives `user`.
pub fn user_id(user: &str) -> String {
    format!(
        "basicauth:{}",
        BasicAuthPolicy::new("secret").user_id(user, "pw")
    )
}

pub struct Call<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    user: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl Call<'_> {
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some((
            "application/json".to_owned(),
            serde_json::to_vec(&body).unwrap(),
        ));
        self
    }

    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }

    pub async fn send(self) -> Reply {
        let mut builder = Request::builder().method(self.method).uri(&self.path);
        builder = builder.header("host", "localhost");
        if let Some(user) = &self.user {
            builder = builder.header("authorization", basic(user));
        }
        let body = match self.body {
            Some((content_type, bytes)) => {
                if !content_type.is_empty() {
                    builder = builder.header("content-type", content_type);
                }
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(body).unwrap();
        let response = self.app.service.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> i64 {
        self.header("etag")
            .expect("an ETag")
            .trim_matches('"')
            .parse()
            .expect("an integer ETag")
    }

    pub fn errno(&self) -> u64 {
        self.body["errno"].as_u64().unwrap_or(0)
    }

    /// Asserts the status (and errno for errors), with the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, errno: u64) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["code"], status, "body: {}", self.body);
        assert_eq!(self.errno(), errno, "body: {}", self.body);
        self
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn ids(&self) -> Vec<String> {
        self.data()
            .as_array()
            .expect("a list")
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A storage that fails on demand: what the backend errors look like over
/// HTTP.
pub mod failing {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

    use async_trait::async_trait;
    use cliquet_storage::storage::*;
    use cliquet_storage::{
        Object, Permission, Result, Storage, StorageError, Timestamp, Transaction,
    };

    /// Works normally.
    pub const OK: u8 = 0;
    /// Every operation fails as if the database were down.
    pub const DOWN: u8 = 1;
    /// `get` answers "not found" (another writer is about to create it):
    /// the following `create` meets the real object.
    pub const RACE: u8 = 2;

    /// The mode, how many of the next writes lose to a concurrent
    /// transaction (a deadlock), and how many writes succeed first.
    #[derive(Clone)]
    pub struct Switch(pub Arc<AtomicU8>, pub Arc<AtomicU32>, pub Arc<AtomicU32>);

    impl Switch {
        pub fn set(&self, mode: u8) {
            self.0.store(mode, Ordering::SeqCst);
        }

        /// The next `count` writes fail with a transaction conflict.
        pub fn lose(&self, count: u32) {
            self.lose_after(0, count);
        }

        /// After `skip` writes, the next `count` writes fail with a
        /// transaction conflict.
        pub fn lose_after(&self, skip: u32, count: u32) {
            self.2.store(skip, Ordering::SeqCst);
            self.1.store(count, Ordering::SeqCst);
        }

        /// How many writes are still to lose.
        pub fn losses_left(&self) -> u32 {
            self.1.load(Ordering::SeqCst)
        }

        fn check_write(&self) -> Result<()> {
            self.check()?;
            let skipped = self
                .2
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if skipped {
                return Ok(());
            }
            let lost = self
                .1
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if lost {
                return Err(StorageError::transaction_conflict(
                    "40P01: deadlock detected",
                ));
            }
            Ok(())
        }

        fn check(&self) -> Result<()> {
            if self.0.load(Ordering::SeqCst) == DOWN {
                return Err(StorageError::backend("down"));
            }
            Ok(())
        }

        fn racing(&self) -> bool {
            self.0.load(Ordering::SeqCst) == RACE
        }
    }

    pub struct Failing<S> {
        pub inner: S,
        pub switch: Switch,
    }

    /// A transaction whose storage fails on the same switch.
    struct InTransaction(Failing<Box<dyn Transaction>>);

    trait Inner: Send + Sync {
        fn storage(&self) -> &dyn Storage;
    }

    impl Inner for Arc<dyn Storage> {
        fn storage(&self) -> &dyn Storage {
            self.as_ref()
        }
    }

    impl Inner for Box<dyn Transaction> {
        fn storage(&self) -> &dyn Storage {
            self.as_ref().storage()
        }
    }

    #[async_trait]
    impl<S: Inner> Storage for Failing<S> {
        async fn create(&self, params: Create) -> Result<Object> {
            self.switch.check_write()?;
            self.inner.storage().create(params).await
        }
        async fn get(&self, params: Get) -> Result<Object> {
            self.switch.check()?;
            if self.switch.racing() {
                return Err(StorageError::not_found(params.resource_name, params.id));
            }
            self.inner.storage().get(params).await
        }
        async fn update(&self, params: Update) -> Result<Updated> {
            self.switch.check_write()?;
            self.inner.storage().update(params).await
        }
        async fn delete(&self, params: Delete) -> Result<Deleted> {
            self.switch.check_write()?;
            self.inner.storage().delete(params).await
        }
        async fn delete_all(&self, params: DeleteAll) -> Result<Vec<Deleted>> {
            self.switch.check()?;
            self.inner.storage().delete_all(params).await
        }
        async fn list(&self, params: List) -> Result<Vec<Object>> {
            self.switch.check()?;
            self.inner.storage().list(params).await
        }
        async fn count(&self, params: Count) -> Result<u64> {
            self.switch.check()?;
            self.inner.storage().count(params).await
        }
        async fn purge_deleted(&self, params: PurgeDeleted) -> Result<u64> {
            self.switch.check()?;
            self.inner.storage().purge_deleted(params).await
        }
        async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp> {
            self.switch.check()?;
            self.inner.storage().resource_timestamp(params).await
        }
        async fn all_resources_timestamps(
            &self,
            params: AllResourcesTimestamps,
        ) -> Result<BTreeMap<String, Timestamp>> {
            self.switch.check()?;
            self.inner.storage().all_resources_timestamps(params).await
        }
        async fn flush(&self) -> Result<()> {
            self.inner.storage().flush().await
        }
        async fn healthcheck(&self) -> Result<()> {
            self.switch.check()
        }
        async fn begin(&self) -> Result<Box<dyn Transaction>> {
            self.switch.check()?;
            let transaction = self.inner.storage().begin().await?;
            Ok(Box::new(InTransaction(Failing {
                inner: transaction,
                switch: self.switch.clone(),
            })))
        }
    }

    #[async_trait]
    impl Transaction for InTransaction {
        fn storage(&self) -> &dyn Storage {
            &self.0
        }
        fn permission(&self) -> Option<&dyn Permission> {
            self.0.inner.permission()
        }
        async fn commit(self: Box<Self>) -> Result<()> {
            self.0.inner.commit().await
        }
        async fn rollback(self: Box<Self>) -> Result<()> {
            self.0.inner.rollback().await
        }
    }
}
