//! Backend errors, and how they reach clients.
//!
//! Every backend operation returns [`StorageError`] on failure. Its variants
//! are the outcomes a caller acts on (an object is missing, an id is taken,
//! a conditional write lost, the backend is down or read-only); each maps to
//! one protocol error through `From<StorageError> for ApiError`:
//!
//! | variant | HTTP |
//! | --- | --- |
//! | [`StorageError::NotFound`] | 404 errno 110 with `{id, resource_name}` details |
//! | [`StorageError::Conflict`] | 409 errno 122 |
//! | [`StorageError::Modified`] | 412 errno 114 with `{"existing": ...}` when the object exists |
//! | [`StorageError::InvalidInput`] | 400 errno 107 |
//! | [`StorageError::Readonly`] | 503 errno 201 |
//! | [`StorageError::Backend`] | 503 errno 201 |
//! | [`StorageError::TransactionConflict`] | 503 errno 201 |
//!
//! [`StorageError::TransactionConflict`] is the one a caller should act on
//! before a client sees it: the transaction lost to a concurrent one (a
//! deadlock, a serialization failure) and nothing of it will commit, but the
//! same work run again from its start, in a new transaction, most likely
//! succeeds. The layer that owns the transaction rolls it back and re-runs
//! it ([`StorageError::is_transaction_conflict`]); the 503 is only for when
//! it keeps losing.
//!
//! ```
//! use cliquet_errors::ApiError;
//! use cliquet_storage::StorageError;
//!
//! let error = StorageError::not_found("record", "abc");
//! let api: ApiError = error.into();
//! assert_eq!(api.code(), 404);
//! assert_eq!(api.errno().as_u16(), 110);
//! ```

use std::error::Error as StdError;
use std::fmt;

use cliquet_errors::ApiError;

use crate::model::Object;

/// A boxed error source, as carried by [`StorageError::Backend`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The result of a backend operation.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Why a backend operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist (tombstones do not count as existing).
    #[error("{resource_name} {id:?} not found")]
    NotFound {
        /// The resource name of the missing object.
        resource_name: String,
        /// Its id.
        id: String,
    },
    /// A unicity constraint was violated: `create` with the id of a live
    /// object (Kinto's `UnicityError`), or another constraint of the
    /// database (Kinto's `IntegrityError`, retryable).
    #[error("{field} is not unique")]
    Conflict {
        /// The field that must be unique (`id` for objects).
        field: String,
        /// The object already holding that value, when known: a `POST`
        /// with an existing id answers it.
        existing: Option<Box<Object>>,
    },
    /// A conditional write (`if_match`) found the object with another
    /// timestamp, or found no object: nothing was written.
    #[error("object was modified meanwhile")]
    Modified {
        /// The current object, or `None` when it does not exist.
        current: Option<Box<Object>>,
    },
    /// A value the backend cannot store or compare (a NUL character in a
    /// string for PostgreSQL, a query over too many fields).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong, for the client.
        message: String,
    },
    /// A write was attempted on a read-only backend, or the timestamp of a
    /// never-seen collection was asked of one (it would have to be stored).
    #[error("the backend is read-only")]
    Readonly,
    /// The transaction lost to a concurrent one: the database broke a
    /// deadlock by aborting it (PostgreSQL's SQLSTATE 40P01), or could not
    /// serialize it (40001). Nothing of the transaction may commit; running
    /// the whole unit of work again, in a new transaction, may succeed.
    #[error("transaction conflict: {message}")]
    TransactionConflict {
        /// What the database said, for logs.
        message: String,
    },
    /// Any other failure: connection lost, pool exhausted, timeout, bug.
    #[error("backend failure: {message}")]
    Backend {
        /// What went wrong, for logs.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StorageError {
    /// [`StorageError::NotFound`].
    pub fn not_found(resource_name: impl Into<String>, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource_name: resource_name.into(),
            id: id.into(),
        }
    }

    /// [`StorageError::Conflict`] on the `id` field, with the existing object.
    pub fn id_conflict(existing: Option<Object>) -> Self {
        Self::Conflict {
            field: crate::model::ID_FIELD.to_owned(),
            existing: existing.map(Box::new),
        }
    }

    /// [`StorageError::Modified`] with the current object, if any.
    pub fn modified(current: Option<Object>) -> Self {
        Self::Modified {
            current: current.map(Box::new),
        }
    }

    /// [`StorageError::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            message: message.into(),
        }
    }

    /// [`StorageError::Backend`] with a message only.
    pub fn backend(message: impl fmt::Display) -> Self {
        Self::Backend {
            message: message.to_string(),
            source: None,
        }
    }

    /// [`StorageError::Backend`] wrapping an underlying error.
    pub fn backend_source(message: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// [`StorageError::TransactionConflict`].
    pub fn transaction_conflict(message: impl fmt::Display) -> Self {
        Self::TransactionConflict {
            message: message.to_string(),
        }
    }

    /// Whether the transaction lost to a concurrent one and its unit of
    /// work should be rolled back and run again from the start
    /// ([`StorageError::TransactionConflict`]).
    pub fn is_transaction_conflict(&self) -> bool {
        matches!(self, Self::TransactionConflict { .. })
    }

    /// Whether retrying the same operation later may succeed (the backend
    /// was unavailable, or a concurrent write violated a constraint other
    /// than the id's). Clients are told with `Retry-After`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Backend { .. } | Self::TransactionConflict { .. } => true,
            Self::Conflict { field, .. } => field != crate::model::ID_FIELD,
            _ => false,
        }
    }

    /// Whether this is a failure to report (a Sentry event) rather than an
    /// expected outcome that only counts in metrics.
    pub fn is_reportable(&self) -> bool {
        matches!(self, Self::Backend { .. })
    }
}

