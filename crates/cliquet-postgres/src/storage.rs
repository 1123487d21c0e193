//! The PostgreSQL storage backend, on Kinto's `objects` and `timestamps`
//! tables.
//!
//! Objects are rows `(id, parent_id, resource_name, last_modified, data,
//! deleted)`; `data` holds the fields without `id` and `last_modified`; a
//! tombstone has `deleted = TRUE` and `data = {"deleted": true}`, exactly as
//! Kinto writes them. Timestamps are made by Kinto's trigger
//! (`bump_timestamp`), so both servers may write the same database.
//!
//! What differs from Kinto is how the statements are run (see the `conn`
//! module): every write takes its collection's lock first, in the
//! transaction that writes, so concurrent creates never collide (Kinto
//! answers some with 409), commit order is timestamp order (a `_since`
//! poller misses nothing), and a conditional write checks and writes in one
//! statement under that lock (no lost update).
//!
//! A requested timestamp (`last_modified` given by a replicating client) is
//! kept only when greater than the collection timestamp, as
//! `cliquet_storage::timestamp` specifies; Kinto kept past values too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use cliquet_storage::storage::{
    AllResourcesTimestamps, Count, Create, Delete, DeleteAll, Deleted, Get, List, PurgeDeleted,
    ResourceTimestamp, TrimObjects, Update, Updated,
};
use cliquet_storage::{Object, Permission, Result, Storage, StorageError, Timestamp, Transaction};
use serde_json::{Map, Value};
use tokio_postgres::Row;

use crate::conn::{Conn, Lock, TxConn};
use crate::list_cache::{self, ListCache, ListCacheStats, Oldest};
use crate::permission::PostgresPermission;
use crate::sort_index::SortIndexes;
use crate::sql::{
    Sql, leading_data_field, parent_pattern, push_conditions, push_order, push_order_indexed,
    push_parent,
};
use crate::{Error, Pool};

/// The collection timestamp, as epoch ms, of collection (`$2`, `$3`).
const CURRENT: &str = "SELECT GREATEST(\
    (SELECT as_epoch(c.last_modified) FROM objects c \
      WHERE c.parent_id = $2::text AND c.resource_name = $3::text ORDER BY c.last_modified DESC LIMIT 1), \
    (SELECT as_epoch(t.last_modified) FROM timestamps t \
      WHERE t.parent_id = $2::text AND t.resource_name = $3::text)) AS ts";

/// The `last_modified` to write for requested timestamp `$n`: kept when
/// greater than the collection timestamp (`cur.ts`), else NULL (the trigger
/// then stamps the row).
fn requested(n: usize) -> String {
    format!(
        "CASE WHEN ${n}::bigint IS NOT NULL AND (cur.ts IS NULL OR ${n}::bigint > cur.ts) \
         THEN from_epoch(${n}::bigint) END"
    )
}

static CREATE_SQL: LazyLock<String> = LazyLock::new(build_create_sql);

fn build_create_sql() -> String {
    format!(
        "WITH cur AS ({CURRENT}) \
         INSERT INTO objects AS o (id, parent_id, resource_name, data, last_modified, deleted) \
         SELECT $1::text, $2::text, $3::text, $4::jsonb, {req}, FALSE FROM cur \
         ON CONFLICT (id, parent_id, resource_name) DO UPDATE \
           SET data = EXCLUDED.data, last_modified = EXCLUDED.last_modified, deleted = FALSE \
           WHERE o.deleted \
         RETURNING as_epoch(o.last_modified)",
        req = requested(5)
    )
}

static UPDATE_SQL: LazyLock<String> = LazyLock::new(build_update_sql);

fn build_update_sql() -> String {
    format!(
        "WITH prev AS (SELECT as_epoch(p.last_modified) AS ts, p.data, p.deleted FROM objects p \
                        WHERE p.id = $1::text AND p.parent_id = $2::text AND p.resource_name = $3::text), \
              cur AS ({CURRENT}), \
              written AS ( \
                INSERT INTO objects AS o (id, parent_id, resource_name, data, last_modified, deleted) \
                SELECT $1::text, $2::text, $3::text, $4::jsonb, {req}, FALSE FROM cur \
                 WHERE $6::bigint IS NULL \
                    OR EXISTS (SELECT 1 FROM prev WHERE NOT prev.deleted AND prev.ts = $6::bigint) \
                ON CONFLICT (id, parent_id, resource_name) DO UPDATE \
                  SET data = EXCLUDED.data, last_modified = EXCLUDED.last_modified, deleted = FALSE \
                RETURNING as_epoch(o.last_modified) AS ts) \
         SELECT (SELECT ts FROM written), prev.ts, prev.data, prev.deleted \
           FROM (VALUES (1)) AS one(x) LEFT JOIN prev ON TRUE",
        req = requested(5)
    )
}

static DELETE_SQL: LazyLock<String> = LazyLock::new(build_delete_sql);

