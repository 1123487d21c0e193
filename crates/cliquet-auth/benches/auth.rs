//! A request authenticated by a cached accounts check against one
//! authenticated by Basic auth, through the whole layer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cliquet_auth::{
    AccountStore, AccountsPolicy, AuthLayer, AuthPolicy, BasicAuthPolicy, CredentialsCache,
    Identity,
};
use cliquet_errors::ApiError;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};

/// One account whose password is stored as a bcrypt hash, as in Kinto.
struct BcryptStore {
    hash: String,
}

#[async_trait]
impl AccountStore for BcryptStore {
    async fn verify(&self, username: &str, password: &str) -> Result<bool, ApiError> {
        Ok(username == "alice" && bcrypt::verify(password, &self.hash).unwrap_or(false))
    }
}

fn request() -> Request<Full<Bytes>> {
    Request::get("/v1/buckets")
        // alice:s3cret-passw0rd
        .header("authorization", "Basic YWxpY2U6czNjcmV0LXBhc3N3MHJk")
        .body(Full::default())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inner = service_fn(|request: Request<Full<Bytes>>| async move {
        assert!(
            request
                .extensions()
                .get::<Identity>()
                .unwrap()
                .is_authenticated()
        );
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });

    let basicauth: Arc<dyn AuthPolicy> = Arc::new(BasicAuthPolicy::new("secret"));
    let basic = AuthLayer::new([basicauth]).layer(inner);

    let store = Arc::new(BcryptStore {
        hash: bcrypt::hash("s3cret-passw0rd", bcrypt::DEFAULT_COST).unwrap(),
    });
    let cache = Arc::new(CredentialsCache::new("secret", Duration::from_secs(3600)));
    let accounts: Arc<dyn AuthPolicy> = Arc::new(AccountsPolicy::new(store, cache));
    let accounts = AuthLayer::new([accounts]).layer(inner);
    // The first request pays for bcrypt and fills the cache.
    runtime
        .block_on(accounts.clone().oneshot(request()))
        .unwrap();

    let mut group = c.benchmark_group("authenticated request");
    group.bench_function("basicauth", |b| {
        b.iter(|| runtime.block_on(basic.clone().oneshot(request())).unwrap())
    });
    group.bench_function("accounts, cached", |b| {
        b.iter(|| {
            runtime
                .block_on(accounts.clone().oneshot(request()))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
