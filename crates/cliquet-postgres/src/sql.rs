//! Translation of typed queries (filters, sorts, pagination rules) to SQL
//! over Kinto's `objects` table.
//!
//! Every value and every field name is a bound parameter: the SQL text only
//! ever holds fixed fragments and `$n` placeholders, so nothing from the
//! querystring reaches it as text. A data field `a.b` is `data->$1->$2` with
//! `$1 = 'a'`, `$2 = 'b'` bound as text (the `->` operator with a text key
//! never indexes into arrays, as the filter model requires); `id` and
//! `last_modified` use their columns, compared as JSON values so that mixed
//! types order exactly as `cliquet-filter`'s evaluator orders them.
//!
//! The SQL text only depends on the *shape* of the query (operators, number
//! of path segments), so prepared statements are reused across requests.

use std::collections::HashMap;
use std::fmt::Write as _;

use cliquet_filter::{FieldPath, Filter, Operator, PaginationCondition, PaginationRule, SortField};
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};

/// A bound parameter.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// Largest timestamp compared through the `last_modified` column (year
/// 5138); beyond, `from_epoch` would overflow, and the JSON comparison is
/// used instead.
const MAX_INDEXED_EPOCH: i64 = 100_000_000_000_000;

/// Most parameters one statement may bind (PostgreSQL's protocol limit).
const MAX_PARAMS: usize = 65_535;

/// A SQL statement under construction, with its parameters.
#[derive(Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) params: Vec<Param>,
    /// The type of each parameter, from its cast.
    types: Vec<Type>,
    /// Whether the statement's best plan depends on the values: it reads
    /// a data field (which collection, how selective a filter is) or
    /// matches parents with a `LIKE` pattern (whose prefix an index
    /// serves). It is then planned for them each time.
    pub(crate) custom_plan: bool,
    texts: HashMap<String, usize>,
}

/// The type a parameter cast names.
fn cast_type(cast: &str) -> Type {
    match cast {
        "jsonb" => Type::JSONB,
        "jsonb[]" => Type::JSONB_ARRAY,
        "bigint" => Type::INT8,
        "text[]" => Type::TEXT_ARRAY,
        _ => Type::TEXT,
    }
}

impl Sql {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A statement whose first parameters are `texts` (`$1`, `$2`, …), for
    /// fixed SQL that numbers its own parameters.
    pub(crate) fn with_texts(texts: &[&str]) -> Self {
        let mut sql = Self::new();
        for text in texts {
            sql.params.push(Box::new((*text).to_owned()));
            sql.types.push(Type::TEXT);
        }
        sql
    }

    /// Appends fixed SQL text.
    pub(crate) fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Binds a parameter and appends `$n::cast`.
    pub(crate) fn bind(&mut self, param: Param, cast: &str) -> &mut Self {
        self.params.push(param);
        self.types.push(cast_type(cast));
        let n = self.params.len();
        let _ = write!(self.text, "${n}::{cast}");
        self
    }

    /// Binds a text parameter, reusing the placeholder of an equal one.
    pub(crate) fn bind_text(&mut self, value: &str) -> &mut Self {
        if let Some(n) = self.texts.get(value) {
            let _ = write!(self.text, "${n}::text");
            return self;
        }
        self.params.push(Box::new(value.to_owned()));
        self.types.push(Type::TEXT);
        let n = self.params.len();
        self.texts.insert(value.to_owned(), n);
        let _ = write!(self.text, "${n}::text");
        self
    }

    pub(crate) fn bind_json(&mut self, value: &Value) -> &mut Self {
        self.bind(Box::new(value.clone()), "jsonb")
    }

    pub(crate) fn bind_json_list(&mut self, values: &[Value]) -> &mut Self {
        self.bind(Box::new(values.to_vec()), "jsonb[]")
    }

    pub(crate) fn bind_i64(&mut self, value: i64) -> &mut Self {
        self.bind(Box::new(value), "bigint")
    }

    /// The parameters as the driver takes them.
    pub(crate) fn param_refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// The parameters with their types, for a statement sent unprepared.
    pub(crate) fn typed_params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.params
            .iter()
            .zip(&self.types)
            .map(|(p, t)| (p.as_ref() as &(dyn ToSql + Sync), t.clone()))
            .collect()
    }

    /// Whether the statement binds more parameters than PostgreSQL accepts.
    pub(crate) fn too_many_params(&self) -> bool {
        self.params.len() > MAX_PARAMS
    }
}

