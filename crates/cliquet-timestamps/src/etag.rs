//! [`ETag`] and [`LastModified`]: a timestamp as the protocol writes it in
//! headers.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{ETAG, HeaderValue, LAST_MODIFIED};

/// The last second an HTTP date can name (9999-12-31T23:59:59Z).
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// An entity tag: a timestamp in epoch milliseconds, written as the decimal
/// integer in double quotes (`"1432208041618"`).
///
/// ```
/// use cliquet_timestamps::ETag;
///
/// let etag: ETag = "\"1432208041618\"".parse().unwrap();
/// assert_eq!(etag.timestamp(), 1432208041618);
/// assert_eq!(etag.to_string(), "\"1432208041618\"");
/// assert!("1432208041618".parse::<ETag>().is_err());
/// assert!("W/\"1432208041618\"".parse::<ETag>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ETag(u64);

impl ETag {
    /// The tag of this timestamp (epoch milliseconds).
    pub const fn new(timestamp: u64) -> Self {
        Self(timestamp)
    }

    /// The timestamp (epoch milliseconds).
    pub const fn timestamp(self) -> u64 {
        self.0
    }

    /// Parses a tag: a double quote, one or more ASCII digits, a double
    /// quote. Optional whitespace around it (which HTTP does not count as
    /// part of a field value) is ignored. A number beyond `u64` cannot be a
    /// timestamp and is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidETag> {
        let digits = s
            .trim_matches([' ', '\t'])
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(InvalidETag)?;
        digits.parse().map(Self).map_err(|_| InvalidETag)
    }

    /// Parses a header value (which must be visible ASCII).
    pub fn from_header(value: &HeaderValue) -> Result<Self, InvalidETag> {
        value
            .to_str()
            .map_err(|_| InvalidETag)
            .and_then(Self::parse)
    }

    /// The header value: `"<timestamp>"`.
    pub fn to_header_value(self) -> HeaderValue {
        HeaderValue::from(self)
    }

    /// The `Last-Modified` of the same instant.
    pub fn last_modified(self) -> LastModified {
        LastModified::from_millis(self.0)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

impl FromStr for ETag {
    type Err = InvalidETag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<u64> for ETag {
    fn from(timestamp: u64) -> Self {
        Self(timestamp)
    }
}

impl From<ETag> for HeaderValue {
    fn from(etag: ETag) -> Self {
        HeaderValue::try_from(etag.to_string()).expect("quotes and digits are a valid header value")
    }
}

/// The error of [`ETag::parse`]: the value is not an integer between double
/// quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidETag;

impl fmt::Display for InvalidETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("The value should be integer between double quotes.")
    }
}

impl std::error::Error for InvalidETag {}

/// A `Last-Modified` instant: an HTTP date, second precision, GMT
/// (`Mon, 23 Nov 2026 10:15:38 GMT`).
///
/// Instants after the last second of year 9999, which an HTTP date cannot
/// write, are clamped to it; instants before 1970 to the epoch.
///
/// ```
/// use cliquet_timestamps::LastModified;
///
/// let last_modified = LastModified::from_millis(1_795_429_011_912);
/// assert_eq!(last_modified.to_string(), "Mon, 23 Nov 2026 10:16:51 GMT");
/// assert_eq!(last_modified.as_secs(), 1_795_429_011);
/// assert_eq!("Mon, 23 Nov 2026 10:16:51 GMT".parse(), Ok(last_modified));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LastModified(u64);

impl LastModified {
    /// The instant of a timestamp in epoch milliseconds, truncated to the
    /// second.
    pub const fn from_millis(millis: u64) -> Self {
        Self::from_secs(millis / 1000)
    }

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        if secs > MAX_HTTP_DATE_SECS {
            Self(MAX_HTTP_DATE_SECS)
        } else {
            Self(secs)
        }
    }

    /// The instant of a system time, truncated to the second.
    pub fn from_system_time(time: SystemTime) -> Self {
        Self::from_secs(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The instant as a system time.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }

    /// Parses an HTTP date (IMF-fixdate, and the obsolete RFC 850 and
    /// asctime formats).
    pub fn parse(s: &str) -> Result<Self, InvalidDate> {
        httpdate::parse_http_date(s.trim_matches([' ', '\t']))
            .map(Self::from_system_time)
            .map_err(|_| InvalidDate)
    }

    /// Parses a header value.
    pub fn from_header(value: &HeaderValue) -> Result<Self, InvalidDate> {
        value
            .to_str()
            .map_err(|_| InvalidDate)
            .and_then(Self::parse)
    }

    /// The header value (an IMF-fixdate).
    pub fn to_header_value(self) -> HeaderValue {
        HeaderValue::from(self)
    }
}

