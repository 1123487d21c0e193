//! Sort indexes, created on demand.
//!
//! A list sorted on a data field (`?_sort=-rank`) makes PostgreSQL read
//! every object the filters leave and sort them all, however small the
//! page: the cost grows with the collection. No fixed index can serve a
//! sort on any field, so the backend makes one per field its clients sort
//! on: once lists have been sorted on a top-level field `name` a few times
//! ([`DEFAULT_AFTER`]), it builds, in the background and
//! without blocking writers (`CREATE INDEX CONCURRENTLY`),
//!
//! ```sql
//! CREATE INDEX cliquet_sort_<hash of name> ON objects (parent_id, resource_name, (data -> 'name'))
//! ```
//!
//! and from then on writes that sort key into its lists' SQL as a literal,
//! so that the planner can walk the index in order and stop after the page
//! (a collection of 100,000 objects then lists about as fast as one of
//! 1,000). Other fields keep their names as parameters: the statements a
//! connection prepares stay bounded by the number of indexes.
//!
//! At most `storage_sort_indexes` such indexes exist in the database
//! ([`DEFAULT_MAX`], `0` turns the feature off); indexes made by an earlier run,
//! or by another instance, are found by name and used as they are (one
//! another instance is building is waited for). An index a failed build
//! left invalid is dropped and built again. A database user
//! that may not create indexes gets one warning in the log and lists work
//! as before. The indexes are ordinary ones on Kinto's `objects` table: the
//! Python Kinto ignores them and keeps working on the same database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Pool;

/// What is known of one field's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sorted on this many times, no index looked for yet.
    Counting(u32),
    /// Being looked for or built.
    Building,
    /// Valid: lists sort on it.
    Ready,
    /// Not to be built (the limit reached, or the build failed).
    Declined,
}

/// The sort indexes of one storage backend.
pub(crate) struct SortIndexes {
    /// Most indexes in the database; `0`: none made, none used.
    max: usize,
    /// Sorts on a field before its index is looked for or built.
    after: u32,
    fields: Mutex<HashMap<String, State>>,
    pool: Pool,
}

impl std::fmt::Debug for SortIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SortIndexes")
            .field("max", &self.max)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// Distinct fields counted before the counting stops: an arbitrary number
/// of field names sent by clients cannot grow memory without bound.
const MAX_COUNTED: usize = 1024;

/// Default of `storage_sort_indexes`: most sort indexes in the database.
pub const DEFAULT_MAX: usize = 8;

/// Sorts on a field before its index is looked for, or built.
pub const DEFAULT_AFTER: u32 = 10;

impl SortIndexes {
    pub(crate) fn new(pool: Pool, max: usize, after: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            after: after.max(1),
            fields: Mutex::new(HashMap::new()),
            pool,
        })
    }

    /// Notes a list sorted first on the data field `name` (a top-level
    /// key): whether its index is ready, so that the list may name the
    /// field literally. May start looking for, or building, the index.
    pub(crate) fn sorted_on(self: &Arc<Self>, name: &str) -> bool {
        if self.max == 0 || name.contains('\0') {
            return false;
        }
        let mut fields = self.fields.lock().unwrap_or_else(|e| e.into_inner());
        if !fields.contains_key(name) {
            if fields.len() >= MAX_COUNTED {
                return false;
            }
            fields.insert(name.to_owned(), State::Counting(0));
        }
        let Some(state) = fields.get_mut(name) else {
            return false;
        };
        match *state {
            State::Ready => true,
            State::Building | State::Declined => false,
            State::Counting(n) if n + 1 < self.after => {
                *state = State::Counting(n + 1);
                false
            }
            State::Counting(_) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return false;
                };
                *state = State::Building;
                let this = self.clone();
                let name = name.to_owned();
                runtime.spawn(async move { this.ensure(name).await });
                false
            }
        }
    }

    fn set(&self, name: &str, state: State) {
        let mut fields = self.fields.lock().unwrap_or_else(|e| e.into_inner());
        fields.insert(name.to_owned(), state);
    }

    /// Finds or builds the index of `name`, then records the outcome.
    async fn ensure(self: Arc<Self>, name: String) {
        let state = match self.build(&name).await {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(
                    field = %name,
                    error = %error,
                    "could not create the sort index of a field; lists sorted on it read every matching object"
                );
                State::Declined
            }
        };
        self.set(&name, state);
    }

    async fn build(&self, name: &str) -> Result<State, crate::Error> {
        let index = index_name(name);
        let client = self.pool.get().await?;
        let lookup =
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1::text)";
        let existing = client.query_opt(lookup, &[&index]).await?;
        match existing.map(|row| row.get::<_, bool>(0)) {
            Some(true) => return Ok(State::Ready),
            // Being built (by another instance): look again later.
            Some(false) if building(&client, &index).await? => {
                return Ok(State::Counting(0));
            }
            // Left by a build that failed or was interrupted.
            Some(false) => {
                client
                    .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"))
                    .await?;
            }
            None => {}
        }
        let count = "SELECT count(*) FROM pg_class c \
                     WHERE c.relkind = 'i' AND c.relname LIKE 'cliquet\\_sort\\_%' \
                     AND c.relnamespace = (SELECT t.relnamespace FROM pg_class t WHERE t.oid = to_regclass('objects'))";
        let existing: i64 = client.query_one(count, &[]).await?.get(0);
        if existing >= self.max as i64 {
            tracing::info!(
                field = %name,
                limit = self.max,
                "not creating a sort index: storage_sort_indexes of them exist"
            );
            return Ok(State::Declined);
        }
        tracing::info!(field = %name, index = %index, "creating a sort index");
        client
            .batch_execute(&format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} \
                 ON objects (parent_id, resource_name, (data -> {}))",
                literal(name)
            ))
            .await?;
        // `IF NOT EXISTS` skips an index another instance is building:
        // ready only once valid.
        let valid = client
            .query_opt(lookup, &[&index])
            .await?
            .is_some_and(|row| row.get::<_, bool>(0));
        Ok(if valid {
            State::Ready
        } else {
            State::Counting(0)
        })
    }
}

/// Whether a `CREATE INDEX` of `index` is running: an invalid index is
/// then one being built, not one left by a failure.
async fn building(client: &tokio_postgres::Client, index: &str) -> Result<bool, crate::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index \
             WHERE index_relid = to_regclass($1::text))",
            &[&index],
        )
        .await?;
    Ok(row.get(0))
}

/// The name of the sort index of the top-level field `name`:
/// `cliquet_sort_` and the field's FNV-1a hash, the same for every
/// instance.
///
/// ```
/// assert_eq!(cliquet_postgres::sort_index::index_name("rank").len(), 29);
/// ```
pub fn index_name(name: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("cliquet_sort_{hash:016x}")
}

/// `name` as an SQL string literal, whatever `standard_conforming_strings`
/// says (it holds no NUL: JSONB keys cannot).
pub(crate) fn literal(name: &str) -> String {
    format!("E'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_short() {
        assert_eq!(index_name("rank"), index_name("rank"));
        assert_ne!(index_name("rank"), index_name("Rank"));
        assert!(index_name(&"x".repeat(500)).len() < 63);
        assert_eq!(index_name(""), "cliquet_sort_cbf29ce484222325");
    }

    #[test]
    fn literals_escape_quotes() {
        assert_eq!(literal("it's"), "E'it\\'s'");
        assert_eq!(literal("a\\b"), "E'a\\\\b'");
    }
}