fn build_delete_sql() -> String {
    format!(
        "WITH prev AS (SELECT as_epoch(p.last_modified) AS ts, p.data FROM objects p \
                        WHERE p.id = $1::text AND p.parent_id = $2::text AND p.resource_name = $3::text \
                          AND NOT p.deleted), \
              cur AS ({CURRENT}), \
              gone AS ( \
                UPDATE objects AS o SET deleted = TRUE, data = '{{\"deleted\": true}}'::jsonb, \
                       last_modified = (SELECT {req} FROM cur) \
                 WHERE o.id = $1::text AND o.parent_id = $2::text AND o.resource_name = $3::text \
                   AND NOT o.deleted \
                   AND ($5::bigint IS NULL OR as_epoch(o.last_modified) = $5::bigint) \
                RETURNING as_epoch(o.last_modified) AS ts) \
         SELECT (SELECT ts FROM gone), prev.ts, prev.data \
           FROM (VALUES (1)) AS one(x) LEFT JOIN prev ON TRUE",
        req = requested(4)
    )
}

static HARD_DELETE_SQL: LazyLock<String> = LazyLock::new(build_hard_delete_sql);

fn build_hard_delete_sql() -> String {
    format!(
        "WITH prev AS (SELECT as_epoch(p.last_modified) AS ts, p.data FROM objects p \
                        WHERE p.id = $1::text AND p.parent_id = $2::text AND p.resource_name = $3::text \
                          AND NOT p.deleted), \
              cur AS ({CURRENT}), \
              gone AS ( \
                DELETE FROM objects AS o \
                 WHERE o.id = $1::text AND o.parent_id = $2::text AND o.resource_name = $3::text \
                   AND NOT o.deleted \
                   AND ($5::bigint IS NULL OR as_epoch(o.last_modified) = $5::bigint) \
                RETURNING 1) \
         SELECT CASE WHEN EXISTS (SELECT 1 FROM gone) THEN \
                  (SELECT COALESCE(as_epoch({req}), \
                                   GREATEST(as_epoch(clock_timestamp()::timestamp), cur.ts + 1)) FROM cur) \
                END, prev.ts, prev.data \
           FROM (VALUES (1)) AS one(x) LEFT JOIN prev ON TRUE",
        req = requested(4)
    )
}

const GET: &str = "SELECT as_epoch(last_modified), data FROM objects \
                   WHERE id = $1::text AND parent_id = $2::text AND resource_name = $3::text AND NOT deleted";

static READ_TIMESTAMP_SQL: LazyLock<String> = LazyLock::new(build_read_timestamp_sql);

fn build_read_timestamp_sql() -> String {
    // `CURRENT` numbers its parameters $2 and $3; $1 is unused but typed.
    format!("SELECT ts FROM ({CURRENT}) AS cur WHERE $1::text IS NOT NULL")
}

static CHANGES_SQL: LazyLock<String> = LazyLock::new(build_changes_sql);

/// The collection timestamp, its oldest object's timestamp, and the
/// objects written after `$1` (current rows, tombstones included, oldest
/// first, at most one more than a kept page is brought up to date with),
/// from one snapshot.
fn build_changes_sql() -> String {
    format!(
        "SELECT cur.ts, \
                (SELECT as_epoch(f.last_modified) FROM objects f \
                  WHERE f.parent_id = $2::text AND f.resource_name = $3::text \
                  ORDER BY f.last_modified LIMIT 1), \
                d.id, as_epoch(d.last_modified), d.data, d.deleted \
           FROM ({CURRENT}) AS cur \
           LEFT JOIN LATERAL (SELECT o.id, o.last_modified, o.data, o.deleted FROM objects o \
                               WHERE o.parent_id = $2::text AND o.resource_name = $3::text \
                                 AND o.last_modified > from_epoch($1::bigint) \
                               ORDER BY o.last_modified LIMIT {}) AS d ON TRUE",
        crate::list_cache::MAX_CHANGES + 1
    )
}

static INIT_TIMESTAMP_SQL: LazyLock<String> = LazyLock::new(build_init_timestamp_sql);

fn build_init_timestamp_sql() -> String {
    format!(
        "WITH cur AS ({CURRENT}), \
              stored AS ( \
                INSERT INTO timestamps (parent_id, resource_name, last_modified) \
                SELECT $2::text, $3::text, from_epoch(as_epoch(clock_timestamp()::timestamp)) \
                  FROM cur WHERE cur.ts IS NULL AND $1::text IS NOT NULL \
                ON CONFLICT (parent_id, resource_name) DO NOTHING \
                RETURNING as_epoch(last_modified) AS ts) \
         SELECT COALESCE((SELECT ts FROM cur), (SELECT ts FROM stored))"
    )
}

const ALL_TIMESTAMPS: &str = "SELECT parent_id, MAX(ts) FROM ( \
       SELECT parent_id, as_epoch(MAX(last_modified)) AS ts FROM objects \
        WHERE resource_name = $1::text GROUP BY parent_id \
       UNION ALL \
       SELECT parent_id, as_epoch(last_modified) FROM timestamps WHERE resource_name = $1::text) AS all_ts \
     GROUP BY parent_id";

/// The PostgreSQL storage backend.
///
/// Cheap to clone (it holds a pool). Build it with [`PostgresStorage::new`]
/// on a migrated database (see [`crate::migrate()`]).
#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
    inner: Store,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("readonly", &self.inner.options.readonly)
            .field("max_fetch_size", &self.inner.options.max_fetch_size)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
