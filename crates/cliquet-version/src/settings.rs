//! [`VersionSettings`]: the protocol's settings read by
//! [`VersionLayer`](crate::VersionLayer) and [`EosLayer`](crate::EosLayer).

use std::fmt;
use std::time::SystemTime;

use serde::Deserialize;

use crate::clock::parse_moment;
use crate::de;

/// The default of `version_prefix_redirect_ttl_seconds`: no cache headers.
pub const DEFAULT_VERSION_PREFIX_REDIRECT_TTL_SECONDS: i64 = -1;

/// The default of `trailing_slash_redirect_ttl_seconds`: one hour.
pub const DEFAULT_TRAILING_SLASH_REDIRECT_TTL_SECONDS: i64 = 3600;

/// The settings of [`VersionLayer`](crate::VersionLayer) and
/// [`EosLayer`](crate::EosLayer), named as the protocol names them.
///
/// Every field has the protocol's default. Values may also be given as
/// strings, as they come from environment variables (`"off"`, `"-1"`, `""`
/// for unset).
///
/// ```
/// use cliquet_version::VersionSettings;
///
/// let settings: VersionSettings = serde_json::from_str(
///     r#"{"http_api_version": "1.23", "eos": "2030-01-01", "eos_message": "Bye"}"#,
/// ).unwrap();
/// assert_eq!(settings.prefix().unwrap(), "/v1");
/// assert!(settings.version_prefix_redirect_enabled);
/// assert_eq!(settings.trailing_slash_redirect_ttl_seconds, 3600);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct VersionSettings {
    /// `project_version`: the application's version; when
    /// `http_api_version` is unset, its first two parts are the API version
    /// (`"0.0.1"` gives `"0.0"`, hence the prefix `/v0`).
    #[serde(deserialize_with = "de::optional_string")]
    pub project_version: Option<String>,
    /// `http_api_version`: `"MAJOR.MINOR"`; the routes live under
    /// `/v{MAJOR}`. Kinto uses `"1.23"`.
    #[serde(deserialize_with = "de::optional_string")]
    pub http_api_version: Option<String>,
    /// `http_scheme`: the scheme of redirect `Location`s instead of the
    /// request's (behind a TLS-terminating proxy, `https`).
    #[serde(deserialize_with = "de::optional_string")]
    pub http_scheme: Option<String>,
    /// `http_host`: the `host[:port]` of redirect `Location`s instead of
    /// the request's `Host`.
    #[serde(deserialize_with = "de::optional_string")]
    pub http_host: Option<String>,
    /// `version_prefix_redirect_enabled`: redirect URLs without a version
    /// prefix to the prefixed URL (`true`); when off they get 404 errno 116.
    #[serde(deserialize_with = "de::boolean")]
    pub version_prefix_redirect_enabled: bool,
    /// `version_prefix_redirect_ttl_seconds`: cache headers of those
    /// redirects; negative (the default, -1) sends none, 0 forbids caching,
    /// N caches for N seconds.
    #[serde(deserialize_with = "de::i64")]
    pub version_prefix_redirect_ttl_seconds: i64,
    /// `trailing_slash_redirect_enabled`: redirect unmatched URLs ending in
    /// `/` to the URL without it, and `/v1` to `/v1/` (`true`); when off
    /// they get 404 errno 111.
    #[serde(deserialize_with = "de::boolean")]
    pub trailing_slash_redirect_enabled: bool,
    /// `trailing_slash_redirect_ttl_seconds`: cache headers of those
    /// redirects, with the rules above; 3600 by default.
    #[serde(deserialize_with = "de::i64")]
    pub trailing_slash_redirect_ttl_seconds: i64,
    /// `eos`: the end-of-service date (`YYYY-MM-DD`); before it responses
    /// carry a `soft-eol` `Alert`, from it on every request gets 410 errno
    /// 202. Unset by default.
    #[serde(deserialize_with = "de::optional_string")]
    pub eos: Option<String>,
    /// `eos_message`: the `message` of the `Alert`.
    #[serde(deserialize_with = "de::optional_string")]
    pub eos_message: Option<String>,
    /// `eos_url`: the `url` of the `Alert`; `project_docs` when unset.
    #[serde(deserialize_with = "de::optional_string")]
    pub eos_url: Option<String>,
    /// `project_docs`: the application's documentation URL (Kinto:
    /// `https://kinto.readthedocs.io/`).
    #[serde(deserialize_with = "de::optional_string")]
    pub project_docs: Option<String>,
}

impl Default for VersionSettings {
    fn default() -> Self {
        Self {
            project_version: None,
            http_api_version: None,
            http_scheme: None,
            http_host: None,
            version_prefix_redirect_enabled: true,
            version_prefix_redirect_ttl_seconds: DEFAULT_VERSION_PREFIX_REDIRECT_TTL_SECONDS,
            trailing_slash_redirect_enabled: true,
            trailing_slash_redirect_ttl_seconds: DEFAULT_TRAILING_SLASH_REDIRECT_TTL_SECONDS,
            eos: None,
            eos_message: None,
            eos_url: None,
            project_docs: None,
        }
    }
}

impl VersionSettings {
    /// The API version, `"MAJOR.MINOR"`: `http_api_version`, or the first
    /// two parts of `project_version`.
    ///
    /// # Errors
    ///
    /// When neither is set, or the one used does not start with a number.
    pub fn http_api_version(&self) -> Result<String, SettingsError> {
        let (key, value) = match (&self.http_api_version, &self.project_version) {
            (Some(api), _) => ("http_api_version", api.trim().to_owned()),
            (None, Some(project)) => (
                "project_version",
                project
                    .trim()
                    .splitn(3, '.')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("."),
            ),
            (None, None) => {
                return Err(SettingsError::new(
                    "http_api_version",
                    "set `http_api_version` (or `project_version`) to give the URL prefix",
                ));
            }
        };
        major(&value).ok_or_else(|| {
            SettingsError::new(
                key,
                format!("expected a version such as 1.23, not {value:?}"),
            )
        })?;
        Ok(value)
    }

