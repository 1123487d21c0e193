//! The querystring language of the Cliquet / Kinto protocol, as a typed
//! [`Query`], and its reference evaluator.
//!
//! A plural endpoint (`GET /things?...`) is filtered, sorted, limited and
//! paginated by its querystring: `status=2&min_size=10&_sort=-size,title`,
//! `_since=<ETag>`, `_limit=20&_token=...`, `_fields=title,url`. This crate
//! turns that into a [`Query`] (or the protocol's 400 errno 107), and
//! evaluates it in memory with the semantics of Kinto's PostgreSQL backend,
//! so that every storage backend is checked against one oracle. It does no
//! I/O.
//!
//! - [`Query::parse`] / [`Query::from_pairs`]: a querystring to a [`Query`]
//!   of [`Filter`]s (AND-ed), [`SortField`]s, the effective limit, the
//!   [`PaginationToken`] and the `_fields` selection, following
//!   [`ParseOptions`] (`paginate_by`, `storage_max_fetch_size`, a strict
//!   schema's fields); [`parse_fields`] for an object `GET`.
//! - [`Filter::matches`], [`compare_objects`] / [`Query::compare`],
//!   [`Query::pagination_rules`] / [`Query::is_after_token`]: the reference
//!   semantics; [`Query::apply`] runs a whole list in memory;
//!   [`Query::project`] applies `_fields`.
//! - [`jsonb`]: PostgreSQL's `jsonb` order, equality and containment.
//! - [`PaginationToken`]: the `_token` encoding, and [`next_page_url`] for
//!   the `Next-Page` header.
//!
//! # Example
//!
//! ```
//! use cliquet_filter::{ParseOptions, Query, next_page_url};
//! use serde_json::json;
//!
//! let objects = vec![
//!     json!({"id": "a", "last_modified": 3, "title": "Rust", "size": 12}),
//!     json!({"id": "b", "last_modified": 2, "title": "Python", "size": 30}),
//!     json!({"id": "c", "last_modified": 1, "title": "Trusty", "size": 7}),
//!     json!({"id": "d", "last_modified": 4, "title": "Rusted", "size": 40}),
//! ];
//! let options = ParseOptions::new().paginate_by(Some(2));
//! let query = Query::parse("like_title=rust&_sort=-size&_fields=title", &options)?;
//!
//! // One more than the limit tells whether there is a next page.
//! let page = query.apply(&objects, query.limit + 1);
//! assert_eq!(page.len(), 3);
//! let ids: Vec<&str> = page.iter().take(2).map(|o| o["id"].as_str().unwrap()).collect();
//! assert_eq!(ids, ["d", "a"]);
//! assert_eq!(
//!     query.project(page[0]),
//!     json!({"id": "d", "last_modified": 4, "title": "Rusted"})
//! );
//!
//! // The Next-Page URL keeps the querystring and carries a token.
//! let token = query.next_token(page[1], 2);
//! let url = next_page_url("http://localhost/v1/things?like_title=rust&_sort=-size", 2, &token);
//! let next = Query::parse(url.split_once('?').unwrap().1, &options)?;
//! let ids: Vec<&str> = next.apply(&objects, 3).iter().map(|o| o["id"].as_str().unwrap()).collect();
//! assert_eq!(ids, ["c"]);
//!
//! // Invalid input is the protocol's error.
//! let error = Query::parse("like_size=1", &options).unwrap_err();
//! assert_eq!(error.errno().as_u16(), 107);
//! assert_eq!(error.message(), Some("Invalid value for like_size"));
//! # Ok::<(), cliquet_errors::ApiError>(())
//! ```
//!
//! # Semantics decided here
//!
//! Kinto's two backends disagreed in places (its memory backend even
//! answered 500 to a `like_` on a field some objects lack); we follow its
//! PostgreSQL backend, and never fail on data:
//!
//! - Values compare with their JSON types in JSONB order (`null` < string <
//!   number < boolean < array < object, with PostgreSQL's exception of a
//!   top-level `[]` below every scalar); a missing field sorts after every
//!   value. `=`, `in_`, `like_`, `contains_*`, `lt_` and `max_` never match
//!   a missing field; `not_`, `exclude_`, `gt_` and `min_` always do.
//! - `like_` matches string values only, case-insensitively; only `*` is a
//!   wildcard (Kinto's SQL let `%` and `_` act as wildcards too, a bug: our
//!   SQL translations escape them).
//! - `contains_` and `contains_any_` never match a field that is not an
//!   array; `contains_` uses JSONB containment (an object value is
//!   contained in an element having at least its pairs), `contains_any_`
//!   JSONB equality of elements.
//! - Dotted fields are split on every dot, as PostgreSQL's backend did (a
//!   key containing a dot cannot be addressed; Kinto's memory backend tried
//!   the longest existing key).
//! - Filters on `id` take strings (an integer is turned into its string;
//!   other types are a 400), filters on `last_modified` valid timestamps.
//! - `_since=null` and `_before=null` mean "not specified", as documented
//!   (Kinto's backends answered otherwise, and differently).
//! - A parameter given twice is, for a filter, the array of its raw
//!   strings (so `name=a&name=b` matches nothing); for a reserved parameter
//!   its last value counts.
//! - Python read `NaN` and `Infinity` as numbers; JSON has none, so they
//!   stay strings here.
//!
//! # Caveats
//!
//! - Strings compare by code point. PostgreSQL compares `jsonb` strings
//!   with the database collation: create the database with the `C` (or
//!   `C.UTF-8`) collation for the SQL to agree exactly.
//! - Numbers are `serde_json` numbers: integers beyond 64 bits are read as
//!   floats, where PostgreSQL keeps them exact.
//! - The `_fields` error of a strict schema keeps Kinto's location `body`.
//!
//! # Features
//!
//! - `axum`: [`Query`] implements `axum_core::extract::FromRequestParts`;
//!   the [`ParseOptions`] are taken from the request extensions.
//!
//! # Fuzzing
//!
//! `fuzz/` is a [cargo-fuzz](https://github.com/rust-fuzz/cargo-fuzz)
//! project (a workspace of its own, not built by `cargo build
//! --workspace`). Its target `querystring` feeds arbitrary bytes to the
//! parser and the evaluator:
//!
//! ```text
//! cargo install cargo-fuzz
//! cd crates/cliquet-filter/fuzz
//! cargo +nightly fuzz run querystring -- -max_total_time=60
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
// `ApiError` is large, but it is what every handler returns: giving it by
// value lets a bad querystring travel with `?` straight to the response,
// and it is only built for invalid input.
#![allow(clippy::result_large_err)]

mod eval;
#[cfg(feature = "axum")]
mod extract;
mod fields;
pub mod jsonb;
mod model;
mod next_page;
mod parse;
mod token;

pub use eval::like;
pub use model::{
    DELETED_FIELD, FieldPath, Filter, ID_FIELD, MODIFIED_FIELD, Operator, PaginationCondition,
    PaginationRule, Query, SortField, compare_objects,
};
pub use next_page::next_page_url;
pub use parse::{ParseOptions, decode_querystring, native_value, parse_fields};
pub use token::{INVALID_TOKEN, PaginationToken};

/// The default of the `storage_max_fetch_size` setting: no list returns
/// more objects than this in one page.
pub const DEFAULT_MAX_FETCH_SIZE: usize = 10_000;