struct Options {
    readonly: bool,
    max_fetch_size: usize,
    /// Whether transactions also carry permission operations.
    shared_permission: bool,
}

/// The objects a list, count or bulk delete reads.
struct Scope<'a> {
    resource_name: &'a str,
    parent_id: &'a str,
    include_deleted: bool,
    filters: &'a [cliquet_filter::Filter],
    pagination: &'a [cliquet_filter::PaginationRule],
}

#[derive(Clone)]
struct Store {
    conn: Conn,
    options: Options,
    sort_indexes: Arc<SortIndexes>,
    /// The pages kept between lists (on the pool's store only; a
    /// transaction's store holds it to forget them).
    lists: Option<Arc<ListCache>>,
    /// Set by a transaction's removal that leaves timestamps as they were:
    /// the kept pages are forgotten again once it commits.
    removed: Arc<AtomicBool>,
}

impl PostgresStorage {
    /// A storage backend on `pool`.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool: pool.clone(),
            inner: Store {
                conn: Conn::Pool(pool.clone()),
                options: Options {
                    readonly: false,
                    max_fetch_size: cliquet_filter::DEFAULT_MAX_FETCH_SIZE,
                    shared_permission: false,
                },
                sort_indexes: SortIndexes::new(
                    pool,
                    crate::sort_index::DEFAULT_MAX,
                    crate::sort_index::DEFAULT_AFTER,
                ),
                lists: ListCache::new(crate::list_cache::DEFAULT_SIZE),
                removed: Arc::new(AtomicBool::new(false)),
            },
        }
    }

    /// Sets the memory, in bytes, of the [pages kept](crate::list_cache)
    /// between identical lists of an unchanged collection
    /// (`storage_list_cache_size`, default 64 MiB; `0` turns it off).
    pub fn with_list_cache(mut self, bytes: usize) -> Self {
        self.inner.lists = ListCache::new(bytes);
        self
    }

    /// How the [kept pages](crate::list_cache) were used; `None` when the
    /// cache is off.
    pub fn list_cache_stats(&self) -> Option<ListCacheStats> {
        self.inner.lists.as_ref().map(|lists| lists.stats())
    }

    /// Sets how many [sort indexes](crate::sort_index) may exist, at most
    /// (`storage_sort_indexes`, default 8; `0`: none made, none used), and
    /// after how many sorts on a field its index is made (default 10).
    pub fn with_sort_indexes(mut self, max: usize, after: u32) -> Self {
        self.inner.sort_indexes = SortIndexes::new(self.pool.clone(), max, after);
        self
    }

    /// Refuses writes (Kinto's `readonly` setting).
    pub fn with_readonly(mut self, readonly: bool) -> Self {
        self.inner.options.readonly = readonly;
        self
    }

    /// Caps the objects one list returns (`storage_max_fetch_size`).
    pub fn with_max_fetch_size(mut self, max_fetch_size: usize) -> Self {
        self.inner.options.max_fetch_size = max_fetch_size.max(1);
        self
    }

    /// Makes transactions carry the permission operations too
    /// ([`Transaction::permission`]): use it when the permission backend is
    /// on the same database.
    pub fn with_shared_permission(mut self, shared: bool) -> Self {
        self.inner.options.shared_permission = shared;
        self
    }

    /// The pool this backend uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Converts an error of this crate to the storage error callers see.
pub(crate) fn storage_error(error: Error) -> StorageError {
    match error {
        Error::InvalidValue(message) => StorageError::invalid_input(message),
        Error::Readonly => StorageError::Readonly,
        Error::TransactionConflict(message) => StorageError::transaction_conflict(message),
        Error::Conflict(message) => StorageError::Conflict {
            field: format!("last_modified ({message})"),
            existing: None,
        },
        Error::Backend(message) | Error::Schema(message) => StorageError::backend(message),
    }
}

fn data_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn clean(mut data: Map<String, Value>) -> Map<String, Value> {
    data.remove(cliquet_storage::model::ID_FIELD);
    data.remove(cliquet_storage::model::MODIFIED_FIELD);
    data
}

/// Reads an object from columns `id, ts, data, deleted`.
fn object_from_row(row: &Row) -> Object {
    object_at(row, 0)
}

/// Reads an object from columns `id, ts, data, deleted` at `first..`.
fn object_at(row: &Row, first: usize) -> Object {
    let id: String = row.get(first);
    let ts: i64 = row.get(first + 1);
    let data: Value = row.get(first + 2);
    let deleted: bool = row.get(first + 3);
    if deleted {
        Object {
            id,
            last_modified: ts,
            deleted: true,
            data: Map::new(),
        }
    } else {
        Object::new(id, ts, data_map(data))
    }
}

impl Store {
    /// Forgets the kept pages after a removal that leaves timestamps as
    /// they were (and, in a transaction, again once it commits).
    fn forget_lists(&self) {
        if let Some(lists) = &self.lists {
            lists.clear();
        }
        self.removed.store(true, Ordering::Relaxed);
    }

    fn check_writable(&self) -> Result<()> {
        if self.options.readonly {
            Err(StorageError::Readonly)
        } else {
            Ok(())
        }
    }

