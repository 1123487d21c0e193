//! JSON schemas of Kinto's objects (`collections.md`, `records.md`,
//! `buckets.md`, `groups.md`).
//!
//! Always, whatever the settings: a collection's `schema` and a bucket's
//! `collection:schema`, `group:schema` and `record:schema` must be JSON
//! schemas (valid under the draft-7 meta-schema), and a collection's
//! `cache_expires` an integer; 400 errno 107 naming `data.<field>`
//! otherwise.
//!
//! With `experimental_collection_schema_validation` ([`SchemaHooks::new`]
//! with `enabled`), every record written (`POST` creation, `PUT`, `PATCH`
//! after merging) is validated against its collection's `schema` — and
//! then gets `"schema": <collection last_modified>`, the schema's version
//! — and against its bucket's `record:schema`; collections and groups
//! against their bucket's `collection:schema` / `group:schema`. What is
//! validated is the data without `last_modified` and `schema`, and without
//! `id` unless the schema's `properties` names it; those fields are also
//! dropped from the schema's `required`. An error is a 400 errno 107 with
//! one detail, named after Kinto's rule ([`validation_error`]).
//!
//! A schema's draft follows its `$schema` (the latest one by default).
//! Remote `$ref`s are never fetched: a `$ref` that cannot be resolved makes
//! the write a 400 naming `schema`. Compiled validators are kept per
//! schema, so a collection's schema is compiled once, not per record.
//!
//! Decisions where this differs from Kinto:
//!
//! - The error descriptions are this validator's, not Python
//!   `jsonschema`'s (the `name` rule and the message composition are
//!   Kinto's).
//! - Within a batch, Kinto validates records against the collection as it
//!   was when the batch first touched it (a schema added by an earlier
//!   subrequest may be ignored); here each record is validated against
//!   the collection as the batch's transaction sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_resource::{HookContext, ResourceHooks};
use cliquet_storage::storage::Get;
use cliquet_storage::{Object, StorageError};
use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value, json};

/// Fields never validated: the server's own.
const IGNORED: [&str; 3] = ["id", "last_modified", "schema"];

/// How many compiled validators are kept before the cache starts afresh.
const CACHE_SIZE: usize = 512;

/// Checks a stored schema against the draft-7 meta-schema; `field` is its
/// name in `data` (`schema`, `record:schema`...).
pub fn check_schema_field(field: &str, value: &Value) -> Result<(), ApiError> {
    let description = match value {
        Value::Object(_) => match jsonschema::draft7::meta::validate(value) {
            Ok(()) => return Ok(()),
            Err(error) => {
                // Kinto's message: the last element of the failing path in
                // the schema, then the validator's message.
                let last = error
                    .instance_path()
                    .segments()
                    .last()
                    .map(|segment| match segment {
                        LocationSegment::Property(name) => name.to_string(),
                        LocationSegment::Index(index) => index.to_string(),
                    })
                    .unwrap_or_default();
                format!("{last}{error}")
            }
        },
        other => format!("{other} is not of type 'object'"),
    };
    Err(ApiError::invalid_parameter(
        Location::Body,
        format!("data.{field}"),
        description,
    ))
}

/// The schema actually applied to `data`: `required` without the ignored
/// fields (`id` stays when `properties` declares it), and whether `id` is
/// validated.
fn effective_schema(schema: &Value) -> (Value, bool) {
    let declares_id = schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| properties.contains_key("id"));
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut()
        && let Some(Value::Array(required)) = object.get_mut("required")
    {
        required.retain(|name| match name.as_str() {
            Some("id") => declares_id,
            Some(name) => !IGNORED.contains(&name),
            None => true,
        });
        if required.is_empty() {
            object.remove("required");
        }
    }
    (schema, declares_id)
}

