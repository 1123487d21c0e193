//! The Rust half of the compatibility check with a real Kinto (driven by
//! `scripts/kinto-roundtrip.sh`, which does the HTTP half with curl).
//!
//! ```text
//! kinto_compat migrate DB_URL
//!     create or migrate the schema, print what was done
//! kinto_compat check-and-write DB_URL KINTO_WROTE.json WE_WROTE.json
//!     read what Kinto wrote through our backends and compare with what its
//!     HTTP API answered, then write objects and permissions for Kinto to
//!     read back, and record them in WE_WROTE.json
//! ```

use std::collections::BTreeSet;
use std::process::ExitCode;

use cliquet_postgres::{Component, Pool, PostgresPermission, PostgresStorage, migrate};
use cliquet_storage::storage::{Create, Delete, Get, List, ResourceTimestamp, Update};
use cliquet_storage::{Permission, Storage};
use serde_json::{Map, Value, json};

type Failure = Box<dyn std::error::Error>;

fn check(condition: bool, what: &str) -> Result<(), Failure> {
    if condition {
        println!("ok   {what}");
        Ok(())
    } else {
        Err(format!("FAIL {what}").into())
    }
}

async fn run_migrate(url: &str) -> Result<(), Failure> {
    let pool = Pool::connect(url)?;
    let report = migrate(
        &pool,
        &[Component::Storage, Component::Permission, Component::Cache],
        false,
    )
    .await?;
    for step in &report.steps {
        println!("{step}");
    }
    Ok(())
}

fn strip(mut record: Map<String, Value>) -> Map<String, Value> {
    record.remove("id");
    record.remove("last_modified");
    record
}

async fn check_and_write(url: &str, input: &str, output: &str) -> Result<(), Failure> {
    let kinto: Value = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    let pool = Pool::connect(url)?;
    // The schema Kinto created is the one we serve: nothing to migrate.
    let report = migrate(
        &pool,
        &[Component::Storage, Component::Permission, Component::Cache],
        true,
    )
    .await?;
    check(
        !report.changed(),
        "Kinto's schema is up to date for us (storage 26, permission 2, cache)",
    )?;

    let storage = PostgresStorage::new(pool.clone());
    let permission = PostgresPermission::new(pool.clone());
    let bucket = kinto["bucket"].as_str().ok_or("bucket")?;
    let collection = kinto["collection"].as_str().ok_or("collection")?;
    let parent = format!("/buckets/{bucket}/collections/{collection}");

    // Records, as Kinto's API returned them.
    let records = kinto["records"].as_array().ok_or("records")?;
    for record in records {
        let id = record["id"].as_str().ok_or("record id")?;
        let ours = storage.get(Get::new("record", &parent, id)).await?;
        check(
            ours.to_json() == *record,
            &format!(
                "record {id} reads the same (data and last_modified {})",
                ours.last_modified
            ),
        )?;
    }
    let tombstone = &kinto["tombstone"];
    let listed = storage
        .list(List::new("record", &parent).with_include_deleted(true))
        .await?;
    check(
        listed
            .iter()
            .any(|o| o.deleted && o.to_json() == *tombstone),
        "Kinto's tombstone is listed with its timestamp",
    )?;
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new("record", &parent))
        .await?;
    check(
        json!(timestamp.to_string()) == kinto["records_etag"],
        &format!("collection timestamp {timestamp} equals Kinto's ETag"),
    )?;
    let bucket_object = storage.get(Get::new("bucket", "", bucket)).await?;
    check(
        bucket_object.to_json() == kinto["bucket_object"],
        "the bucket object reads the same",
    )?;

    // Permissions Kinto stored.
    let record_id = records[0]["id"].as_str().ok_or("record id")?;
    let uri = format!("{parent}/records/{record_id}");
    let acl = permission.get_object_permissions(&uri, None).await?;
    let expected = kinto["record_permissions"]
        .as_object()
        .ok_or("record_permissions")?;
    for (name, principals) in expected {
        let principals: BTreeSet<String> = principals
            .as_array()
            .ok_or("principals")?
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        check(
            acl.get(name) == Some(&principals),
            &format!("permission {name} of {record_id} reads {principals:?}"),
        )?;
    }
    let user = kinto["user_id"].as_str().ok_or("user_id")?;
    let accessible = permission
        .get_accessible_objects(&[user.to_owned()], None, true)
        .await?;
    check(
        accessible.contains_key(&format!("/buckets/{bucket}")),
        "the user's bucket is accessible",
    )?;

    // Now our writes, for Kinto to read back.
    let data = json!({"title": "written by cliquet", "nested": {"n": 1.5, "list": [1, "two", null]}, "ünï": "cödé"});
    let created = storage
        .create(Create::new(
            "record",
            &parent,
            "from-cliquet",
            strip(data.as_object().cloned().unwrap_or_default()),
        ))
        .await?;
    permission
        .add_principal_to_ace(&format!("{parent}/records/from-cliquet"), "write", user)
        .await?;
    permission
        .add_principal_to_ace(
            &format!("{parent}/records/from-cliquet"),
            "read",
            "system.Everyone",
        )
        .await?;
    let updated_id = records[1]["id"].as_str().ok_or("record id")?;
    let updated = storage
        .update(Update::new(
            "record",
            &parent,
            updated_id,
            strip(
                json!({"title": "updated by cliquet"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        ))
        .await?;
    let deleted_id = records[2]["id"].as_str().ok_or("record id")?;
    let deleted = storage
        .delete(Delete::new("record", &parent, deleted_id))
        .await?;
    let timestamp = storage
        .resource_timestamp(ResourceTimestamp::new("record", &parent))
        .await?;
    check(
        timestamp == deleted.tombstone.last_modified,
        "our delete is the collection's latest write",
    )?;
    let out = json!({
        "created": created.to_json(),
        "created_permissions": {"write": [user], "read": ["system.Everyone"]},
        "updated": updated.object.to_json(),
        "tombstone": deleted.tombstone.to_json(),
        "records_etag": timestamp.to_string(),
    });
    std::fs::write(output, serde_json::to_string_pretty(&out)?)?;
    println!("wrote {output}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("migrate") if args.len() == 3 => run_migrate(&args[2]).await,
        Some("check-and-write") if args.len() == 5 => check_and_write(&args[2], &args[3], &args[4]).await,
        _ => Err("usage: kinto_compat migrate DB_URL | check-and-write DB_URL KINTO_WROTE.json WE_WROTE.json".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
