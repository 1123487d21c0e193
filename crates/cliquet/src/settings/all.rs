//! [`Settings`]: every crate's settings, loaded at once.

use std::collections::BTreeSet;
use std::path::Path;

use cliquet_backoff::BackoffSettings;
use cliquet_cors::CorsSettings;
use cliquet_heartbeat::HeartbeatSettings;
use cliquet_version::VersionSettings;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    CoreSettings, RawSettings, SettingsError, check_unknown, field_names, is_pattern_setting,
};

/// Where settings come from, besides the toolkit's defaults.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// The settings file (TOML, or a Kinto `.ini`), if any.
    pub file: Option<&'a Path>,
    /// The project prefix of `.ini` keys and environment variables
    /// (`kinto`: `kinto.storage_url`, `KINTO_STORAGE_URL`).
    pub prefix: &'a str,
    /// The environment variables (`std::env::vars()`).
    pub env: Vec<(String, String)>,
    /// The application's defaults, applied before the file.
    pub defaults: RawSettings,
}

/// An application without settings of its own.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct NoExtraSettings {}

/// Every crate's settings, read from one namespace.
#[derive(Debug, Clone)]
pub struct Settings<E = NoExtraSettings> {
    /// The toolkit's own settings.
    pub core: CoreSettings,
    /// `backoff`, `backoff_percentage`, `retry_after_seconds`, `readonly`.
    pub backoff: BackoffSettings,
    /// The version prefix, redirects, end of service.
    pub version: VersionSettings,
    /// CORS.
    pub cors: CorsSettings,
    /// Heartbeat timeout and `version.json`.
    pub heartbeat: HeartbeatSettings,
    /// The application's own settings.
    pub extra: E,
    /// The flat map they were read from, for the settings whose names are
    /// patterns (`<resource>_<permission>_principals`, …).
    pub raw: RawSettings,
    /// Keys of a Kinto `.ini` file that no crate uses (to log).
    pub ignored: Vec<String>,
}

impl<E: DeserializeOwned> Settings<E> {
    /// Loads the defaults, then the file, then the environment, and reads
    /// every crate's settings and the application's (`E`). Wrong types, and
    /// unknown keys of a TOML file, are errors naming the key.
    pub fn load(sources: Sources<'_>) -> Result<Self, SettingsError> {
        let mut raw = sources.defaults;
        if let Some(file) = sources.file {
            raw.merge_file(file, sources.prefix)?;
        }
        let known: Vec<&str> = [
            field_names::<CoreSettings>(),
            field_names::<BackoffSettings>(),
            field_names::<VersionSettings>(),
            field_names::<CorsSettings>(),
            field_names::<HeartbeatSettings>(),
            field_names::<E>(),
        ]
        .concat();
        raw.merge_env(sources.env, sources.prefix, &known, is_pattern_setting);
        Self::from_raw(raw)
    }

    /// Reads every crate's settings from `raw`.
    pub fn from_raw(raw: RawSettings) -> Result<Self, SettingsError> {
        let mut unused: Vec<BTreeSet<String>> = Vec::new();
        let mut read = |unused_keys: BTreeSet<String>| unused.push(unused_keys);
        let (core, u) = raw.extract::<CoreSettings>()?;
        read(u);
        let (backoff, u) = raw.extract::<BackoffSettings>()?;
        read(u);
        let (version, u) = raw.extract::<VersionSettings>()?;
        read(u);
        let (cors, u) = raw.extract::<CorsSettings>()?;
        read(u);
        let (heartbeat, u) = raw.extract::<HeartbeatSettings>()?;
        read(u);
        let (extra, u) = raw.extract::<E>()?;
        read(u);
        let ignored = check_unknown(&raw, &unused)?;
        Ok(Self {
            core,
            backoff,
            version,
            cors,
            heartbeat,
            extra,
            raw,
            ignored,
        })
    }
}
