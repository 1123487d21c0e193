//! Errors of the PostgreSQL backends, sorted by what the client should see.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// A failure of a PostgreSQL backend operation.
///
/// The variants sort PostgreSQL's answers by their meaning for the client:
/// the database refused a *value* ([`Error::InvalidValue`], a 400 errno 107),
/// a uniqueness constraint fired ([`Error::Conflict`]), or the database could
/// not be used at all ([`Error::Backend`], a 503 errno 201, retried later).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database is unreachable, slow, restarting, out of connections, or
    /// failed in a way the client cannot fix.
    #[error("PostgreSQL backend error: {0}")]
    Backend(String),
    /// The database refused a value of the request (a `\u0000` inside a JSON
    /// string, a number out of range, a query over its size limits).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A uniqueness constraint was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The schema is missing, or at a version this crate cannot migrate.
    #[error("schema error: {0}")]
    Schema(String),
    /// The transaction lost to a concurrent one: a deadlock was broken by
    /// aborting it (SQLSTATE 40P01) or it could not be serialized (40001).
    /// Its unit of work is to be rolled back and run again.
    #[error("transaction conflict: {0}")]
    TransactionConflict(String),
    /// The backend is read-only and a write was attempted.
    #[error("read-only backend")]
    Readonly,
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        classify(&error)
    }
}

impl From<PoolError> for Error {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Backend(e) => Error::Backend(format!("cannot connect: {e}")),
            other => Error::Backend(format!("connection pool: {other}")),
        }
    }
}

/// Sorts a driver error by its SQLSTATE class.
fn classify(error: &tokio_postgres::Error) -> Error {
    let Some(db) = error.as_db_error() else {
        // I/O, closed connection, protocol: the database is not usable now.
        return Error::Backend(error.to_string());
    };
    let code = db.code();
    let class = &code.code()[..2];
    let message = db.message().to_owned();
    if is_transaction_conflict(code) {
        Error::TransactionConflict(format!("{}: {message}", code.code()))
    } else if *code == SqlState::UNIQUE_VIOLATION {
        Error::Conflict(message)
    } else if class == "22" || class == "54" || *code == SqlState::TOO_MANY_ARGUMENTS {
        // 22: data exception (bad value, untranslatable character, ...);
        // 54: program limit exceeded (too many sort keys, row too large).
        Error::InvalidValue(message)
    } else {
        Error::Backend(format!("{}: {message}", code.code()))
    }
}

/// Whether a SQLSTATE says the transaction lost to a concurrent one and
/// may succeed if run again: `40P01` (deadlock detected) and `40001`
/// (serialization failure).
fn is_transaction_conflict(code: &SqlState) -> bool {
    *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_and_serialization_failures_are_transaction_conflicts() {
        assert!(is_transaction_conflict(&SqlState::from_code("40P01")));
        assert!(is_transaction_conflict(&SqlState::from_code("40001")));
        assert!(!is_transaction_conflict(&SqlState::UNIQUE_VIOLATION));
        assert!(!is_transaction_conflict(&SqlState::from_code("40003")));
        assert!(!is_transaction_conflict(&SqlState::ADMIN_SHUTDOWN));
    }

    #[test]
    fn pool_errors_are_backend_errors() {
        let e = Error::from(PoolError::Timeout(deadpool_postgres::TimeoutType::Wait));
        assert!(matches!(e, Error::Backend(_)), "{e:?}");
        let e = Error::from(PoolError::Closed);
        assert!(matches!(e, Error::Backend(_)), "{e:?}");
    }
}