    /// The URL prefix, `/v{MAJOR}`.
    ///
    /// # Errors
    ///
    /// As [`VersionSettings::http_api_version`].
    pub fn prefix(&self) -> Result<String, SettingsError> {
        let version = self.http_api_version()?;
        let major = major(&version).unwrap_or_default();
        Ok(format!("/v{major}"))
    }

    /// The end-of-service moment (`eos`), if set.
    ///
    /// # Errors
    ///
    /// When `eos` is not a date.
    pub fn eos_moment(&self) -> Result<Option<SystemTime>, SettingsError> {
        self.eos
            .as_deref()
            .map(|eos| {
                parse_moment(eos).map_err(|error| SettingsError::new("eos", error.to_string()))
            })
            .transpose()
    }

    /// Checks every value the layers will use.
    ///
    /// # Errors
    ///
    /// The first setting that cannot be used.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.http_api_version()?;
        self.eos_moment()?;
        if let Some(scheme) = &self.http_scheme {
            let valid = scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
            if !valid {
                return Err(SettingsError::new(
                    "http_scheme",
                    format!("{scheme:?} is not a URL scheme"),
                ));
            }
        }
        if let Some(host) = &self.http_host
            && host.parse::<http::uri::Authority>().is_err()
        {
            return Err(SettingsError::new(
                "http_host",
                format!("{host:?} is not a host[:port]"),
            ));
        }
        Ok(())
    }
}

/// The major number of a `MAJOR[.MINOR...]` version.
fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

/// A setting whose value the layers cannot use; says which key to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    key: &'static str,
    message: String,
}

impl SettingsError {
    pub(crate) fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }

    /// The name of the setting to fix.
    pub fn key(&self) -> &'static str {
        self.key
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn settings(json: &str) -> VersionSettings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_the_protocol_defaults() {
        let s = settings("{}");
        assert_eq!(s, VersionSettings::default());
        assert!(s.version_prefix_redirect_enabled);
        assert_eq!(s.version_prefix_redirect_ttl_seconds, -1);
        assert!(s.trailing_slash_redirect_enabled);
        assert_eq!(s.trailing_slash_redirect_ttl_seconds, 3600);
        assert_eq!(s.eos, None);
        assert_eq!(s.eos_message, None);
        assert_eq!(s.eos_url, None);
        assert_eq!(s.http_scheme, None);
        assert_eq!(s.http_host, None);
    }

    #[test]
    fn the_prefix_comes_from_the_api_version_or_the_project_version() {
        assert_eq!(
            settings(r#"{"http_api_version": "1.23"}"#)
                .prefix()
                .unwrap(),
            "/v1"
        );
        let s = settings(r#"{"project_version": "0.0.1"}"#);
        assert_eq!(s.http_api_version().unwrap(), "0.0");
        assert_eq!(s.prefix().unwrap(), "/v0");
        let s = settings(r#"{"project_version": "26.5.0", "http_api_version": "2.0"}"#);
        assert_eq!(s.prefix().unwrap(), "/v2");
    }

    #[test]
    fn a_missing_or_bad_version_names_the_key() {
        assert_eq!(
            settings("{}").prefix().unwrap_err().key(),
            "http_api_version"
        );
        assert_eq!(
            settings(r#"{"http_api_version": "one"}"#)
                .validate()
                .unwrap_err()
                .key(),
            "http_api_version"
        );
        assert_eq!(
            settings(r#"{"project_version": "x.y"}"#)
                .validate()
                .unwrap_err()
                .key(),
            "project_version"
        );
    }

    #[test]
    fn string_values_as_from_the_environment() {
        let s = settings(
            r#"{"http_api_version": "1.0", "version_prefix_redirect_enabled": "off",
                "trailing_slash_redirect_enabled": "0", "trailing_slash_redirect_ttl_seconds": "-1",
                "version_prefix_redirect_ttl_seconds": "60", "eos": "", "eos_url": ""}"#,
        );
        assert!(!s.version_prefix_redirect_enabled);
        assert!(!s.trailing_slash_redirect_enabled);
        assert_eq!(s.trailing_slash_redirect_ttl_seconds, -1);
        assert_eq!(s.version_prefix_redirect_ttl_seconds, 60);
        assert_eq!(s.eos, None);
        assert_eq!(s.eos_url, None);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn eos_is_parsed_and_checked() {
        let s = settings(r#"{"http_api_version": "1.0", "eos": "2001-09-09"}"#);
        assert_eq!(
            s.eos_moment().unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(999_993_600))
        );
        let s = settings(r#"{"http_api_version": "1.0", "eos": "next year"}"#);
        assert_eq!(s.validate().unwrap_err().key(), "eos");
    }

    #[test]
    fn bad_scheme_or_host_names_the_key() {
        let s = settings(r#"{"http_api_version": "1.0", "http_scheme": "ht tp"}"#);
        assert_eq!(s.validate().unwrap_err().key(), "http_scheme");
        let s = settings(r#"{"http_api_version": "1.0", "http_host": "a b"}"#);
        assert_eq!(s.validate().unwrap_err().key(), "http_host");
        let s = settings(
            r#"{"http_api_version": "1.0", "http_host": "example.com:8443", "http_scheme": "https"}"#,
        );
        assert!(s.validate().is_ok());
    }
}