/// Where a field lives.
enum Field<'a> {
    Id,
    LastModified,
    /// A path into `data`.
    Data(&'a [String]),
    /// A path that no stored object can have (a key with a NUL character,
    /// which JSONB cannot hold): always missing.
    Absent,
}

fn field(path: &FieldPath) -> Field<'_> {
    if path.is_id() {
        Field::Id
    } else if path.is_last_modified() {
        Field::LastModified
    } else if path.segments().iter().any(|s| s.contains('\0')) {
        Field::Absent
    } else {
        Field::Data(path.segments())
    }
}

impl Field<'_> {
    /// Whether the field may be missing (SQL NULL).
    fn nullable(&self) -> bool {
        matches!(self, Field::Data(_) | Field::Absent)
    }

    /// The field as a JSONB expression.
    fn push_json(&self, sql: &mut Sql) {
        match self {
            Field::Id => {
                sql.push("to_jsonb(objects.id)");
            }
            Field::LastModified => {
                sql.push("to_jsonb(as_epoch(objects.last_modified))");
            }
            Field::Data(segments) => {
                sql.custom_plan = true;
                sql.push("(objects.data");
                for segment in *segments {
                    sql.push("->");
                    sql.bind_text(segment);
                }
                sql.push(")");
            }
            Field::Absent => {
                sql.push("NULL::jsonb");
            }
        }
    }
}

/// The filter's alternatives: its array, or the value alone.
fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// Python truthiness of a `has_` value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A `like_` pattern (`*` wildcard) as an `ILIKE` pattern: `%`, `_` and the
/// escape character `\` stand for themselves.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A parent id with `*` wildcards as a `LIKE` pattern.
pub(crate) fn parent_pattern(parent_id: &str) -> String {
    like_pattern(parent_id)
}

/// Appends `<column> = $p` or `<column> LIKE $p` for a parent id that may
/// have `*` wildcards.
pub(crate) fn push_parent(sql: &mut Sql, column: &str, parent_id: &str) {
    sql.push(column);
    if parent_id.contains('*') {
        sql.custom_plan = true;
        sql.push(" LIKE ");
        sql.bind(Box::new(parent_pattern(parent_id)), "text");
    } else {
        sql.push(" = ");
        sql.bind(Box::new(parent_id.to_owned()), "text");
    }
}

/// The comparison operator of an ordering filter.
fn comparison(operator: Operator) -> Option<&'static str> {
    match operator {
        Operator::Eq => Some(" = "),
        Operator::Not => Some(" <> "),
        Operator::Min => Some(" >= "),
        Operator::Max => Some(" <= "),
        Operator::Lt => Some(" < "),
        Operator::Gt => Some(" > "),
        _ => None,
    }
}

/// Appends the condition of one filter (parenthesised).
pub(crate) fn push_filter(sql: &mut Sql, filter: &Filter) {
    push_condition(sql, &filter.field, filter.operator, &filter.value);
}

