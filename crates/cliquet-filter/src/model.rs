//! The typed query: what a storage backend translates.
//!
//! A [`Query`] is a conjunction of [`Filter`]s, an ordered list of
//! [`SortField`]s, an effective limit, an optional [`PaginationToken`] and an
//! optional `_fields` selection. Every value is a [`serde_json::Value`] with
//! the type the querystring gave it (numbers stay numbers, `"2"` is a
//! string), so a backend binds it as a JSONB parameter as it is.
//!
//! The meaning of every operator is defined by [`Filter::matches`], the
//! oracle every backend must agree with; the order of objects by
//! [`compare_objects`]; the continuation after a token by
//! [`Query::pagination_rules`].

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::PaginationToken;

/// The name of the field holding an object's id.
pub const ID_FIELD: &str = "id";
/// The name of the field holding an object's timestamp (epoch milliseconds).
pub const MODIFIED_FIELD: &str = "last_modified";
/// The name of the field marking a tombstone.
pub const DELETED_FIELD: &str = "deleted";

/// A path to a field of a JSON object: `address.street` is
/// `["address", "street"]`.
///
/// The querystring writes paths with dots; the path is split on every dot,
/// as Kinto's PostgreSQL backend does (`data->'address'->'street'`). A key
/// that itself contains a dot is therefore not addressable (Kinto's memory
/// backend tried the longest existing key first; its PostgreSQL backend
/// never did, and we follow PostgreSQL so that every backend agrees).
///
/// The paths `id` and `last_modified` name the object's id and timestamp,
/// which backends usually store in columns of their own:
/// [`is_id`](Self::is_id) and [`is_last_modified`](Self::is_last_modified)
/// tell them apart. Deeper paths under them (`id.x`) address nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    dotted: String,
    segments: Vec<String>,
}

impl FieldPath {
    /// The path written with dots (`"a.b"` → `["a", "b"]`). Empty segments
    /// are kept (`"a..b"` has three segments, the middle one `""`).
    pub fn new(dotted: impl Into<String>) -> Self {
        let dotted = dotted.into();
        let segments = dotted.split('.').map(str::to_owned).collect();
        Self { dotted, segments }
    }

    /// The path made of these segments (which may themselves contain dots;
    /// such a path is displayed with the dots it has, ambiguously). No
    /// segment at all is the path of one empty segment, as `new("")`.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut segments: Vec<String> = segments.into_iter().map(Into::into).collect();
        if segments.is_empty() {
            segments.push(String::new());
        }
        Self {
            dotted: segments.join("."),
            segments,
        }
    }

    /// The path's segments, outermost first; never empty.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The path written with dots, as in the querystring.
    pub fn as_str(&self) -> &str {
        &self.dotted
    }

    /// The outermost segment: the field a strict schema must know.
    pub fn root(&self) -> &str {
        &self.segments[0]
    }

    /// Whether this is the object id (`id`).
    pub fn is_id(&self) -> bool {
        self.dotted == ID_FIELD
    }

    /// Whether this is the object timestamp (`last_modified`).
    pub fn is_last_modified(&self) -> bool {
        self.dotted == MODIFIED_FIELD
    }

    /// The value at this path in `object`, or `None` when some step is
    /// missing or is not an object (a path never indexes into arrays, as
    /// PostgreSQL's `->` with a text key does not).
    pub fn lookup<'a>(&self, object: &'a Value) -> Option<&'a Value> {
        let mut current = object;
        for segment in &self.segments {
            current = current.as_object()?.get(segment)?;
        }
        Some(current)
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", self.dotted)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted)
    }
}

impl From<&str> for FieldPath {
    fn from(dotted: &str) -> Self {
        Self::new(dotted)
    }
}

