//! [`Preconditions`]: the conditional request headers, parsed and evaluated
//! the protocol's way.

use std::fmt;

use bytes::Bytes;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use http::header::{HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::Value;

use crate::etag::{ETag, InvalidETag, LastModified, set_timestamp_headers};

/// The value of `If-Match` or `If-None-Match`: `*` or one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityMatch {
    /// `*`: any current state.
    Any,
    /// `"<timestamp>"`.
    Tag(ETag),
}

impl EntityMatch {
    /// Parses `*` or a quoted integer; nothing else (no list, no weak tag,
    /// no `"*"`).
    pub fn parse(s: &str) -> Result<Self, InvalidETag> {
        if s.trim_matches([' ', '\t']) == "*" {
            Ok(EntityMatch::Any)
        } else {
            ETag::parse(s).map(EntityMatch::Tag)
        }
    }
}

/// The conditional headers of a request.
///
/// `If-Match` and `If-None-Match` accept exactly `*` or one integer between
/// double quotes; anything else, or the header given twice, is a 400 errno
/// 107 when parsing. `If-Modified-Since` and `If-Unmodified-Since` are kept
/// for the application to read, but the protocol ignores them: they play no
/// part in [`evaluate`](Self::evaluate), and a value that is not an HTTP
/// date is dropped rather than refused (as HTTP says of these two).
///
/// ```
/// use cliquet_timestamps::{Current, ETag, Preconditions, Rejection};
/// use http::{HeaderMap, Method};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("if-match", "\"1500\"".parse().unwrap());
/// let preconditions = Preconditions::from_headers(&headers).unwrap();
///
/// // The object was modified since the client read it at 1500.
/// let stored = serde_json::json!({"id": "abc", "last_modified": 1600});
/// let rejection = preconditions
///     .evaluate(&Method::PUT, Current::object(1600, &stored))
///     .unwrap_err();
/// assert_eq!(rejection.current(), ETag::new(1600));
/// let error = rejection.into_api_error().unwrap();
/// assert_eq!(error.code(), 412);
/// assert_eq!(error.details().unwrap()["existing"], stored);
///
/// // Unchanged: the write may proceed.
/// assert!(preconditions.evaluate(&Method::PUT, Current::object(1500, &stored)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Preconditions {
    /// `If-Match`.
    pub if_match: Option<EntityMatch>,
    /// `If-None-Match`.
    pub if_none_match: Option<EntityMatch>,
    /// `If-Modified-Since`, when it is an HTTP date. Ignored by the
    /// protocol.
    pub if_modified_since: Option<LastModified>,
    /// `If-Unmodified-Since`, when it is an HTTP date. Ignored by the
    /// protocol.
    pub if_unmodified_since: Option<LastModified>,
}

/// The current state a request's preconditions are evaluated against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Current<'a> {
    /// The target exists: an object, or a plural endpoint (which always
    /// exists). `timestamp` is the object's `last_modified` or the
    /// collection timestamp; `existing` is the object the 412 shows in its
    /// details, when there is one and the user may read it (without its
    /// permissions).
    Exists {
        /// The current timestamp.
        timestamp: u64,
        /// The stored object, for the 412 details.
        existing: Option<&'a Value>,
    },
    /// The object does not exist (a `PUT` creating it). `timestamp` is the
    /// collection timestamp, which a 412 carries in its headers.
    Absent {
        /// The collection timestamp.
        timestamp: u64,
    },
}

impl<'a> Current<'a> {
    /// A plural endpoint (or an object not to be shown) with this
    /// timestamp.
    pub const fn collection(timestamp: u64) -> Self {
        Current::Exists {
            timestamp,
            existing: None,
        }
    }

    /// An existing object: its `last_modified` and its content.
    pub const fn object(last_modified: u64, existing: &'a Value) -> Self {
        Current::Exists {
            timestamp: last_modified,
            existing: Some(existing),
        }
    }

    /// A missing object, in a collection with this timestamp.
    pub const fn absent(collection_timestamp: u64) -> Self {
        Current::Absent {
            timestamp: collection_timestamp,
        }
    }

