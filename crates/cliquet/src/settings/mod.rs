//! Settings: one flat namespace of Kinto's setting names, loaded from a
//! TOML file or a Kinto `.ini` file, overridden by environment variables,
//! and read into the typed settings of each crate.
//!
//! - [`RawSettings`] holds the flat map and knows where each value came
//!   from; [`RawSettings::extract`] reads it into any `Deserialize` struct
//!   whose field names are setting names, with Kinto's conversions (text
//!   that is JSON is that value; `yes/no/on/off` booleans;
//!   whitespace-separated lists), and errors that name the key and its
//!   source.
//! - [`CoreSettings`]: the toolkit's own settings.
//! - [`check_unknown`]: keys no settings struct uses are an error when they
//!   come from our TOML format (a typo must not pass silently), and a
//!   warning when they come from a Kinto `.ini` file (a deployment's file
//!   may name plugins this server does not have).

mod all;
mod core;
mod ini;
mod raw;
mod value;

use std::collections::BTreeSet;

pub use self::all::{NoExtraSettings, Settings, Sources};
pub use self::core::CoreSettings;
pub use self::raw::{RawSettings, SettingsError, Source, env_name, field_names};

/// Whether `key` is one of the settings whose names are patterns:
/// `multiauth.policy.<name>.<option>`, `event_listeners.<name>.<option>`,
/// `<resource>_<permission>_principals`,
/// `[<bucket>.[<collection>.]]<resource>_cache_expires_seconds`,
/// `<plural|object>_<resource>_<method>_enabled` and
/// `<resource>_id_generator`.
pub fn is_pattern_setting(key: &str) -> bool {
    key.starts_with("multiauth.policy.")
        || key.starts_with("event_listeners.")
        || key.ends_with("_principals")
        || key.ends_with("_cache_expires_seconds")
        || key.ends_with("_enabled")
        || key.ends_with("_id_generator")
}

/// The keys of `raw` that no settings struct used (each `unused` set comes
/// from one [`RawSettings::extract`]) and that are not pattern settings.
///
/// Such a key from a TOML file or the program is an error naming it; from
/// a Kinto `.ini` file it is returned, for the caller to log as a warning.
pub fn check_unknown(
    raw: &RawSettings,
    unused: &[BTreeSet<String>],
) -> Result<Vec<String>, SettingsError> {
    let mut warnings = Vec::new();
    for key in raw.keys() {
        if is_pattern_setting(key) || !unused.iter().all(|set| set.contains(key)) {
            continue;
        }
        match raw.source(key) {
            Some(Source::Ini(_)) => warnings.push(key.to_owned()),
            source => {
                return Err(SettingsError::new(
                    Some(key.to_owned()),
                    source.cloned(),
                    "unknown setting",
                ));
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests;
