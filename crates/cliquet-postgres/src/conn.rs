//! Where statements run: on a pooled connection (each write its own
//! transaction), or inside an open transaction.
//!
//! A write first takes the *collection lock*: a transaction-scoped advisory
//! lock on `(parent_id, resource_name)`. Writers of one collection therefore
//! follow each other, each taking its timestamp (in Kinto's trigger) only
//! once the previous writer has committed. That is what makes commit order
//! equal timestamp order: a reader polling `_since` can never see an object
//! before another one with a smaller timestamp is visible, and concurrent
//! creates never collide on the unique `(parent_id, resource_name,
//! last_modified)` index. The lock is held until the transaction ends.
//!
//! Out of a transaction, `BEGIN`, the lock, the statement and `COMMIT` are
//! pipelined: one round trip. Inside one, each write and each list runs
//! under a savepoint, so a statement the database refuses (a bad value)
//! fails alone and does not poison the rest of the transaction. Lookups
//! (reads by key with text parameters, which no value can make fail) run
//! without one: two statements fewer each. Should one fail all the same
//! (the connection lost, a cancelled query), the transaction is marked
//! aborted: every later statement fails and `COMMIT` rolls back and
//! reports an error, so no write is ever acknowledged and then lost.
//! Concurrent lookups of one transaction are pipelined: one round trip.
//!
//! Prepared statements always run their generic plan (the pool sets
//! `plan_cache_mode = force_generic_plan`): their plans do not depend on
//! the values, and PostgreSQL would otherwise plan again, on every run,
//! each statement whose generic plan it estimates dearer than a custom one
//! (the ACL checks over `unnest` arrays, the writes with their timestamp
//! subqueries): a third of a millisecond each, more than running them.
//! Statements whose best plan does depend on the values (lists reading
//! data fields, parents given as `LIKE` patterns, the lock of every
//! collection matching a pattern) are sent unprepared instead, planned for
//! their values each time ([`Conn::read_planned`], [`Conn::write_planned`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Object;
use futures_util::future::join4;
use tokio::sync::RwLock;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use crate::{Error, Pool};

pub(crate) const LOCK_ONE: &str =
    "SELECT pg_advisory_xact_lock(1129072977, hashtext($1::text || chr(31) || $2::text))";
const LOCK_MATCHING: &str = "SELECT pg_advisory_xact_lock(1129072977, hashtext(c.parent_id || chr(31) || c.resource_name)) \
     FROM (SELECT DISTINCT parent_id, resource_name FROM objects \
           WHERE parent_id LIKE $1::text AND resource_name = $2::text ORDER BY parent_id) AS c";

/// The collections a write locks.
pub(crate) enum Lock<'a> {
    /// One collection.
    One {
        parent_id: &'a str,
        resource_name: &'a str,
    },
    /// Every existing collection whose parent matches a `LIKE` pattern.
    Matching {
        parent_pattern: String,
        resource_name: &'a str,
    },
}

impl Lock<'_> {
    /// Takes the lock: one collection's with its prepared statement; the
    /// collections matching a pattern with a statement planned for the
    /// pattern (a generic plan could not use the index on its prefix).
    async fn take(&self, client: &Object) -> Result<(), tokio_postgres::Error> {
        match self {
            Lock::One {
                parent_id,
                resource_name,
            } => {
                let statement = client.prepare_cached(LOCK_ONE).await?;
                client
                    .query(&statement, &[parent_id, resource_name])
                    .await
                    .map(drop)
            }
            Lock::Matching {
                parent_pattern,
                resource_name,
            } => client
                .query_typed(
                    LOCK_MATCHING,
                    &[(parent_pattern, Type::TEXT), (resource_name, Type::TEXT)],
                )
                .await
                .map(drop),
        }
    }
}

/// How a statement is sent.
#[derive(Clone, Copy)]
pub(crate) enum Send<'a> {
    /// Prepared once per connection, run with its generic plan.
    Prepared(Params<'a>),
    /// Unprepared, planned for these values.
    Planned(Typed<'a>),
}

impl Send<'_> {
    async fn query(&self, client: &Object, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self {
            Send::Prepared(params) => {
                let statement = client.prepare_cached(sql).await?;
                client.query(&statement, params).await
            }
            Send::Planned(typed) => client.query_typed(sql, typed).await,
        }
    }
}

/// A connection in an open transaction, shared by the storage and
/// permission views of one [`crate::storage::PostgresTransaction`].
pub(crate) struct TxConn {
    /// Lookups share it, so that concurrent ones are pipelined in one
    /// round trip; a statement under savepoint, and the end, have it alone.
    client: RwLock<Option<Object>>,
    /// A statement without savepoint failed: the transaction can only be
    /// rolled back.
    aborted: AtomicBool,
    /// Set when a statement failed with [`Error::TransactionConflict`].
    conflicted: AtomicBool,
}

