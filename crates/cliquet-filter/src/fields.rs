//! Partial responses: `_fields`.

use serde_json::{Map, Value};

use crate::model::{FieldPath, ID_FIELD, MODIFIED_FIELD};

/// `object` reduced to `fields`, plus `id` and `last_modified`. A nested
/// field keeps its parents (`o.k` gives `{"o": {"k": …}}`); a field the
/// object lacks is left out; a non-object is returned as it is.
pub(crate) fn project(object: &Value, fields: &[FieldPath]) -> Value {
    let Value::Object(source) = object else {
        return object.clone();
    };
    let mut out = Map::new();
    for name in [ID_FIELD, MODIFIED_FIELD] {
        if let Some(value) = source.get(name) {
            out.insert(name.to_owned(), value.clone());
        }
    }
    for field in fields {
        copy_path(source, &mut out, field.segments());
    }
    Value::Object(out)
}

fn copy_path(source: &Map<String, Value>, target: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(value) = source.get(first) else {
        return;
    };
    if rest.is_empty() {
        target.insert(first.clone(), value.clone());
        return;
    }
    let Value::Object(inner) = value else {
        return;
    };
    // Only go down if the whole path exists, so that no empty parent is
    // left behind for an absent leaf.
    let mut probe = inner;
    for (i, segment) in rest.iter().enumerate() {
        match probe.get(segment) {
            Some(Value::Object(next)) if i + 1 < rest.len() => probe = next,
            Some(_) if i + 1 == rest.len() => {}
            _ => return,
        }
    }
    let entry = target
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if *entry == *value {
        // Already selected whole (`_fields=o,o.k`): nothing to add.
        return;
    }
    if let Value::Object(sub) = entry {
        copy_path(inner, sub, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(names: &[&str]) -> Vec<FieldPath> {
        names.iter().map(|n| FieldPath::new(*n)).collect()
    }

    #[test]
    fn keeps_id_last_modified_and_selected_fields() {
        let object = json!({"id": "a", "last_modified": 1, "title": "t", "url": "u", "n": null});
        assert_eq!(
            project(&object, &paths(&["title", "n", "absent"])),
            json!({"id": "a", "last_modified": 1, "title": "t", "n": null})
        );
    }

    #[test]
    fn nested_fields_keep_their_parents() {
        let object =
            json!({"id": "a", "last_modified": 1, "o": {"k": 1, "j": 2, "d": {"e": 3, "f": 4}}});
        assert_eq!(
            project(&object, &paths(&["o.k", "o.d.e", "o.absent", "o.k.deeper"])),
            json!({"id": "a", "last_modified": 1, "o": {"k": 1, "d": {"e": 3}}})
        );
        assert_eq!(
            project(&object, &paths(&["o.absent"])),
            json!({"id": "a", "last_modified": 1})
        );
        assert_eq!(project(&object, &paths(&["o", "o.k"]))["o"], object["o"]);
        assert_eq!(project(&object, &paths(&["o.k", "o"]))["o"], object["o"]);
    }

    #[test]
    fn tombstones_drop_deleted_unless_asked() {
        let tombstone = json!({"id": "a", "last_modified": 1, "deleted": true});
        assert_eq!(
            project(&tombstone, &paths(&["n"])),
            json!({"id": "a", "last_modified": 1})
        );
        assert_eq!(project(&tombstone, &paths(&["deleted"])), tombstone);
    }
}
