//! Concurrent writers and readers.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::support::*;
use crate::cliquet_filter::{Filter, Operator, SortField};
use crate::storage::{Create, Get, List, ResourceTimestamp, Update};
use crate::{Backends, StorageError};

/// Waits for every task, propagating panics.
async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("a task of the case panicked"));
    }
    results
}

pub(super) async fn concurrent_creates_get_distinct_timestamps(backends: Backends) {
    const TASKS: usize = 8;
    const CREATES: usize = 500;
    let tasks = (0..TASKS)
        .map(|task| {
            let storage = backends.storage.clone();
            tokio::spawn(async move {
                let mut stamps = Vec::with_capacity(CREATES);
                for i in 0..CREATES {
                    let id = format!("t{task}-{i}");
                    let object = storage
                        .create(Create::new(RECORD, PARENT, id, data(json!({"task": task}))))
                        .await
                        .unwrap();
                    stamps.push((object.id, object.last_modified));
                }
                stamps
            })
        })
        .collect();
    let results = join_all(tasks).await;
    let mut all = HashSet::new();
    let mut max = 0;
    for stamps in &results {
        for pair in stamps.windows(2) {
            assert!(
                pair[1].1 > pair[0].1,
                "a writer's timestamps increase: {pair:?}"
            );
        }
        for (_, stamp) in stamps {
            assert!(all.insert(*stamp), "timestamp {stamp} given twice");
            max = max.max(*stamp);
        }
    }
    assert_eq!(all.len(), TASKS * CREATES);
    let listed = backends
        .storage
        .list(List::new(RECORD, PARENT).with_sort(vec![SortField::asc("last_modified")]))
        .await
        .unwrap();
    assert_eq!(listed.len(), TASKS * CREATES);
    for pair in listed.windows(2) {
        assert!(
            pair[1].last_modified > pair[0].last_modified,
            "stored timestamps are distinct"
        );
    }
    let stored: HashSet<(String, i64)> = listed
        .into_iter()
        .map(|object| (object.id, object.last_modified))
        .collect();
    let returned: HashSet<(String, i64)> = results.into_iter().flatten().collect();
    assert_eq!(
        stored, returned,
        "the timestamps returned are the ones stored"
    );
    let timestamp = backends
        .storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    assert_eq!(timestamp, max);
}

pub(super) async fn concurrent_conditional_increments(backends: Backends) {
    const TASKS: i64 = 16;
    const INCREMENTS: i64 = 20;
    let storage = backends.storage.clone();
    storage
        .create(Create::new(
            RECORD,
            PARENT,
            "counter",
            data(json!({"n": 0})),
        ))
        .await
        .unwrap();
    let tasks = (0..TASKS)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let mut done = 0;
                let mut conflicts = 0_u64;
                while done < INCREMENTS {
                    let current = storage
                        .get(Get::new(RECORD, PARENT, "counter"))
                        .await
                        .unwrap();
                    let n = current.data["n"].as_i64().unwrap();
                    let update = Update::new(RECORD, PARENT, "counter", data(json!({"n": n + 1})))
                        .with_if_match(Some(current.last_modified));
                    match storage.update(update).await {
                        Ok(updated) => {
                            assert_eq!(updated.previous.as_ref(), Some(&current));
                            done += 1;
                        }
                        Err(StorageError::Modified {
                            current: Some(newer),
                        }) => {
                            assert_ne!(newer.last_modified, current.last_modified);
                            conflicts += 1;
                            tokio::task::yield_now().await;
                        }
                        Err(other) => panic!("unexpected error: {other:?}"),
                    }
                }
                conflicts
            })
        })
        .collect();
    join_all(tasks).await;
    let counter = storage
        .get(Get::new(RECORD, PARENT, "counter"))
        .await
        .unwrap();
    assert_eq!(
        counter.data["n"],
        json!(TASKS * INCREMENTS),
        "no acknowledged increment was lost"
    );
}