impl From<String> for FieldPath {
    fn from(dotted: String) -> Self {
        Self::new(dotted)
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.dotted)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// A comparison of a filter, named after its querystring prefix.
///
/// The value a [`Filter`] carries has the shape the operator documents. The
/// semantics (missing fields, mixed types) are those of Kinto's PostgreSQL
/// backend; [`Filter::matches`] is their reference implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `field=v` or `eq_field=v`: equal (JSONB equality, `1` equals `1.0`,
    /// `1` does not equal `"1"`). A missing field never matches.
    Eq,
    /// `not_field=v`: not equal. A missing field matches.
    Not,
    /// `min_field=v`: `>=` in JSONB order. A missing field matches (it
    /// sorts after every value).
    Min,
    /// `max_field=v`: `<=` in JSONB order. A missing field does not match.
    Max,
    /// `lt_field=v`: `<` in JSONB order. A missing field does not match.
    Lt,
    /// `gt_field=v`: `>` in JSONB order. A missing field matches.
    Gt,
    /// `in_field=a,b`: equal to one of the values. The value is a JSON
    /// array; an empty array matches nothing. A missing field never matches.
    In,
    /// `exclude_field=a,b`: equal to none of the values. The value is a JSON
    /// array; an empty array matches everything. A missing field matches.
    Exclude,
    /// `like_field=pattern`: case-insensitive pattern over string values.
    /// The value is a JSON string in which `*` matches any run of characters
    /// and every other character stands for itself; it is already wrapped
    /// in `*…*` when the querystring had no `*`. Non-string and missing
    /// fields never match.
    Like,
    /// `has_field=true|false`: the field is present (`true`) or absent
    /// (`false`). The value is a JSON boolean (the parser turns the
    /// querystring value into one by Python truthiness). A field holding
    /// `null` is present.
    Has,
    /// `contains_field=v`: the field is an array that contains every value
    /// of the filter's array, with JSONB containment (`@>`): an element
    /// contains a value if they are equal scalars, or if the value is an
    /// object (array) whose entries are all contained in the element's. A
    /// field that is not an array never matches.
    Contains,
    /// `contains_any_field=v`: the field is an array sharing at least one
    /// element (JSONB equality) with the filter's array. A field that is not
    /// an array, and an empty array, never match.
    ContainsAny,
}

impl Operator {
    /// Every operator, in the order the querystring prefixes are tried.
    pub const ALL: [Operator; 12] = [
        Operator::Lt,
        Operator::Min,
        Operator::Max,
        Operator::Not,
        Operator::Eq,
        Operator::Gt,
        Operator::In,
        Operator::Exclude,
        Operator::Like,
        Operator::Has,
        Operator::ContainsAny,
        Operator::Contains,
    ];

    /// The querystring prefix, without its trailing `_` (`"contains_any"`).
    pub const fn prefix(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Not => "not",
            Operator::Min => "min",
            Operator::Max => "max",
            Operator::Lt => "lt",
            Operator::Gt => "gt",
            Operator::In => "in",
            Operator::Exclude => "exclude",
            Operator::Like => "like",
            Operator::Has => "has",
            Operator::Contains => "contains",
            Operator::ContainsAny => "contains_any",
        }
    }

    /// The operator of a prefix (without its `_`), if it is one.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.prefix() == prefix)
    }

    /// Whether the filter's value is a JSON array of alternatives
    /// (`in`, `exclude`, `contains`, `contains_any`).
    pub const fn takes_list(self) -> bool {
        matches!(
            self,
            Operator::In | Operator::Exclude | Operator::Contains | Operator::ContainsAny
        )
    }

    /// Whether an object lacking the field matches, whatever the value
    /// (`not`, `exclude`, `min`, `gt`; for `has`, it depends on the value).
    pub const fn matches_missing(self) -> bool {
        matches!(
            self,
            Operator::Not | Operator::Exclude | Operator::Min | Operator::Gt
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// One condition of a list request: `field <operator> value`.
///
/// All the filters of a [`Query`] are combined with AND.
///
/// Values of filters on `id` are strings (the parser turns integers into
/// strings), values of filters on `last_modified` are non-negative integers
/// (epoch milliseconds); list operators carry arrays of those.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The field compared.
    pub field: FieldPath,
    /// The comparison.
    pub operator: Operator,
    /// The value, shaped as [`Operator`] documents.
    pub value: Value,
}

impl Filter {
    /// A filter.
    pub fn new(field: impl Into<FieldPath>, operator: Operator, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            operator,
            value: value.into(),
        }
    }

    /// Whether `object` satisfies this filter: the reference semantics
    /// every backend must reproduce. Never panics, whatever the types.
    pub fn matches(&self, object: &Value) -> bool {
        crate::eval::filter_matches(self, object)
    }
}

/// One criterion of the order of a list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortField {
    /// The field sorted on.
    pub field: FieldPath,
    /// `true` for `-field` (descending), `false` for `field` / `+field`.
    pub descending: bool,
}

impl SortField {
    /// Ascending on `field`.
    pub fn asc(field: impl Into<FieldPath>) -> Self {
        Self {
            field: field.into(),
            descending: false,
        }
    }

    /// Descending on `field`.
    pub fn desc(field: impl Into<FieldPath>) -> Self {
        Self {
            field: field.into(),
            descending: true,
        }
    }

