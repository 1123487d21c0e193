//! [`CorsSettings`]: the protocol's settings read by [`CorsLayer`](crate::CorsLayer).

use serde::Deserialize;

use crate::de;

/// The default of `cors_max_age_seconds`.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 3600;

/// The settings of [`CorsLayer`](crate::CorsLayer), named as the protocol
/// names them.
///
/// ```
/// use cliquet_cors::CorsSettings;
///
/// let settings: CorsSettings = serde_json::from_str(
///     r#"{"cors_origins": "https://app.example.com http://localhost:*", "cors_max_age_seconds": ""}"#,
/// ).unwrap();
/// assert_eq!(settings.cors_origins, ["https://app.example.com", "http://localhost:*"]);
/// assert_eq!(settings.cors_max_age_seconds, None);
///
/// let defaults: CorsSettings = serde_json::from_str("{}").unwrap();
/// assert_eq!(defaults.cors_origins, ["*"]);
/// assert_eq!(defaults.cors_max_age_seconds, Some(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CorsSettings {
    /// `cors_origins`: the allowed origins, a list or one
    /// whitespace-separated string; entries may hold shell-style wildcards
    /// (`http://*.example.com`), `*` allows every origin. `*` by default.
    #[serde(deserialize_with = "de::list")]
    pub cors_origins: Vec<String>,
    /// `cors_max_age_seconds`: the `Access-Control-Max-Age` of preflight
    /// answers; unset or empty omits the header. 3600 by default.
    #[serde(deserialize_with = "de::optional_u64")]
    pub cors_max_age_seconds: Option<u64>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            cors_origins: vec!["*".to_owned()],
            cors_max_age_seconds: Some(DEFAULT_MAX_AGE_SECONDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_strings() {
        let settings: CorsSettings = serde_json::from_str(
            r#"{"cors_origins": ["http://a.com", "http://b.com\nhttp://c.com"]}"#,
        )
        .unwrap();
        assert_eq!(
            settings.cors_origins,
            ["http://a.com", "http://b.com", "http://c.com"]
        );
        assert_eq!(settings.cors_max_age_seconds, Some(3600));

        let settings: CorsSettings =
            serde_json::from_str(r#"{"cors_origins": "", "cors_max_age_seconds": "60"}"#).unwrap();
        assert!(settings.cors_origins.is_empty());
        assert_eq!(settings.cors_max_age_seconds, Some(60));

        let settings: CorsSettings =
            serde_json::from_str(r#"{"cors_max_age_seconds": null}"#).unwrap();
        assert_eq!(settings.cors_max_age_seconds, None);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(
            serde_json::from_str::<CorsSettings>(r#"{"cors_max_age_seconds": "an hour"}"#).is_err()
        );
        assert!(serde_json::from_str::<CorsSettings>(r#"{"cors_max_age_seconds": -1}"#).is_err());
        assert!(serde_json::from_str::<CorsSettings>(r#"{"cors_origins": 3}"#).is_err());
    }
}
