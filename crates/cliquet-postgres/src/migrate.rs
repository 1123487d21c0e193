//! Schema creation and migration, with Kinto's version bookkeeping.
//!
//! The schema is Kinto 26.5's, so that a database created by Kinto is served
//! as it is and Kinto can serve a database created here:
//!
//! | backend | tables | version row in `metadata` |
//! | --- | --- | --- |
//! | storage | `objects`, `timestamps`, `metadata`; functions `as_epoch`, `from_epoch`, `bump_timestamp` and trigger `tgr_objects_last_modified` | `storage_schema_version` = `26` (and `created_at`) |
//! | permission | `user_principals`, `access_control_entries` | `permission_schema_version` = `2` |
//! | cache | `cache`, function `sec2ttl` | none (the table's presence) |
//!
//! [`migrate`] is idempotent: it reads the installed versions, creates what
//! is missing and applies the steps from the installed version to the
//! current one. It runs in one transaction under a PostgreSQL advisory lock,
//! so several instances starting at once migrate once, and a failure leaves
//! the schema as it was.
//!
//! Storage versions 21 to 25 (Kinto 13 and later, where the table is named
//! `objects`) are migrated here. Older databases (the `records` table of
//! Kinto ≤ 12 and Cliquet) must first be migrated with Kinto's own
//! `kinto migrate`; [`migrate`] says so instead of guessing.
//!
//! ```no_run
//! # async fn run() -> Result<(), cliquet_postgres::Error> {
//! use cliquet_postgres::{migrate, Component, Pool};
//!
//! let pool = Pool::connect("postgresql://postgres@localhost/kinto")?;
//! let report = migrate(&pool, &[Component::Storage, Component::Permission, Component::Cache], false).await?;
//! for step in &report.steps {
//!     println!("{step}");
//! }
//! # Ok(()) }
//! ```

use std::fmt;

use tokio_postgres::Transaction;

use crate::{Error, Pool};

/// The storage schema version this crate writes and serves.
pub const STORAGE_SCHEMA_VERSION: i32 = 26;
/// The permission schema version this crate writes and serves.
pub const PERMISSION_SCHEMA_VERSION: i32 = 2;
/// The oldest storage schema version [`migrate`] can upgrade.
pub const OLDEST_MIGRATABLE_STORAGE_VERSION: i32 = 21;

/// Advisory lock key taken during migrations (an arbitrary constant,
/// "cliquetm" in ASCII).
const MIGRATION_LOCK: i64 = 0x636c_6971_7565_746d;

/// The GIN index on `data` that serves equality and `contains_` filters
/// on any field (see `sql.rs`). Not part of Kinto's schema, which Kinto
/// ignores: it is created with the schema, and added to an existing
/// database (Kinto's included) by every migration. On a large table the
/// first build takes a while and blocks writes meanwhile; create it
/// beforehand with `CREATE INDEX CONCURRENTLY` to avoid that.
const DATA_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_objects_data_path_ops \
     ON objects USING gin (data jsonb_path_ops);";

const STORAGE_FUNCTIONS: &str = include_str!("sql/storage_functions.sql");
const STORAGE_TABLES: &str = include_str!("sql/storage_tables.sql");
const STORAGE_TRIGGER: &str = include_str!("sql/storage_trigger.sql");
const PERMISSION_TABLES: &str = include_str!("sql/permission_tables.sql");
const CACHE_TABLES: &str = include_str!("sql/cache_tables.sql");

/// A backend whose schema [`migrate`] manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// `objects`, `timestamps`, `metadata` and the timestamp trigger.
    Storage,
    /// `user_principals` and `access_control_entries`.
    Permission,
    /// `cache`.
    Cache,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Storage => "storage",
            Component::Permission => "permission",
            Component::Cache => "cache",
        })
    }
}

/// One thing [`migrate`] did, or would do in a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The schema of the component was created at the current version.
    Created(Component),
    /// The schema went from one version to the next.
    Migrated {
        /// The component.
        component: Component,
        /// The version before the step.
        from: i32,
        /// The version after the step.
        to: i32,
    },
    /// The schema was already current.
    UpToDate(Component),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Created(c) => write!(f, "created the PostgreSQL {c} schema"),
            Step::Migrated {
                component,
                from,
                to,
            } => {
                write!(
                    f,
                    "migrated the PostgreSQL {component} schema from version {from} to {to}"
                )
            }
            Step::UpToDate(c) => write!(f, "PostgreSQL {c} schema is up to date"),
        }
    }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Whether this was a dry run (nothing was written).
    pub dry_run: bool,
}

