//! PostgreSQL backends for Cliquet, schema-compatible with Kinto 26.5.
//!
//! WIP
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod error;
pub mod migrate;
mod pool;
pub mod scratch;
pub mod settings;

pub use cache::PostgresCache;
pub use error::Error;
pub use migrate::{Component, Report, Step, migrate};
pub use pool::Pool;
pub use scratch::ScratchSchema;
pub use settings::{PoolSettings, PostgresSettings};