impl fmt::Display for LastModified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&httpdate::fmt_http_date(self.to_system_time()))
    }
}

impl FromStr for LastModified {
    type Err = InvalidDate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<SystemTime> for LastModified {
    fn from(time: SystemTime) -> Self {
        Self::from_system_time(time)
    }
}

impl From<ETag> for LastModified {
    fn from(etag: ETag) -> Self {
        etag.last_modified()
    }
}

impl From<LastModified> for HeaderValue {
    fn from(last_modified: LastModified) -> Self {
        HeaderValue::try_from(last_modified.to_string())
            .expect("an HTTP date is a valid header value")
    }
}

/// The error of [`LastModified::parse`]: the value is not an HTTP date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidDate;

impl fmt::Display for InvalidDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("The value should be an HTTP date.")
    }
}

impl std::error::Error for InvalidDate {}

/// Sets `ETag` and `Last-Modified` of the timestamp `timestamp` (epoch
/// milliseconds), replacing any previous values: what every response of a
/// resource carries.
///
/// ```
/// use cliquet_timestamps::set_timestamp_headers;
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// set_timestamp_headers(&mut headers, 1_795_429_011_912);
/// assert_eq!(headers["etag"], "\"1795429011912\"");
/// assert_eq!(headers["last-modified"], "Mon, 23 Nov 2026 10:16:51 GMT");
/// ```
pub fn set_timestamp_headers(headers: &mut HeaderMap, timestamp: u64) {
    let etag = ETag::new(timestamp);
    headers.insert(ETAG, etag.into());
    headers.insert(LAST_MODIFIED, etag.last_modified().into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_parses_quoted_integers_only() {
        assert_eq!(ETag::parse("\"0\""), Ok(ETag::new(0)));
        assert_eq!(ETag::parse("\"007\""), Ok(ETag::new(7)));
        assert_eq!(ETag::parse(" \"42\"\t"), Ok(ETag::new(42)));
        assert_eq!(
            ETag::parse(&format!("\"{}\"", u64::MAX)),
            Ok(ETag::new(u64::MAX))
        );
        for invalid in [
            "",
            "42",
            "\"\"",
            "\"",
            "\"*\"",
            "*",
            "W/\"42\"",
            "\"42\", \"43\"",
            "\"+42\"",
            "\"-42\"",
            "\" 42\"",
            "\"4 2\"",
            "\"42",
            "42\"",
            "'42'",
            "\"١٢\"",
            "\"18446744073709551616\"",
        ] {
            assert_eq!(ETag::parse(invalid), Err(InvalidETag), "{invalid:?}");
        }
    }

    #[test]
    fn etag_header_values() {
        let value = ETag::new(1432208041618).to_header_value();
        assert_eq!(value, "\"1432208041618\"");
        assert_eq!(ETag::from_header(&value), Ok(ETag::new(1432208041618)));
        let opaque = HeaderValue::from_bytes(b"\"12\xff\"").unwrap();
        assert_eq!(ETag::from_header(&opaque), Err(InvalidETag));
    }

    #[test]
    fn last_modified_is_second_precision_gmt() {
        let last_modified = LastModified::from_millis(1_432_208_041_618);
        assert_eq!(last_modified.as_secs(), 1_432_208_041);
        assert_eq!(last_modified.to_string(), "Thu, 21 May 2015 11:34:01 GMT");
        assert_eq!(
            LastModified::from_millis(1_432_208_041_999),
            LastModified::from_millis(1_432_208_041_000)
        );
        assert_eq!(
            LastModified::from_millis(0).to_string(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn last_modified_clamps_what_an_http_date_cannot_write() {
        assert_eq!(
            LastModified::from_millis(u64::MAX).to_string(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(LastModified::from_system_time(before_epoch).as_secs(), 0);
    }

    #[test]
    fn last_modified_parses_the_three_http_date_formats() {
        let expected = LastModified::from_secs(784_111_777);
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(LastModified::parse(date), Ok(expected), "{date}");
        }
        for invalid in ["", "yesterday", "1432208041618", "\"1432208041618\""] {
            assert_eq!(LastModified::parse(invalid), Err(InvalidDate), "{invalid}");
        }
    }

    #[test]
    fn timestamp_headers_replace_previous_values() {
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("\"1\""));
        set_timestamp_headers(&mut headers, 1_000);
        assert_eq!(headers.get_all(ETAG).iter().count(), 1);
        assert_eq!(headers[ETAG], "\"1000\"");
        assert_eq!(headers[LAST_MODIFIED], "Thu, 01 Jan 1970 00:00:01 GMT");
    }
}
