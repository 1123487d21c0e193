//! [`ConditionalGetLayer`].

use tower_layer::Layer;

use crate::service::ConditionalGet;

/// A tower layer that enforces the protocol's preconditions on reads, from
/// the `ETag` the inner service answers with.
///
/// For every request:
///
/// - an `If-Match` or `If-None-Match` that is not `*` or one integer
///   between double quotes is answered **400** errno 107 without calling the
///   inner service;
/// - otherwise the parsed [`Preconditions`] are put in the request's
///   extensions, where handlers of writes find them for
///   [`Preconditions::evaluate`].
///
/// For `GET` and `HEAD`, when the inner service answers a success with an
/// `ETag` of the protocol's form, the preconditions are evaluated against
/// it (the target exists, since it answered):
///
/// - `If-None-Match: "<ts>"` equal to the `ETag` → **304** with no body,
///   keeping the response's headers except the representation and cache
///   ones (see [`ConditionalGet`]), with `ETag` and `Last-Modified`;
/// - `If-None-Match: *`, or an `If-Match: "<ts>"` that differs → **412**
///   errno 114 with `ETag` and `Last-Modified` of the current timestamp (no
///   `existing` details: a handler that wants them evaluates itself).
///
/// Other responses (errors, 404s, responses without an `ETag`, or with one
/// that is not an integer between quotes) pass unchanged, and so do the
/// responses of other methods. The response body type is the inner one.
///
/// Place it on the routes of resources: a route that is not one would
/// still refuse malformed `If-Match` values.
///
/// [`Preconditions`]: crate::Preconditions
/// [`Preconditions::evaluate`]: crate::Preconditions::evaluate
#[derive(Debug, Clone, Copy, Default)]
pub struct ConditionalGetLayer {
    _priv: (),
}

impl ConditionalGetLayer {
    /// The layer.
    pub const fn new() -> Self {
        Self { _priv: () }
    }
}

impl<S> Layer<S> for ConditionalGetLayer {
    type Service = ConditionalGet<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConditionalGet::new(inner)
    }
}
