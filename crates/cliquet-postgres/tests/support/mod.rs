//! Shared helpers of the integration tests: the database named by
//! `CLIQUET_TEST_POSTGRES_URL`, one scratch schema per test.
#![allow(dead_code, unreachable_pub)]

use cliquet_postgres::{Component, Pool, ScratchSchema, migrate};

/// The test database URL, or `None` (and a note on stderr) when unset.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("CLIQUET_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: CLIQUET_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A scratch schema with the three backends' tables, and a pool on it.
pub struct Scratch {
    pub schema: ScratchSchema,
    pub pool: Pool,
}

impl Scratch {
    pub async fn new(url: &str, label: &str) -> Scratch {
        let schema = ScratchSchema::create(url, label)
            .await
            .expect("create schema");
        let pool = Pool::new(&schema.settings()).expect("pool");
        migrate(
            &pool,
            &[Component::Storage, Component::Permission, Component::Cache],
            false,
        )
        .await
        .expect("migrate");
        Scratch { schema, pool }
    }

    pub async fn empty(url: &str, label: &str) -> Scratch {
        let schema = ScratchSchema::create(url, label)
            .await
            .expect("create schema");
        let pool = Pool::new(&schema.settings()).expect("pool");
        Scratch { schema, pool }
    }

    pub async fn drop(self) {
        self.schema.drop_schema().await.expect("drop schema");
    }
}
