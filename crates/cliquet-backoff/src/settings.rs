//! [`BackoffSettings`]: the protocol's settings read by [`BackoffLayer`](crate::BackoffLayer).

use std::fmt;

use serde::Deserialize;

use crate::de;

/// The default of the `retry_after_seconds` setting (the toolkit's; Kinto
/// itself sets 3).
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 30;

/// The settings of [`BackoffLayer`](crate::BackoffLayer), named as the
/// protocol names them.
///
/// Every field has the protocol's default, so a settings file only lists
/// what it changes. Values may also be given as strings, as they come from
/// environment variables (`"10"`, `"on"`, `""` for unset).
///
/// ```
/// use cliquet_backoff::BackoffSettings;
///
/// let settings: BackoffSettings =
///     serde_json::from_str(r#"{"backoff": "10", "readonly": "on"}"#).unwrap();
/// assert_eq!(settings.backoff, Some(10));
/// assert!(settings.readonly);
/// assert_eq!(settings.retry_after_seconds, 30);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BackoffSettings {
    /// `backoff`: the seconds sent in the `Backoff` header; unset (the
    /// default) sends no header.
    #[serde(deserialize_with = "de::optional_u64")]
    pub backoff: Option<u64>,
    /// `backoff_percentage`: the percentage (0 to 100) of responses that
    /// get the `Backoff` header; unset (the default) means all of them.
    #[serde(deserialize_with = "de::optional_f64")]
    pub backoff_percentage: Option<f64>,
    /// `retry_after_seconds`: the value of `Retry-After` on 503, 429 and
    /// 409 (errno 122) responses; 30 by default.
    #[serde(deserialize_with = "de::u64")]
    pub retry_after_seconds: u64,
    /// `readonly`: reject every request whose method is not `GET`, `HEAD`
    /// or `OPTIONS` with 405 errno 115; `false` by default.
    #[serde(deserialize_with = "de::boolean")]
    pub readonly: bool,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        Self {
            backoff: None,
            backoff_percentage: None,
            retry_after_seconds: DEFAULT_RETRY_AFTER_SECONDS,
            readonly: false,
        }
    }
}

impl BackoffSettings {
    /// Checks the values that the types alone do not constrain.
    ///
    /// # Errors
    ///
    /// When `backoff_percentage` is not a number between 0 and 100.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(percentage) = self.backoff_percentage {
            check_percentage(percentage)?;
        }
        Ok(())
    }
}

pub(crate) fn check_percentage(percentage: f64) -> Result<(), SettingsError> {
    if (0.0..=100.0).contains(&percentage) {
        Ok(())
    } else {
        Err(SettingsError {
            key: "backoff_percentage",
            message: format!("must be a number between 0 and 100, not {percentage}"),
        })
    }
}

/// A setting whose value the layer cannot use; says which key to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    key: &'static str,
    message: String,
}

impl SettingsError {
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
    use super::*;

    #[test]
    fn defaults_are_the_protocol_defaults() {
        let settings: BackoffSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(settings, BackoffSettings::default());
        assert_eq!(settings.backoff, None);
        assert_eq!(settings.backoff_percentage, None);
        assert_eq!(settings.retry_after_seconds, 30);
        assert!(!settings.readonly);
    }

    #[test]
    fn typed_values() {
        let settings: BackoffSettings = serde_json::from_str(
            r#"{"backoff": 10, "backoff_percentage": 12.5, "retry_after_seconds": 3, "readonly": true}"#,
        )
        .unwrap();
        assert_eq!(settings.backoff, Some(10));
        assert_eq!(settings.backoff_percentage, Some(12.5));
        assert_eq!(settings.retry_after_seconds, 3);
        assert!(settings.readonly);
    }

    #[test]
    fn string_values_as_from_the_environment() {
        let settings: BackoffSettings = serde_json::from_str(
            r#"{"backoff": "7", "backoff_percentage": "50", "retry_after_seconds": "3", "readonly": "yes"}"#,
        )
        .unwrap();
        assert_eq!(settings.backoff, Some(7));
        assert_eq!(settings.backoff_percentage, Some(50.0));
        assert_eq!(settings.retry_after_seconds, 3);
        assert!(settings.readonly);

        let settings: BackoffSettings = serde_json::from_str(
            r#"{"backoff": "", "backoff_percentage": null, "readonly": "OFF"}"#,
        )
        .unwrap();
        assert_eq!(settings.backoff, None);
        assert_eq!(settings.backoff_percentage, None);
        assert!(!settings.readonly);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let settings: BackoffSettings =
            serde_json::from_str(r#"{"backoff": 1, "storage_backend": "memory"}"#).unwrap();
        assert_eq!(settings.backoff, Some(1));
    }

    #[test]
    fn bad_values_are_rejected_with_the_key() {
        assert!(serde_json::from_str::<BackoffSettings>(r#"{"backoff": -1}"#).is_err());
        assert!(serde_json::from_str::<BackoffSettings>(r#"{"backoff": "soon"}"#).is_err());
        assert!(serde_json::from_str::<BackoffSettings>(r#"{"readonly": "maybe"}"#).is_err());

        let settings: BackoffSettings =
            serde_json::from_str(r#"{"backoff_percentage": 120}"#).unwrap();
        let error = settings.validate().unwrap_err();
        assert_eq!(error.key(), "backoff_percentage");
        assert!(error.to_string().contains("between 0 and 100"));

        let settings: BackoffSettings =
            serde_json::from_str(r#"{"backoff_percentage": -0.5}"#).unwrap();
        assert!(settings.validate().is_err());
        let settings: BackoffSettings =
            serde_json::from_str(r#"{"backoff_percentage": "100"}"#).unwrap();
        assert!(settings.validate().is_ok());
    }
}