pub(super) async fn since_poller_sees_every_object(backends: Backends) {
    const WRITERS: usize = 8;
    const CREATES: usize = 150;
    let storage = backends.storage.clone();
    let start = storage
        .resource_timestamp(ResourceTimestamp::new(RECORD, PARENT))
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let poller = {
        let storage = storage.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut since = start;
            let mut seen = BTreeSet::new();
            loop {
                // Read the flag before polling: a poll that starts after every
                // writer finished must see everything.
                let finished = done.load(Ordering::SeqCst);
                let params = List::new(RECORD, PARENT)
                    .with_filters(vec![Filter::new("last_modified", Operator::Gt, since)])
                    .with_sort(vec![SortField::asc("last_modified")])
                    .with_limit(Some(50))
                    .with_include_deleted(true);
                let page = storage.list(params).await.unwrap();
                for object in &page {
                    assert!(object.last_modified > since);
                    assert!(seen.insert(object.id.clone()), "{} seen twice", object.id);
                }
                if let Some(last) = page.last() {
                    since = last.last_modified;
                } else if finished {
                    return seen;
                } else {
                    tokio::task::yield_now().await;
                }
            }
        })
    };

    let writers = (0..WRITERS)
        .map(|writer| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(CREATES);
                for i in 0..CREATES {
                    let id = format!("w{writer}-{i}");
                    storage
                        .create(Create::new(RECORD, PARENT, id.clone(), data(json!({}))))
                        .await
                        .unwrap();
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let created: BTreeSet<String> = join_all(writers).await.into_iter().flatten().collect();
    done.store(true, Ordering::SeqCst);
    let seen = poller.await.expect("the poller panicked");
    let missed: Vec<&String> = created.difference(&seen).collect();
    assert!(
        missed.is_empty(),
        "the poller missed {} objects, e.g. {:?}",
        missed.len(),
        missed.first()
    );
    assert_eq!(seen.len(), WRITERS * CREATES);
}

pub(super) async fn concurrent_creates_same_id(backends: Backends) {
    let tasks = (0..16)
        .map(|task| {
            let storage = backends.storage.clone();
            tokio::spawn(async move {
                storage
                    .create(Create::new(
                        RECORD,
                        PARENT,
                        "same",
                        data(json!({"task": task})),
                    ))
                    .await
            })
        })
        .collect();
    let results = join_all(tasks).await;
    let winners: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one create succeeds");
    let winner = winners[0].clone();
    for result in results {
        if let Err(error) = result {
            match error {
                StorageError::Conflict { existing, .. } => {
                    if let Some(existing) = existing {
                        assert_eq!(*existing, winner);
                    }
                }
                other => panic!("expected Conflict, got {other:?}"),
            }
        }
    }
    assert_eq!(
        backends
            .storage
            .get(Get::new(RECORD, PARENT, "same"))
            .await
            .unwrap(),
        winner
    );
}

pub(super) async fn concurrent_transactions(backends: Backends) {
    const TASKS: usize = 8;
    const CREATES: usize = 10;
    let tasks = (0..TASKS)
        .map(|task| {
            let storage = backends.storage.clone();
            tokio::spawn(async move {
                let transaction = storage.begin().await.unwrap();
                for i in 0..CREATES {
                    let id = format!("t{task}-{i}");
                    transaction
                        .storage()
                        .create(Create::new(RECORD, PARENT, id, data(json!({}))))
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
                if task % 2 == 0 {
                    transaction.commit().await.unwrap();
                } else {
                    transaction.rollback().await.unwrap();
                }
            })
        })
        .collect();
    join_all(tasks).await;
    let listed = backends
        .storage
        .list(
            List::new(RECORD, PARENT)
                .with_sort(vec![SortField::asc("last_modified")])
                .with_include_deleted(true),
        )
        .await
        .unwrap();
    let expected: BTreeSet<String> = (0..TASKS)
        .filter(|task| task % 2 == 0)
        .flat_map(|task| (0..CREATES).map(move |i| format!("t{task}-{i}")))
        .collect();
    assert_eq!(id_set(&listed), expected);
    for pair in listed.windows(2) {
        assert!(
            pair[1].last_modified > pair[0].last_modified,
            "committed timestamps are distinct"
        );
    }
}