/// The name Kinto gives a validation error: the last element of the
/// failing instance path (an integer for an array index); else the last
/// element of the keyword's value when it is a list (the missing property
/// of `required`); else the last element of the schema path.
fn error_name(error: &ValidationError<'_>) -> Value {
    if let Some(segment) = error.instance_path().segments().last() {
        return match segment {
            LocationSegment::Property(name) => Value::String(name.to_string()),
            LocationSegment::Index(index) => json!(index),
        };
    }
    match error.kind() {
        ValidationErrorKind::Required { property } => return property.clone(),
        ValidationErrorKind::Enum { options } => {
            if let Some(last) = options.as_array().and_then(|o| o.last()) {
                return last.clone();
            }
        }
        _ => {}
    }
    let keyword = error
        .schema_path()
        .segments()
        .last()
        .map(|segment| match segment {
            LocationSegment::Property(name) => name.to_string(),
            LocationSegment::Index(index) => index.to_string(),
        })
        .unwrap_or_else(|| "data".to_owned());
    Value::String(keyword)
}

/// The 400 of a failed validation: one detail, and the message Kinto
/// composes (the description alone when it mentions the name, else
/// `<name> in body: <description>`).
pub fn validation_error(error: &ValidationError<'_>) -> ApiError {
    let name = error_name(error);
    let description = error.to_string();
    let shown = match &name {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let message = if description.contains(&shown) {
        description.clone()
    } else {
        format!("{shown} in body: {description}")
    };
    ApiError::invalid_parameters([ValidationDetail::new(
        Location::Body,
        shown,
        description.clone(),
    )])
    .with_message(message)
    .with_details(json!([{"location": "body", "name": name, "description": description}]))
}

/// Compiled validators, by schema text.
#[derive(Debug, Default, Clone)]
struct Validators(Arc<Mutex<HashMap<String, Arc<Validator>>>>);

impl Validators {
    fn get(&self, schema: &Value) -> Result<Arc<Validator>, ApiError> {
        let key = schema.to_string();
        if let Some(found) = self.0.lock().ok().and_then(|map| map.get(&key).cloned()) {
            return Ok(found);
        }
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(schema)
            .map(Arc::new)
            .map_err(|error| {
                ApiError::invalid_parameter(Location::Body, "schema", error.to_string())
            })?;
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CACHE_SIZE {
                map.clear();
            }
            map.insert(key, validator.clone());
        }
        Ok(validator)
    }

    /// Validates `data` (the object `id`) against `schema`.
    fn validate(
        &self,
        schema: &Value,
        id: Option<&str>,
        data: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let (schema, with_id) = effective_schema(schema);
        let validator = self.get(&schema)?;
        let mut instance: Map<String, Value> = data
            .iter()
            .filter(|(key, _)| !IGNORED.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if with_id && let Some(id) = id {
            instance.insert("id".to_owned(), Value::String(id.to_owned()));
        }
        let instance = Value::Object(instance);
        match validator.validate(&instance) {
            Ok(()) => Ok(()),
            Err(error) => Err(validation_error(&error)),
        }
    }
}

/// Announces the `schema` capability.
pub fn register_capability(capabilities: &mut cliquet::Capabilities) {
    let _ = capabilities.register(
        "schema",
        "Validates collection records with JSON schemas.",
        "https://kinto.readthedocs.io/en/latest/api/1.x/collections.html#collection-json-schema",
        Map::new(),
    );
}

/// Which resource the hooks serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Buckets: their three schemas must be schemas.
    Bucket,
    /// Collections: `schema` and `cache_expires` checked, and the bucket's
    /// `collection:schema` applied.
    Collection,
    /// Groups: the bucket's `group:schema` applied.
    Group,
    /// Records: the collection's `schema` and the bucket's
    /// `record:schema` applied.
    Record,
}

/// The schema checks of one resource.
#[derive(Debug, Clone)]
pub struct SchemaHooks {
    target: Target,
    enabled: bool,
    validators: Validators,
}

impl SchemaHooks {
    /// The checks of `target`; `enabled` is the
    /// `experimental_collection_schema_validation` setting.
    pub fn new(target: Target, enabled: bool) -> Self {
        Self {
            target,
            enabled,
            validators: Validators::default(),
        }
    }
}