/// The message of a 503 answered to a write on a read-only backend.
pub const READONLY_MESSAGE: &str = "Service is read-only";

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound { resource_name, id } => {
                ApiError::object_not_found(id, resource_name)
            }
            StorageError::Conflict { .. } => ApiError::conflict(),
            StorageError::Modified { current } => {
                ApiError::precondition_failed(current.map(|object| object.to_json()))
            }
            StorageError::InvalidInput { message } => ApiError::bad_request(message),
            StorageError::Readonly => {
                ApiError::backend_unavailable().with_message(READONLY_MESSAGE)
            }
            StorageError::Backend { .. } | StorageError::TransactionConflict { .. } => {
                ApiError::backend_unavailable()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    #[test]
    fn maps_to_protocol_errors() {
        let cases: Vec<(StorageError, u16, u16)> = vec![
            (StorageError::not_found("record", "a"), 404, 110),
            (StorageError::id_conflict(None), 409, 122),
            (StorageError::modified(None), 412, 114),
            (StorageError::invalid_input("NUL"), 400, 107),
            (StorageError::Readonly, 503, 201),
            (StorageError::backend("down"), 503, 201),
            (StorageError::transaction_conflict("40P01"), 503, 201),
        ];
        for (error, code, errno) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.code().as_u16(), code);
            assert_eq!(api.errno().as_u16(), errno);
        }
    }

    #[test]
    fn not_found_has_details() {
        let api = ApiError::from(StorageError::not_found("record", "abc"));
        assert_eq!(
            api.details(),
            Some(&json!({"id": "abc", "resource_name": "record"}))
        );
    }

    #[test]
    fn modified_carries_existing() {
        let object = Object::new("a", 3, Map::new());
        let api = ApiError::from(StorageError::modified(Some(object)));
        assert_eq!(
            api.details(),
            Some(&json!({"existing": {"id": "a", "last_modified": 3}}))
        );
    }

    #[test]
    fn retryable_and_reportable() {
        assert!(StorageError::backend("x").is_retryable());
        assert!(StorageError::backend("x").is_reportable());
        assert!(!StorageError::id_conflict(None).is_retryable());
        let other = StorageError::Conflict {
            field: "last_modified".into(),
            existing: None,
        };
        assert!(other.is_retryable());
        assert!(!StorageError::not_found("a", "b").is_reportable());
        let lost = StorageError::transaction_conflict("deadlock detected");
        assert!(lost.is_retryable());
        assert!(lost.is_transaction_conflict());
        assert!(!lost.is_reportable());
        assert!(!StorageError::backend("x").is_transaction_conflict());
    }
}
