//! The protocol's application error numbers.

use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! errnos {
    ($( $(#[$doc:meta])* $variant:ident = $number:literal, $name:literal, $status:expr; )*) => {
        /// An application error number (`errno`), as the protocol numbers them.
        ///
        /// Every errno of the protocol has a variant; any other number
        /// (a plugin's own) is kept in [`Errno::Other`], so that numbers
        /// round-trip through [`Errno::from_u16`] and serde unchanged.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Errno {
            $( $(#[$doc])* $variant, )*
            /// A number the protocol does not define, kept as it is.
            Other(u16),
        }

        impl Errno {
            /// Every errno the protocol defines, in ascending order.
            pub const ALL: &'static [Errno] = &[$(Errno::$variant),*];

            /// The errno of a number; numbers the protocol does not define
            /// become [`Errno::Other`].
            pub const fn from_u16(number: u16) -> Self {
                match number {
                    $( $number => Errno::$variant, )*
                    other => Errno::Other(other),
                }
            }

            /// The number sent in the `errno` field.
            pub const fn as_u16(self) -> u16 {
                match self {
                    $( Errno::$variant => $number, )*
                    Errno::Other(number) => number,
                }
            }

            /// The protocol's upper-case name (`"INVALID_PARAMETERS"`), or
            /// `"UNKNOWN"` for [`Errno::Other`].
            pub const fn name(self) -> &'static str {
                match self {
                    $( Errno::$variant => $name, )*
                    Errno::Other(_) => "UNKNOWN",
                }
            }

            /// The HTTP status this errno is sent with unless the raiser says
            /// otherwise (500 for [`Errno::Other`]).
            pub const fn status(self) -> StatusCode {
                match self {
                    $( Errno::$variant => $status, )*
                    Errno::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
                }
            }
        }
    };
}

errnos! {
    /// 104: permission denied and no user could be identified (401).
    MissingAuthToken = 104, "MISSING_AUTH_TOKEN", StatusCode::UNAUTHORIZED;
    /// 105: an invalid authentication token. Never a top-level errno in
    /// practice: an invalid token leaves the request anonymous (401, errno 104).
    InvalidAuthToken = 105, "INVALID_AUTH_TOKEN", StatusCode::UNAUTHORIZED;
    /// 106: malformed JSON. Reserved: invalid JSON bodies are errno 107.
    BadJson = 106, "BADJSON", StatusCode::BAD_REQUEST;
    /// 107: any validation failure of the body, querystring, headers or path.
    InvalidParameters = 107, "INVALID_PARAMETERS", StatusCode::BAD_REQUEST;
    /// 108: reserved.
    MissingParameters = 108, "MISSING_PARAMETERS", StatusCode::BAD_REQUEST;
    /// 109: reserved.
    InvalidPostedData = 109, "INVALID_POSTED_DATA", StatusCode::BAD_REQUEST;
    /// 110: the object of an object endpoint does not exist (or was deleted).
    InvalidResourceId = 110, "INVALID_RESOURCE_ID", StatusCode::NOT_FOUND;
    /// 111: no route matches the URL, or a parent object is missing.
    MissingResource = 111, "MISSING_RESOURCE", StatusCode::NOT_FOUND;
    /// 112: reserved.
    MissingContentLength = 112, "MISSING_CONTENT_LENGTH", StatusCode::LENGTH_REQUIRED;
    /// 113: the request body is over the server's limit.
    RequestTooLarge = 113, "REQUEST_TOO_LARGE", StatusCode::PAYLOAD_TOO_LARGE;
    /// 114: a precondition (`If-Match`, `If-None-Match`) failed.
    ModifiedMeanwhile = 114, "MODIFIED_MEANWHILE", StatusCode::PRECONDITION_FAILED;
    /// 115: the method is not allowed on the endpoint (or the server is read-only).
    MethodNotAllowed = 115, "METHOD_NOT_ALLOWED", StatusCode::METHOD_NOT_ALLOWED;
    /// 116: the URL is not under the server's version prefix.
    VersionNotAvailable = 116, "VERSION_NOT_AVAILABLE", StatusCode::NOT_FOUND;
    /// 117: the client sent too many requests.
    ClientReachedCapacity = 117, "CLIENT_REACHED_CAPACITY", StatusCode::TOO_MANY_REQUESTS;
    /// 121: permission denied for an authenticated user.
    Forbidden = 121, "FORBIDDEN", StatusCode::FORBIDDEN;
    /// 122: a storage integrity constraint (unicity) was violated.
    ConstraintViolated = 122, "CONSTRAINT_VIOLATED", StatusCode::CONFLICT;
    /// 201: a backend is unavailable.
    Backend = 201, "BACKEND", StatusCode::SERVICE_UNAVAILABLE;
    /// 202: the service's end-of-life date has passed.
    ServiceDeprecated = 202, "SERVICE_DEPRECATED", StatusCode::GONE;
    /// 999: an unhandled error, and the errno of any error raised without one.
    Undefined = 999, "UNDEFINED", StatusCode::INTERNAL_SERVER_ERROR;
}

impl Errno {
    /// The errno a bare HTTP error status maps to when nothing more precise is
    /// known, e.g. when rewriting a framework's plain-text error response.
    pub const fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 | 406 | 415 | 422 => Errno::InvalidParameters,
            401 => Errno::MissingAuthToken,
            403 => Errno::Forbidden,
            404 => Errno::MissingResource,
            405 => Errno::MethodNotAllowed,
            409 => Errno::ConstraintViolated,
            410 => Errno::ServiceDeprecated,
            411 => Errno::MissingContentLength,
            412 => Errno::ModifiedMeanwhile,
            413 => Errno::RequestTooLarge,
            429 => Errno::ClientReachedCapacity,
            503 => Errno::Backend,
            _ => Errno::Undefined,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.as_u16(), self.name())
    }
}