    /// The timestamp the response headers carry.
    pub const fn timestamp(&self) -> u64 {
        match *self {
            Current::Exists { timestamp, .. } | Current::Absent { timestamp } => timestamp,
        }
    }

    /// Whether the target exists.
    pub const fn exists(&self) -> bool {
        matches!(self, Current::Exists { .. })
    }
}

/// Why a request must not proceed: the preconditions answered for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// `304 Not Modified`: the client's copy is current.
    NotModified {
        /// The compared timestamp.
        current: ETag,
    },
    /// `412 Precondition Failed`, errno 114.
    PreconditionFailed {
        /// The current timestamp of the object or of the collection.
        current: ETag,
        /// The existing object, shown in the details.
        existing: Option<Value>,
    },
}

impl Rejection {
    /// 304 or 412.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotModified { .. } => StatusCode::NOT_MODIFIED,
            Rejection::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
        }
    }

    /// The timestamp the response's `ETag` and `Last-Modified` carry.
    pub fn current(&self) -> ETag {
        match self {
            Rejection::NotModified { current } | Rejection::PreconditionFailed { current, .. } => {
                *current
            }
        }
    }

    /// The 412 as a protocol error (with its headers); `None` for a 304,
    /// which is not an error.
    pub fn into_api_error(self) -> Option<ApiError> {
        match self {
            Rejection::NotModified { .. } => None,
            Rejection::PreconditionFailed { current, existing } => {
                Some(precondition_failed(current, existing))
            }
        }
    }

    /// The response: an empty 304, or the 412 error body; both with `ETag`
    /// and `Last-Modified` of the current timestamp.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        match self {
            Rejection::NotModified { current } => not_modified(current),
            Rejection::PreconditionFailed { current, existing } => {
                precondition_failed(current, existing).into_response()
            }
        }
    }
}

/// An empty `304 Not Modified` with `ETag` and `Last-Modified` of
/// `current` (and no cache headers, as the protocol sends it).
pub fn not_modified<B: From<Bytes>>(current: ETag) -> Response<B> {
    let mut response = Response::new(B::from(Bytes::new()));
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    set_timestamp_headers(response.headers_mut(), current.timestamp());
    response
}

/// The protocol's 412: errno 114, `"Resource was modified meanwhile"`,
/// `{"existing": <object>}` details when `existing` is given, and `ETag` /
/// `Last-Modified` of `current`.
pub fn precondition_failed(current: ETag, existing: Option<Value>) -> ApiError {
    let mut error = ApiError::precondition_failed(existing);
    set_timestamp_headers(error.headers_mut(), current.timestamp());
    error
}

const INVALID_TAG: &str = "The value should be integer between double quotes.";

/// The error of [`Preconditions::from_headers`]: `If-Match` or
/// `If-None-Match` (or both) is not `*` or one integer between double
/// quotes. It converts into the protocol's 400 errno 107 ([`ApiError`]),
/// with one detail per bad header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidPreconditions {
    if_match: bool,
    if_none_match: bool,
}

impl InvalidPreconditions {
    /// The names of the malformed headers, in the protocol's order.
    pub fn headers(&self) -> impl Iterator<Item = &'static str> {
        [
            ("If-Match", self.if_match),
            ("If-None-Match", self.if_none_match),
        ]
        .into_iter()
        .filter_map(|(name, invalid)| invalid.then_some(name))
    }

    /// The 400 errno 107, e.g. with the message `"If-Match in header: The
    /// value should be integer between double quotes."`.
    pub fn into_api_error(self) -> ApiError {
        ApiError::invalid_parameters(
            self.headers()
                .map(|name| ValidationDetail::new(Location::Header, name, INVALID_TAG)),
        )
    }

    /// The 400 errno 107 as a response.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        self.into_api_error().into_response()
    }
}

impl fmt::Display for InvalidPreconditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.headers().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name} in header: {INVALID_TAG}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidPreconditions {}