impl Report {
    /// Whether anything was (or, in a dry run, would be) changed.
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| !matches!(s, Step::UpToDate(_)))
    }
}

/// Creates or migrates the schema of `components`, idempotently, in one
/// transaction under an advisory lock. With `dry_run`, only reports what it
/// would do.
pub async fn migrate(
    pool: &Pool,
    components: &[Component],
    dry_run: bool,
) -> Result<Report, Error> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL client_min_messages TO ERROR")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let mut report = Report {
        steps: Vec::new(),
        dry_run,
    };
    for component in components {
        match component {
            Component::Storage => migrate_storage(&tx, dry_run, &mut report.steps).await?,
            Component::Permission => migrate_permission(&tx, dry_run, &mut report.steps).await?,
            Component::Cache => migrate_cache(&tx, dry_run, &mut report.steps).await?,
        }
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    for step in &report.steps {
        tracing::info!(dry_run, "{step}");
    }
    Ok(report)
}

/// Whether a relation is visible on the connection's search path.
async fn relation_exists(tx: &Transaction<'_>, name: &str) -> Result<bool, Error> {
    let row = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await?;
    Ok(row.get(0))
}

/// The highest version recorded under `key` in `metadata`.
async fn recorded_version(tx: &Transaction<'_>, key: &str) -> Result<Option<i32>, Error> {
    if !relation_exists(tx, "metadata").await? {
        return Ok(None);
    }
    let row = tx
        .query_opt(
            "SELECT value FROM metadata WHERE name = $1 ORDER BY LPAD(value, 3, '0') DESC LIMIT 1",
            &[&key],
        )
        .await?;
    row.map(|r| {
        let value: String = r.get(0);
        value
            .trim()
            .parse()
            .map_err(|_| Error::Schema(format!("metadata {key} is not a number: {value:?}")))
    })
    .transpose()
}

/// The installed storage version, following Kinto's rules: none without an
/// `objects` (or legacy `records`) table; the recorded version; else 1 when
/// a `created_at` row exists (a Cliquet database), else 20 (flushed by an
/// old Kinto).
async fn storage_version(tx: &Transaction<'_>) -> Result<Option<i32>, Error> {
    let objects = relation_exists(tx, "objects").await?;
    let records = relation_exists(tx, "records").await?;
    if !objects && !records {
        return Ok(None);
    }
    if let Some(version) = recorded_version(tx, "storage_schema_version").await? {
        return Ok(Some(version));
    }
    let created: i64 = if relation_exists(tx, "metadata").await? {
        tx.query_one(
            "SELECT COUNT(*) FROM metadata WHERE name = 'created_at'",
            &[],
        )
        .await?
        .get(0)
    } else {
        0
    };
    Ok(Some(if created > 0 { 1 } else { 20 }))
}

