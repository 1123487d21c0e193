//! The batch endpoint of the Cliquet / Kinto protocol, as a tower layer.
//!
//! TODO: crate documentation.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;
mod layer;
mod payload;
mod response;
mod scope;

pub use body::ResponseBody;
pub use layer::{Batch, BatchLayer, DEFAULT_MAX_REQUESTS, DEFAULT_PREFIX, ResponseFuture};
pub use scope::{AbortBatch, BatchCache, NoScope, ScopeHook, Subrequest};