impl From<InvalidPreconditions> for ApiError {
    fn from(error: InvalidPreconditions) -> Self {
        error.into_api_error()
    }
}

/// The error of [`parse_last_modified_param`]: the `last_modified`
/// querystring parameter is not an integer. It converts into a 400 errno
/// 107 about `last_modified` in the querystring.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvalidLastModified {
    value: String,
}

const INVALID_LAST_MODIFIED: &str = "The value should be an integer.";

impl InvalidLastModified {
    /// The value that was given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The 400 errno 107, location `querystring`, name `last_modified`.
    pub fn into_api_error(self) -> ApiError {
        ApiError::invalid_parameter(
            Location::Querystring,
            "last_modified",
            INVALID_LAST_MODIFIED,
        )
    }
}

impl fmt::Display for InvalidLastModified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "last_modified in querystring: {INVALID_LAST_MODIFIED}")
    }
}

impl std::error::Error for InvalidLastModified {}

impl From<InvalidLastModified> for ApiError {
    fn from(error: InvalidLastModified) -> Self {
        error.into_api_error()
    }
}

/// Parses the `last_modified` querystring parameter of an object `DELETE`
/// (`?last_modified=<int>`: the tombstone takes that timestamp when it is
/// greater than the object's, which the caller compares).
///
/// Kinto answers 500 errno 999 to a value that is not an integer (it
/// compares the string with the stored integer); this is a 400 errno 107
/// about `last_modified` in the querystring instead.
///
/// ```
/// use cliquet_timestamps::parse_last_modified_param;
///
/// assert_eq!(parse_last_modified_param("9000000000000"), Ok(9_000_000_000_000));
/// let error = parse_last_modified_param("abc").unwrap_err().into_api_error();
/// assert_eq!((error.code().as_u16(), error.errno().as_u16()), (400, 107));
/// assert_eq!(error.message(), Some("last_modified in querystring: The value should be an integer."));
/// ```
pub fn parse_last_modified_param(value: &str) -> Result<i64, InvalidLastModified> {
    value.trim().parse().map_err(|_| InvalidLastModified {
        value: value.to_owned(),
    })
}

impl Preconditions {
    /// Reads the conditional headers.
    ///
    /// An `If-Match` or `If-None-Match` that is not `*` or one quoted
    /// integer (a list, a weak tag, `"*"`, an unquoted number, a value given
    /// twice, bytes that are not visible ASCII) is an error, which is a 400
    /// errno 107 for the client ([`InvalidPreconditions`]).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, InvalidPreconditions> {
        let if_match = entity_match(headers, &IF_MATCH);
        let if_none_match = entity_match(headers, &IF_NONE_MATCH);
        match (if_match, if_none_match) {
            (Ok(if_match), Ok(if_none_match)) => Ok(Self {
                if_match,
                if_none_match,
                if_modified_since: http_date(headers, &IF_MODIFIED_SINCE),
                if_unmodified_since: http_date(headers, &IF_UNMODIFIED_SINCE),
            }),
            (if_match, if_none_match) => Err(InvalidPreconditions {
                if_match: if_match.is_err(),
                if_none_match: if_none_match.is_err(),
            }),
        }
    }

    /// Whether neither `If-Match` nor `If-None-Match` was given (nothing to
    /// evaluate).
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Evaluates the preconditions of a request with this method against
    /// the current state, in the protocol's order:
    ///
    /// 1. `GET`/`HEAD` of an existing target with `If-None-Match:
    ///    "<ts>"` equal to the current timestamp → 304;
    /// 2. `If-None-Match: *` and the target exists → 412;
    /// 3. `If-Match` (a tag or `*`) and the target is absent → 412;
    /// 4. `If-Match: "<ts>"` different from the current timestamp → 412;
    /// 5. otherwise the request proceeds (`If-Match: *` on an existing
    ///    target passes; `If-None-Match: "<ts>"` does nothing on writes).
    ///
    /// Check authorization and, on object `GET`/`PATCH`/`DELETE`, the 404
    /// before calling this: they win over 304 and 412.
    pub fn evaluate(&self, method: &Method, current: Current<'_>) -> Result<(), Rejection> {
        let timestamp = current.timestamp();
        let etag = ETag::new(timestamp);
        let read = *method == Method::GET || *method == Method::HEAD;
        if read && current.exists() && self.if_none_match == Some(EntityMatch::Tag(etag)) {
            return Err(Rejection::NotModified { current: etag });
        }
        let failed = match (self.if_none_match, self.if_match, current.exists()) {
            (Some(EntityMatch::Any), _, true) => true,
            (_, Some(_), false) => true,
            (_, Some(EntityMatch::Tag(expected)), true) => expected != etag,
            _ => false,
        };
        if !failed {
            return Ok(());
        }
        let existing = match current {
            Current::Exists { existing, .. } => existing.cloned(),
            Current::Absent { .. } => None,
        };
        Err(Rejection::PreconditionFailed {
            current: etag,
            existing,
        })
    }
}

