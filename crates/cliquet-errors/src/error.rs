//! [`ApiError`], the protocol's error body, and its validation details.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Errno;

/// The message of a 404 on a URL that no route serves.
pub const MSG_MISSING_RESOURCE: &str = "The resource you are looking for could not be found.";
/// The message of a 404 on a URL outside the version prefix.
pub const MSG_VERSION_NOT_AVAILABLE: &str =
    "The requested API version is not available on this server.";
/// The message of a 405.
pub const MSG_METHOD_NOT_ALLOWED: &str = "Method not allowed on this endpoint.";
/// The message of a 401.
pub const MSG_UNAUTHORIZED: &str = "Please authenticate yourself to use this endpoint.";
/// The message of a 403.
pub const MSG_FORBIDDEN: &str = "This user cannot access this resource.";
/// The message of a 412.
pub const MSG_MODIFIED_MEANWHILE: &str = "Resource was modified meanwhile";
/// The message of a 409 caused by a unicity constraint.
pub const MSG_CONSTRAINT_VIOLATED: &str = "Integrity constraint violated, please retry.";
/// The message of a 503.
pub const MSG_BACKEND: &str =
    "Service temporary unavailable due to overloading or maintenance, please retry later.";
/// The message of a 410 after the end-of-service date.
pub const MSG_SERVICE_DEPRECATED: &str =
    "The service you are trying to connect no longer exists at this location.";
/// The message of a 500.
pub const MSG_INTERNAL: &str = "A programmatic error occurred, developers have been informed.";
/// The `error` title of every validation error, whatever its status.
pub const INVALID_PARAMETERS_TITLE: &str = "Invalid parameters";

/// Where a validation error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// The request body.
    Body,
    /// The querystring.
    Querystring,
    /// A request header.
    Header,
    /// A path segment (an object id, say).
    Path,
    /// The URL as a whole.
    Url,
}

impl Location {
    /// The protocol's word for this location.
    pub const fn as_str(self) -> &'static str {
        match self {
            Location::Body => "body",
            Location::Querystring => "querystring",
            Location::Header => "header",
            Location::Path => "path",
            Location::Url => "url",
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a validation error's `details`.
///
/// `name` is the field path with dots for nesting (`"data.name"`), `""` for a
/// whole body, or `None` when the entry is not about one field. Extra keys a
/// raiser adds are rendered verbatim beside the three standard ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationDetail {
    /// Where the invalid value was found.
    pub location: Location,
    /// The field path, or `None`.
    pub name: Option<String>,
    /// What is wrong with it.
    pub description: String,
    /// Extra keys rendered beside the standard ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ValidationDetail {
    /// An entry about the field `name` at `location`.
    pub fn new(
        location: Location,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            location,
            name: Some(name.into()),
            description: description.into(),
            extra: Map::new(),
        }
    }

    /// An entry about no single field (`"name": null`).
    pub fn unnamed(location: Location, description: impl Into<String>) -> Self {
        Self {
            location,
            name: None,
            description: description.into(),
            extra: Map::new(),
        }
    }

    /// Adds an extra key, rendered verbatim.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The sort key of the protocol: the name as a string, `None` for null.
    fn sort_key(&self) -> &str {
        self.name.as_deref().unwrap_or("None")
    }

    /// The `message` an error whose first entry is this one carries.
    fn message(&self) -> String {
        match &self.name {
            Some(name) if self.description.contains(name.as_str()) => self.description.clone(),
            Some(name) => format!("{name} in {}: {}", self.location, self.description),
            None => format!("{}: {}", self.location, self.description),
        }
    }
}

/// An error as the protocol sends it: a status, an errno and a JSON body
/// `{code, errno, error, message?, info?, details?}`.
///
/// Optional fields that are unset, empty strings, or empty JSON objects and
/// arrays are omitted from the body, never sent as `null`.
///
/// ```
/// use cliquet_errors::{ApiError, Errno};
///
/// let error = ApiError::object_not_found("abc", "record");
/// assert_eq!(error.errno(), Errno::InvalidResourceId);
/// assert_eq!(
///     serde_json::to_string(&error).unwrap(),
///     r#"{"code":404,"errno":110,"error":"Not Found","details":{"id":"abc","resource_name":"record"}}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    // Boxed so that `Result<T, ApiError>` stays one pointer wide on the
    // error side: handlers return it on every path.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    code: StatusCode,
    errno: Errno,
    error: Cow<'static, str>,
    message: Option<String>,
    info: Option<String>,
    details: Option<Value>,
    headers: HeaderMap,
}

