//! The cache backend.

use std::time::Duration;

use serde_json::json;

use crate::Backends;

const LONG: Duration = Duration::from_secs(3600);

pub(super) async fn set_get_delete(backends: Backends) {
    let cache = &backends.cache;
    assert_eq!(cache.get("missing").await.unwrap(), None);
    let values = [
        json!("text"),
        json!(42),
        json!(1.5),
        json!(true),
        json!([1, "a"]),
        json!({"nested": {"k": [null]}}),
    ];
    for (index, value) in values.iter().enumerate() {
        cache
            .set(&format!("k{index}"), value.clone(), LONG)
            .await
            .unwrap();
    }
    for (index, value) in values.iter().enumerate() {
        assert_eq!(
            cache.get(&format!("k{index}")).await.unwrap().as_ref(),
            Some(value)
        );
    }
    cache.set("k0", json!("replaced"), LONG).await.unwrap();
    assert_eq!(cache.get("k0").await.unwrap(), Some(json!("replaced")));
    assert_eq!(cache.delete("k0").await.unwrap(), Some(json!("replaced")));
    assert_eq!(cache.get("k0").await.unwrap(), None);
    assert_eq!(cache.delete("k0").await.unwrap(), None);
    assert_eq!(
        cache.get("k1").await.unwrap(),
        Some(json!(42)),
        "other keys stay"
    );
    let odd = "pagination-token-é/ü:?&=*";
    cache.set(odd, json!("odd"), LONG).await.unwrap();
    assert_eq!(cache.get(odd).await.unwrap(), Some(json!("odd")));
}

pub(super) async fn ttl_and_expiry(backends: Backends) {
    let cache = &backends.cache;
    cache
        .set("short", json!(1), Duration::from_millis(300))
        .await
        .unwrap();
    cache.set("long", json!(2), LONG).await.unwrap();
    cache
        .set("extended", json!(3), Duration::from_millis(300))
        .await
        .unwrap();
    cache.set("shortened", json!(4), LONG).await.unwrap();
    let remaining = cache.ttl("short").await.unwrap().expect("a key has a TTL");
    assert!(remaining <= Duration::from_millis(300), "ttl {remaining:?}");
    let remaining = cache.ttl("long").await.unwrap().expect("a key has a TTL");
    assert!(
        remaining > Duration::from_secs(3000) && remaining <= LONG,
        "ttl {remaining:?}"
    );
    assert!(cache.expire("extended", LONG).await.unwrap());
    assert!(
        cache
            .expire("shortened", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert!(!cache.expire("missing", LONG).await.unwrap());
    assert_eq!(cache.ttl("missing").await.unwrap(), None);

    tokio::time::sleep(Duration::from_millis(1200)).await;

    assert_eq!(cache.get("short").await.unwrap(), None, "expired");
    assert_eq!(cache.ttl("short").await.unwrap(), None);
    assert_eq!(cache.delete("short").await.unwrap(), None);
    assert!(!cache.expire("short", LONG).await.unwrap());
    assert_eq!(cache.get("shortened").await.unwrap(), None);
    assert_eq!(cache.get("long").await.unwrap(), Some(json!(2)));
    assert_eq!(cache.get("extended").await.unwrap(), Some(json!(3)));
    cache.set("short", json!("again"), LONG).await.unwrap();
    assert_eq!(
        cache.get("short").await.unwrap(),
        Some(json!("again")),
        "an expired key can be set again"
    );
}

pub(super) async fn flush_cache(backends: Backends) {
    let cache = &backends.cache;
    for key in ["a", "b", "c"] {
        cache.set(key, json!(key), LONG).await.unwrap();
    }
    cache.flush().await.unwrap();
    for key in ["a", "b", "c"] {
        assert_eq!(cache.get(key).await.unwrap(), None);
    }
    cache.set("a", json!(1), LONG).await.unwrap();
    assert_eq!(cache.get("a").await.unwrap(), Some(json!(1)));
}
