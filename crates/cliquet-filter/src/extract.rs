//! [`Query`] as an axum extractor (feature `axum`).

use axum_core::extract::FromRequestParts;
use cliquet_errors::ApiError;
use http::request::Parts;

use crate::{ParseOptions, Query};

/// Parses the request's querystring with the [`ParseOptions`] found in the
/// request extensions (put there with `axum::Extension` or a layer), or the
/// defaults. The rejection is the protocol's 400 errno 107.
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use cliquet_filter::{ParseOptions, Query};
///
/// async fn list(query: Query) -> String {
///     format!("{} filters, limit {}", query.filters.len(), query.limit)
/// }
///
/// let app: Router = Router::new()
///     .route("/v1/things", get(list))
///     .layer(Extension(ParseOptions::new().paginate_by(Some(50))));
/// ```
impl<S> FromRequestParts<S> for Query
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let querystring = parts.uri.query().unwrap_or("");
        match parts.extensions.get::<ParseOptions>() {
            Some(options) => Query::parse(querystring, options),
            None => Query::parse(querystring, &ParseOptions::default()),
        }
    }
}