fn push_condition(sql: &mut Sql, path: &FieldPath, operator: Operator, value: &Value) {
    let field = field(path);
    let nullable = field.nullable();
    // `IS NULL OR` for the operators a missing field satisfies.
    let or_missing = nullable && operator.matches_missing();
    sql.push("(");
    if or_missing {
        field.push_json(sql);
        sql.push(" IS NULL OR ");
    }
    match operator {
        Operator::Eq
        | Operator::Not
        | Operator::Min
        | Operator::Max
        | Operator::Lt
        | Operator::Gt => {
            let op = comparison(operator).unwrap_or(" = ");
            match (&field, value) {
                // Index-friendly forms on the columns, same semantics.
                (Field::Id, Value::String(s))
                    if matches!(operator, Operator::Eq | Operator::Not) =>
                {
                    sql.push("objects.id")
                        .push(op)
                        .bind(Box::new(s.clone()), "text");
                }
                (Field::LastModified, Value::Number(n))
                    if n.as_i64()
                        .is_some_and(|n| (0..=MAX_INDEXED_EPOCH).contains(&n)) =>
                {
                    sql.push("objects.last_modified")
                        .push(op)
                        .push("from_epoch(")
                        .bind_i64(n.as_i64().unwrap_or_default())
                        .push(")");
                }
                // Below the top level, JSONB containment of a scalar is
                // equality (numbers compared as numbers, as `=` does): the
                // containment alone, which the GIN index serves and whose
                // selectivity the planner knows. Repeating the equality
                // would make it expect next to no match, and prefer
                // sorting the matches to walking a sort index.
                (
                    Field::Data(segments),
                    Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_),
                ) if operator == Operator::Eq => {
                    push_containment(sql, segments, value.clone());
                }
                // An object or array value: containment is only implied.
                (Field::Data(segments), _) if operator == Operator::Eq => {
                    push_containment(sql, segments, value.clone());
                    sql.push(" AND ");
                    field.push_json(sql);
                    sql.push(op).bind_json(value);
                }
                _ => {
                    field.push_json(sql);
                    sql.push(op).bind_json(value);
                }
            }
        }
        Operator::In | Operator::Exclude => {
            if operator == Operator::Exclude {
                sql.push("NOT ");
            }
            let values = as_list(value);
            sql.push("COALESCE(");
            match &field {
                Field::Id if values.iter().all(Value::is_string) => {
                    let ids: Vec<String> = values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    sql.push("objects.id = ANY(").bind(Box::new(ids), "text[]");
                }
                _ => {
                    field.push_json(sql);
                    sql.push(" = ANY(").bind_json_list(values);
                }
            }
            sql.push("), FALSE)");
        }
        Operator::Like => match (&field, value) {
            (_, Value::String(pattern)) if pattern.contains('\0') => {
                // No stored string holds a NUL character.
                sql.push("FALSE");
            }
            (Field::Id, Value::String(pattern)) => {
                sql.push("objects.id ILIKE ")
                    .bind(Box::new(like_pattern(pattern)), "text");
            }
            (Field::Data(_), Value::String(pattern)) => {
                sql.push("jsonb_typeof(");
                field.push_json(sql);
                sql.push(") = 'string' AND (");
                field.push_json(sql);
                sql.push(" #>> '{}') ILIKE ")
                    .bind(Box::new(like_pattern(pattern)), "text");
            }
            _ => {
                sql.push("FALSE");
            }
        },
        Operator::Has => {
            let present = truthy(value);
            if nullable {
                field.push_json(sql);
                sql.push(if present { " IS NOT NULL" } else { " IS NULL" });
            } else {
                sql.push(if present { "TRUE" } else { "FALSE" });
            }
        }
        Operator::Contains => {
            if let Field::Data(segments) = field {
                push_containment(sql, segments, Value::Array(as_list(value).to_vec()));
                sql.push(" AND jsonb_typeof(");
                field.push_json(sql);
                sql.push(") = 'array' AND ");
                field.push_json(sql);
                sql.push(" @> ")
                    .bind_json(&Value::Array(as_list(value).to_vec()));
            } else {
                sql.push("FALSE");
            }
        }
        Operator::ContainsAny => {
            if let Field::Data(_) = field {
                sql.push("jsonb_typeof(");
                field.push_json(sql);
                sql.push(") = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(");
                field.push_json(sql);
                sql.push(") AS element(value) WHERE element.value = ANY(")
                    .bind_json_list(as_list(value))
                    .push("))");
            } else {
                sql.push("FALSE");
            }
        }
    }
    sql.push(")");
}

/// Appends `objects.data @> {"a": {"b": value}}` for the field `a.b`.
///
/// Both conditions this is added to (equality, and an array containing
/// values) imply it, so it never changes an answer; it is there because the
/// GIN index on `data` (`jsonb_path_ops`) serves containment, whatever the
/// field: the database reads only the objects that may match instead of
/// every object of the collection.
fn push_containment(sql: &mut Sql, segments: &[String], value: Value) {
    let nested = segments.iter().rev().fold(value, |inner, segment| {
        let mut map = serde_json::Map::with_capacity(1);
        map.insert(segment.clone(), inner);
        Value::Object(map)
    });
    sql.custom_plan = true;
    sql.push("objects.data @> ").bind(Box::new(nested), "jsonb");
}

