//! What the application tells the telemetry layers about a request:
//! [`RequestContext`], and the request id, [`RequestId`].

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::Extensions;
use http::request::Parts;

/// A handle the telemetry layers put in each request's extensions, through
/// which the application reports what only it knows: who the user is, the
/// name of the endpoint that served the request and its URL fields.
///
/// The outer layer cannot see what inner layers add to the request's
/// extensions (the request has moved on), so the handle is shared: clones
/// write to the same place, and the layer reads it once the response is
/// there. Fill it from a handler (`Extension<RequestContext>` in axum),
/// from any middleware placed after authentication and routing, or with
/// [`ContextLayer`](crate::ContextLayer).
///
/// [`RequestLogLayer`](crate::RequestLogLayer) and
/// [`RequestMetricsLayer`](crate::RequestMetricsLayer) share one handle
/// per request when both are stacked. A batch subrequest gets a handle of
/// its own, even when it was built from a copy of the batch request's
/// extensions.
#[derive(Clone, Default)]
pub struct RequestContext {
    inner: Arc<Mutex<Data>>,
    subrequest: bool,
}

#[derive(Debug, Default, Clone)]
struct Data {
    user: Option<User>,
    endpoint: Option<Cow<'static, str>>,
    matchdict: Vec<(Cow<'static, str>, String)>,
}

/// An authenticated user, as reported through [`RequestContext::set_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user id (Kinto's prefixed one: `basicauth:…`, `account:alice`).
    pub user_id: String,
    /// The name of the policy that authenticated the request.
    pub authn_type: String,
}

impl RequestContext {
    /// A new, empty context.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn for_request(extensions: &mut Extensions, subrequest: bool) -> Self {
        if let Some(existing) = extensions.get::<Self>()
            && existing.subrequest == subrequest
        {
            return existing.clone();
        }
        let context = Self {
            inner: Arc::default(),
            subrequest,
        };
        extensions.insert(context.clone());
        context
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        // Plain values: a panic while locked leaves nothing half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports the authenticated user: the log's `uid` and `authn_type`,
    /// the `users` and `authentication` metrics.
    pub fn set_user(&self, user_id: impl Into<String>, authn_type: impl Into<String>) {
        self.lock().user = Some(User {
            user_id: user_id.into(),
            authn_type: authn_type.into(),
        });
    }

    /// Reports the endpoint name (Kinto's service names: `bucket-plural`,
    /// `record-object`, `hello`, `batch`…), the `endpoint` metric label.
    pub fn set_endpoint(&self, endpoint: impl Into<Cow<'static, str>>) {
        self.lock().endpoint = Some(endpoint.into());
    }

    /// Reports one URL field (`bucket_id` = `"beers"`), replacing a previous
    /// value of the same name. Only the names listed in
    /// `metrics_matchdict_fields` become labels.
    pub fn set_field(&self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        let mut data = self.lock();
        match data.matchdict.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => data.matchdict.push((name, value)),
        }
    }

    /// Reports URL fields, as [`set_field`](Self::set_field) each of them.
    pub fn set_fields<N, V>(&self, fields: impl IntoIterator<Item = (N, V)>)
    where
        N: Into<Cow<'static, str>>,
        V: Into<String>,
    {
        for (name, value) in fields {
            self.set_field(name, value);
        }
    }

    /// The user reported so far.
    pub fn user(&self) -> Option<User> {
        self.lock().user.clone()
    }

    /// The endpoint name reported so far.
    pub fn endpoint(&self) -> Option<Cow<'static, str>> {
        self.lock().endpoint.clone()
    }

    /// The value of a URL field reported so far.
    pub fn field(&self, name: &str) -> Option<String> {
        self.lock()
            .matchdict
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.clone())
    }

    /// Whether this is the context of a batch subrequest.
    pub fn is_subrequest(&self) -> bool {
        self.subrequest
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let data = self.lock().clone();
        Snapshot {
            user: data.user,
            endpoint: data.endpoint,
            matchdict: data.matchdict,
        }
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("data", &*self.lock())
            .field("subrequest", &self.subrequest)
            .finish()
    }
}

/// What the context held when the response came.
pub(crate) struct Snapshot {
    pub(crate) user: Option<User>,
    pub(crate) endpoint: Option<Cow<'static, str>>,
    pub(crate) matchdict: Vec<(Cow<'static, str>, String)>,
}

impl Snapshot {
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.matchdict
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The request id (the log's `rid`): the `X-Request-Id` header when the
/// client sent a usable one, else a generated UUID4. Put in the request's
/// extensions by [`RequestLogLayer`](crate::RequestLogLayer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(pub(crate) Arc<str>);

impl RequestId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A new random UUID4.
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        let mut value = u128::from_be_bytes(bytes);
        // Version 4, variant 10.
        value = (value & !(0xf << 76)) | (0x4 << 76);
        value = (value & !(0x3 << 62)) | (0x2 << 62);
        let hex = format!("{value:032x}");
        Self(
            format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )
            .into(),
        )
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides whether a request is a batch subrequest: by default none is; set
/// with `subrequest_marker::<T>()` on the layers, `T` being the marker the
/// batch layer puts in its subrequests' extensions.
#[derive(Clone, Copy)]
pub(crate) struct SubrequestMarker(pub(crate) fn(&Extensions) -> bool);

impl SubrequestMarker {
    pub(crate) fn none() -> Self {
        fn never(_: &Extensions) -> bool {
            false
        }
        Self(never)
    }

    pub(crate) fn of<T: Send + Sync + 'static>() -> Self {
        fn has<T: Send + Sync + 'static>(extensions: &Extensions) -> bool {
            extensions.get::<T>().is_some()
        }
        Self(has::<T>)
    }
}

impl fmt::Debug for SubrequestMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubrequestMarker")
    }
}

/// A function filling the [`RequestContext`] from the request head: see
/// [`ContextLayer`](crate::ContextLayer). Implemented by closures.
pub trait FillContext: Send + Sync + 'static {
    /// Reads what it needs from `parts` (an identity, a matched route…)
    /// and reports it to `context`.
    fn fill(&self, parts: &Parts, context: &RequestContext);
}

impl<F> FillContext for F
where
    F: Fn(&Parts, &RequestContext) + Send + Sync + 'static,
{
    fn fill(&self, parts: &Parts, context: &RequestContext) {
        self(parts, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid4() {
        let id = RequestId::generate();
        let text = id.as_str();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
        assert_ne!(RequestId::generate(), id);
    }

    #[test]
    fn stacked_layers_share_a_context_but_subrequests_get_their_own() {
        let mut extensions = Extensions::new();
        let outer = RequestContext::for_request(&mut extensions, false);
        let inner = RequestContext::for_request(&mut extensions, false);
        inner.set_endpoint("hello");
        assert_eq!(outer.endpoint().as_deref(), Some("hello"));

        // A subrequest built from a copy of the batch request's extensions.
        let mut copied = extensions.clone();
        let sub = RequestContext::for_request(&mut copied, true);
        assert!(sub.endpoint().is_none());
        assert!(sub.is_subrequest());
        let sub_inner = RequestContext::for_request(&mut copied, true);
        sub_inner.set_field("bucket_id", "a");
        sub_inner.set_field("bucket_id", "b");
        assert_eq!(sub.field("bucket_id").as_deref(), Some("b"));
        assert!(outer.field("bucket_id").is_none());
    }
}