    /// The order of two objects on this criterion alone: JSONB order of the
    /// field's values, a missing field after every value (so first when
    /// descending), as PostgreSQL's `ORDER BY data->'f' ASC|DESC` does with
    /// its default `NULLS LAST` / `NULLS FIRST`.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        let ordering = crate::jsonb::compare_optional(self.field.lookup(a), self.field.lookup(b));
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }

    /// The querystring form: `-field` or `field`.
    pub fn to_querystring(&self) -> String {
        if self.descending {
            format!("-{}", self.field)
        } else {
            self.field.to_string()
        }
    }
}

/// The order of two objects under a list of criteria, the first that
/// differs deciding.
pub fn compare_objects(sort: &[SortField], a: &Value, b: &Value) -> Ordering {
    for field in sort {
        match field.compare(a, b) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

/// One AND-ed condition of a [`PaginationRule`]: `field <operator> value`
/// where the value may be *missing* (the last object of the previous page
/// lacked the field).
///
/// The operator is [`Operator::Eq`], [`Operator::Gt`] or [`Operator::Lt`].
/// With a present value they behave as filters ([`Filter::matches`]). With
/// a missing value: `= missing` matches objects lacking the field
/// (`IS NULL`), `< missing` matches objects having it (`IS NOT NULL`),
/// `> missing` matches nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaginationCondition {
    /// The sort field.
    pub field: FieldPath,
    /// [`Operator::Eq`], [`Operator::Gt`] or [`Operator::Lt`].
    pub operator: Operator,
    /// The last object's value, `None` when it lacked the field.
    pub value: Option<Value>,
}

impl PaginationCondition {
    /// Whether `object` satisfies this condition.
    pub fn matches(&self, object: &Value) -> bool {
        crate::eval::pagination_condition_matches(self, object)
    }
}

/// The conditions (AND-ed) of one alternative of the continuation after a
/// token; the rules of a query are OR-ed.
///
/// For sorts `s1..sn` and last values `v1..vn`, rule `i` is
/// `s1 = v1 AND … AND s(i-1) = v(i-1) AND si ⋚ vi`, with `>` for an
/// ascending and `<` for a descending field. Their disjunction selects
/// exactly the objects strictly after the last one in the sort order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaginationRule {
    /// The AND-ed conditions.
    pub conditions: Vec<PaginationCondition>,
}

impl PaginationRule {
    /// Whether `object` satisfies every condition.
    pub fn matches(&self, object: &Value) -> bool {
        self.conditions.iter().all(|c| c.matches(object))
    }
}

/// A parsed list querystring.
///
/// Build it with [`Query::parse`] (or [`Query::from_pairs`]); evaluate it in
/// memory with [`Query::matches`], [`Query::compare`] and [`Query::apply`];
/// translate it field by field in a storage backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Conditions combined with AND. `_since`, `_before` and `_to` appear
    /// here as `gt_last_modified` / `lt_last_modified`.
    pub filters: Vec<Filter>,
    /// The effective order: the `_sort` criteria, then `-last_modified` if
    /// `last_modified` was not among them. Never empty.
    pub sort: Vec<SortField>,
    /// The effective page size: `_limit`, or `paginate_by`, capped by
    /// `paginate_by` and by `max_fetch_size`. At least 1.
    pub limit: usize,
    /// The `_token` of a next page, if any.
    pub token: Option<PaginationToken>,
    /// The `_fields` selection, if any (without the always added `id` and
    /// `last_modified`, which [`Query::project`] adds).
    pub fields: Option<Vec<FieldPath>>,
    /// Whether the deprecated `_to` parameter was used (the resource then
    /// adds an `Alert` header).
    pub deprecated_to: bool,
}

impl Default for Query {
    /// No filter, newest first, [`crate::DEFAULT_MAX_FETCH_SIZE`] objects.
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            sort: vec![SortField::desc(MODIFIED_FIELD)],
            limit: crate::DEFAULT_MAX_FETCH_SIZE,
            token: None,
            fields: None,
            deprecated_to: false,
        }
    }
}

impl Query {
    /// Whether the list includes tombstones: it does when some filter is on
    /// `last_modified` (`_since`, `_before`, `gt_last_modified`, ...).
    pub fn includes_tombstones(&self) -> bool {
        self.filters.iter().any(|f| f.field.is_last_modified())
    }

    /// Whether `object` satisfies every filter (not the pagination rules).
    pub fn matches(&self, object: &Value) -> bool {
        self.filters.iter().all(|f| f.matches(object))
    }