impl TxConn {
    pub(crate) async fn begin(pool: &Pool) -> Result<Arc<Self>, Error> {
        let client = pool.get().await?;
        client.batch_execute("BEGIN").await?;
        Ok(Arc::new(Self {
            client: RwLock::new(Some(client)),
            aborted: AtomicBool::new(false),
            conflicted: AtomicBool::new(false),
        }))
    }

    /// Whether a statement lost to a concurrent transaction (deadlock,
    /// serialization failure): the transaction must be run again.
    pub(crate) fn conflicted(&self) -> bool {
        self.conflicted.load(Ordering::Relaxed)
    }

    /// Records a transaction conflict among the outcomes of its statements.
    fn note<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::TransactionConflict(_)) = &result {
            self.conflicted.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`. An aborted
    /// transaction is rolled back and its `COMMIT` is an error.
    pub(crate) async fn finish(&self, commit: bool) -> Result<(), Error> {
        let mut guard = self.client.write().await;
        let client = guard
            .take()
            .ok_or_else(|| Error::Backend("the transaction is already finished".into()))?;
        let aborted = self.aborted.load(Ordering::Acquire);
        let result = client
            .batch_execute(if commit && !aborted {
                "COMMIT"
            } else {
                "ROLLBACK"
            })
            .await;
        if result.is_err() {
            // The connection state is unknown: do not return it to the pool.
            drop(Object::take(client));
        }
        result.map_err(Error::from)?;
        if commit && aborted {
            return Err(aborted_error());
        }
        Ok(())
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        let Some(client) = self.client.get_mut().take() else {
            return;
        };
        // Dropped without commit: roll back, then the connection goes back
        // to the pool. Without a runtime, close it (the server rolls back).
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

/// Where a backend runs its statements.
#[derive(Clone)]
pub(crate) enum Conn {
    Pool(Pool),
    Tx(Arc<TxConn>),
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];
type Typed<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

impl Conn {
    /// Runs a read.
    pub(crate) async fn read(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        match self {
            Conn::Pool(pool) => {
                let client = pool.get().await?;
                let statement = client.prepare_cached(sql).await?;
                Ok(client.query(&statement, params).await?)
            }
            Conn::Tx(tx) => tx.note(run_in_tx(tx, None, sql, Send::Prepared(params)).await),
        }
    }

    /// Runs a read planned for its parameter values.
    ///
    /// Out of a transaction it is sent unprepared (the unnamed statement,
    /// one round trip), so PostgreSQL plans it for these values each time.
    /// A prepared statement falls back to a generic plan after five runs,
    /// and a generic plan knows neither the collection nor how many
    /// objects a filter keeps: for a filtered, sorted list it picked a plan
    /// ten times slower than the custom one. Lists and counts that read data
    /// fields run this way; the others (by collection, timestamps, ids),
    /// whose generic plan is as good, stay prepared and skip the planning.
    /// Inside a transaction it runs under a savepoint, as [`Conn::read`].
    pub(crate) async fn read_planned(
        &self,
        sql: &str,
        typed: Typed<'_>,
    ) -> Result<Vec<Row>, Error> {
        match self {
            Conn::Pool(pool) => {
                let client = pool.get().await?;
                Ok(client.query_typed(sql, typed).await?)
            }
            Conn::Tx(tx) => tx.note(run_in_tx(tx, None, sql, Send::Planned(typed)).await),
        }
    }

    /// Runs a lookup: a read that no parameter value can make fail (by key,
    /// text parameters, no cast). Inside a transaction it runs without a
    /// savepoint; should it fail all the same, the transaction is aborted.
    pub(crate) async fn lookup(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        match self {
            Conn::Pool(_) => self.read(sql, params).await,
            Conn::Tx(tx) => {
                let guard = tx.client.read().await;
                let client = tx.usable(&guard)?;
                let result = async {
                    let statement = client.prepare_cached(sql).await?;
                    client.query(&statement, params).await
                }
                .await;
                tx.note(result.map_err(|error| {
                    tx.aborted.store(true, Ordering::Release);
                    error.into()
                }))
            }
        }
    }

    /// Runs a write, after taking `lock` when given, atomically.
    pub(crate) async fn write(
        &self,
        lock: Option<Lock<'_>>,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        self.write_with(lock, sql, Send::Prepared(params)).await
    }

    /// [`Conn::write`] for a statement planned for its values (see
    /// [`Conn::read_planned`]).
    pub(crate) async fn write_planned(
        &self,
        lock: Option<Lock<'_>>,
        sql: &str,
        typed: Typed<'_>,
    ) -> Result<Vec<Row>, Error> {
        self.write_with(lock, sql, Send::Planned(typed)).await
    }

    async fn write_with(
        &self,
        lock: Option<Lock<'_>>,
        sql: &str,
        send: Send<'_>,
    ) -> Result<Vec<Row>, Error> {
        match self {
            Conn::Pool(pool) => {
                let client = pool.get().await?;
                let Some(lock) = lock else {
                    return Ok(send.query(&client, sql).await?);
                };
                prepare_ahead(&client, Some(&lock), sql, send).await?;
                // One round trip: the four messages are sent before any
                // answer is awaited. If the statement fails, `COMMIT` ends
                // the aborted transaction as a rollback.
                let (begin, locked, rows, commit) = join4(
                    client.batch_execute("BEGIN"),
                    lock.take(&client),
                    send.query(&client, sql),
                    client.batch_execute("COMMIT"),
                )
                .await;
                begin?;
                locked?;
                let rows = rows?;
                commit?;
                Ok(rows)
            }
            Conn::Tx(tx) => tx.note(run_in_tx(tx, lock, sql, send).await),
        }
    }
}

impl TxConn {
    /// The connection, while the transaction is neither finished nor
    /// aborted.
    fn usable<'a>(&self, guard: &'a Option<Object>) -> Result<&'a Object, Error> {
        if self.aborted.load(Ordering::Acquire) {
            return Err(aborted_error());
        }
        guard
            .as_ref()
            .ok_or_else(|| Error::Backend("the transaction is finished".into()))
    }
}

fn aborted_error() -> Error {
    Error::Backend("the transaction was aborted by a failed statement".into())
}

/// Prepares the statements a pipeline runs (its lock's, its own) before
/// it is sent, so that it sends nothing but the runs, in order: a
/// preparation left to the pipeline would wait for its answer while the
/// later messages went out.
async fn prepare_ahead(
    client: &Object,
    lock: Option<&Lock<'_>>,
    sql: &str,
    send: Send<'_>,
) -> Result<(), tokio_postgres::Error> {
    if let Some(Lock::One { .. }) = lock {
        client.prepare_cached(LOCK_ONE).await?;
    }
    if let Send::Prepared(_) = send {
        client.prepare_cached(sql).await?;
    }
    Ok(())
}

/// Runs one statement (after its lock) under a savepoint of the open
/// transaction.
async fn run_in_tx(
    tx: &TxConn,
    lock: Option<Lock<'_>>,
    sql: &str,
    send: Send<'_>,
) -> Result<Vec<Row>, Error> {
    let guard = tx.client.write().await;
    let client = tx.usable(&guard)?;
    prepare_ahead(client, lock.as_ref(), sql, send).await?;
    let locked = async {
        match &lock {
            Some(lock) => lock.take(client).await,
            None => Ok(()),
        }
    };
    let (savepoint, locked, rows, release) = join4(
        client.batch_execute("SAVEPOINT cliquet_statement"),
        locked,
        send.query(client, sql),
        client.batch_execute("RELEASE SAVEPOINT cliquet_statement"),
    )
    .await;
    savepoint?;
    let outcome = locked.and(rows).and_then(|rows| release.map(|()| rows));
    match outcome {
        Ok(rows) => Ok(rows),
        Err(error) => {
            // Undo the failed statement only; the transaction goes on.
            client
                .batch_execute(
                    "ROLLBACK TO SAVEPOINT cliquet_statement; RELEASE SAVEPOINT cliquet_statement",
                )
                .await?;
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Advisory lock class of collection locks: "CLIQ" in ASCII.
    const LOCK_CLASS: i32 = 0x434C_4951;

    #[test]
    fn lock_class_is_the_one_in_the_sql() {
        assert_eq!(LOCK_CLASS, 1_129_072_977);
        assert!(LOCK_ONE.contains(&LOCK_CLASS.to_string()));
        assert!(LOCK_MATCHING.contains(&LOCK_CLASS.to_string()));
    }

    /// A lookup has no savepoint: when one fails all the same, nothing else
    /// runs in the transaction and its `COMMIT` is an error, never a
    /// silent rollback of writes already acknowledged.
    #[tokio::test]
    async fn a_failed_lookup_aborts_the_transaction() {
        let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
            return;
        };
        let scratch = crate::ScratchSchema::create(&url, "lookup").await.unwrap();
        let pool = Pool::new(&scratch.settings()).unwrap();
        let tx = TxConn::begin(&pool).await.unwrap();
        let conn = Conn::Tx(tx.clone());
        conn.write(None, "CREATE TABLE written (v int)", &[])
            .await
            .unwrap();
        let rows = conn.lookup("SELECT 1 AS one", &[]).await.unwrap();
        assert_eq!(rows[0].get::<_, i32>(0), 1);
        assert!(conn.lookup("SELECT 1 / 0", &[]).await.is_err());
        assert!(conn.read("SELECT 1", &[]).await.is_err());
        assert!(conn.lookup("SELECT 1", &[]).await.is_err());
        assert!(tx.finish(true).await.is_err());
        let rows = Conn::Pool(pool.clone())
            .read("SELECT to_regclass('written') IS NULL", &[])
            .await
            .unwrap();
        assert!(rows[0].get::<_, bool>(0), "the transaction was rolled back");
        drop(pool);
        scratch.drop_schema().await.unwrap();
    }
}