impl ApiError {
    /// An error with this status and errno, titled with the status's reason
    /// phrase, and no message.
    pub fn new(code: StatusCode, errno: Errno) -> Self {
        Self {
            inner: Box::new(Inner {
                code,
                errno,
                error: Cow::Borrowed(reason_phrase(code)),
                message: None,
                info: None,
                details: None,
                headers: HeaderMap::new(),
            }),
        }
    }

    /// An error with the errno's default status.
    pub fn from_errno(errno: Errno) -> Self {
        Self::new(errno.status(), errno)
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    /// Sets the `info` URL.
    pub fn with_info(mut self, info: impl Into<String>) -> Self {
        self.inner.info = Some(info.into());
        self
    }

    /// Sets the details.
    pub fn with_details(mut self, details: impl Into<Value>) -> Self {
        self.inner.details = Some(details.into());
        self
    }

    /// Replaces the `error` title (the reason phrase by default).
    pub fn with_title(mut self, error: impl Into<Cow<'static, str>>) -> Self {
        self.inner.error = error.into();
        self
    }

    /// Adds a header to the response (`Allow`, `WWW-Authenticate`, ...).
    /// Headers are appended: a name given twice is sent twice.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.inner.headers.append(name, value);
        self
    }

    /// 404 errno 111: no route serves this URL.
    pub fn not_found() -> Self {
        Self::from_errno(Errno::MissingResource).with_message(MSG_MISSING_RESOURCE)
    }

    /// 404 errno 110: the object `id` of `resource_name` does not exist.
    pub fn object_not_found(id: impl Into<String>, resource_name: impl Into<String>) -> Self {
        Self::from_errno(Errno::InvalidResourceId).with_details(object_ref(id, resource_name))
    }

    /// 404 errno 111 with `{id, resource_name}` details: a parent object
    /// (a bucket, a collection) does not exist.
    pub fn missing_parent(id: impl Into<String>, resource_name: impl Into<String>) -> Self {
        Self::from_errno(Errno::MissingResource).with_details(object_ref(id, resource_name))
    }

    /// 404 errno 116: the URL is outside the server's version prefix.
    pub fn version_not_available() -> Self {
        Self::from_errno(Errno::VersionNotAvailable).with_message(MSG_VERSION_NOT_AVAILABLE)
    }

    /// 405 errno 115.
    pub fn method_not_allowed() -> Self {
        Self::from_errno(Errno::MethodNotAllowed).with_message(MSG_METHOD_NOT_ALLOWED)
    }

    /// 401 errno 104: the request is anonymous and the endpoint needs a user.
    /// The authentication layer adds its `WWW-Authenticate` challenges.
    pub fn unauthorized() -> Self {
        Self::from_errno(Errno::MissingAuthToken).with_message(MSG_UNAUTHORIZED)
    }

    /// 403 errno 121: the user is known but not allowed.
    pub fn forbidden() -> Self {
        Self::from_errno(Errno::Forbidden).with_message(MSG_FORBIDDEN)
    }

    /// 412 errno 114, with `{"existing": object}` details when an object
    /// exists (and the user may see it).
    pub fn precondition_failed(existing: Option<Value>) -> Self {
        let error = Self::from_errno(Errno::ModifiedMeanwhile).with_message(MSG_MODIFIED_MEANWHILE);
        match existing {
            Some(existing) => error.with_details(serde_json::json!({ "existing": existing })),
            None => error,
        }
    }

    /// 409 errno 122: a unicity constraint was violated. [`ErrorLayer`]
    /// adds `Retry-After`.
    ///
    /// [`ErrorLayer`]: crate::ErrorLayer
    pub fn conflict() -> Self {
        Self::from_errno(Errno::ConstraintViolated).with_message(MSG_CONSTRAINT_VIOLATED)
    }