    fn cap(&self, limit: Option<usize>) -> usize {
        limit.unwrap_or(usize::MAX).min(self.options.max_fetch_size)
    }

    /// `SELECT <columns> FROM objects WHERE <the scope>`, with a
    /// `position` column numbering the rows in `position` order when given.
    fn select(
        sql: &mut Sql,
        columns: &str,
        scope: &Scope<'_>,
        position: Option<&[cliquet_filter::SortField]>,
    ) {
        sql.push("SELECT ").push(columns);
        if let Some(sort) = position {
            sql.push(", row_number() OVER (");
            push_order(sql, sort);
            sql.push(") AS position");
        }
        sql.push(" FROM objects WHERE ");
        push_parent(sql, "objects.parent_id", scope.parent_id);
        sql.push(" AND objects.resource_name = ")
            .bind(Box::new(scope.resource_name.to_owned()), "text");
        if !scope.include_deleted {
            sql.push(" AND NOT objects.deleted");
        }
        push_conditions(sql, scope.filters, scope.pagination);
    }

    /// The `SELECT` of a list's page: its objects (`id, ts, data,
    /// deleted`), sorted (on the sort index of its leading field when one
    /// is ready) and limited.
    fn push_page(&self, sql: &mut Sql, params: &List) {
        Store::select(
            sql,
            "objects.id, as_epoch(objects.last_modified), objects.data, objects.deleted",
            &Scope {
                resource_name: &params.resource_name,
                parent_id: &params.parent_id,
                include_deleted: params.include_deleted,
                filters: &params.filters,
                pagination: &params.pagination,
            },
            None,
        );
        let indexed =
            leading_data_field(&params.sort).filter(|name| self.sort_indexes.sorted_on(name));
        push_order_indexed(sql, &params.sort, indexed);
        sql.push(" LIMIT ").bind_i64(self.cap(params.limit) as i64);
    }

    /// The collection timestamp (`None` for a collection never written nor
    /// listed), its oldest object, and the objects written after `since`,
    /// oldest first (`None` when there are more than a kept page is brought
    /// up to date with): one prepared statement, from one snapshot.
    async fn changes_since(
        &self,
        parent_id: &str,
        resource_name: &str,
        since: Timestamp,
    ) -> Result<(Option<Timestamp>, Oldest, Option<Vec<Object>>)> {
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&since, &parent_id, &resource_name];
        let rows = self
            .conn
            .read(&CHANGES_SQL, &args)
            .await
            .map_err(storage_error)?;
        let now = rows.first().and_then(|row| row.get::<_, Option<i64>>(0));
        let oldest = Oldest::Known(rows.first().and_then(|row| row.get::<_, Option<i64>>(1)));
        let changes: Vec<Object> = rows
            .iter()
            .filter(|row| row.get::<_, Option<String>>(2).is_some())
            .map(|row| object_at(row, 2))
            .collect();
        let changes = (changes.len() <= crate::list_cache::MAX_CHANGES).then_some(changes);
        Ok((now, oldest, changes))
    }

    async fn run_read(&self, sql: &Sql) -> Result<Vec<Row>> {
        if sql.too_many_params() {
            return Err(StorageError::invalid_input(
                "the query has too many fields and values",
            ));
        }
        let result = if sql.custom_plan {
            self.conn.read_planned(&sql.text, &sql.typed_params()).await
        } else {
            self.conn.read(&sql.text, &sql.param_refs()).await
        };
        result.map_err(storage_error)
    }

    /// Runs a built write, planned for its values when its plan depends on
    /// them (see [`Sql::custom_plan`]).
    async fn run_write(&self, lock: Option<Lock<'_>>, sql: &Sql) -> Result<Vec<Row>> {
        let result = if sql.custom_plan {
            self.conn
                .write_planned(lock, &sql.text, &sql.typed_params())
                .await
        } else {
            self.conn.write(lock, &sql.text, &sql.param_refs()).await
        };
        result.map_err(storage_error)
    }

    async fn existing(
        &self,
        resource_name: &str,
        parent_id: &str,
        id: &str,
    ) -> Result<Option<Object>> {
        let rows = self
            .conn
            .lookup(GET, &[&id, &parent_id, &resource_name])
            .await
            .map_err(storage_error)?;
        Ok(rows
            .first()
            .map(|row| Object::new(id, row.get::<_, i64>(0), data_map(row.get(1)))))
    }
}

#[async_trait]
impl Storage for Store {
    async fn create(&self, params: Create) -> Result<Object> {
        self.check_writable()?;
        let data = Value::Object(clean(params.data));
        let rows = self
            .conn
            .write(
                Some(Lock::One {
                    parent_id: &params.parent_id,
                    resource_name: &params.resource_name,
                }),
                &CREATE_SQL,
                &[
                    &params.id,
                    &params.parent_id,
                    &params.resource_name,
                    &data,
                    &params.last_modified,
                ],
            )
            .await
            .map_err(storage_error)?;
        match rows.first() {
            Some(row) => Ok(Object::new(params.id, row.get::<_, i64>(0), data_map(data))),
            None => {
                let existing = self
                    .existing(&params.resource_name, &params.parent_id, &params.id)
                    .await?;
                Err(StorageError::id_conflict(existing))
            }
        }
    }

