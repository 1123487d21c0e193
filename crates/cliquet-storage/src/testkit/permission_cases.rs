//! The permission backend.

use std::collections::{BTreeMap, BTreeSet};

use super::support::*;
use crate::permission::{AUTHENTICATED, authorized_principals, check_permission};
use crate::{Acl, Backends, BoundPermission};

fn acl(entries: &[(&str, &[&str])]) -> Acl {
    entries
        .iter()
        .map(|(permission, principals)| ((*permission).to_owned(), set(principals)))
        .collect()
}

fn accessible(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    entries
        .iter()
        .map(|(object_id, permissions)| ((*object_id).to_owned(), set(permissions)))
        .collect()
}

pub(super) async fn ace_add_remove(backends: Backends) {
    let permission = &backends.permission;
    permission
        .add_principal_to_ace("/a", "read", "alice")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "read", "alice")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "read", "bob")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "write", "carol")
        .await
        .unwrap();
    assert_eq!(
        permission
            .get_object_permission_principals("/a", "read")
            .await
            .unwrap(),
        set(&["alice", "bob"])
    );
    permission
        .remove_principal_from_ace("/a", "read", "alice")
        .await
        .unwrap();
    assert_eq!(
        permission
            .get_object_permission_principals("/a", "read")
            .await
            .unwrap(),
        set(&["bob"])
    );
    permission
        .remove_principal_from_ace("/a", "read", "nobody")
        .await
        .unwrap();
    permission
        .remove_principal_from_ace("/unknown", "read", "bob")
        .await
        .unwrap();
    permission
        .remove_principal_from_ace("/a", "read", "bob")
        .await
        .unwrap();
    assert!(
        permission
            .get_object_permission_principals("/a", "read")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        permission.get_object_permissions("/a", None).await.unwrap(),
        acl(&[("write", &["carol"])])
    );
    assert!(
        permission
            .get_object_permission_principals("/b", "read")
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn user_principals(backends: Backends) {
    let permission = &backends.permission;
    permission
        .add_user_principal("alice", "/buckets/b/groups/g1")
        .await
        .unwrap();
    permission
        .add_user_principal("alice", "/buckets/b/groups/g2")
        .await
        .unwrap();
    permission
        .add_user_principal("alice", "/buckets/b/groups/g2")
        .await
        .unwrap();
    permission
        .add_user_principal(AUTHENTICATED, "/buckets/b/groups/all")
        .await
        .unwrap();
    assert_eq!(
        permission.get_user_principals("alice").await.unwrap(),
        set(&[
            "/buckets/b/groups/g1",
            "/buckets/b/groups/g2",
            "/buckets/b/groups/all"
        ])
    );
    assert_eq!(
        permission.get_user_principals("bob").await.unwrap(),
        set(&["/buckets/b/groups/all"])
    );
    permission
        .remove_user_principal("alice", "/buckets/b/groups/g1")
        .await
        .unwrap();
    permission
        .remove_user_principal("alice", "/buckets/b/groups/none")
        .await
        .unwrap();
    assert_eq!(
        permission.get_user_principals("alice").await.unwrap(),
        set(&["/buckets/b/groups/g2", "/buckets/b/groups/all"])
    );
    permission
        .add_user_principal("bob", "/buckets/b/groups/g2")
        .await
        .unwrap();
    permission
        .remove_principal("/buckets/b/groups/g2")
        .await
        .unwrap();
    permission
        .remove_principal("/buckets/b/groups/all")
        .await
        .unwrap();
    assert!(
        permission
            .get_user_principals("alice")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        permission
            .get_user_principals("bob")
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn object_permissions(backends: Backends) {
    let permission = &backends.permission;
    permission
        .add_principal_to_ace("/a", "read", "x")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "write", "y")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "write", "z")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/b", "write", "z")
        .await
        .unwrap();
    let full = acl(&[("read", &["x"]), ("write", &["y", "z"])]);
    assert_eq!(
        permission.get_object_permissions("/a", None).await.unwrap(),
        full
    );
    let read_only = strings(&["read", "record:create"]);
    assert_eq!(
        permission
            .get_object_permissions("/a", Some(&read_only))
            .await
            .unwrap(),
        acl(&[("read", &["x"])])
    );
    let many = permission
        .get_objects_permissions(&strings(&["/b", "/unknown", "/a"]), None)
        .await
        .unwrap();
    assert_eq!(many, vec![acl(&[("write", &["z"])]), Acl::new(), full]);
    let writes = strings(&["write"]);
    let restricted = permission
        .get_objects_permissions(&strings(&["/a", "/b"]), Some(&writes))
        .await
        .unwrap();
    assert_eq!(
        restricted,
        vec![acl(&[("write", &["y", "z"])]), acl(&[("write", &["z"])])]
    );
    assert!(
        permission
            .get_objects_permissions(&[], None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn replace_object_permissions(backends: Backends) {
    let permission = &backends.permission;
    permission
        .add_principal_to_ace("/a", "read", "x")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "write", "y")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "record:create", "c")
        .await
        .unwrap();
    let replacement = acl(&[("write", &["z", "w"]), ("read", &[])]);
    permission
        .replace_object_permissions("/a", &replacement)
        .await
        .unwrap();
    let expected = acl(&[("record:create", &["c"]), ("write", &["w", "z"])]);
    assert_eq!(
        permission.get_object_permissions("/a", None).await.unwrap(),
        expected
    );
    permission
        .replace_object_permissions("/a", &Acl::new())
        .await
        .unwrap();
    assert_eq!(
        permission.get_object_permissions("/a", None).await.unwrap(),
        expected,
        "an empty ACL changes nothing"
    );
    permission
        .replace_object_permissions("/new", &acl(&[("read", &["n"])]))
        .await
        .unwrap();
    assert_eq!(
        permission
            .get_object_permissions("/new", None)
            .await
            .unwrap(),
        acl(&[("read", &["n"])])
    );
}

pub(super) async fn delete_object_permissions_with_patterns(backends: Backends) {
    let permission = &backends.permission;
    let objects = [
        "/buckets/b1",
        "/buckets/b1/collections/c1",
        "/buckets/b1/collections/c1/records/r1",
        "/buckets/b1/groups/g",
        "/buckets/b2",
        "/buckets/b10/collections/c",
    ];
    for object in objects {
        permission
            .add_principal_to_ace(object, "write", "alice")
            .await
            .unwrap();
    }
    permission
        .delete_object_permissions(&strings(&["/buckets/b1/*"]))
        .await
        .unwrap();
    let remaining = permission
        .get_objects_permissions(&strings(&objects), None)
        .await
        .unwrap();
    let alive: Vec<bool> = remaining.iter().map(|acl| !acl.is_empty()).collect();
    assert_eq!(
        alive,
        [true, false, false, false, true, true],
        "* crosses / but not the id's own end"
    );
    permission
        .delete_object_permissions(&strings(&["/buckets/b1", "/buckets/b2"]))
        .await
        .unwrap();
    let remaining = permission
        .get_objects_permissions(&strings(&objects), None)
        .await
        .unwrap();
    let alive: Vec<bool> = remaining.iter().map(|acl| !acl.is_empty()).collect();
    assert_eq!(alive, [false, false, false, false, false, true]);
}

pub(super) async fn authorized_principals_and_check(backends: Backends) {
    let permission = &backends.permission;
    permission
        .add_principal_to_ace("/a", "read", "x")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/a", "write", "y")
        .await
        .unwrap();
    permission
        .add_principal_to_ace("/b", "write", "z")
        .await
        .unwrap();
    let read_a = [
        BoundPermission::new("/a", "read"),
        BoundPermission::new("/a", "write"),
    ];
    assert_eq!(
        permission.get_authorized_principals(&read_a).await.unwrap(),
        set(&["x", "y"])
    );
    let write_a = [BoundPermission::new("/a", "write")];
    assert_eq!(
        permission
            .get_authorized_principals(&write_a)
            .await
            .unwrap(),
        set(&["y"])
    );
    assert!(
        permission
            .get_authorized_principals(&[BoundPermission::new("/c", "read")])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        permission
            .get_authorized_principals(&[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !permission
            .check_permission(&strings(&["x"]), &write_a)
            .await
            .unwrap()
    );
    assert!(
        permission
            .check_permission(&strings(&["x", "y"]), &write_a)
            .await
            .unwrap()
    );
    assert!(
        permission
            .check_permission(&strings(&["x"]), &read_a)
            .await
            .unwrap()
    );
    assert!(!permission.check_permission(&[], &read_a).await.unwrap());
    assert!(
        !permission
            .check_permission(&strings(&["z"]), &read_a)
            .await
            .unwrap()
    );
    let pattern = [BoundPermission::new("/*", "write")];
    assert!(
        !permission
            .check_permission(&strings(&["z"]), &pattern)
            .await
            .unwrap(),
        "checks take exact ids"
    );
}

pub(super) async fn accessible_objects_with_patterns(backends: Backends) {
    let permission = &backends.permission;
    let aces = [
        ("/buckets/b1", "read", "alice"),
        ("/buckets/b1/collections/c1", "write", "alice"),
        ("/buckets/b1/collections/c1", "read", "bob"),
        ("/buckets/b1/collections/c1/records/r1", "read", "alice"),
        ("/buckets/b2", "write", "/buckets/b2/groups/g"),
        ("/buckets/b3", "read", "carol"),
    ];
    for (object, perm, principal) in aces {
        permission
            .add_principal_to_ace(object, perm, principal)
            .await
            .unwrap();
    }
    let alice = strings(&["alice", "system.Everyone"]);
    let everything = permission
        .get_accessible_objects(&alice, None, true)
        .await
        .unwrap();
    assert_eq!(
        everything,
        accessible(&[
            ("/buckets/b1", &["read"]),
            ("/buckets/b1/collections/c1", &["write"]),
            ("/buckets/b1/collections/c1/records/r1", &["read"]),
        ])
    );
    let principals = strings(&["alice", "/buckets/b2/groups/g"]);
    let buckets = [
        BoundPermission::new("/buckets/*", "read"),
        BoundPermission::new("/buckets/*", "write"),
    ];
    let direct = permission
        .get_accessible_objects(&principals, Some(&buckets), false)
        .await
        .unwrap();
    assert_eq!(
        direct,
        accessible(&[("/buckets/b1", &["read"]), ("/buckets/b2", &["write"])])
    );
    let deep = permission
        .get_accessible_objects(&principals, Some(&buckets), true)
        .await
        .unwrap();
    assert_eq!(
        deep,
        accessible(&[
            ("/buckets/b1", &["read"]),
            ("/buckets/b1/collections/c1", &["write"]),
            ("/buckets/b1/collections/c1/records/r1", &["read"]),
            ("/buckets/b2", &["write"]),
        ])
    );
    let collections = [BoundPermission::new("/buckets/b1/collections/*", "read")];
    let bob = permission
        .get_accessible_objects(&strings(&["bob"]), Some(&collections), false)
        .await
        .unwrap();
    assert_eq!(
        bob,
        accessible(&[("/buckets/b1/collections/c1", &["read"])])
    );
    let exact = [BoundPermission::new("/buckets/b1/collections/c1", "write")];
    let alice_exact = permission
        .get_accessible_objects(&alice, Some(&exact), false)
        .await
        .unwrap();
    assert_eq!(
        alice_exact,
        accessible(&[("/buckets/b1/collections/c1", &["write"])])
    );
    assert!(
        permission
            .get_accessible_objects(&alice, Some(&[]), true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        permission
            .get_accessible_objects(&strings(&["nobody"]), None, true)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn inheritance_tree(backends: Backends) {
    let permission = backends.permission.as_ref();
    let tree = KintoTree;
    let bucket = "/buckets/b";
    let collection = "/buckets/b/collections/c";
    let record = "/buckets/b/collections/c/records/r";
    let group = "/buckets/b/groups/g";
    permission
        .add_principal_to_ace(bucket, "write", "account:alice")
        .await
        .unwrap();
    permission
        .add_principal_to_ace(bucket, "read", "account:eve")
        .await
        .unwrap();
    permission
        .add_principal_to_ace(collection, "read", "account:bob")
        .await
        .unwrap();
    permission
        .add_principal_to_ace(collection, "record:create", group)
        .await
        .unwrap();
    permission
        .add_principal_to_ace(record, "write", "account:carol")
        .await
        .unwrap();
    permission
        .add_principal_to_ace(group, "write", "account:dan")
        .await
        .unwrap();
    permission
        .add_user_principal("account:frank", group)
        .await
        .unwrap();

    let holds = |user: &'static str, object: &'static str, perm: &'static str| async move {
        let mut principals = vec![
            user.to_owned(),
            "system.Everyone".to_owned(),
            AUTHENTICATED.to_owned(),
        ];
        principals.extend(permission.get_user_principals(user).await.unwrap());
        check_permission(permission, &tree, &principals, object, perm)
            .await
            .unwrap()
    };
    let cases: Vec<(&str, &str, &str, bool)> = vec![
        ("account:alice", record, "read", true),
        ("account:alice", record, "write", true),
        ("account:alice", collection, "record:create", true),
        ("account:alice", group, "write", true),
        ("account:bob", record, "read", true),
        ("account:bob", record, "write", false),
        ("account:bob", collection, "read", true),
        ("account:bob", bucket, "read", false),
        ("account:carol", record, "read", true),
        ("account:carol", record, "write", true),
        ("account:carol", collection, "read", false),
        ("account:eve", record, "read", true),
        ("account:eve", group, "read", true),
        ("account:eve", record, "write", false),
        ("account:dan", group, "read", true),
        ("account:dan", record, "read", false),
        ("account:frank", collection, "record:create", true),
        ("account:frank", collection, "read", true),
        ("account:frank", record, "read", false),
        ("account:mallory", record, "read", false),
    ];
    for (user, object, perm, expected) in cases {
        assert_eq!(
            holds(user, object, perm).await,
            expected,
            "{user} {perm} on {object}"
        );
    }
    let readers = authorized_principals(permission, &tree, record, "read")
        .await
        .unwrap();
    assert_eq!(
        readers,
        set(&[
            "account:alice",
            "account:bob",
            "account:carol",
            "account:eve"
        ])
    );
    let creators = authorized_principals(permission, &tree, collection, "record:create")
        .await
        .unwrap();
    assert_eq!(creators, set(&["account:alice", group]));
}

pub(super) async fn flush_permissions(backends: Backends) {
    let permission = &backends.permission;
    permission
        .add_principal_to_ace("/a", "read", "x")
        .await
        .unwrap();
    permission.add_user_principal("alice", "g").await.unwrap();
    permission.flush().await.unwrap();
    assert!(
        permission
            .get_object_permissions("/a", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        permission
            .get_user_principals("alice")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        permission
            .get_accessible_objects(&strings(&["x"]), None, true)
            .await
            .unwrap()
            .is_empty()
    );
}
