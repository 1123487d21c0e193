//! From a querystring to a [`Query`].
//!
//! Every invalid input is a 400 errno 107 (`"Invalid parameters"`) whose
//! details name the parameter, at location `querystring`; all the problems
//! of a querystring are reported together.

use std::time::{SystemTime, UNIX_EPOCH};

use cliquet_errors::{ApiError, Location, ValidationDetail};
use percent_encoding::percent_decode;
use serde_json::{Number, Value};

use crate::DEFAULT_MAX_FETCH_SIZE;
use crate::eval::truthy;
use crate::model::{
    DELETED_FIELD, FieldPath, Filter, ID_FIELD, MODIFIED_FIELD, Operator, Query, SortField,
};
use crate::token::PaginationToken;

/// One day in milliseconds: timestamps up to now plus this are valid.
const TIMESTAMP_MARGIN_MS: u64 = 24 * 60 * 60 * 1000;

/// What the parser needs to know of the resource and the settings.
///
/// ```
/// use cliquet_filter::ParseOptions;
///
/// let options = ParseOptions::new()
///     .paginate_by(Some(50))
///     .known_fields(["title", "url"]);
/// assert_eq!(options.max_fetch_size, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// The `paginate_by` setting: the default page size, and a cap on
    /// `_limit`. `None` (or `Some(0)`) for no such setting.
    pub paginate_by: Option<usize>,
    /// The `storage_max_fetch_size` setting: a cap on every page (at least 1).
    pub max_fetch_size: usize,
    /// The root fields of a strict schema: filters, sorts and `_fields` on
    /// other roots are rejected (`id`, `last_modified` and `deleted` are
    /// always known). `None` when the schema preserves unknown fields, the
    /// default.
    pub known_fields: Option<Vec<String>>,
    /// Root fields whose values are text: a filter value that looks like a
    /// number (`?record_id=2`) is compared as the string it was written as.
    pub text_fields: Vec<String>,
    /// "Now" in epoch milliseconds, for the upper bound of timestamps
    /// (now + 24 h); `None` reads the system clock.
    pub now_ms: Option<u64>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            paginate_by: None,
            max_fetch_size: DEFAULT_MAX_FETCH_SIZE,
            known_fields: None,
            text_fields: Vec::new(),
            now_ms: None,
        }
    }
}

impl ParseOptions {
    /// The defaults: no `paginate_by`, a max fetch size of 10,000, a schema
    /// that preserves unknown fields, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `paginate_by` setting.
    pub fn paginate_by(mut self, paginate_by: Option<usize>) -> Self {
        self.paginate_by = paginate_by;
        self
    }

    /// Sets the `storage_max_fetch_size` setting.
    pub fn max_fetch_size(mut self, max_fetch_size: usize) -> Self {
        self.max_fetch_size = max_fetch_size;
        self
    }

    /// Makes the schema strict, with these root fields.
    pub fn known_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.known_fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    /// Declares root fields whose filter values are always text.
    pub fn text_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.text_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Fixes "now" (epoch milliseconds) instead of reading the clock.
    pub fn now_ms(mut self, now_ms: u64) -> Self {
        self.now_ms = Some(now_ms);
        self
    }

    fn is_known(&self, field: &FieldPath) -> bool {
        match &self.known_fields {
            None => true,
            Some(known) => {
                let root = field.root();
                [ID_FIELD, MODIFIED_FIELD, DELETED_FIELD].contains(&root)
                    || known.iter().any(|k| k == root)
            }
        }
    }

    fn max_timestamp(&self) -> u64 {
        let now = self.now_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0)
        });
        now.saturating_add(TIMESTAMP_MARGIN_MS)
    }
}

/// Decodes an `application/x-www-form-urlencoded` querystring into its
/// pairs, in order: `+` is a space, `%XX` a byte, malformed escapes stay as
/// they are, empty segments are skipped. A querystring whose decoded bytes
/// are not UTF-8 is a 400 errno 107.
pub fn decode_querystring(querystring: &str) -> Result<Vec<(String, String)>, ApiError> {
    let querystring = querystring.strip_prefix('?').unwrap_or(querystring);
    let mut pairs = Vec::new();
    for segment in querystring.split('&') {
        if segment.is_empty() {
            continue;
        }
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        pairs.push((decode_component(name)?, decode_component(value)?));
    }
    Ok(pairs)
}