/// Appends one pagination condition (parenthesised).
fn push_pagination_condition(sql: &mut Sql, condition: &PaginationCondition) {
    match &condition.value {
        Some(value) => push_condition(sql, &condition.field, condition.operator, value),
        None => {
            // The last object lacked the field: a missing value sorts after
            // every value.
            let field = field(&condition.field);
            let (if_missing, if_present) = match condition.operator {
                Operator::Eq | Operator::Min => (true, false),
                Operator::Lt | Operator::Not => (false, true),
                Operator::Max => (true, true),
                _ => (false, false),
            };
            sql.push("(");
            match (if_missing, if_present, field.nullable()) {
                (true, true, _) => {
                    sql.push("TRUE");
                }
                (false, false, _) => {
                    sql.push("FALSE");
                }
                (_, present, false) => {
                    sql.push(if present { "TRUE" } else { "FALSE" });
                }
                (_, present, true) => {
                    field.push_json(sql);
                    sql.push(if present { " IS NOT NULL" } else { " IS NULL" });
                }
            }
            sql.push(")");
        }
    }
}

/// Appends ` AND <filter>` for each filter and ` AND (<rule> OR ...)` for
/// the pagination rules.
pub(crate) fn push_conditions(sql: &mut Sql, filters: &[Filter], pagination: &[PaginationRule]) {
    for filter in filters {
        sql.push(" AND ");
        push_filter(sql, filter);
    }
    if !pagination.is_empty() {
        sql.push(" AND (");
        for (i, rule) in pagination.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(TRUE");
            for condition in &rule.conditions {
                sql.push(" AND ");
                push_pagination_condition(sql, condition);
            }
            sql.push(")");
        }
        sql.push(")");
    }
}

/// Appends ` ORDER BY ...` (nothing for an empty sort).
pub(crate) fn push_order(sql: &mut Sql, sort: &[SortField]) {
    push_order_indexed(sql, sort, None);
}

/// The top-level data field a sort starts with, if it does: the one a
/// [sort index](crate::sort_index) can serve.
pub(crate) fn leading_data_field(sort: &[SortField]) -> Option<&str> {
    match field(&sort.first()?.field) {
        Field::Data([name]) => Some(name),
        _ => None,
    }
}

