//! The querystring language of the Cliquet / Kinto protocol, as a typed
//! [`Query`], and its reference evaluator.
//!
//! A plural endpoint (`GET /things?...`) is filtered, sorted, limited and
//! paginated by its querystring: `status=2&min_size=10&_sort=-size,title`,
//! `_since=<ETag>`, `_limit=20&_token=...`, `_fields=title,url`. This crate
//! turns that into a [`Query`] (or a protocol error, 400 errno 107), and
//! evaluates it in memory with the semantics of Kinto's PostgreSQL backend,
//! so that every storage backend can be checked against one oracle.
//! It does no I/O.
//!
//! - [`Query`]: [`Filter`]s (AND-ed), [`SortField`]s, the effective limit,
//!   the [`PaginationToken`] and the `_fields` selection.
//! - [`Filter::matches`], [`compare_objects`] / [`Query::compare`],
//!   [`Query::pagination_rules`] / [`Query::is_after_token`]: the reference
//!   semantics every backend must agree with; [`Query::apply`] runs a whole
//!   list in memory.
//! - [`jsonb`]: PostgreSQL's `jsonb` order, equality and containment.
//! - [`PaginationToken`]: the `_token` encoding.
//!
//! # Semantics decided here
//!
//! Kinto's two backends disagreed in places; we follow its PostgreSQL
//! backend, and never fail on data:
//!
//! - Values compare with their JSON types in JSONB order (`null` < string <
//!   number < boolean < array < object); a missing field sorts after every
//!   value. `=`, `in_`, `like_`, `contains_*`, `lt_` and `max_` never match
//!   a missing field; `not_`, `exclude_`, `gt_` and `min_` always do.
//! - `like_` matches string values only, case-insensitively; only `*` is a
//!   wildcard (`%` and `_` are ordinary characters).
//! - `contains_` and `contains_any_` never match a field that is not an
//!   array; `contains_` uses JSONB containment (an object value is
//!   contained in an element having at least its pairs).
//! - Dotted fields are split on every dot (a key containing a dot cannot be
//!   addressed), as in PostgreSQL.
//! - Strings compare by code point: create PostgreSQL databases with the
//!   `C` (or `C.UTF-8`) collation for the SQL to agree.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

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
