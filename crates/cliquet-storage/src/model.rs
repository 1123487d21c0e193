//! The object model: what a backend stores.
//!
//! Objects are JSON maps addressed by `(resource_name, parent_id, id)` and
//! stamped with `last_modified`, an integer number of milliseconds since the
//! Unix epoch. Deleting an object leaves a *tombstone*: the id and the
//! deletion timestamp, so that clients syncing with `_since` learn about the
//! deletion.
//!
//! ```
//! use cliquet_storage::Object;
//! use serde_json::json;
//!
//! let object = Object::from_json(json!({"id": "a", "last_modified": 10, "title": "x"})).unwrap();
//! assert_eq!(object.id, "a");
//! assert_eq!(object.data["title"], "x");
//! assert_eq!(object.to_json(), json!({"id": "a", "last_modified": 10, "title": "x"}));
//!
//! let tombstone = object.tombstone(11);
//! assert_eq!(tombstone.to_json(), json!({"id": "a", "last_modified": 11, "deleted": true}));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A timestamp: integer milliseconds since the Unix epoch.
///
/// Backends make every timestamp: they are strictly increasing per
/// collection (see [`crate::timestamp`]).
pub type Timestamp = i64;

/// The name of the field holding an object's id.
pub const ID_FIELD: &str = "id";
/// The name of the field holding an object's timestamp.
pub const MODIFIED_FIELD: &str = "last_modified";
/// The name of the field marking a tombstone.
pub const DELETED_FIELD: &str = "deleted";

/// An object, or the tombstone of a deleted one.
///
/// `data` never holds `id` nor `last_modified` (they are fields of their own,
/// like the columns of Kinto's `objects` table); a tombstone has `deleted`
/// set and empty `data`. [`Object::to_json`] gives the protocol's form, with
/// `id` and `last_modified` inside the map.
///
/// It serializes to (and deserializes from) that protocol form.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The object id, unique in its collection.
    pub id: String,
    /// When it was last written, in epoch milliseconds.
    pub last_modified: Timestamp,
    /// Whether this is a tombstone.
    pub deleted: bool,
    /// The fields, without `id` and `last_modified`; empty for a tombstone.
    pub data: Map<String, Value>,
}

impl Object {
    /// A live object.
    pub fn new(id: impl Into<String>, last_modified: Timestamp, data: Map<String, Value>) -> Self {
        let mut data = data;
        strip_reserved(&mut data);
        Self {
            id: id.into(),
            last_modified,
            deleted: false,
            data,
        }
    }

    /// The tombstone this object leaves when deleted at `last_modified`.
    pub fn tombstone(&self, last_modified: Timestamp) -> Self {
        Self {
            id: self.id.clone(),
            last_modified,
            deleted: true,
            data: Map::new(),
        }
    }

    /// The protocol form: `data` with `id` and `last_modified` (and
    /// `"deleted": true` for a tombstone).
    pub fn to_json(&self) -> Value {
        Value::Object(self.to_map())
    }

    /// Like [`Object::to_json`], as a map.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = if self.deleted {
            Map::new()
        } else {
            self.data.clone()
        };
        self.insert_reserved(&mut map);
        map
    }

    /// Like [`Object::to_json`], consuming the object (no copy of `data`).
    pub fn into_json(self) -> Value {
        let mut map = Map::new();
        self.insert_reserved(&mut map);
        if !self.deleted {
            map.extend(self.data);
        }
        Value::Object(map)
    }

    fn insert_reserved(&self, map: &mut Map<String, Value>) {
        map.insert(ID_FIELD.to_owned(), Value::String(self.id.clone()));
        map.insert(MODIFIED_FIELD.to_owned(), Value::from(self.last_modified));
        if self.deleted {
            map.insert(DELETED_FIELD.to_owned(), Value::Bool(true));
        }
    }

    /// Reads the protocol form: a map with a string `id` and an integer
    /// `last_modified`; `"deleted": true` makes it a tombstone.
    pub fn from_json(value: Value) -> Result<Self, ObjectFormatError> {
        let Value::Object(mut map) = value else {
            return Err(ObjectFormatError("an object must be a JSON object"));
        };
        let id = match map.remove(ID_FIELD) {
            Some(Value::String(id)) => id,
            _ => return Err(ObjectFormatError("`id` must be a string")),
        };
        let last_modified = match map.remove(MODIFIED_FIELD).as_ref().and_then(Value::as_i64) {
            Some(ts) => ts,
            None => return Err(ObjectFormatError("`last_modified` must be an integer")),
        };
        let deleted = map.get(DELETED_FIELD) == Some(&Value::Bool(true));
        if deleted {
            map.clear();
        }
        Ok(Self {
            id,
            last_modified,
            deleted,
            data: map,
        })
    }
}

/// Removes `id` and `last_modified` from a data map: the storage owns them.
pub(crate) fn strip_reserved(data: &mut Map<String, Value>) {
    data.remove(ID_FIELD);
    data.remove(MODIFIED_FIELD);
}

/// The error of [`Object::from_json`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid object: {0}")]
pub struct ObjectFormatError(&'static str);

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Object::from_json(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_strips_reserved_fields() {
        let data = json!({"id": "x", "last_modified": 3, "a": 1});
        let Value::Object(data) = data else {
            unreachable!()
        };
        let object = Object::new("b", 5, data);
        assert_eq!(
            object.to_json(),
            json!({"id": "b", "last_modified": 5, "a": 1})
        );
    }

    #[test]
    fn json_round_trip() {
        let value = json!({"id": "a", "last_modified": 7, "n": [1, 2], "o": {"k": null}});
        let object: Object = serde_json::from_value(value.clone()).unwrap();
        assert!(!object.deleted);
        assert_eq!(serde_json::to_value(&object).unwrap(), value);
        assert_eq!(object.clone().into_json(), value);
    }

    #[test]
    fn tombstones_have_no_data() {
        let value = json!({"id": "a", "last_modified": 7, "deleted": true, "x": 1});
        let object = Object::from_json(value).unwrap();
        assert!(object.deleted);
        assert!(object.data.is_empty());
        assert_eq!(
            object.into_json(),
            json!({"id": "a", "last_modified": 7, "deleted": true})
        );
    }

    #[test]
    fn bad_forms_are_rejected() {
        assert!(Object::from_json(json!([1])).is_err());
        assert!(Object::from_json(json!({"id": 1, "last_modified": 1})).is_err());
        assert!(Object::from_json(json!({"id": "a", "last_modified": "1"})).is_err());
        assert!(Object::from_json(json!({"id": "a"})).is_err());
    }
}