fn decode_component(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.replace('+', " ");
    percent_decode(bytes.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::bad_request("Invalid querystring: not UTF-8"))
}

/// A parameter and its values, in order of first appearance.
struct Param {
    name: String,
    values: Vec<String>,
}

impl Param {
    /// The last value, as reserved parameters and the Next-Page URL use.
    fn last(&self) -> &str {
        self.values.last().map(String::as_str).unwrap_or("")
    }

    fn is_repeated(&self) -> bool {
        self.values.len() > 1
    }
}

fn group(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    for (name, value) in pairs {
        let name = name.trim().to_owned();
        match params.iter_mut().find(|p| p.name == name) {
            Some(param) => param.values.push(value),
            None => params.push(Param {
                name,
                values: vec![value],
            }),
        }
    }
    params
}

/// A querystring value with its JSON type: JSON if it parses, else the
/// string itself (`2` is a number, `"2"` and `Ben` strings, `null` null).
///
/// Python's parser also read `NaN` and `Infinity` as numbers; JSON has no
/// such numbers, so they stay strings here.
pub fn native_value(raw: &str) -> Value {
    // Most values that are not JSON are words: tell them by their first
    // character without building a parser error.
    let could_be_json = raw.trim_start().bytes().next().is_some_and(|b| {
        matches!(
            b,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        )
    });
    if !could_be_json {
        return Value::String(raw.to_owned());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

fn invalid(name: &str, description: impl Into<String>) -> ValidationDetail {
    ValidationDetail::new(Location::Querystring, name, description)
}

fn invalid_value(name: &str) -> ValidationDetail {
    invalid(name, format!("Invalid value for {name}"))
}

/// colander's message for a value that is not an integer.
fn not_a_number(name: &str, raw: &str) -> ValidationDetail {
    invalid(name, format!("\"{raw}\" is not a number"))
}

/// An integer as colander's `Integer` reads it: surrounding whitespace, an
/// optional sign, digits. Values beyond `i128` saturate.
fn parse_integer(raw: &str) -> Option<i128> {
    let s = raw.trim();
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i128>().unwrap_or(i128::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

/// A timestamp parameter's raw value with its surrounding double quotes (as
/// in an ETag) removed.
fn unquote(raw: &str) -> &str {
    let trimmed = raw.trim();
    trimmed
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(trimmed)
}

/// An integer between 0 and now + 24 h, or `None`.
fn valid_timestamp(value: i128, options: &ParseOptions) -> Option<u64> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v <= options.max_timestamp())
}

/// A JSON value that is a valid timestamp: an integer, or a string of
/// digits.
fn json_timestamp(value: &Value, options: &ParseOptions) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|v| valid_timestamp(i128::from(v), options)),
        Value::String(s) => {
            let digits = unquote(s);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                valid_timestamp(parse_integer(digits)?, options)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `lt_size` into (`Lt`, `size`); a name with no operator prefix
/// is an equality on the whole name.
pub(crate) fn split_operator(param: &str) -> (Operator, &str) {
    for operator in Operator::ALL {
        let Some(rest) = param
            .strip_prefix(operator.prefix())
            .and_then(|rest| rest.strip_prefix('_'))
        else {
            continue;
        };
        if !rest.is_empty() && rest.chars().all(|c| c == '.' || is_word_char(c)) {
            return (operator, rest);
        }
    }
    (Operator::Eq, param)
}

fn is_sort_item(item: &str) -> bool {
    let name = item
        .strip_prefix('-')
        .or_else(|| item.strip_prefix('+'))
        .unwrap_or(item);
    !name.is_empty() && name.chars().all(|c| c == '.' || is_word_char(c))
}

impl Query {
    /// Parses a list querystring (with or without its leading `?`).
    ///
    /// ```
    /// use cliquet_filter::{Operator, ParseOptions, Query};
    /// use serde_json::json;
    ///
    /// let query = Query::parse("min_size=10&like_title=rust&_sort=-size", &ParseOptions::new())?;
    /// assert_eq!(query.filters[0].operator, Operator::Min);
    /// assert_eq!(query.filters[0].value, json!(10));
    /// assert_eq!(query.filters[1].value, json!("*rust*"));
    /// assert!(query.matches(&json!({"size": 12, "title": "Rust in Action"})));
    /// # Ok::<(), cliquet_errors::ApiError>(())
    /// ```
    pub fn parse(querystring: &str, options: &ParseOptions) -> Result<Self, ApiError> {
        Self::from_pairs(decode_querystring(querystring)?, options)
    }

    /// Builds the query from decoded `(name, value)` pairs, in querystring
    /// order (a parameter may repeat).
    pub fn from_pairs<I, K, V>(pairs: I, options: &ParseOptions) -> Result<Self, ApiError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let params = group(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        let mut errors = Vec::new();
        let mut query = Query::default();
        let mut requested_limit = None;
        let mut sort: Vec<SortField> = Vec::new();

        for param in &params {
            let name = param.name.as_str();
            if name.contains('\0') || param.values.iter().any(|v| v.contains('\0')) {
                errors.push(invalid(name, "Invalid character 0x00"));
                continue;
            }
            match name {
                "_since" | "_before" | "_to" => {
                    let raw = unquote(param.last());
                    // The protocol documents `null` (and an empty value) as
                    // "not specified"; Kinto's backends disagreed with each
                    // other and with that, and we follow the documentation.
                    if raw.is_empty() || raw == "null" {
                        continue;
                    }
                    let Some(value) = parse_integer(raw) else {
                        errors.push(not_a_number(name, param.last()));
                        continue;
                    };
                    let Some(timestamp) = valid_timestamp(value, options) else {
                        errors.push(invalid_value(name));
                        continue;
                    };
                    let operator = if name == "_since" {
                        Operator::Gt
                    } else {
                        Operator::Lt
                    };
                    query.deprecated_to |= name == "_to";
                    query
                        .filters
                        .push(Filter::new(MODIFIED_FIELD, operator, timestamp));
                }
                "_limit" => {
                    let raw = param.last();
                    if raw.trim().is_empty() {
                        continue;
                    }
                    match parse_integer(raw) {
                        None => errors.push(not_a_number(name, raw)),
                        Some(n) if n < 0 => {
                            errors.push(invalid(name, format!("{n} is less than minimum value 0")))
                        }
                        Some(0) => {}
                        Some(n) => requested_limit = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    }
                }
                "_sort" => {
                    sort.clear();
                    for item in param.last().split(',').map(str::trim) {
                        if !is_sort_item(item) {
                            continue;
                        }
                        let field = match item.as_bytes()[0] {
                            b'-' => SortField::desc(&item[1..]),
                            b'+' => SortField::asc(&item[1..]),
                            _ => SortField::asc(item),
                        };
                        if options.is_known(&field.field) {
                            sort.push(field);
                        } else {
                            errors.push(ValidationDetail::unnamed(
                                Location::Querystring,
                                format!("Unknown sort field '{}'", field.field),
                            ));
                        }
                    }
                }
                "_token" => {
                    let raw = param.last();
                    if raw.is_empty() {
                        continue;
                    }
                    match PaginationToken::decode(raw) {
                        Ok(token) => query.token = Some(token),
                        Err(_) => errors.push(ValidationDetail::unnamed(
                            Location::Querystring,
                            crate::INVALID_TOKEN,
                        )),
                    }
                }
                "_fields" => match parse_fields_value(param.last(), options) {
                    Ok(fields) => query.fields = fields,
                    Err(detail) => errors.push(detail),
                },
                reserved if reserved.starts_with('_') => {}
                _ => match parse_filter(param, options) {
                    Ok(filter) => query.filters.push(filter),
                    Err(detail) => errors.push(detail),
                },
            }
        }

        if !errors.is_empty() {
            return Err(ApiError::invalid_parameters(errors));
        }

        if !sort.iter().any(|s| s.field.is_last_modified()) {
            sort.push(SortField::desc(MODIFIED_FIELD));
        }
        query.sort = sort;
        query.limit = effective_limit(requested_limit, options);
        Ok(query)
    }
}

/// `_limit` if given, else `paginate_by`; capped by `paginate_by`, by
/// `max_fetch_size`; at least 1.
fn effective_limit(requested: Option<usize>, options: &ParseOptions) -> usize {
    let paginate_by = options.paginate_by.filter(|p| *p > 0);
    let mut limit = requested.or(paginate_by).unwrap_or(usize::MAX);
    if let Some(cap) = paginate_by {
        limit = limit.min(cap);
    }
    limit.min(options.max_fetch_size.max(1))
}

/// Parses the `_fields` of an object `GET`, which accepts nothing else:
/// `None` when absent or empty.
pub fn parse_fields(
    querystring: &str,
    options: &ParseOptions,
) -> Result<Option<Vec<FieldPath>>, ApiError> {
    let params = group(decode_querystring(querystring)?);
    match params.iter().find(|p| p.name == "_fields") {
        Some(param) => parse_fields_value(param.last(), options)
            .map_err(|detail| ApiError::invalid_parameters([detail])),
        None => Ok(None),
    }
}

fn parse_fields_value(
    raw: &str,
    options: &ParseOptions,
) -> Result<Option<Vec<FieldPath>>, ValidationDetail> {
    let fields: Vec<FieldPath> = raw
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(FieldPath::new)
        .collect();
    if fields.is_empty() {
        return Ok(None);
    }
    let unknown: Vec<&str> = fields
        .iter()
        .filter(|f| !options.is_known(f))
        .map(|f| f.root())
        .collect();
    if !unknown.is_empty() {
        // Kinto reports this one at location `body`; we keep its shape.
        return Err(ValidationDetail::new(
            Location::Body,
            "Invalid _fields parameter",
            format!("Fields {} do not exist", unknown.join(",")),
        ));
    }
    Ok(Some(fields))
}

fn parse_filter(param: &Param, options: &ParseOptions) -> Result<Filter, ValidationDetail> {
    let name = param.name.as_str();
    let (operator, field) = split_operator(name);
    let field = FieldPath::new(field);
    if !options.is_known(&field) {
        return Err(invalid(name, format!("Unknown filter field '{field}'")));
    }
    let is_id = field.is_id();
    let is_modified = field.is_last_modified();

    // A repeated parameter is the array of its raw strings, which then
    // matches nothing for equality (as Kinto's does).
    let raw_array = || Value::Array(param.values.iter().cloned().map(Value::String).collect());

    let value = match operator {
        Operator::In | Operator::Exclude => Value::Array(
            param
                .values
                .iter()
                .flat_map(|v| v.split(','))
                .map(native_value)
                .collect(),
        ),
        Operator::Contains | Operator::ContainsAny => {
            if is_id || is_modified {
                return Err(invalid(name, format!("Field '{field}' is not an array")));
            }
            if param.is_repeated() {
                raw_array()
            } else {
                match native_value(param.last()) {
                    Value::Array(items) => Value::Array(items),
                    other => Value::Array(vec![other]),
                }
            }
        }
        Operator::Like => match native_value(param.last()) {
            Value::String(pattern) if !param.is_repeated() && !is_modified => {
                if pattern.contains('*') {
                    Value::String(pattern)
                } else {
                    Value::String(format!("*{pattern}*"))
                }
            }
            _ => return Err(invalid_value(name)),
        },
        Operator::Has => {
            let value = if param.is_repeated() {
                raw_array()
            } else {
                native_value(param.last())
            };
            Value::Bool(truthy(&value))
        }
        Operator::Eq
        | Operator::Not
        | Operator::Min
        | Operator::Max
        | Operator::Lt
        | Operator::Gt => {
            if param.is_repeated() {
                raw_array()
            } else {
                native_value(param.last())
            }
        }
    };

    let value = if is_id {
        id_value(operator, value).ok_or_else(|| invalid_value(name))?
    } else if is_modified {
        modified_value(operator, value, param, options)?
    } else if options.text_fields.iter().any(|f| f == field.root()) {
        text_value(value)
    } else {
        value
    };
    Ok(Filter {
        field,
        operator,
        value,
    })
}

/// Numbers as the text they were written as (also inside arrays).
fn text_value(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(text_value).collect()),
        other => other,
    }
}