/// [`push_order`], the leading key written as a literal when it is
/// `indexed`, the top-level field whose sort index is ready (a parameter
/// would hide it from the planner).
pub(crate) fn push_order_indexed(sql: &mut Sql, sort: &[SortField], indexed: Option<&str>) {
    for (i, criterion) in sort.iter().enumerate() {
        sql.push(if i == 0 { " ORDER BY " } else { ", " });
        match field(&criterion.field) {
            Field::Id => {
                sql.push("objects.id");
            }
            Field::LastModified => {
                sql.push("objects.last_modified");
            }
            Field::Data([name]) if i == 0 && indexed == Some(name.as_str()) => {
                sql.custom_plan = true;
                sql.push("(objects.data->")
                    .push(&crate::sort_index::literal(name))
                    .push(")");
            }
            other @ Field::Data(_) => other.push_json(sql),
            // Constant: no effect on the order.
            Field::Absent => continue,
        }
        sql.push(if criterion.descending {
            " DESC"
        } else {
            " ASC"
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter_sql(filter: Filter) -> Sql {
        let mut sql = Sql::new();
        push_filter(&mut sql, &filter);
        sql
    }

    #[test]
    fn field_names_are_parameters() {
        let sql = filter_sql(Filter::new(
            "a.b'); DROP TABLE objects; --",
            Operator::Lt,
            json!(1),
        ));
        assert_eq!(sql.text, "((objects.data->$1::text->$2::text) < $3::jsonb)");
        assert_eq!(sql.params.len(), 3);
    }

    #[test]
    fn repeated_segments_share_a_parameter() {
        let sql = filter_sql(Filter::new("a.a", Operator::Like, json!("x*")));
        assert_eq!(sql.params.len(), 2);
        assert!(sql.text.contains("ILIKE $2::text"), "{}", sql.text);
    }

    #[test]
    fn missing_fields_follow_the_operator() {
        let sql = filter_sql(Filter::new("n", Operator::Gt, json!(2)));
        assert!(sql.text.contains("IS NULL OR"), "{}", sql.text);
        let sql = filter_sql(Filter::new("n", Operator::Lt, json!(2)));
        assert!(!sql.text.contains("IS NULL"), "{}", sql.text);
    }

    #[test]
    fn columns_use_their_indexes() {
        let sql = filter_sql(Filter::new("last_modified", Operator::Gt, json!(10)));
        assert_eq!(sql.text, "(objects.last_modified > from_epoch($1::bigint))");
        let sql = filter_sql(Filter::new("id", Operator::Eq, json!("a")));
        assert_eq!(sql.text, "(objects.id = $1::text)");
    }

    #[test]
    fn equality_and_contains_use_the_data_index() {
        let sql = filter_sql(Filter::new("a.b", Operator::Eq, json!("x")));
        assert_eq!(sql.text, "(objects.data @> $1::jsonb)");
        let sql = filter_sql(Filter::new("a.b", Operator::Eq, json!({"c": 1})));
        assert_eq!(
            sql.text,
            "(objects.data @> $1::jsonb AND (objects.data->$2::text->$3::text) = $4::jsonb)"
        );
        let sql = filter_sql(Filter::new("tags", Operator::Contains, json!(["x"])));
        assert!(
            sql.text
                .starts_with("(objects.data @> $1::jsonb AND jsonb_typeof("),
            "{}",
            sql.text
        );
        let sql = filter_sql(Filter::new("n", Operator::Gt, json!(2)));
        assert!(!sql.text.contains("@>"), "{}", sql.text);
    }

    #[test]
    fn nul_keys_are_absent() {
        let sql = filter_sql(Filter::new("a\0b", Operator::Has, json!(true)));
        assert_eq!(sql.text, "(NULL::jsonb IS NOT NULL)");
        assert!(sql.params.is_empty());
    }

    #[test]
    fn like_patterns_escape_sql_wildcards() {
        assert_eq!(like_pattern("*a%b_c\\d*"), "%a\\%b\\_c\\\\d%");
    }

    #[test]
    fn order_by_fields() {
        let mut sql = Sql::new();
        push_order(
            &mut sql,
            &[
                SortField::desc("title"),
                SortField::asc("id"),
                SortField::desc("last_modified"),
            ],
        );
        assert_eq!(
            sql.text,
            " ORDER BY (objects.data->$1::text) DESC, objects.id ASC, objects.last_modified DESC"
        );
    }

    #[test]
    fn statements_on_data_fields_are_marked() {
        assert!(filter_sql(Filter::new("a", Operator::Eq, json!(1))).custom_plan);
        assert!(filter_sql(Filter::new("a", Operator::Has, json!(true))).custom_plan);
        assert!(!filter_sql(Filter::new("last_modified", Operator::Gt, json!(1))).custom_plan);
        assert!(!filter_sql(Filter::new("id", Operator::In, json!(["a"]))).custom_plan);
        let mut sql = Sql::new();
        push_order(&mut sql, &[SortField::desc("last_modified")]);
        assert!(!sql.custom_plan);
        push_order(&mut sql, &[SortField::desc("rank")]);
        assert!(sql.custom_plan);
    }

    #[test]
    fn an_indexed_leading_field_is_a_literal() {
        let sort = [SortField::desc("it's"), SortField::asc("rank")];
        assert_eq!(leading_data_field(&sort), Some("it's"));
        let mut sql = Sql::new();
        push_order_indexed(&mut sql, &sort, Some("it's"));
        assert_eq!(
            sql.text,
            " ORDER BY (objects.data->E'it\\'s') DESC, (objects.data->$1::text) ASC"
        );
        // Only the leading key, and only the field the index is for.
        let mut sql = Sql::new();
        push_order_indexed(&mut sql, &sort, Some("rank"));
        assert!(!sql.text.contains("E'"), "{}", sql.text);
        assert_eq!(leading_data_field(&[SortField::asc("a.b")]), None);
        assert_eq!(leading_data_field(&[SortField::asc("id")]), None);
        assert_eq!(leading_data_field(&[]), None);
    }
}
