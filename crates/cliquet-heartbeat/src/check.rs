//! Health checks: the [`HealthCheck`] trait, its results, and how one check
//! is run (bounded by the timeout, a failure or a panic reported as `false`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

/// The error type a check may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future a [`HealthCheck`] returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<Health, BoxError>> + Send + 'static>>;

/// The name of the storage backend's check.
pub const STORAGE: &str = "storage";
/// The name of the cache backend's check.
pub const CACHE: &str = "cache";
/// The name of the permission backend's check.
pub const PERMISSION: &str = "permission";

/// The result of one health check, as `/__heartbeat__` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// The component works: `true`.
    Healthy,
    /// The component failed, timed out or panicked: `false`.
    Unhealthy,
    /// The check does not apply here: `null`, counted as healthy.
    NotApplicable,
}

impl Health {
    /// Whether this result lets the heartbeat answer 200 (`true` or `null`).
    pub const fn is_ok(self) -> bool {
        !matches!(self, Health::Unhealthy)
    }

    /// The JSON literal of this result.
    pub const fn as_json(self) -> &'static str {
        match self {
            Health::Healthy => "true",
            Health::Unhealthy => "false",
            Health::NotApplicable => "null",
        }
    }
}

impl From<bool> for Health {
    fn from(healthy: bool) -> Self {
        if healthy {
            Health::Healthy
        } else {
            Health::Unhealthy
        }
    }
}

impl From<Option<bool>> for Health {
    fn from(healthy: Option<bool>) -> Self {
        healthy.map_or(Health::NotApplicable, Health::from)
    }
}

/// What a check's future may return: a [`Health`], a `bool`, an
/// `Option<bool>` (`None` is "not applicable"), or a `Result` of one of them
/// (an `Err` is reported `false` and logged with the check's name).
pub trait IntoHealth {
    /// Converts into the check's result.
    fn into_health(self) -> Result<Health, BoxError>;
}

impl IntoHealth for Health {
    fn into_health(self) -> Result<Health, BoxError> {
        Ok(self)
    }
}

impl IntoHealth for bool {
    fn into_health(self) -> Result<Health, BoxError> {
        Ok(self.into())
    }
}

impl IntoHealth for Option<bool> {
    fn into_health(self) -> Result<Health, BoxError> {
        Ok(self.into())
    }
}

impl<T, E> IntoHealth for Result<T, E>
where
    T: IntoHealth,
    E: Into<BoxError>,
{
    fn into_health(self) -> Result<Health, BoxError> {
        self.map_err(Into::into).and_then(IntoHealth::into_health)
    }
}

/// An asynchronous health check of one component (a backend, a remote
/// service).
///
/// Closures returning a future implement it, so a check is usually written
/// in place:
///
/// ```
/// use cliquet_heartbeat::{HealthCheck, HeartbeatLayer};
///
/// async fn ping_database() -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// let layer = HeartbeatLayer::new()
///     .check("storage", || async { ping_database().await.map(|()| true) })
///     .check("cache", || async { true })
///     // `None`: the check does not apply, and counts as healthy.
///     .check("oauth", || async { None::<bool> });
/// ```
///
/// A type that holds a connection pool implements it directly:
///
/// ```
/// use std::sync::Arc;
/// use cliquet_heartbeat::{CheckFuture, Health, HealthCheck};
///
/// struct Pool;
/// impl Pool {
///     async fn ping(&self) -> bool { true }
/// }
///
/// struct PoolCheck(Arc<Pool>);
///
/// impl HealthCheck for PoolCheck {
///     fn check(&self) -> CheckFuture {
///         let pool = self.0.clone();
///         Box::pin(async move { Ok(Health::from(pool.ping().await)) })
///     }
/// }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Starts one run of the check.
    fn check(&self) -> CheckFuture;
}

impl<F, Fut, R> HealthCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHealth,
{
    fn check(&self) -> CheckFuture {
        let future = self();
        Box::pin(async move { future.await.into_health() })
    }
}