impl From<u16> for Errno {
    fn from(number: u16) -> Self {
        Errno::from_u16(number)
    }
}

impl From<Errno> for u16 {
    fn from(errno: Errno) -> Self {
        errno.as_u16()
    }
}

impl Serialize for Errno {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for Errno {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u16::deserialize(deserializer).map(Errno::from_u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_protocol() {
        let table: Vec<(u16, &str, u16)> = Errno::ALL
            .iter()
            .map(|e| (e.as_u16(), e.name(), e.status().as_u16()))
            .collect();
        assert_eq!(
            table,
            [
                (104, "MISSING_AUTH_TOKEN", 401),
                (105, "INVALID_AUTH_TOKEN", 401),
                (106, "BADJSON", 400),
                (107, "INVALID_PARAMETERS", 400),
                (108, "MISSING_PARAMETERS", 400),
                (109, "INVALID_POSTED_DATA", 400),
                (110, "INVALID_RESOURCE_ID", 404),
                (111, "MISSING_RESOURCE", 404),
                (112, "MISSING_CONTENT_LENGTH", 411),
                (113, "REQUEST_TOO_LARGE", 413),
                (114, "MODIFIED_MEANWHILE", 412),
                (115, "METHOD_NOT_ALLOWED", 405),
                (116, "VERSION_NOT_AVAILABLE", 404),
                (117, "CLIENT_REACHED_CAPACITY", 429),
                (121, "FORBIDDEN", 403),
                (122, "CONSTRAINT_VIOLATED", 409),
                (201, "BACKEND", 503),
                (202, "SERVICE_DEPRECATED", 410),
                (999, "UNDEFINED", 500),
            ]
        );
    }

    #[test]
    fn numbers_round_trip() {
        for number in 0..=1200u16 {
            assert_eq!(Errno::from_u16(number).as_u16(), number);
        }
        assert_eq!(Errno::from_u16(107), Errno::InvalidParameters);
        assert_eq!(Errno::from_u16(404), Errno::Other(404));
    }

    #[test]
    fn serde_uses_the_number() {
        assert_eq!(serde_json::to_string(&Errno::Backend).unwrap(), "201");
        let parsed: Errno = serde_json::from_str("555").unwrap();
        assert_eq!(parsed, Errno::Other(555));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "555");
    }
}
