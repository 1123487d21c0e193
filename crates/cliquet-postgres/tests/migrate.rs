//! The migrator against the real database.

mod support;

use cliquet_postgres::{Component, Step, migrate, migrate::installed_versions};
use support::{Scratch, database_url};

const ALL: [Component; 3] = [Component::Storage, Component::Permission, Component::Cache];

#[tokio::test]
async fn creates_then_is_idempotent() {
    let Some(url) = database_url("creates_then_is_idempotent") else {
        return;
    };
    let scratch = Scratch::empty(&url, "mig_idem").await;

    let dry = migrate(&scratch.pool, &ALL, true).await.unwrap();
    assert!(dry.changed());
    assert_eq!(
        installed_versions(&scratch.pool).await.unwrap(),
        (None, None, false)
    );

    let first = migrate(&scratch.pool, &ALL, false).await.unwrap();
    assert_eq!(
        first.steps,
        vec![
            Step::Created(Component::Storage),
            Step::Created(Component::Permission),
            Step::Created(Component::Cache)
        ]
    );
    assert_eq!(
        installed_versions(&scratch.pool).await.unwrap(),
        (Some(26), Some(2), true)
    );

    let second = migrate(&scratch.pool, &ALL, false).await.unwrap();
    assert!(!second.changed(), "{second:?}");
    let client = scratch.pool.get().await.unwrap();
    let rows = client
        .query("SELECT name, value FROM metadata ORDER BY name", &[])
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        names,
        [
            "created_at",
            "permission_schema_version",
            "storage_schema_version"
        ]
    );
    drop(client);
    scratch.drop().await;
}

#[tokio::test]
async fn concurrent_starts_migrate_once() {
    let Some(url) = database_url("concurrent_starts_migrate_once") else {
        return;
    };
    let scratch = Scratch::empty(&url, "mig_conc").await;
    let runs = (0..6).map(|_| {
        let pool = scratch.pool.clone();
        tokio::spawn(async move { migrate(&pool, &ALL, false).await })
    });
    let mut created = 0;
    for run in runs {
        let report = run.await.unwrap().unwrap();
        if report.changed() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    let client = scratch.pool.get().await.unwrap();
    let n: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM metadata WHERE name = 'storage_schema_version'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    drop(client);
    scratch.drop().await;
}

#[tokio::test]
async fn migrates_from_version_21() {
    let Some(url) = database_url("migrates_from_version_21") else {
        return;
    };
    let scratch = Scratch::new(&url, "mig_21").await;
    // Roll the schema back to what Kinto 13 (version 21) had.
    let client = scratch.pool.get().await.unwrap();
    client
        .batch_execute(
            "DROP INDEX idx_objects_resource_name_parent_id_deleted;
             DROP INDEX idx_objects_history_userid_and_resourcename;
             DROP INDEX idx_objects_parent_id_record_last_modified;
             DELETE FROM metadata WHERE name = 'storage_schema_version';
             INSERT INTO metadata VALUES ('storage_schema_version', '20'), ('storage_schema_version', '21');",
        )
        .await
        .unwrap();
    drop(client);
    let report = migrate(&scratch.pool, &[Component::Storage], false)
        .await
        .unwrap();
    let versions: Vec<(i32, i32)> = report
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Migrated { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(versions, [(21, 22), (22, 23), (23, 24), (24, 25), (25, 26)]);
    let client = scratch.pool.get().await.unwrap();
    let indexes: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'objects'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Primary key + Kinto's five indexes + the GIN index on `data`.
    assert_eq!(indexes, 7);
    let gin: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = 'idx_objects_data_path_ops'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(gin, 1);
    drop(client);
    assert_eq!(installed_versions(&scratch.pool).await.unwrap().0, Some(26));
    scratch.drop().await;
}

#[tokio::test]
async fn refuses_too_old_and_too_new() {
    let Some(url) = database_url("refuses_too_old_and_too_new") else {
        return;
    };
    let scratch = Scratch::new(&url, "mig_old").await;
    let client = scratch.pool.get().await.unwrap();
    client
        .batch_execute("INSERT INTO metadata VALUES ('storage_schema_version', '27')")
        .await
        .unwrap();
    let err = migrate(&scratch.pool, &[Component::Storage], false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("newer than 26"), "{err}");
    client
        .batch_execute("DELETE FROM metadata WHERE name = 'storage_schema_version'; INSERT INTO metadata VALUES ('storage_schema_version', '18')")
        .await
        .unwrap();
    let err = migrate(&scratch.pool, &[Component::Storage], false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("kinto migrate"), "{err}");
    drop(client);
    scratch.drop().await;
}

#[tokio::test]
async fn permission_version_1_is_migrated() {
    let Some(url) = database_url("permission_version_1_is_migrated") else {
        return;
    };
    let scratch = Scratch::empty(&url, "mig_perm1").await;
    let client = scratch.pool.get().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE user_principals (user_id TEXT, principal TEXT, PRIMARY KEY (user_id, principal));
             CREATE TABLE access_control_entries (object_id TEXT, permission TEXT, principal TEXT,
                 PRIMARY KEY (object_id, permission, principal));",
        )
        .await
        .unwrap();
    let report = migrate(&scratch.pool, &[Component::Permission], false)
        .await
        .unwrap();
    assert_eq!(
        report.steps,
        [Step::Migrated {
            component: Component::Permission,
            from: 1,
            to: 2
        }]
    );
    let collation: Option<String> = client
        .query_one(
            "SELECT collation_name::TEXT FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = 'user_principals' AND column_name = 'user_id'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(collation.as_deref(), Some("C"));
    drop(client);
    scratch.drop().await;
}

#[tokio::test]
async fn permission_first_then_storage() {
    let Some(url) = database_url("permission_first_then_storage") else {
        return;
    };
    let scratch = Scratch::empty(&url, "mig_order").await;
    // The permission schema creates `metadata` first, as it may with Kinto.
    migrate(&scratch.pool, &[Component::Permission], false)
        .await
        .unwrap();
    let report = migrate(
        &scratch.pool,
        &[Component::Storage, Component::Cache],
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        report.steps,
        [
            Step::Created(Component::Storage),
            Step::Created(Component::Cache)
        ]
    );
    assert_eq!(
        installed_versions(&scratch.pool).await.unwrap(),
        (Some(26), Some(2), true)
    );
    scratch.drop().await;
}