    async fn get(&self, params: Get) -> Result<Object> {
        self.existing(&params.resource_name, &params.parent_id, &params.id)
            .await?
            .ok_or_else(|| StorageError::not_found(params.resource_name, params.id))
    }

    async fn update(&self, params: Update) -> Result<Updated> {
        self.check_writable()?;
        let data = Value::Object(clean(params.data));
        let rows = self
            .conn
            .write(
                Some(Lock::One {
                    parent_id: &params.parent_id,
                    resource_name: &params.resource_name,
                }),
                &UPDATE_SQL,
                &[
                    &params.id,
                    &params.parent_id,
                    &params.resource_name,
                    &data,
                    &params.last_modified,
                    &params.if_match,
                ],
            )
            .await
            .map_err(storage_error)?;
        let row = rows
            .first()
            .ok_or_else(|| StorageError::backend("update returned no row"))?;
        let written: Option<i64> = row.get(0);
        let previous_ts: Option<i64> = row.get(1);
        let previous = match (previous_ts, row.get::<_, Option<bool>>(3)) {
            (Some(ts), Some(false)) => Some(Object::new(
                params.id.clone(),
                ts,
                data_map(row.get::<_, Option<Value>>(2).unwrap_or(Value::Null)),
            )),
            _ => None,
        };
        match written {
            Some(ts) => Ok(Updated::new(
                Object::new(params.id, ts, data_map(data)),
                previous,
            )),
            None => Err(StorageError::modified(previous)),
        }
    }

    async fn delete(&self, params: Delete) -> Result<Deleted> {
        self.check_writable()?;
        let sql: &str = if params.with_deleted {
            &DELETE_SQL
        } else {
            &HARD_DELETE_SQL
        };
        let rows = self
            .conn
            .write(
                Some(Lock::One {
                    parent_id: &params.parent_id,
                    resource_name: &params.resource_name,
                }),
                sql,
                &[
                    &params.id,
                    &params.parent_id,
                    &params.resource_name,
                    &params.last_modified,
                    &params.if_match,
                ],
            )
            .await
            .map_err(storage_error)?;
        if !params.with_deleted {
            self.forget_lists();
        }
        let row = rows
            .first()
            .ok_or_else(|| StorageError::backend("delete returned no row"))?;
        let deleted_at: Option<i64> = row.get(0);
        let previous = row.get::<_, Option<i64>>(1).map(|ts| {
            Object::new(
                params.id.clone(),
                ts,
                data_map(row.get::<_, Option<Value>>(2).unwrap_or(Value::Null)),
            )
        });
        match (deleted_at, previous) {
            (Some(ts), Some(previous)) => Ok(Deleted::new(previous.tombstone(ts), previous)),
            (None, None) => Err(StorageError::not_found(params.resource_name, params.id)),
            (_, previous) => Err(StorageError::modified(previous)),
        }
    }

    async fn delete_all(&self, params: DeleteAll) -> Result<Vec<Deleted>> {
        self.check_writable()?;
        let limit = self.cap(params.limit);
        let mut sql = Sql::new();
        sql.push("WITH matched AS (");
        Store::select(
            &mut sql,
            "objects.id, objects.parent_id, objects.data, as_epoch(objects.last_modified) AS old_ts",
            &Scope {
                resource_name: &params.resource_name,
                parent_id: &params.parent_id,
                include_deleted: false,
                filters: &params.filters,
                pagination: &params.pagination,
            },
            Some(&params.sort),
        );
        push_order(&mut sql, &params.sort);
        sql.push(" LIMIT ").bind_i64(limit as i64);
        sql.push(
            "), clock AS MATERIALIZED (SELECT as_epoch(clock_timestamp()::timestamp) AS now), \
             stamped AS ( \
               SELECT p.*, GREATEST(clock.now, COALESCE(cur.ts + 1, 0)) \
                           + row_number() OVER (PARTITION BY p.parent_id ORDER BY p.position) - 1 AS new_ts \
                 FROM matched p CROSS JOIN clock CROSS JOIN LATERAL (SELECT GREATEST( \
                   (SELECT as_epoch(c.last_modified) FROM objects c \
                     WHERE c.parent_id = p.parent_id AND c.resource_name = ",
        );
        sql.bind(Box::new(params.resource_name.clone()), "text");
        sql.push(
            " ORDER BY c.last_modified DESC LIMIT 1), \
                   (SELECT as_epoch(t.last_modified) FROM timestamps t \
                     WHERE t.parent_id = p.parent_id AND t.resource_name = ",
        );
        sql.bind(Box::new(params.resource_name.clone()), "text");
        sql.push(")) AS ts) AS cur), gone AS (");
        if params.with_deleted {
            sql.push(
                "UPDATE objects SET deleted = TRUE, data = '{\"deleted\": true}'::jsonb, \
                 last_modified = from_epoch(s.new_ts) FROM stamped s \
                 WHERE objects.id = s.id AND objects.parent_id = s.parent_id AND objects.resource_name = ",
            );
        } else {
            sql.push(
                "DELETE FROM objects USING stamped s \
                 WHERE objects.id = s.id AND objects.parent_id = s.parent_id AND objects.resource_name = ",
            );
        }
        sql.bind(Box::new(params.resource_name.clone()), "text");
        sql.push(
            " RETURNING objects.id, objects.parent_id) \
             SELECT s.id, s.old_ts, s.data, s.new_ts FROM stamped s \
               JOIN gone g ON g.id = s.id AND g.parent_id = s.parent_id ORDER BY s.position",
        );
        if sql.too_many_params() {
            return Err(StorageError::invalid_input(
                "the query has too many fields and values",
            ));
        }
        let lock = if params.parent_id.contains('*') {
            Lock::Matching {
                parent_pattern: parent_pattern(&params.parent_id),
                resource_name: &params.resource_name,
            }
        } else {
            Lock::One {
                parent_id: &params.parent_id,
                resource_name: &params.resource_name,
            }
        };
        let rows = self.run_write(Some(lock), &sql).await?;
        if !params.with_deleted {
            self.forget_lists();
        }
        Ok(rows
            .iter()
            .map(|row| {
                let previous = Object::new(
                    row.get::<_, String>(0),
                    row.get::<_, i64>(1),
                    data_map(row.get(2)),
                );
                let tombstone = previous.tombstone(row.get::<_, i64>(3));
                Deleted::new(tombstone, previous)
            })
            .collect())
    }

