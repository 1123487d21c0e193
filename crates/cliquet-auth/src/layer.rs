//! [`AuthLayer`]: runs the policies and puts the [`Identity`] in the request.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use cliquet_errors::ApiError;
use futures_util::future::BoxFuture;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::{AuthPolicy, Identity};

/// Adds principals to an authenticated user: group memberships, typically
/// read from the permission backend (Kinto's `get_user_principals`, which
/// also includes the principals granted to `system.Authenticated`).
#[async_trait]
pub trait PrincipalsProvider: Send + Sync + 'static {
    /// The extra principals of the prefixed `user_id`.
    async fn principals(&self, user_id: &str) -> Result<Vec<String>, ApiError>;
}

struct Shared {
    policies: Vec<Arc<dyn AuthPolicy>>,
    challenges: Vec<HeaderValue>,
    provider: Option<Arc<dyn PrincipalsProvider>>,
}

impl Shared {
    async fn identify(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        for policy in &self.policies {
            if let Some(user_id) = policy.authenticate(headers).await? {
                let user_id = format!("{}:{user_id}", policy.name());
                let extra = match &self.provider {
                    Some(provider) => provider.principals(&user_id).await?,
                    None => Vec::new(),
                };
                return Ok(Identity::authenticated(user_id, policy.name(), extra));
            }
        }
        Ok(Identity::anonymous())
    }
}

/// A tower layer that identifies the request's user.
///
/// The policies are tried in order; the first that identifies the user
/// wins and the user id becomes `"{policy name}:{id}"`. The [`Identity`]
/// (anonymous when no policy identifies anyone) is put in the request's
/// extensions; an [`Identity`] already there (a batch's subrequest that
/// inherited its batch's) is kept as it is.
///
/// Missing or invalid credentials are not an error by themselves: the
/// request is anonymous, and a handler that needs a user answers
/// 401 errno 104. The layer adds the `WWW-Authenticate` challenge of every
/// policy, one header each, to every 401 response, and to 403 responses of
/// anonymous requests.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.shared.policies.iter().map(|p| p.name()).collect();
        f.debug_struct("AuthLayer")
            .field("policies", &names)
            .finish()
    }
}

impl AuthLayer {
    /// A layer trying `policies` in order.
    pub fn new(policies: impl IntoIterator<Item = Arc<dyn AuthPolicy>>) -> Self {
        let policies: Vec<Arc<dyn AuthPolicy>> = policies.into_iter().collect();
        let challenges = policies.iter().filter_map(|p| p.challenge()).collect();
        Self {
            shared: Arc::new(Shared {
                policies,
                challenges,
                provider: None,
            }),
        }
    }

    /// Adds the principals `provider` gives to authenticated users.
    pub fn principals_provider(self, provider: Arc<dyn PrincipalsProvider>) -> Self {
        let shared = &self.shared;
        Self {
            shared: Arc::new(Shared {
                policies: shared.policies.clone(),
                challenges: shared.challenges.clone(),
                provider: Some(provider),
            }),
        }
    }

    /// The identity of a request with these headers, as the layer computes
    /// it (for endpoints that authenticate outside the layer).
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        self.shared.identify(headers).await
    }

    /// The `WWW-Authenticate` values of the policies, in order.
    pub fn challenges(&self) -> &[HeaderValue] {
        &self.shared.challenges
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone is fresh; the instance that was driven to readiness
        // serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let identity = match request.extensions().get::<Identity>() {
                Some(identity) => identity.clone(),
                None => match shared.identify(request.headers()).await {
                    Ok(identity) => identity,
                    Err(error) => return Ok(error.into_response()),
                },
            };
            let anonymous = !identity.is_authenticated();
            request.extensions_mut().insert(identity);
            let mut response = inner.call(request).await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED || (status == StatusCode::FORBIDDEN && anonymous)
            {
                let headers = response.headers_mut();
                if !headers.contains_key(WWW_AUTHENTICATE) {
                    for challenge in &shared.challenges {
                        headers.append(WWW_AUTHENTICATE, challenge.clone());
                    }
                }
            }
            Ok(response)
        })
    }
}
