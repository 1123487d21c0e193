//! Schemas: what the `data` of an object may hold.
//!
//! A [`Schema`] checks the `data` member of a write after merging, before
//! the hooks and the storage. It is made of a serde type
//! ([`Schema::typed`]), a JSON schema ([`Schema::json`]), or both (every
//! check must pass). Violations are a 400 errno 107 with one detail per
//! problem, at location `body`, named `data.<field>` (dots for nesting).
//!
//! - `preserve_unknown` (default `true`): fields the schema does not name
//!   are kept. When `false` they are silently dropped, and filters, sorts
//!   and `_fields` on them are refused (the JSON schema's `properties`, or
//!   the fields given to [`Schema::known_fields`], are the known ones).
//! - `readonly_fields`: fields whose value may not change once created
//!   (`"Cannot modify <field>"`).
//! - Defaults: a typed schema applies serde's defaults (the object is
//!   deserialized then serialized again); a JSON schema applies the
//!   `default` of its top-level `properties` on creation.
//!
//! ```
//! use cliquet_resource::Schema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Bookmark {
//!     url: String,
//!     #[serde(default)]
//!     title: String,
//! }
//!
//! let schema = Schema::typed::<Bookmark>();
//! let data = serde_json::json!({"url": "https://rust-lang.org"});
//! let checked = schema.validate(data.as_object().unwrap().clone(), None).unwrap();
//! assert_eq!(checked["title"], "");
//! let error = schema.validate(serde_json::Map::new(), None).unwrap_err();
//! assert_eq!(error.code(), 400);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_storage::Object;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Checks `data` with a serde type.
trait TypedCheck: Send + Sync {
    fn check(&self, data: &Map<String, Value>) -> Result<Map<String, Value>, ValidationDetail>;
}

struct Typed<T>(PhantomData<fn() -> T>);

impl<T> TypedCheck for Typed<T>
where
    T: DeserializeOwned + Serialize,
{
    fn check(&self, data: &Map<String, Value>) -> Result<Map<String, Value>, ValidationDetail> {
        // Deserializing from a borrowed value avoids a copy of the data.
        let value: T =
            serde_path_to_error::deserialize(MapDeserializer(data)).map_err(|error| {
                let path = error.path().to_string();
                let mut name = if path == "." || path.is_empty() {
                    "data".to_owned()
                } else {
                    format!("data.{path}")
                };
                let mut description = error.into_inner().to_string();
                // serde names a missing field in its message, at the parent's
                // path: name the field itself, as the protocol does.
                if let Some(field) = description
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                {
                    name = format!("{name}.{field}");
                    description = "Required".to_owned();
                }
                ValidationDetail::new(Location::Body, name, description)
            })?;
        match serde_json::to_value(value) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) | Err(_) => Err(ValidationDetail::new(
                Location::Body,
                "data",
                "the schema type does not serialize to a JSON object",
            )),
        }
    }
}

/// A `Deserializer` over a borrowed map.
struct MapDeserializer<'a>(&'a Map<String, Value>);

impl<'de> serde::Deserializer<'de> for MapDeserializer<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_any(
            serde::de::value::MapDeserializer::new(self.0.iter().map(|(k, v)| (k.as_str(), v))),
            visitor,
        )
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The schema of a resource's objects. Cheap to clone.
#[derive(Clone, Default)]
pub struct Schema {
    typed: Option<Arc<dyn TypedCheck>>,
    json: Option<Arc<jsonschema::Validator>>,
    json_defaults: Map<String, Value>,
    json_properties: Option<Vec<String>>,
    known_fields: Option<Vec<String>>,
    preserve_unknown: bool,
    readonly_fields: Vec<String>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("typed", &self.typed.is_some())
            .field("json", &self.json.is_some())
            .field("preserve_unknown", &self.preserve_unknown)
            .field("readonly_fields", &self.readonly_fields)
            .finish()
    }
}

/// A JSON schema that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON schema: {}", self.0)
    }
}

impl std::error::Error for SchemaError {}

impl Schema {
    /// No check at all: any JSON object is accepted (the default schema).
    pub fn any() -> Self {
        Self {
            preserve_unknown: true,
            ..Self::default()
        }
    }

    /// Checks `data` by deserializing it into `T` (serde's error names the
    /// field), then stores what `T` serializes to, over the fields it does
    /// not know when unknown fields are preserved.
    pub fn typed<T>() -> Self
    where
        T: DeserializeOwned + Serialize + 'static,
    {
        Self::any().and_typed::<T>()
    }

    /// Adds a serde type to check with.
    pub fn and_typed<T>(mut self) -> Self
    where
        T: DeserializeOwned + Serialize + 'static,
    {
        self.typed = Some(Arc::new(Typed::<T>(PhantomData)));
        self
    }

    /// Checks `data` against a JSON schema (drafts 4 to 2020-12; remote
    /// `$ref`s are not fetched).
    pub fn json(schema: &Value) -> Result<Self, SchemaError> {
        Self::any().and_json(schema)
    }