async fn bucket_of(ctx: &HookContext<'_>) -> Result<Object, ApiError> {
    let bid = ctx.param("bucket_id").unwrap_or_default();
    match ctx.storage.get(Get::new("bucket", "", bid)).await {
        Ok(bucket) => Ok(bucket),
        Err(StorageError::NotFound { .. }) => Err(ApiError::missing_parent(bid, "bucket")),
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl ResourceHooks for SchemaHooks {
    async fn process_object(
        &self,
        ctx: &HookContext<'_>,
        mut new: Map<String, Value>,
        _old: Option<&Object>,
    ) -> Result<Map<String, Value>, ApiError> {
        match self.target {
            Target::Bucket => {
                for field in ["collection:schema", "group:schema", "record:schema"] {
                    if let Some(schema) = new.get(field) {
                        check_schema_field(field, schema)?;
                    }
                }
                return Ok(new);
            }
            Target::Collection => {
                if let Some(schema) = new.get("schema") {
                    check_schema_field("schema", schema)?;
                }
                if let Some(value) = new.get("cache_expires")
                    && !(value.is_i64() || value.is_u64())
                {
                    return Err(ApiError::invalid_parameter(
                        Location::Body,
                        "data.cache_expires",
                        format!("{value} is not a number"),
                    ));
                }
            }
            Target::Group | Target::Record => {}
        }
        if !self.enabled {
            return Ok(new);
        }
        let id = ctx.object_id;
        if self.target == Target::Record {
            let bucket = format!("/buckets/{}", ctx.param("bucket_id").unwrap_or_default());
            let cid = ctx.param("collection_id").unwrap_or_default();
            let collection = ctx
                .storage
                .get(Get::new("collection", bucket.as_str(), cid))
                .await?;
            if let Some(schema) = collection.data.get("schema") {
                self.validators.validate(schema, id, &new)?;
                new.insert("schema".to_owned(), json!(collection.last_modified));
            }
        }
        let field = match self.target {
            Target::Collection => "collection:schema",
            Target::Group => "group:schema",
            _ => "record:schema",
        };
        let bucket = bucket_of(ctx).await?;
        if let Some(schema) = bucket.data.get(field) {
            self.validators.validate(schema, id, &new)?;
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_error(schema: Value, data: Value) -> (Value, String) {
        let validators = Validators::default();
        let error = validators
            .validate(&schema, Some("r1"), data.as_object().unwrap())
            .unwrap_err();
        (
            error.details().unwrap()[0]["name"].clone(),
            error.message().unwrap().to_owned(),
        )
    }

    fn articles() -> Value {
        json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "file": {"type": "object", "properties": {"size": {"type": "number"}}},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["title"],
            "additionalProperties": false
        })
    }

    #[test]
    fn names_follow_kinto() {
        let (name, message) = record_error(articles(), json!({}));
        assert_eq!(name, "title");
        assert!(message.contains("title"), "{message}");
        let (name, message) =
            record_error(articles(), json!({"title": "x", "file": {"size": "hi"}}));
        assert_eq!(name, "size");
        assert!(message.starts_with("size in body: "), "{message}");
        let (name, message) = record_error(articles(), json!({"title": "x", "extra": 1}));
        assert_eq!(name, "additionalProperties");
        assert!(
            message.starts_with("additionalProperties in body: "),
            "{message}"
        );
        let (name, message) = record_error(articles(), json!({"title": "x", "tags": [1]}));
        assert_eq!(name, json!(0));
        assert!(message.starts_with("0 in body: "), "{message}");
    }

    #[test]
    fn server_fields_are_ignored_unless_declared() {
        let validators = Validators::default();
        let schema = json!({"type": "object", "required": ["id", "schema", "last_modified"],
                            "additionalProperties": false});
        let data = json!({"last_modified": 1, "schema": 2});
        assert!(
            validators
                .validate(&schema, Some("a"), data.as_object().unwrap())
                .is_ok()
        );
        let with_id = json!({"type": "object", "properties": {"id": {"pattern": "^a"}}});
        assert!(
            validators
                .validate(&with_id, Some("abc"), &Map::new())
                .is_ok()
        );
        let (name, _) = {
            let error = validators
                .validate(&with_id, Some("zz"), &Map::new())
                .unwrap_err();
            (error.details().unwrap()[0]["name"].clone(), ())
        };
        assert_eq!(name, "id");
    }

    #[test]
    fn big_integers_are_numbers_and_refs_must_resolve() {
        let validators = Validators::default();
        let schema = json!({"type": "object", "properties": {"n": {"type": "number"}}});
        let data: Value = serde_json::from_str(r#"{"n": 36893488147419103232}"#).unwrap();
        assert!(
            validators
                .validate(&schema, None, data.as_object().unwrap())
                .is_ok()
        );
        let dangling = json!({"properties": {"t": {"$ref": "#/definitions/title"}}});
        let error = validators
            .validate(&dangling, None, &Map::new())
            .unwrap_err();
        assert_eq!(error.details().unwrap()[0]["name"], "schema");
        let remote = json!({"$ref": "https://example.com/schema.json"});
        assert_eq!(
            validators
                .validate(&remote, None, &Map::new())
                .unwrap_err()
                .code(),
            400
        );
    }

    #[test]
    fn stored_schemas_are_checked() {
        let error =
            check_schema_field("collection:schema", &json!({"type": "Washmachine"})).unwrap_err();
        assert_eq!(
            error.details().unwrap()[0]["name"],
            "data.collection:schema"
        );
        assert!(
            error.details().unwrap()[0]["description"]
                .as_str()
                .unwrap()
                .starts_with("type")
        );
        assert!(check_schema_field("schema", &json!([])).is_err());
        assert!(check_schema_field("schema", &json!({})).is_ok());
    }
}

#[cfg(test)]
mod absurd {
    use super::*;

    /// Schemas that stress the validator: each either validates quickly
    /// or is refused with a 400, never a panic or a hang.
    #[test]
    fn absurd_schemas_end_in_a_400_or_a_verdict() {
        let long = "a".repeat(5000) + "!";
        let cases = [
            (
                json!({"properties": {"s": {"pattern": "^(a+)+$"}}}),
                json!({"s": long}),
            ),
            (
                json!({"properties": {"s": {"pattern": "(?<=a)b\\1"}}}),
                json!({"s": "ab"}),
            ),
            (
                json!({"properties": {"s": {"pattern": "a{1000}{1000}{1000}"}}}),
                json!({"s": "a"}),
            ),
            (
                json!({"properties": {"s": {"pattern": "("}}}),
                json!({"s": "a"}),
            ),
            (
                json!({"properties": {"n": {"multipleOf": 1e-308}}}),
                json!({"n": 1e308}),
            ),
            (
                json!({"properties": {"n": {"minimum": 1e308, "maximum": -1e308}}}),
                json!({"n": 1}),
            ),
            (
                json!({"properties": {"s": {"minLength": u64::MAX}}}),
                json!({"s": "a"}),
            ),
            (
                json!({"properties": {"a": {"uniqueItems": true}}}),
                json!({"a": (0..2000).collect::<Vec<_>>()}),
            ),
            (json!({"$ref": "#"}), json!({"a": 1})),
            (
                json!({"$defs": {"x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"}}, "$ref": "#/$defs/x"}),
                json!({}),
            ),
            (
                json!({"$schema": "http://example.com/unknown-draft"}),
                json!({}),
            ),
            (
                json!({"format": "email", "properties": {"e": {"format": "regex"}}}),
                json!({"e": "(("}),
            ),
            (
                json!({"allOf": [{"anyOf": [{"oneOf": [{"not": {"not": {}}}]}]}]}),
                json!({}),
            ),
            (
                json!({"properties": {"x": {"$ref": "file:///etc/passwd"}}}),
                json!({"x": 1}),
            ),
        ];
        let validators = Validators::default();
        for (schema, data) in cases {
            let started = std::time::Instant::now();
            let result = validators.validate(&schema, Some("r"), data.as_object().unwrap());
            if let Err(error) = &result {
                assert_eq!(error.code(), 400, "{schema}");
            }
            assert!(started.elapsed().as_secs() < 5, "{schema} took too long");
        }
    }
}