/// Ids are strings: an integer is turned into its string; any other
/// non-string value is rejected (Kinto compared it and matched nothing; a
/// 400 tells the client its mistake, and lets backends bind ids as text).
fn id_value(operator: Operator, value: Value) -> Option<Value> {
    fn as_id(value: Value) -> Option<Value> {
        match value {
            Value::String(s) => Some(Value::String(s)),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(Value::String(n.to_string())),
            _ => None,
        }
    }
    match operator {
        Operator::Has | Operator::Like => Some(value),
        Operator::In | Operator::Exclude => match value {
            Value::Array(items) => items
                .into_iter()
                .map(as_id)
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            _ => None,
        },
        _ => as_id(value),
    }
}

/// Timestamps are integers between 0 and now + 24 h (a string of digits,
/// quoted or not, is read as one).
fn modified_value(
    operator: Operator,
    value: Value,
    param: &Param,
    options: &ParseOptions,
) -> Result<Value, ValidationDetail> {
    let name = param.name.as_str();
    let to_number = |v: u64| Value::Number(Number::from(v));
    match operator {
        Operator::Has => Ok(value),
        Operator::In | Operator::Exclude => match value {
            Value::Array(items) => items
                .iter()
                .map(|v| json_timestamp(v, options).map(to_number))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
                .ok_or_else(|| invalid_value(name)),
            _ => Err(invalid_value(name)),
        },
        Operator::Eq if name == MODIFIED_FIELD => {
            // The bare parameter is validated as an integer first, with
            // colander's message.
            let raw = unquote(param.last());
            if param.is_repeated() || parse_integer(raw).is_none() {
                return Err(not_a_number(name, param.last()));
            }
            json_timestamp(&value, options)
                .map(to_number)
                .ok_or_else(|| invalid_value(name))
        }
        _ => json_timestamp(&value, options)
            .map(to_number)
            .ok_or_else(|| invalid_value(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_prefixes() {
        assert_eq!(split_operator("lt_a"), (Operator::Lt, "a"));
        assert_eq!(
            split_operator("contains_any_tags"),
            (Operator::ContainsAny, "tags")
        );
        assert_eq!(
            split_operator("contains_tags"),
            (Operator::Contains, "tags")
        );
        assert_eq!(split_operator("eq_a.b"), (Operator::Eq, "a.b"));
        assert_eq!(split_operator("not_"), (Operator::Eq, "not_"));
        assert_eq!(split_operator("in_a-b"), (Operator::Eq, "in_a-b"));
        assert_eq!(split_operator("int_x"), (Operator::Eq, "int_x"));
        assert_eq!(split_operator("exclude_é"), (Operator::Exclude, "é"));
    }

    #[test]
    fn text_fields_keep_numbers_as_text() {
        let options = ParseOptions::new().text_fields(["record_id"]);
        let query = Query::parse("record_id=2&in_record_id=3,a&n=2", &options).unwrap();
        assert_eq!(query.filters[0].value, json!("2"));
        assert_eq!(query.filters[1].value, json!(["3", "a"]));
        assert_eq!(query.filters[2].value, json!(2));
    }

    #[test]
    fn native_values() {
        assert_eq!(native_value("2"), json!(2));
        assert_eq!(native_value("\"2\""), json!("2"));
        assert_eq!(native_value("Ben"), json!("Ben"));
        assert_eq!(native_value("true"), json!(true));
        assert_eq!(native_value("null"), json!(null));
        assert_eq!(native_value("[1,2]"), json!([1, 2]));
        assert_eq!(native_value("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(native_value("2.0"), json!(2.0));
        assert_eq!(native_value(""), json!(""));
        assert_eq!(native_value("NaN"), json!("NaN"));
    }

    #[test]
    fn decoding() {
        assert_eq!(
            decode_querystring("?a=1&&b&c=x+y%20z&d=%zz&=e").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "x y z".into()),
                ("d".into(), "%zz".into()),
                ("".into(), "e".into()),
            ]
        );
        let error = decode_querystring("a=%ff").unwrap_err();
        assert_eq!(error.errno().as_u16(), 107);
    }

    #[test]
    fn integers_as_colander_reads_them() {
        assert_eq!(parse_integer(" 12 "), Some(12));
        assert_eq!(parse_integer("-3"), Some(-3));
        assert_eq!(parse_integer("+3"), Some(3));
        assert_eq!(parse_integer("1.5"), None);
        assert_eq!(parse_integer(""), None);
        assert_eq!(parse_integer("-"), None);
        assert_eq!(
            parse_integer("99999999999999999999999999999999999999999"),
            Some(i128::MAX)
        );
    }
}