    /// Adds a JSON schema to check with.
    pub fn and_json(mut self, schema: &Value) -> Result<Self, SchemaError> {
        let validator =
            jsonschema::validator_for(schema).map_err(|error| SchemaError(error.to_string()))?;
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            self.json_properties = Some(properties.keys().cloned().collect());
            self.json_defaults = properties
                .iter()
                .filter_map(|(name, property)| {
                    property.get("default").map(|d| (name.clone(), d.clone()))
                })
                .collect();
        }
        self.json = Some(Arc::new(validator));
        Ok(self)
    }

    /// Whether fields the schema does not know are kept (default) or
    /// dropped.
    pub fn preserve_unknown(mut self, preserve: bool) -> Self {
        self.preserve_unknown = preserve;
        self
    }

    /// Names the known root fields (for a typed schema with
    /// `preserve_unknown(false)`: the JSON schema's `properties` are known
    /// without this).
    pub fn known_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.known_fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    /// Fields whose value may not change after creation.
    pub fn readonly_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.readonly_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// The root fields filters, sorts and `_fields` may name: `None` when
    /// unknown fields are preserved (anything goes).
    pub fn strict_fields(&self) -> Option<Vec<String>> {
        if self.preserve_unknown {
            return None;
        }
        let mut fields = self.known_fields.clone().unwrap_or_default();
        if let Some(properties) = &self.json_properties {
            fields.extend(properties.iter().cloned());
        }
        Some(fields)
    }

    /// Checks (and normalises) the `data` of a write; `old` is the stored
    /// object on an update, `None` on a creation. `id` and `last_modified`
    /// are not part of `data` here.
    #[allow(clippy::result_large_err)] // the protocol's error, on the cold path
    pub fn validate(
        &self,
        mut data: Map<String, Value>,
        old: Option<&Object>,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut errors = Vec::new();
        if old.is_none() {
            for (name, default) in &self.json_defaults {
                if !data.contains_key(name) {
                    data.insert(name.clone(), default.clone());
                }
            }
        }
        if let Some(validator) = &self.json {
            let instance = Value::Object(data);
            for error in validator.iter_errors(&instance) {
                let path = error.instance_path().to_string();
                let name = if path.is_empty() {
                    "data".to_owned()
                } else {
                    format!("data{}", path.replace('/', "."))
                };
                errors.push(ValidationDetail::new(
                    Location::Body,
                    name,
                    error.to_string(),
                ));
            }
            let Value::Object(map) = instance else {
                unreachable!("built from a map above")
            };
            data = map;
        }
        if let Some(typed) = &self.typed {
            match typed.check(&data) {
                Ok(normalised) => {
                    if self.preserve_unknown {
                        data.extend(normalised);
                    } else {
                        data = normalised;
                    }
                }
                Err(detail) => errors.push(detail),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid_parameters(errors));
        }
        if !self.preserve_unknown
            && let Some(known) = self.strict_fields()
            && (self.typed.is_none()
                || self.json_properties.is_some()
                || self.known_fields.is_some())
        {
            data.retain(|key, _| known.iter().any(|k| k == key));
        }
        if let Some(old) = old {
            let changed: Vec<ValidationDetail> = self
                .readonly_fields
                .iter()
                .filter(|field| data.get(*field) != old.data.get(*field))
                .map(|field| {
                    ValidationDetail::new(
                        Location::Body,
                        field.clone(),
                        format!("Cannot modify {field}"),
                    )
                })
                .collect();
            if !changed.is_empty() {
                return Err(ApiError::invalid_parameters(changed));
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Serialize)]
    struct Song {
        title: String,
        #[serde(default)]
        plays: u32,
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn typed_schema_names_the_field() {
        let error = Schema::typed::<Song>()
            .validate(map(json!({"title": 42})), None)
            .unwrap_err();
        assert_eq!(error.code(), 400);
        assert_eq!(error.details().unwrap()[0]["name"], "data.title");
        assert_eq!(error.details().unwrap()[0]["location"], "body");
        let missing = Schema::typed::<Song>()
            .validate(Map::new(), None)
            .unwrap_err();
        assert_eq!(missing.message(), Some("data.title in body: Required"));
    }

    #[test]
    fn typed_schema_applies_defaults_and_keeps_unknown() {
        let data = Schema::typed::<Song>()
            .validate(map(json!({"title": "a", "extra": true})), None)
            .unwrap();
        assert_eq!(
            Value::Object(data),
            json!({"title": "a", "plays": 0, "extra": true})
        );
        let strict = Schema::typed::<Song>()
            .preserve_unknown(false)
            .validate(map(json!({"title": "a", "extra": true})), None)
            .unwrap();
        assert_eq!(Value::Object(strict), json!({"title": "a", "plays": 0}));
    }

    #[test]
    fn json_schema_errors_and_defaults() {
        let schema = Schema::json(&json!({
            "type": "object",
            "properties": {"n": {"type": "integer"}, "tag": {"type": "string", "default": "x"}},
            "required": ["n"]
        }))
        .unwrap();
        let ok = schema.validate(map(json!({"n": 1})), None).unwrap();
        assert_eq!(ok["tag"], "x");
        let error = schema.validate(map(json!({"n": "a"})), None).unwrap_err();
        assert_eq!(error.details().unwrap()[0]["name"], "data.n");
        let missing = schema.validate(Map::new(), None).unwrap_err();
        assert_eq!(missing.details().unwrap()[0]["name"], "data");
        assert!(Schema::json(&json!({"type": 12})).is_err());
    }

    #[test]
    fn strict_json_schema_drops_unknown_fields() {
        let schema = Schema::json(&json!({"type": "object", "properties": {"a": {}}}))
            .unwrap()
            .preserve_unknown(false);
        assert_eq!(schema.strict_fields(), Some(vec!["a".to_owned()]));
        let data = schema.validate(map(json!({"a": 1, "b": 2})), None).unwrap();
        assert_eq!(Value::Object(data), json!({"a": 1}));
    }

    #[test]
    fn readonly_fields_cannot_change() {
        let schema = Schema::any().readonly_fields(["device"]);
        let old = Object::new("x", 1, map(json!({"device": "a"})));
        assert!(
            schema
                .validate(map(json!({"device": "a"})), Some(&old))
                .is_ok()
        );
        let error = schema
            .validate(map(json!({"device": "b"})), Some(&old))
            .unwrap_err();
        assert_eq!(error.message(), Some("Cannot modify device"));
    }
}