    async fn list(&self, params: List) -> Result<Vec<Object>> {
        let mut sql = Sql::new();
        self.push_page(&mut sql, &params);
        let rows = self.run_read(&sql).await?;
        Ok(rows.iter().map(object_from_row).collect())
    }

    /// One statement: the timestamp and the page come from one snapshot.
    /// Writers of a collection commit in timestamp order (they hold its
    /// lock until `COMMIT`), so every object up to the timestamp a
    /// snapshot shows is visible in it; and since that timestamp is the
    /// greatest of the collection's objects in the snapshot, the page needs
    /// no bound (one would only mislead the planner's estimates).
    async fn list_as_of(&self, params: List) -> Result<(Timestamp, Vec<Object>)> {
        if params.parent_id.contains('*') {
            return Err(StorageError::invalid_input(
                "a list as of a timestamp needs one parent",
            ));
        }
        // `CURRENT` reads the collection from $2 and $3; $1 is unused but
        // typed, as in `READ_TIMESTAMP_SQL`.
        let mut sql = Sql::with_texts(&["", &params.parent_id, &params.resource_name]);
        sql.push("SELECT cur.ts, page.* FROM (")
            .push(CURRENT)
            .push(") AS cur LEFT JOIN (");
        self.push_page(&mut sql, &params);
        sql.push(") AS page ON $1::text IS NOT NULL");
        let rows = self.run_read(&sql).await?;
        let timestamp = rows.first().and_then(|row| row.get::<_, Option<i64>>(0));
        let Some(timestamp) = timestamp else {
            // Neither an object nor a stored timestamp in that snapshot:
            // the timestamp is initialised (or read, when a writer
            // committed since), then the page is read bounded by it, as
            // the provided implementation does. Answering an empty page
            // with a timestamp read later would skip the objects
            // committed in between.
            let timestamp = self
                .resource_timestamp(ResourceTimestamp::new(
                    &params.resource_name,
                    &params.parent_id,
                ))
                .await?;
            return Ok((timestamp, self.list(params.up_to(timestamp)).await?));
        };
        let objects = rows
            .iter()
            .filter(|row| row.get::<_, Option<String>>(1).is_some())
            .map(|row| object_at(row, 1))
            .collect();
        Ok((timestamp, objects))
    }