    /// 503 errno 201: a backend is unavailable. [`ErrorLayer`] adds
    /// `Retry-After`.
    ///
    /// [`ErrorLayer`]: crate::ErrorLayer
    pub fn backend_unavailable() -> Self {
        Self::from_errno(Errno::Backend).with_message(MSG_BACKEND)
    }

    /// 410 errno 202: the end-of-service date has passed.
    pub fn service_deprecated() -> Self {
        Self::from_errno(Errno::ServiceDeprecated).with_message(MSG_SERVICE_DEPRECATED)
    }

    /// 413 errno 113: the body is over the server's limit.
    pub fn request_too_large() -> Self {
        Self::from_errno(Errno::RequestTooLarge)
    }

    /// 500 errno 999: an unhandled error.
    pub fn internal() -> Self {
        Self::from_errno(Errno::Undefined).with_message(MSG_INTERNAL)
    }

    /// 400 errno 107 with `error: "Bad Request"` and no details, for a request
    /// that cannot even be decoded (a querystring or path that is not UTF-8).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::from_errno(Errno::InvalidParameters).with_message(message)
    }

    /// 400 errno 107 `"Invalid parameters"` with these details, sorted as the
    /// protocol sorts them, and the message built from the first one.
    pub fn invalid_parameters(details: impl IntoIterator<Item = ValidationDetail>) -> Self {
        Self::validation(StatusCode::BAD_REQUEST, details)
    }

    /// 400 errno 107 about one field.
    pub fn invalid_parameter(
        location: Location,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::invalid_parameters([ValidationDetail::new(location, name, description)])
    }

    /// A validation error (errno 107, `"Invalid parameters"`) with another
    /// status than 400: 406 and 415 for content negotiation.
    pub fn validation(
        code: StatusCode,
        details: impl IntoIterator<Item = ValidationDetail>,
    ) -> Self {
        let mut details: Vec<ValidationDetail> = details.into_iter().collect();
        details.sort_by(|a, b| a.sort_key().cmp(b.sort_key()));
        let mut error =
            Self::new(code, Errno::InvalidParameters).with_title(INVALID_PARAMETERS_TITLE);
        if let Some(first) = details.first() {
            error.inner.message = Some(first.message());
        }
        error.inner.details = serde_json::to_value(details).ok();
        error
    }

    /// 400 errno 107 for a body that is not JSON: the message carries the
    /// parser's, and the details the two entries Kinto sends.
    pub fn invalid_json(parser_message: impl fmt::Display) -> Self {
        Self::invalid_parameters([
            ValidationDetail::new(
                Location::Body,
                "",
                format!("Invalid JSON: {parser_message}"),
            ),
            ValidationDetail::new(Location::Body, "", "Required"),
        ])
    }

    /// 415 errno 107: the request's `Content-Type` is not one of `accepted`.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::validation(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [ValidationDetail::new(
                Location::Header,
                "Content-Type",
                format!(
                    "Content-Type header should be one of {}",
                    python_list(accepted)
                ),
            )],
        )
    }

    /// 406 errno 107: no type of the request's `Accept` can be served.
    pub fn not_acceptable(available: &[&str]) -> Self {
        Self::validation(
            StatusCode::NOT_ACCEPTABLE,
            [ValidationDetail::new(
                Location::Header,
                "Accept",
                format!("Accept header should be one of {}", python_list(available)),
            )],
        )
    }

    /// The HTTP status.
    pub fn code(&self) -> StatusCode {
        self.inner.code
    }

    /// The errno.
    pub fn errno(&self) -> Errno {
        self.inner.errno
    }

    /// The short title.
    pub fn error(&self) -> &str {
        &self.inner.error
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// The `info` URL, if any.
    pub fn info(&self) -> Option<&str> {
        self.inner.info.as_deref()
    }

    /// The details, if any.
    pub fn details(&self) -> Option<&Value> {
        self.inner.details.as_ref()
    }

    /// The extra response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// Mutable access to the extra response headers.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.inner.headers
    }

    /// The JSON body.
    pub fn to_json(&self) -> Bytes {
        // Serialising a tree of strings, integers and `Value`s cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The error as an HTTP response: its status, `Content-Type:
    /// application/json`, its extra headers, and the JSON body. The errno is
    /// also put in the response's extensions, where logging and other layers
    /// can read it without parsing the body.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let body = self.to_json();
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.inner.code;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.inner.headers {
            headers.append(name, value.clone());
        }
        response.extensions_mut().insert(self.inner.errno);
        response
    }
}

impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.inner.message.as_deref().filter(|m| !m.is_empty());
        let info = self.inner.info.as_deref().filter(|i| !i.is_empty());
        let details = self.inner.details.as_ref().filter(|d| is_truthy(d));
        let len =
            3 + message.is_some() as usize + info.is_some() as usize + details.is_some() as usize;
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("code", &self.inner.code.as_u16())?;
        map.serialize_entry("errno", &self.inner.errno)?;
        map.serialize_entry("error", &self.inner.error)?;
        if let Some(message) = message {
            map.serialize_entry("message", message)?;
        }
        if let Some(info) = info {
            map.serialize_entry("info", info)?;
        }
        if let Some(details) = details {
            map.serialize_entry("details", details)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ApiError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            code: u16,
            errno: Errno,
            error: String,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            info: Option<String>,
            #[serde(default)]
            details: Option<Value>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let code = StatusCode::from_u16(wire.code).map_err(serde::de::Error::custom)?;
        Ok(ApiError {
            inner: Box::new(Inner {
                code,
                errno: wire.errno,
                error: Cow::Owned(wire.error),
                message: wire.message,
                info: wire.info,
                details: wire.details,
                headers: HeaderMap::new(),
            }),
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (errno {})",
            self.inner.code.as_u16(),
            self.inner.error,
            self.inner.errno.as_u16()
        )?;
        if let Some(message) = &self.inner.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl<B: From<Bytes>> From<ApiError> for Response<B> {
    fn from(error: ApiError) -> Self {
        error.into_response()
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for ApiError {
    fn into_response(self) -> axum_core::response::Response {
        ApiError::into_response(self)
    }
}

/// The reason phrase Kinto's web framework sends for a status (WebOb's
/// wording where it differs from today's RFC names).
pub fn reason_phrase(code: StatusCode) -> &'static str {
    match code.as_u16() {
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        416 => "Requested Range Not Satisfiable",
        _ => code.canonical_reason().unwrap_or("Unknown Error"),
    }
}

fn object_ref(id: impl Into<String>, resource_name: impl Into<String>) -> Value {
    serde_json::json!({ "id": id.into(), "resource_name": resource_name.into() })
}

/// `['a', 'b']`, as Python prints a list of strings (the wording clients see).
fn python_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Python's truthiness of a JSON value: empty containers and strings, zero,
/// `false` and `null` are dropped from the body.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_is_rendered_in_order() {
        let error = ApiError::internal()
            .with_info("https://github.com/Kinto/kinto/issues/")
            .with_details(json!({"hint": "x"}));
        assert_eq!(
            String::from_utf8(error.to_json().to_vec()).unwrap(),
            r#"{"code":500,"errno":999,"error":"Internal Server Error","message":"A programmatic error occurred, developers have been informed.","info":"https://github.com/Kinto/kinto/issues/","details":{"hint":"x"}}"#
        );
    }

    #[test]
    fn only_required_fields() {
        let error = ApiError::request_too_large();
        assert_eq!(
            String::from_utf8(error.to_json().to_vec()).unwrap(),
            r#"{"code":413,"errno":113,"error":"Request Entity Too Large"}"#
        );
    }

    #[test]
    fn empty_optional_fields_are_omitted() {
        for details in [json!({}), json!([]), json!(null), json!("")] {
            let error = ApiError::forbidden()
                .with_message("")
                .with_info("")
                .with_details(details);
            assert_eq!(
                error.to_json(),
                r#"{"code":403,"errno":121,"error":"Forbidden"}"#
            );
        }
    }

    #[test]
    fn observed_not_found() {
        assert_eq!(
            ApiError::not_found().to_json(),
            r#"{"code":404,"errno":111,"error":"Not Found","message":"The resource you are looking for could not be found."}"#
        );
    }

    #[test]
    fn validation_message_from_the_first_sorted_entry() {
        let error = ApiError::invalid_parameters([
            ValidationDetail::new(Location::Body, "data.title", "Required"),
            ValidationDetail::new(Location::Body, "data.name", "Required"),
        ]);
        assert_eq!(error.code(), StatusCode::BAD_REQUEST);
        assert_eq!(error.error(), "Invalid parameters");
        assert_eq!(error.message(), Some("data.name in body: Required"));
        assert_eq!(
            error.details().unwrap(),
            &json!([
                {"location": "body", "name": "data.name", "description": "Required"},
                {"location": "body", "name": "data.title", "description": "Required"},
            ])
        );
    }

    #[test]
    fn validation_message_with_null_name() {
        let error = ApiError::invalid_parameters([ValidationDetail::unnamed(
            Location::Path,
            "Invalid object id",
        )]);
        let body: Value = serde_json::from_slice(&error.to_json()).unwrap();
        assert_eq!(
            body,
            json!({"code":400,"errno":107,"error":"Invalid parameters","message":"path: Invalid object id","details":[{"location":"path","name":null,"description":"Invalid object id"}]})
        );
    }

    #[test]
    fn validation_message_when_description_names_the_field() {
        let error = ApiError::invalid_parameter(
            Location::Querystring,
            "_limit",
            "_limit is not an integer",
        );
        assert_eq!(error.message(), Some("_limit is not an integer"));
        // The empty name is a substring of every description.
        let error = ApiError::invalid_json("Expecting value: line 1 column 1 (char 0)");
        assert_eq!(
            error.message(),
            Some("Invalid JSON: Expecting value: line 1 column 1 (char 0)")
        );
        assert_eq!(error.details().unwrap().as_array().unwrap().len(), 2);
    }

    #[test]
    fn null_names_sort_as_none() {
        let error = ApiError::invalid_parameters([
            ValidationDetail::new(Location::Body, "data", "x"),
            ValidationDetail::unnamed(Location::Header, "y"),
            ValidationDetail::new(Location::Body, "Zebra", "z"),
        ]);
        let names: Vec<Value> = error
            .details()
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].clone())
            .collect();
        assert_eq!(names, [json!(null), json!("Zebra"), json!("data")]);
    }

    #[test]
    fn extra_keys_are_rendered_verbatim() {
        let error = ApiError::invalid_parameters([ValidationDetail::new(
            Location::Body,
            "state",
            "Invalid state",
        )
        .with_extra("errno", 105)]);
        assert_eq!(
            error.details().unwrap(),
            &json!([{"location": "body", "name": "state", "description": "Invalid state", "errno": 105}])
        );
    }

    #[test]
    fn content_negotiation_errors() {
        let error = ApiError::unsupported_media_type(&["application/json"]);
        assert_eq!(error.code(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(error.errno(), Errno::InvalidParameters);
        assert_eq!(
            error.message(),
            Some("Content-Type header should be one of ['application/json']")
        );
        let error = ApiError::not_acceptable(&["application/json"]);
        assert_eq!(error.code(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            error.message(),
            Some("Accept header should be one of ['application/json']")
        );
    }

    #[test]
    fn precondition_failed_details() {
        let error = ApiError::precondition_failed(Some(json!({"id": "a", "last_modified": 3})));
        assert_eq!(
            error.to_json(),
            r#"{"code":412,"errno":114,"error":"Precondition Failed","message":"Resource was modified meanwhile","details":{"existing":{"id":"a","last_modified":3}}}"#
        );
        assert!(ApiError::precondition_failed(None).details().is_none());
    }

    #[test]
    fn response_has_json_type_headers_and_errno_extension() {
        let error = ApiError::unauthorized().with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Realm\""),
        );
        let response: Response<Bytes> = error.clone().into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"Realm\""
        );
        assert_eq!(
            response.extensions().get::<Errno>(),
            Some(&Errno::MissingAuthToken)
        );
        let parsed: ApiError = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(parsed.errno(), Errno::MissingAuthToken);
        assert_eq!(parsed.message(), error.message());
    }
}