    /// The order of two objects under [`Query::sort`].
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        compare_objects(&self.sort, a, b)
    }

    /// The continuation after the token (OR of AND-ed rules), or an empty
    /// list when there is no token (no restriction).
    pub fn pagination_rules(&self) -> Vec<PaginationRule> {
        match &self.token {
            Some(token) => token.pagination_rules(&self.sort),
            None => Vec::new(),
        }
    }

    /// Whether `object` comes after the token's last object (always true
    /// without a token).
    pub fn is_after_token(&self, object: &Value) -> bool {
        match &self.token {
            Some(token) => token.is_before(&self.sort, object),
            None => true,
        }
    }

    /// The objects matching the filters and coming after the token, sorted,
    /// at most `limit` of them (pass `self.limit + 1` to learn whether a next
    /// page exists). This is what a list does; tombstones are not told apart
    /// here (drop them beforehand unless [`Query::includes_tombstones`]).
    pub fn apply<'a, I>(&self, objects: I, limit: usize) -> Vec<&'a Value>
    where
        I: IntoIterator<Item = &'a Value>,
    {
        let selected: Vec<&Value> = objects
            .into_iter()
            .filter(|o| self.matches(o) && self.is_after_token(o))
            .collect();
        // Look every sort value up once, then sort indices on them.
        let width = self.sort.len();
        let keys: Vec<Option<&Value>> = selected
            .iter()
            .flat_map(|o| self.sort.iter().map(|s| s.field.lookup(o)))
            .collect();
        let compare = |i: &usize, j: &usize| {
            for (k, field) in self.sort.iter().enumerate() {
                let ordering =
                    crate::jsonb::compare_optional(keys[i * width + k], keys[j * width + k]);
                let ordering = if field.descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            Ordering::Equal
        };
        let mut order: Vec<usize> = (0..selected.len()).collect();
        if limit < order.len() {
            order.select_nth_unstable_by(limit, compare);
            order.truncate(limit);
        }
        order.sort_by(compare);
        order.into_iter().map(|i| selected[i]).collect()
    }

    /// The token of the page after one ending with `last_object`, the
    /// `offset` being the number of objects returned so far, all pages
    /// included.
    pub fn next_token(&self, last_object: &Value, offset: u64) -> PaginationToken {
        PaginationToken::new(&self.sort, last_object, offset)
    }

    /// `object` reduced to the `_fields` selection (with `id` and
    /// `last_modified`), or a copy of it when there is no selection.
    pub fn project(&self, object: &Value) -> Value {
        match &self.fields {
            Some(fields) => crate::fields::project(object, fields),
            None => object.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_on_every_dot() {
        assert_eq!(FieldPath::new("a.b").segments(), ["a", "b"]);
        assert_eq!(FieldPath::new("a..b").segments(), ["a", "", "b"]);
        assert_eq!(FieldPath::new("").segments(), [""]);
        assert_eq!(
            FieldPath::from_segments(Vec::<String>::new()),
            FieldPath::new("")
        );
        assert_eq!(FieldPath::from_segments(["a", "b"]), FieldPath::new("a.b"));
        assert_eq!(FieldPath::new("o.k").root(), "o");
        assert!(FieldPath::new("id").is_id());
        assert!(!FieldPath::new("id.x").is_id());
        assert!(FieldPath::new("last_modified").is_last_modified());
    }

    #[test]
    fn lookup_never_indexes_arrays() {
        let object = json!({"a": {"b": [{"c": 1}]}, "x.y": 1, "n": null});
        assert_eq!(
            FieldPath::new("a.b").lookup(&object),
            Some(&json!([{"c": 1}]))
        );
        assert_eq!(FieldPath::new("a.b.0").lookup(&object), None);
        assert_eq!(FieldPath::new("a.b.c").lookup(&object), None);
        assert_eq!(FieldPath::new("x.y").lookup(&object), None);
        assert_eq!(FieldPath::new("n").lookup(&object), Some(&json!(null)));
        assert_eq!(FieldPath::new("n.k").lookup(&object), None);
    }

    #[test]
    fn operators_round_trip_their_prefixes() {
        for operator in Operator::ALL {
            assert_eq!(Operator::from_prefix(operator.prefix()), Some(operator));
            let json = serde_json::to_value(operator).unwrap();
            assert_eq!(json, json!(operator.prefix()));
        }
        assert_eq!(Operator::from_prefix("bogus"), None);
    }
}