    async fn count(&self, params: Count) -> Result<u64> {
        let mut sql = Sql::new();
        Store::select(
            &mut sql,
            "COUNT(*)",
            &Scope {
                resource_name: &params.resource_name,
                parent_id: &params.parent_id,
                include_deleted: params.include_deleted,
                filters: &params.filters,
                pagination: &[],
            },
            None,
        );
        let rows = self.run_read(&sql).await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    async fn purge_deleted(&self, params: PurgeDeleted) -> Result<u64> {
        self.check_writable()?;
        if params.before.is_some() && params.max_retained.is_some() {
            return Err(StorageError::invalid_input(
                "purge_deleted takes `before` or `max_retained`, not both",
            ));
        }
        let mut sql = Sql::new();
        let scope = |sql: &mut Sql, table: &str| {
            push_parent(sql, &format!("{table}.parent_id"), &params.parent_id);
            if let Some(resource_name) = &params.resource_name {
                sql.push(" AND ")
                    .push(table)
                    .push(".resource_name = ")
                    .bind(Box::new(resource_name.clone()), "text");
            }
        };
        let clear_timestamps = params.resource_name.is_none()
            && params.before.is_none()
            && params.max_retained.is_none();
        sql.push("WITH ");
        if clear_timestamps {
            sql.push("cleared AS (DELETE FROM timestamps WHERE ");
            scope(&mut sql, "timestamps");
            sql.push(" RETURNING 1), ");
        }
        sql.push("purged AS (");
        match params.max_retained {
            Some(keep) => {
                sql.push(
                    "DELETE FROM objects USING (SELECT r.id, r.parent_id, r.resource_name, \
                     row_number() OVER (PARTITION BY r.parent_id, r.resource_name ORDER BY r.last_modified DESC) AS rank \
                     FROM objects r WHERE r.deleted AND ",
                );
                scope(&mut sql, "r");
                sql.push(
                    ") AS ranked WHERE objects.id = ranked.id AND objects.parent_id = ranked.parent_id \
                     AND objects.resource_name = ranked.resource_name AND ranked.rank > ",
                );
                sql.bind_i64(i64::try_from(keep).unwrap_or(i64::MAX));
            }
            None => {
                sql.push("DELETE FROM objects WHERE objects.deleted AND ");
                scope(&mut sql, "objects");
                if let Some(before) = params.before {
                    sql.push(" AND as_epoch(objects.last_modified) < ")
                        .bind_i64(before);
                }
            }
        }
        sql.push(" RETURNING 1) SELECT COUNT(*) FROM purged");
        let rows = self.run_write(None, &sql).await?;
        self.forget_lists();
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    async fn trim_objects(&self, params: TrimObjects) -> Result<u64> {
        self.check_writable()?;
        let mut sql = Sql::new();
        sql.push("WITH ranked AS (");
        Store::select(
            &mut sql,
            "objects.id, objects.parent_id, objects.resource_name, \
             row_number() OVER (ORDER BY objects.last_modified DESC) AS rank",
            &Scope {
                resource_name: &params.resource_name,
                parent_id: &params.parent_id,
                include_deleted: false,
                filters: &params.filters,
                pagination: &[],
            },
            None,
        );
        sql.push(
            "), gone AS (DELETE FROM objects USING ranked \
             WHERE objects.id = ranked.id AND objects.parent_id = ranked.parent_id \
               AND objects.resource_name = ranked.resource_name AND ranked.rank > ",
        );
        sql.bind_i64(i64::try_from(params.max_objects).unwrap_or(i64::MAX));
        sql.push(" RETURNING 1) SELECT COUNT(*) FROM gone");
        if sql.too_many_params() {
            return Err(StorageError::invalid_input(
                "the query has too many fields and values",
            ));
        }
        let rows = self
            .run_write(
                Some(Lock::One {
                    parent_id: &params.parent_id,
                    resource_name: &params.resource_name,
                }),
                &sql,
            )
            .await?;
        self.forget_lists();
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp> {
        let key: &(dyn tokio_postgres::types::ToSql + Sync) = &"";
        let args = [key, &params.parent_id, &params.resource_name];
        let rows = self
            .conn
            .lookup(&READ_TIMESTAMP_SQL, &args)
            .await
            .map_err(storage_error)?;
        if let Some(ts) = rows.first().and_then(|r| r.get::<_, Option<i64>>(0)) {
            return Ok(ts);
        }
        if self.options.readonly {
            return Err(StorageError::Readonly);
        }
        // Never read nor written: store "now", under the collection lock so
        // that a writer in flight cannot commit a smaller timestamp after.
        let rows = self
            .conn
            .write(
                Some(Lock::One {
                    parent_id: &params.parent_id,
                    resource_name: &params.resource_name,
                }),
                &INIT_TIMESTAMP_SQL,
                &args,
            )
            .await
            .map_err(storage_error)?;
        rows.first()
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .ok_or_else(|| StorageError::backend("could not initialise the collection timestamp"))
    }

    async fn all_resources_timestamps(
        &self,
        params: AllResourcesTimestamps,
    ) -> Result<BTreeMap<String, Timestamp>> {
        let rows = self
            .conn
            .lookup(ALL_TIMESTAMPS, &[&params.resource_name])
            .await
            .map_err(storage_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| Some((row.get::<_, String>(0), row.get::<_, Option<i64>>(1)?)))
            .collect())
    }

    async fn flush(&self) -> Result<()> {
        self.conn
            .write(
                None,
                "WITH a AS (DELETE FROM timestamps) DELETE FROM objects",
                &[],
            )
            .await
            .map_err(storage_error)?;
        self.forget_lists();
        Ok(())
    }

    async fn healthcheck(&self) -> Result<()> {
        self.conn
            .read("SELECT 1", &[])
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        let Conn::Pool(pool) = &self.conn else {
            return Err(StorageError::backend("transactions do not nest"));
        };
        let tx = TxConn::begin(pool).await.map_err(storage_error)?;
        let conn = Conn::Tx(Arc::clone(&tx));
        Ok(Box::new(PostgresTransaction {
            storage: Store {
                conn: conn.clone(),
                options: self.options,
                sort_indexes: self.sort_indexes.clone(),
                lists: self.lists.clone(),
                removed: Arc::new(AtomicBool::new(false)),
            },
            permission: self
                .options
                .shared_permission
                .then(|| PostgresPermission::on(conn)),
            tx,
        }))
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn create(&self, params: Create) -> Result<Object> {
        self.inner.create(params).await
    }
    async fn get(&self, params: Get) -> Result<Object> {
        self.inner.get(params).await
    }
    async fn update(&self, params: Update) -> Result<Updated> {
        self.inner.update(params).await
    }
    async fn delete(&self, params: Delete) -> Result<Deleted> {
        self.inner.delete(params).await
    }
    async fn delete_all(&self, params: DeleteAll) -> Result<Vec<Deleted>> {
        self.inner.delete_all(params).await
    }
    async fn list(&self, params: List) -> Result<Vec<Object>> {
        self.inner.list(params).await
    }
    async fn count(&self, params: Count) -> Result<u64> {
        self.inner.count(params).await
    }
    async fn purge_deleted(&self, params: PurgeDeleted) -> Result<u64> {
        self.inner.purge_deleted(params).await
    }
    async fn trim_objects(&self, params: TrimObjects) -> Result<u64> {
        self.inner.trim_objects(params).await
    }
    async fn resource_timestamp(&self, params: ResourceTimestamp) -> Result<Timestamp> {
        self.inner.resource_timestamp(params).await
    }
    async fn list_as_of(&self, params: List) -> Result<(Timestamp, Vec<Object>)> {
        // A transaction's store lists as the transaction sees, never from
        // kept pages: only this pool-level backend keeps them.
        let Some(lists) = &self.inner.lists else {
            return self.inner.list_as_of(params).await;
        };
        let key = ListCache::key(&params);
        // The oldest object a check read, kept with a page read after it:
        // a wipe in between only makes the next check read the page again.
        let mut oldest = Oldest::Unknown;
        if let Some(kept) = lists.known(&key) {
            let (now, oldest_now, changes) = self
                .inner
                .changes_since(&params.parent_id, &params.resource_name, kept.timestamp)
                .await?;
            let same_oldest = kept.oldest == Oldest::Unknown || kept.oldest == oldest_now;
            if now == Some(kept.timestamp) && same_oldest {
                lists.hit();
                return Ok((kept.timestamp, kept.objects.as_ref().clone()));
            }
            let limit = self.inner.cap(params.limit);
            if let (Some(now), Some(changes)) = (now, changes)
                && now > kept.timestamp
                && kept.oldest == oldest_now
                && let Some(objects) = list_cache::patch(&params, limit, &kept.objects, changes)
            {
                lists.patched();
                lists.keep(key, now, oldest_now, &objects);
                return Ok((now, objects));
            }
            oldest = oldest_now;
        }
        let (timestamp, objects) = self.inner.list_as_of(params).await?;
        lists.miss();
        lists.keep(key, timestamp, oldest, &objects);
        Ok((timestamp, objects))
    }
    async fn all_resources_timestamps(
        &self,
        params: AllResourcesTimestamps,
    ) -> Result<BTreeMap<String, Timestamp>> {
        self.inner.all_resources_timestamps(params).await
    }
    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }
    async fn healthcheck(&self) -> Result<()> {
        self.inner.healthcheck().await
    }
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        self.inner.begin().await
    }
}

/// An open PostgreSQL transaction (see [`Storage::begin`]).
///
/// Its storage (and, with [`PostgresStorage::with_shared_permission`], its
/// permission backend) run on one connection inside one transaction. The
/// collections written hold their locks until the end: keep transactions
/// short. Dropped without a commit, it is rolled back.
pub struct PostgresTransaction {
    storage: Store,
    permission: Option<PostgresPermission>,
    tx: Arc<TxConn>,
}

impl std::fmt::Debug for PostgresTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTransaction")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transaction for PostgresTransaction {
    fn storage(&self) -> &dyn Storage {
        &self.storage
    }