async fn check_database(tx: &Transaction<'_>) -> Result<(), Error> {
    let row = tx
        .query_one(
            "SELECT pg_encoding_to_char(encoding)::TEXT FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    let encoding: String = row.get(0);
    if !encoding.eq_ignore_ascii_case("utf8") {
        return Err(Error::Schema(format!(
            "the database encoding is {encoding}; it must be UTF8"
        )));
    }
    Ok(())
}

async fn migrate_storage(
    tx: &Transaction<'_>,
    dry_run: bool,
    steps: &mut Vec<Step>,
) -> Result<(), Error> {
    let component = Component::Storage;
    let Some(mut version) = storage_version(tx).await? else {
        check_database(tx).await?;
        if !dry_run {
            tx.batch_execute(STORAGE_FUNCTIONS).await?;
            tx.batch_execute(STORAGE_TABLES).await?;
            tx.batch_execute(STORAGE_TRIGGER).await?;
            tx.execute(
                "INSERT INTO metadata (name, value) VALUES ('created_at', NOW()::TEXT), ('storage_schema_version', $1)",
                &[&STORAGE_SCHEMA_VERSION.to_string()],
            )
            .await?;
        }
        steps.push(Step::Created(component));
        return Ok(());
    };
    if version > STORAGE_SCHEMA_VERSION {
        return Err(Error::Schema(format!(
            "storage schema version {version} is newer than {STORAGE_SCHEMA_VERSION}, the latest this server knows"
        )));
    }
    if version < OLDEST_MIGRATABLE_STORAGE_VERSION {
        return Err(Error::Schema(format!(
            "storage schema version {version} is older than {OLDEST_MIGRATABLE_STORAGE_VERSION}: \
             run `kinto migrate` with Kinto 13 or later first"
        )));
    }
    if version == STORAGE_SCHEMA_VERSION {
        if !dry_run {
            tx.batch_execute(DATA_INDEX).await?;
        }
        steps.push(Step::UpToDate(component));
        return Ok(());
    }
    while version < STORAGE_SCHEMA_VERSION {
        let to = version + 1;
        if !dry_run {
            let sql = match version {
                // 21→22 and 25→26 only rewrote `bump_timestamp` (22 ordered
                // by `as_epoch(last_modified)`, 26 went back to the column
                // so the index serves it): both install the current one.
                21 | 25 => STORAGE_TRIGGER,
                22 => {
                    "CREATE INDEX IF NOT EXISTS idx_objects_resource_name_parent_id_deleted \
                     ON objects (resource_name, parent_id, deleted);"
                }
                23 => {
                    "CREATE INDEX IF NOT EXISTS idx_objects_history_userid_and_resourcename \
                     ON objects ((data->'user_id'), (data->'resource_name')) WHERE resource_name = 'history';"
                }
                _ => {
                    "CREATE INDEX IF NOT EXISTS idx_objects_parent_id_record_last_modified \
                     ON objects (parent_id, last_modified DESC) WHERE resource_name = 'record';"
                }
            };
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO metadata (name, value) VALUES ('storage_schema_version', $1)",
                &[&to.to_string()],
            )
            .await?;
        }
        steps.push(Step::Migrated {
            component,
            from: version,
            to,
        });
        version = to;
    }
    if !dry_run {
        tx.batch_execute(DATA_INDEX).await?;
    }
    Ok(())
}

async fn migrate_permission(
    tx: &Transaction<'_>,
    dry_run: bool,
    steps: &mut Vec<Step>,
) -> Result<(), Error> {
    let component = Component::Permission;
    let version = match recorded_version(tx, "permission_schema_version").await? {
        Some(v) => Some(v),
        None if relation_exists(tx, "user_principals").await? => Some(1),
        None => None,
    };
    match version {
        None => {
            if !dry_run {
                tx.batch_execute(PERMISSION_TABLES).await?;
                record_permission_version(tx).await?;
            }
            steps.push(Step::Created(component));
        }
        Some(1) => {
            if !dry_run {
                tx.batch_execute(
                    "CREATE TABLE IF NOT EXISTS metadata (name VARCHAR(128) NOT NULL, value VARCHAR(512) NOT NULL);
                     ALTER TABLE user_principals ALTER COLUMN user_id TYPE TEXT COLLATE \"C\";
                     ALTER TABLE access_control_entries ALTER COLUMN object_id TYPE TEXT COLLATE \"C\";",
                )
                .await?;
                record_permission_version(tx).await?;
            }
            steps.push(Step::Migrated {
                component,
                from: 1,
                to: 2,
            });
        }
        Some(PERMISSION_SCHEMA_VERSION) => steps.push(Step::UpToDate(component)),
        Some(other) => {
            return Err(Error::Schema(format!(
                "permission schema version {other} is not one this server knows (1 or {PERMISSION_SCHEMA_VERSION})"
            )));
        }
    }
    Ok(())
}

async fn record_permission_version(tx: &Transaction<'_>) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO metadata (name, value) VALUES ('permission_schema_version', $1)",
        &[&PERMISSION_SCHEMA_VERSION.to_string()],
    )
    .await?;
    Ok(())
}

async fn migrate_cache(
    tx: &Transaction<'_>,
    dry_run: bool,
    steps: &mut Vec<Step>,
) -> Result<(), Error> {
    if relation_exists(tx, "cache").await? {
        steps.push(Step::UpToDate(Component::Cache));
    } else {
        if !dry_run {
            tx.batch_execute(CACHE_TABLES).await?;
        }
        steps.push(Step::Created(Component::Cache));
    }
    Ok(())
}

/// The installed versions, for heartbeats and the `migrate` command:
/// `(storage, permission, cache table present)`.
pub async fn installed_versions(pool: &Pool) -> Result<(Option<i32>, Option<i32>, bool), Error> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let storage = storage_version(&tx).await?;
    let permission = recorded_version(&tx, "permission_schema_version").await?;
    let cache = relation_exists(&tx, "cache").await?;
    tx.rollback().await?;
    Ok((storage, permission, cache))
}