/// A registered check and its name.
#[derive(Clone)]
pub(crate) struct NamedCheck {
    pub(crate) name: Arc<str>,
    pub(crate) check: Arc<dyn HealthCheck>,
}

impl fmt::Debug for NamedCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NamedCheck").field(&self.name).finish()
    }
}

/// The future of one check run by the heartbeat.
pub(crate) type RunFuture = Pin<Box<dyn Future<Output = Health> + Send + 'static>>;

/// Runs `check` once, bounded by `timeout`: an error, a panic (while starting
/// or while running) or the timeout is reported [`Health::Unhealthy`] and
/// logged.
pub(crate) fn run(check: &NamedCheck, timeout: Duration) -> RunFuture {
    let name = check.name.clone();
    let started = catch_unwind(AssertUnwindSafe(|| check.check.check()));
    Box::pin(async move {
        let future = match started {
            Ok(future) => future,
            Err(panic) => {
                tracing::error!(check = %name, panic = panic_message(&*panic), "heartbeat check panicked");
                return Health::Unhealthy;
            }
        };
        match tokio::time::timeout(timeout, CatchUnwind { future }).await {
            Ok(Ok(Ok(health))) => health,
            Ok(Ok(Err(error))) => {
                tracing::warn!(check = %name, error = %error, "heartbeat check failed");
                Health::Unhealthy
            }
            Ok(Err(panic)) => {
                tracing::error!(check = %name, panic = panic_message(&*panic), "heartbeat check panicked");
                Health::Unhealthy
            }
            Err(_elapsed) => {
                tracing::warn!(check = %name, timeout = ?timeout, "heartbeat check timed out");
                Health::Unhealthy
            }
        }
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string panic payload")
}

pin_project! {
    /// Polls `future`, turning a panic into an `Err`.
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, check: impl HealthCheck) -> NamedCheck {
        NamedCheck {
            name: name.into(),
            check: Arc::new(check),
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn results_convert_to_health() {
        assert_eq!(
            run(&named("a", || async { true }), TIMEOUT).await,
            Health::Healthy
        );
        assert_eq!(
            run(&named("b", || async { false }), TIMEOUT).await,
            Health::Unhealthy
        );
        assert_eq!(
            run(&named("c", || async { None::<bool> }), TIMEOUT).await,
            Health::NotApplicable
        );
        assert_eq!(
            run(&named("d", || async { Some(true) }), TIMEOUT).await,
            Health::Healthy
        );
        assert_eq!(
            run(&named("e", || async { Health::NotApplicable }), TIMEOUT).await,
            Health::NotApplicable
        );
        assert_eq!(
            run(
                &named("f", || async { Ok::<_, std::io::Error>(true) }),
                TIMEOUT
            )
            .await,
            Health::Healthy
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_and_panics_are_unhealthy() {
        let failing = named("db", || async {
            Err::<bool, _>(std::io::Error::other("connection refused"))
        });
        assert_eq!(run(&failing, TIMEOUT).await, Health::Unhealthy);

        let panics_while_running = named("db", || async {
            if TIMEOUT.as_secs() == 1 {
                panic!("bug in the check");
            }
            true
        });
        assert_eq!(run(&panics_while_running, TIMEOUT).await, Health::Unhealthy);

        struct PanicsWhenStarted;
        impl HealthCheck for PanicsWhenStarted {
            fn check(&self) -> CheckFuture {
                panic!("bug before the future")
            }
        }
        assert_eq!(
            run(&named("db", PanicsWhenStarted), TIMEOUT).await,
            Health::Unhealthy
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_never_completes_is_unhealthy() {
        let hangs = named("db", std::future::pending::<bool>);
        assert_eq!(run(&hangs, TIMEOUT).await, Health::Unhealthy);
    }

    #[test]
    fn health_json_and_status() {
        assert_eq!(Health::Healthy.as_json(), "true");
        assert_eq!(Health::Unhealthy.as_json(), "false");
        assert_eq!(Health::NotApplicable.as_json(), "null");
        assert!(Health::Healthy.is_ok());
        assert!(Health::NotApplicable.is_ok());
        assert!(!Health::Unhealthy.is_ok());
    }
}