fn entity_match(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<Option<EntityMatch>, InvalidETag> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(InvalidETag);
    }
    let value = value.to_str().map_err(|_| InvalidETag)?;
    EntityMatch::parse(value).map(Some)
}

fn http_date(headers: &HeaderMap, name: &HeaderName) -> Option<LastModified> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    LastModified::from_header(value).ok()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn parse(pairs: &[(HeaderName, &str)]) -> Preconditions {
        Preconditions::from_headers(&headers(pairs)).unwrap()
    }

    #[test]
    fn the_last_modified_param_is_an_integer_or_400_errno_107() {
        assert_eq!(parse_last_modified_param("1000"), Ok(1000));
        assert_eq!(parse_last_modified_param(" -5 "), Ok(-5));
        for value in ["abc", "", "1.5", "\"1000\"", "99999999999999999999"] {
            let invalid = parse_last_modified_param(value).unwrap_err();
            assert_eq!(invalid.value(), value);
            assert_eq!(
                invalid.to_string(),
                "last_modified in querystring: The value should be an integer."
            );
            let error = ApiError::from(invalid);
            assert_eq!(error.code(), StatusCode::BAD_REQUEST);
            assert_eq!(error.errno().as_u16(), 107);
            assert_eq!(
                error.details(),
                Some(&json!([{"location": "querystring", "name": "last_modified",
                              "description": "The value should be an integer."}]))
            );
        }
    }

    #[test]
    fn no_header_is_empty() {
        let preconditions = parse(&[]);
        assert!(preconditions.is_empty());
        assert_eq!(preconditions, Preconditions::default());
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            assert_eq!(preconditions.evaluate(&method, Current::absent(1)), Ok(()));
            assert_eq!(
                preconditions.evaluate(&method, Current::collection(1)),
                Ok(())
            );
        }
    }

    #[test]
    fn parses_tags_and_stars() {
        let preconditions = parse(&[(IF_MATCH, "\"12\""), (IF_NONE_MATCH, "*")]);
        assert_eq!(
            preconditions.if_match,
            Some(EntityMatch::Tag(ETag::new(12)))
        );
        assert_eq!(preconditions.if_none_match, Some(EntityMatch::Any));
        assert!(!preconditions.is_empty());
    }

    #[test]
    fn malformed_tags_are_400_errno_107() {
        for value in ["12", "\"*\"", "\"1\", \"2\"", "W/\"12\"", "", "abc"] {
            for (name, label) in [(IF_MATCH, "If-Match"), (IF_NONE_MATCH, "If-None-Match")] {
                let error = Preconditions::from_headers(&headers(&[(name.clone(), value)]))
                    .unwrap_err()
                    .into_api_error();
                assert_eq!(error.code(), StatusCode::BAD_REQUEST);
                assert_eq!(error.errno().as_u16(), 107);
                assert_eq!(error.error(), "Invalid parameters");
                assert_eq!(
                    error.message(),
                    Some(format!("{label} in header: {INVALID_TAG}").as_str())
                );
                assert_eq!(
                    error.details(),
                    Some(
                        &json!([{"location": "header", "name": label, "description": INVALID_TAG}])
                    )
                );
            }
        }
    }

    #[test]
    fn both_malformed_gives_two_details() {
        let invalid =
            Preconditions::from_headers(&headers(&[(IF_NONE_MATCH, "nope"), (IF_MATCH, "nope")]))
                .unwrap_err();
        assert_eq!(
            invalid.headers().collect::<Vec<_>>(),
            ["If-Match", "If-None-Match"]
        );
        assert_eq!(
            invalid.to_string(),
            format!("If-Match in header: {INVALID_TAG}; If-None-Match in header: {INVALID_TAG}")
        );
        let error = ApiError::from(invalid);
        let names: Vec<_> = error
            .details()
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].clone())
            .collect();
        assert_eq!(names, [json!("If-Match"), json!("If-None-Match")]);
    }

    #[test]
    fn a_header_given_twice_is_a_list_and_refused() {
        let error =
            Preconditions::from_headers(&headers(&[(IF_MATCH, "\"1\""), (IF_MATCH, "\"2\"")]))
                .unwrap_err();
        assert_eq!(error.into_api_error().errno().as_u16(), 107);
    }

    #[test]
    fn non_ascii_values_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_bytes(b"\"1\xe9\"").unwrap(),
        );
        let error = Preconditions::from_headers(&headers).unwrap_err();
        let response: Response<Bytes> = error.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn http_dates_are_read_but_ignored() {
        let preconditions = parse(&[
            (IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (IF_UNMODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert_eq!(
            preconditions.if_modified_since,
            Some(LastModified::from_secs(784_111_777))
        );
        assert_eq!(
            preconditions.if_unmodified_since,
            preconditions.if_modified_since
        );
        assert!(preconditions.is_empty());
        // Neither a 304 for an older object nor a 412 for a newer one.
        let old = 784_111_000_000;
        let new = 1_795_429_011_912;
        assert_eq!(
            preconditions.evaluate(&Method::GET, Current::collection(old)),
            Ok(())
        );
        assert_eq!(
            preconditions.evaluate(&Method::PUT, Current::collection(new)),
            Ok(())
        );

        let invalid = parse(&[
            (IF_MODIFIED_SINCE, "yesterday"),
            (IF_UNMODIFIED_SINCE, "\"12\""),
        ]);
        assert_eq!(invalid, Preconditions::default());
    }

    #[test]
    fn if_none_match_equal_on_reads_is_304() {
        let preconditions = parse(&[(IF_NONE_MATCH, "\"1500\"")]);
        for method in [Method::GET, Method::HEAD] {
            let rejection = preconditions
                .evaluate(&method, Current::collection(1500))
                .unwrap_err();
            assert_eq!(
                rejection,
                Rejection::NotModified {
                    current: ETag::new(1500)
                }
            );
            assert_eq!(rejection.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(
                preconditions.evaluate(&method, Current::collection(1501)),
                Ok(())
            );
        }
        // No effect on writes.
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(
                preconditions.evaluate(&method, Current::collection(1500)),
                Ok(())
            );
        }
    }

    #[test]
    fn if_none_match_star_on_an_existing_target_is_412() {
        let preconditions = parse(&[(IF_NONE_MATCH, "*")]);
        let stored = json!({"id": "a", "last_modified": 10});
        for method in [Method::GET, Method::HEAD, Method::POST, Method::PUT] {
            let rejection = preconditions
                .evaluate(&method, Current::object(10, &stored))
                .unwrap_err();
            assert_eq!(
                rejection,
                Rejection::PreconditionFailed {
                    current: ETag::new(10),
                    existing: Some(stored.clone())
                }
            );
            // Plural endpoints always exist, and show no object.
            let rejection = preconditions
                .evaluate(&method, Current::collection(20))
                .unwrap_err();
            assert_eq!(
                rejection,
                Rejection::PreconditionFailed {
                    current: ETag::new(20),
                    existing: None
                }
            );
            // Creating a missing object passes.
            assert_eq!(preconditions.evaluate(&method, Current::absent(20)), Ok(()));
        }
    }

    #[test]
    fn if_match_on_an_absent_object_is_412_without_details() {
        for value in ["*", "\"10\""] {
            let preconditions = parse(&[(IF_MATCH, value)]);
            let rejection = preconditions
                .evaluate(&Method::PUT, Current::absent(30))
                .unwrap_err();
            assert_eq!(
                rejection,
                Rejection::PreconditionFailed {
                    current: ETag::new(30),
                    existing: None
                }
            );
        }
    }

    #[test]
    fn if_match_compares_with_the_current_timestamp() {
        let stored = json!({"id": "a", "last_modified": 10});
        let star = parse(&[(IF_MATCH, "*")]);
        let same = parse(&[(IF_MATCH, "\"10\"")]);
        let other = parse(&[(IF_MATCH, "\"9\"")]);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            assert_eq!(star.evaluate(&method, Current::object(10, &stored)), Ok(()));
            assert_eq!(same.evaluate(&method, Current::object(10, &stored)), Ok(()));
            assert_eq!(same.evaluate(&method, Current::collection(10)), Ok(()));
            assert!(
                other
                    .evaluate(&method, Current::object(10, &stored))
                    .is_err()
            );
            assert!(other.evaluate(&method, Current::collection(10)).is_err());
        }
    }

    #[test]
    fn the_304_is_checked_before_the_412() {
        let preconditions = parse(&[(IF_NONE_MATCH, "\"10\""), (IF_MATCH, "\"9\"")]);
        let rejection = preconditions
            .evaluate(&Method::GET, Current::collection(10))
            .unwrap_err();
        assert_eq!(rejection.status(), StatusCode::NOT_MODIFIED);
        let rejection = preconditions
            .evaluate(&Method::PUT, Current::collection(10))
            .unwrap_err();
        assert_eq!(rejection.status(), StatusCode::PRECONDITION_FAILED);
    }

    #[test]
    fn the_412_is_errno_114_with_the_existing_object_and_timestamp_headers() {
        let stored = json!({"name": "a", "id": "89a5", "last_modified": 1_795_429_011_912_u64});
        let rejection = parse(&[(IF_MATCH, "\"1\"")])
            .evaluate(&Method::PATCH, Current::object(1_795_429_011_912, &stored))
            .unwrap_err();
        let response: Response<Bytes> = rejection.clone().into_response();
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(response.headers()["etag"], "\"1795429011912\"");
        assert_eq!(
            response.headers()["last-modified"],
            "Mon, 23 Nov 2026 10:16:51 GMT"
        );
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            json!({"code": 412, "errno": 114, "error": "Precondition Failed",
                   "message": "Resource was modified meanwhile",
                   "details": {"existing": stored}})
        );
        let error = rejection.into_api_error().unwrap();
        assert_eq!(error.errno().as_u16(), 114);
        assert_eq!(error.headers()["etag"], "\"1795429011912\"");
    }

    #[test]
    fn the_412_without_an_object_has_no_details() {
        let response: Response<Bytes> = parse(&[(IF_NONE_MATCH, "*")])
            .evaluate(&Method::GET, Current::collection(5))
            .unwrap_err()
            .into_response();
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            json!({"code": 412, "errno": 114, "error": "Precondition Failed",
                   "message": "Resource was modified meanwhile"})
        );
        assert_eq!(response.headers()["etag"], "\"5\"");
    }

    #[test]
    fn the_304_is_empty_with_timestamp_headers() {
        let rejection = Rejection::NotModified {
            current: ETag::new(1_000),
        };
        assert!(rejection.clone().into_api_error().is_none());
        let response: Response<Bytes> = rejection.into_response();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(response.body().is_empty());
        assert_eq!(response.headers()["etag"], "\"1000\"");
        assert_eq!(
            response.headers()["last-modified"],
            "Thu, 01 Jan 1970 00:00:01 GMT"
        );
        assert!(response.headers().get("cache-control").is_none());
        assert!(response.headers().get("content-type").is_none());
    }
}