    fn permission(&self) -> Option<&dyn Permission> {
        self.permission.as_ref().map(|p| p as &dyn Permission)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let committed = self.tx.finish(true).await.map_err(storage_error);
        if self.storage.removed.load(Ordering::Relaxed) {
            // Pages read before the commit may have been kept meanwhile.
            self.storage.forget_lists();
        }
        committed
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.tx.finish(false).await.map_err(storage_error)
    }

    fn conflicted(&self) -> bool {
        self.tx.conflicted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters() {
        for (sql, params) in [
            (&*CREATE_SQL, 5),
            (&*UPDATE_SQL, 6),
            (&*DELETE_SQL, 5),
            (&*HARD_DELETE_SQL, 5),
            (&*INIT_TIMESTAMP_SQL, 3),
            (&*READ_TIMESTAMP_SQL, 3),
            (&*CHANGES_SQL, 3),
        ] {
            assert!(sql.contains(&format!("${params}::")), "{sql}");
            assert!(!sql.contains(&format!("${}::", params + 1)), "{sql}");
        }
    }
}

/// The statements of the storage backend, for the benchmark that compares
/// the backend with the same statements run raw. Not a stable API.
#[doc(hidden)]
pub mod statements {
    /// The collection lock.
    pub const LOCK: &str = crate::conn::LOCK_ONE;
    /// `get`: `$1` id, `$2` parent id, `$3` resource name.
    pub const GET: &str = super::GET;

    /// `create`: `$1` id, `$2` parent id, `$3` resource name, `$4` data,
    /// `$5` requested timestamp.
    pub fn create() -> String {
        super::CREATE_SQL.clone()
    }
}
