//! [`RawSettings`]: the flat map of settings, loaded from files and the
//! environment, before it is read into typed structs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, Visitor};
use serde_json::Value;

use super::value::SettingValue;

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Set by the program.
    Program,
    /// A TOML settings file.
    Toml(PathBuf),
    /// A Kinto `.ini` file.
    Ini(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Program => f.write_str("the program"),
            Source::Toml(path) | Source::Ini(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// A settings error, naming the key to fix and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    key: Option<String>,
    source: Option<Source>,
    message: String,
}

impl SettingsError {
    pub(crate) fn new(
        key: Option<String>,
        source: Option<Source>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            key,
            source,
            message: message.into(),
        }
    }

    /// The setting at fault, if the error is about one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, &self.source) {
            (Some(key), Some(source)) => {
                write!(f, "setting `{key}` (from {source}): {}", self.message)
            }
            (Some(key), None) => write!(f, "setting `{key}`: {}", self.message),
            (None, Some(source)) => write!(f, "{source}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SettingsError {}

/// Settings as a flat map from names (`storage_backend`,
/// `multiauth.policies`, `record_cache_expires_seconds`) to values, with
/// the source of each.
///
/// Later sources override earlier ones: load the file first, then
/// [`merge_env`](RawSettings::merge_env).
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    values: BTreeMap<String, (Value, Source)>,
}

impl RawSettings {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.values
            .insert(key.into(), (value.into(), Source::Program));
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key).map(|(value, _)| value)
    }

    /// The value of `key` as text, if set (numbers and booleans as JSON).
    pub fn get_text(&self, key: &str) -> Option<String> {
        self.get(key).map(|value| match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// Where the value of `key` came from.
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.values.get(key).map(|(_, source)| source)
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Loads a file: a Kinto `.ini` file when its name ends with `.ini`,
    /// our TOML format otherwise.
    pub fn merge_file(&mut self, path: &Path, project_prefix: &str) -> Result<(), SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            SettingsError::new(
                None,
                None,
                format!("cannot read {}: {error}", path.display()),
            )
        })?;
        if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("ini"))
        {
            let here = path.parent().unwrap_or(Path::new("."));
            self.merge_ini_str(&text, path, here, project_prefix)
        } else {
            self.merge_toml_str(&text, path)
        }
    }

    /// Loads our TOML format: top-level keys are setting names; tables are
    /// flattened with dots (`[multiauth] policies = [...]` is
    /// `multiauth.policies`).
    pub fn merge_toml_str(&mut self, text: &str, path: &Path) -> Result<(), SettingsError> {
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            SettingsError::new(None, Some(Source::Toml(path.to_owned())), error.to_string())
        })?;
        let mut flat = Vec::new();
        flatten_toml("", toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            self.values
                .insert(key, (value, Source::Toml(path.to_owned())));
        }
        Ok(())
    }

    /// Loads the `[app:main]` section of a Kinto `.ini` file. Keys may be
    /// written with the project prefix (`kinto.storage_backend`) or without;
    /// both at once with different values is an error, as in Kinto.
    /// `%(here)s` is the file's directory.
    pub fn merge_ini_str(
        &mut self,
        text: &str,
        path: &Path,
        here: &Path,
        project_prefix: &str,
    ) -> Result<(), SettingsError> {
        let source = Source::Ini(path.to_owned());
        let sections = super::ini::parse(text)
            .map_err(|message| SettingsError::new(None, Some(source.clone()), message))?;
        let Some(app) = sections.get("app:main") else {
            return Err(SettingsError::new(
                None,
                Some(source),
                "no [app:main] section",
            ));
        };
        let here = here.display().to_string();
        let prefix = format!("{project_prefix}.");
        let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (raw_key, value) in app {
            if raw_key == "use" {
                continue;
            }
            let key = raw_key
                .strip_prefix(prefix.as_str())
                .unwrap_or(raw_key)
                .to_owned();
            let value = value.replace("%(here)s", &here);
            if let Some((other_key, other_value)) = seen.get(&key)
                && *other_value != value
            {
                return Err(SettingsError::new(
                    Some(key.clone()),
                    Some(source),
                    format!("'{other_key}' and '{raw_key}' are in conflict"),
                ));
            }
            seen.insert(key.clone(), (raw_key.clone(), value.clone()));
            self.values
                .insert(key, (Value::String(value), source.clone()));
        }
        Ok(())
    }

    /// Overrides settings from environment variables, as Kinto does: for
    /// every setting `name` that `is_setting` recognises or that is already
    /// set, the variable `NAME` (dots and dashes as underscores, upper
    /// case), then `{PREFIX}_NAME`, which wins. Variables
    /// `{PREFIX}_…` whose name `is_setting` accepts in lower case are added
    /// too (`KINTO_RECORD_CACHE_EXPIRES_SECONDS`).
    pub fn merge_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
        env_prefix: &str,
        known: &[&str],
        is_setting: impl Fn(&str) -> bool,
    ) {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let mut names: BTreeSet<String> = known.iter().map(|k| (*k).to_owned()).collect();
        names.extend(self.values.keys().cloned());
        let prefix = if env_prefix.is_empty() {
            String::new()
        } else {
            format!("{}_", env_prefix.to_ascii_uppercase())
        };
        for name in &names {
            let env_name = env_name(name);
            let prefixed = format!("{prefix}{env_name}");
            for candidate in [&env_name, &prefixed] {
                if let Some(value) = vars.get(candidate.as_str()) {
                    self.values.insert(
                        name.clone(),
                        (Value::String(value.clone()), Source::Env(candidate.clone())),
                    );
                }
            }
        }
        if prefix.is_empty() {
            return;
        }
        for (var, value) in &vars {
            let Some(rest) = var.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let name = rest.to_ascii_lowercase();
            if !names.contains(&name) && is_setting(&name) {
                self.values.insert(
                    name,
                    (Value::String(value.clone()), Source::Env(var.clone())),
                );
            }
        }
    }

    /// Reads the settings into `T`, whose field names are setting names.
    /// Returns the value and the keys `T` did not use.
    pub fn extract<T: DeserializeOwned>(&self) -> Result<(T, BTreeSet<String>), SettingsError> {
        let mut unused = BTreeSet::new();
        let entries = self
            .values
            .iter()
            .map(|(key, (value, _))| (key.as_str(), SettingValue(value)));
        let map = MapDeserializer::<_, serde::de::value::Error>::new(entries);
        let mut note_unused = |path: serde_ignored::Path<'_>| {
            unused.insert(path.to_string());
        };
        let ignoring = serde_ignored::Deserializer::new(map, &mut note_unused);
        let value = serde_path_to_error::deserialize(ignoring).map_err(|error| {
            let key = error
                .path()
                .iter()
                .next()
                .map(|segment| segment.to_string());
            let source = key.as_deref().and_then(|k| self.source(k)).cloned();
            SettingsError::new(key, source, error.inner().to_string())
        })?;
        Ok((value, unused))
    }
}

/// The environment variable name of a setting: dots and dashes as
/// underscores, upper case.
pub fn env_name(setting: &str) -> String {
    setting
        .chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

fn flatten_toml(prefix: &str, value: toml::Value, out: &mut Vec<(String, Value)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_toml(&key, value, out);
            }
        }
        other => out.push((prefix.to_owned(), toml_to_json(other))),
    }
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

/// The field names of a settings struct, read from its `Deserialize`
/// implementation (the names it asks a deserializer for).
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);

    impl<'de> serde::Deserializer<'de> for &mut Fields {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(serde::de::Error::custom("fields read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields = Fields(None);
    let _ = T::deserialize(&mut fields);
    fields.0.unwrap_or(&[])
}
