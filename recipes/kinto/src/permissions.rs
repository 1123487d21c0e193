//! Kinto's permission inheritance tree, and the settings that grant
//! permissions whatever the ACLs say.
//!
//! [`bound_permissions`] answers, for an object URI (or a plural URI, or a
//! `*` pattern of children) and a permission, which `(object, permission)`
//! pairs of the ACL store grant it — the table of `permissions.md` §2:
//! `write` on a bucket grants everything below it, `read` on a bucket
//! grants `read` below it, `collection:create` / `group:create` /
//! `record:create` let their holder read the metadata of the object they
//! are held on (Kinto's `read:attributes`), and so on.
//!
//! [`Grants`] reads the `<resource>_<permission>_principals` settings the
//! way Kinto does (§3): the setting consulted for a pair is named after the
//! resource of the *endpoint*, not of the pair, so `bucket_write_principals`
//! grants write on bucket endpoints only.

use std::collections::BTreeMap;

use cliquet::settings::RawSettings;
use cliquet_resource::Access;
use cliquet_storage::BoundPermission;
use serde_json::Value;

/// Every permission name a pair of the tree may carry.
const PAIR_PERMISSIONS: [&str; 6] = [
    "read",
    "write",
    "bucket:create",
    "collection:create",
    "group:create",
    "record:create",
];

fn pair(object_id: &str, permission: &str) -> BoundPermission {
    BoundPermission::new(object_id, permission)
}

/// The pairs that grant `permission` on `object_id` (a URI without the
/// version prefix, such as `/buckets/b/collections/c`, a plural URI such as
/// `/buckets/b/collections`, or a pattern such as
/// `/buckets/b/collections/*`).
///
/// ```
/// let pairs = kinto::permissions::bound_permissions("/buckets/b/collections/c/records/r", "write");
/// let objects: Vec<_> = pairs.iter().map(|p| p.object_id.as_str()).collect();
/// assert_eq!(objects, ["/buckets/b", "/buckets/b/collections/c", "/buckets/b/collections/c/records/r"]);
/// ```
pub fn bound_permissions(object_id: &str, permission: &str) -> Vec<BoundPermission> {
    let segments: Vec<&str> = object_id.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["buckets", bid] => {
            let bucket = format!("/buckets/{bid}");
            match permission {
                "write" => vec![pair(&bucket, "write")],
                // Kinto's `read:attributes`: creating children lets one read
                // the bucket's own metadata.
                "read" => vec![
                    pair(&bucket, "write"),
                    pair(&bucket, "read"),
                    pair(&bucket, "collection:create"),
                    pair(&bucket, "group:create"),
                ],
                "collection:create" | "group:create" => {
                    vec![pair(&bucket, "write"), pair(&bucket, permission)]
                }
                other => vec![pair(&bucket, other)],
            }
        }
        ["buckets", bid, "collections" | "groups"] => {
            let bucket = format!("/buckets/{bid}");
            match permission {
                "read" => vec![pair(&bucket, "write"), pair(&bucket, "read")],
                "write" => vec![pair(&bucket, "write")],
                create => vec![pair(&bucket, "write"), pair(&bucket, create)],
            }
        }
        ["buckets", bid, "collections", cid] => {
            let bucket = format!("/buckets/{bid}");
            let collection = format!("{bucket}/collections/{cid}");
            match permission {
                "write" => vec![pair(&bucket, "write"), pair(&collection, "write")],
                "read" => vec![
                    pair(&bucket, "write"),
                    pair(&bucket, "read"),
                    pair(&collection, "write"),
                    pair(&collection, "read"),
                    pair(&collection, "record:create"),
                ],
                "record:create" => vec![
                    pair(&bucket, "write"),
                    pair(&collection, "write"),
                    pair(&collection, "record:create"),
                ],
                other => vec![pair(&collection, other)],
            }
        }
        ["buckets", bid, "groups", gid] => {
            let bucket = format!("/buckets/{bid}");
            let group = format!("{bucket}/groups/{gid}");
            match permission {
                "write" => vec![pair(&bucket, "write"), pair(&group, "write")],
                "read" => vec![
                    pair(&bucket, "write"),
                    pair(&bucket, "read"),
                    pair(&group, "write"),
                    pair(&group, "read"),
                ],
                other => vec![pair(&group, other)],
            }
        }
        ["buckets", bid, "collections", cid, "records"] => {
            let bucket = format!("/buckets/{bid}");
            let collection = format!("{bucket}/collections/{cid}");
            match permission {
                "read" => vec![
                    pair(&bucket, "write"),
                    pair(&bucket, "read"),
                    pair(&collection, "write"),
                    pair(&collection, "read"),
                ],
                "write" => vec![pair(&bucket, "write"), pair(&collection, "write")],
                create => vec![
                    pair(&bucket, "write"),
                    pair(&collection, "write"),
                    pair(&collection, create),
                ],
            }
        }
        ["buckets", bid, "collections", cid, "records", rid] => {
            let bucket = format!("/buckets/{bid}");
            let collection = format!("{bucket}/collections/{cid}");
            let record = format!("{collection}/records/{rid}");
            match permission {
                "write" => vec![
                    pair(&bucket, "write"),
                    pair(&collection, "write"),
                    pair(&record, "write"),
                ],
                "read" => vec![
                    pair(&bucket, "write"),
                    pair(&bucket, "read"),
                    pair(&collection, "write"),
                    pair(&collection, "read"),
                    pair(&record, "write"),
                    pair(&record, "read"),
                ],
                other => vec![pair(&record, other)],
            }
        }
        // `/buckets` itself (only settings grant anything there) and any
        // other URI: the permission on the object only.
        _ => vec![pair(object_id, permission)],
    }
}

/// The principals the `*_principals` settings grant, per endpoint
/// resource and pair permission.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    by_resource: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// Splits a principals setting: a list, or text separated by spaces,
/// newlines or commas (as Kinto's `aslist`).
pub(crate) fn principals_of(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::String(text) => text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The name of the setting that grants the pair permission `permission`
/// on an endpoint of `resource` (Kinto's rule: `collection:create` on a
/// collection endpoint is `collection_create_principals`; `write` on it is
/// `collection_write_principals`, whichever object the pair names).
pub fn setting_name(resource: &str, permission: &str) -> String {
    match permission.split_once(':') {
        Some((prefix, action)) if prefix == resource => format!("{prefix}_{action}_principals"),
        _ => format!("{resource}_{permission}_principals"),
    }
}

impl Grants {
    /// Reads the grants of the four resources from the settings.
    pub fn from_settings(raw: &RawSettings) -> Self {
        let mut by_resource = BTreeMap::new();
        for resource in ["bucket", "collection", "group", "record"] {
            let mut grants = BTreeMap::new();
            for permission in PAIR_PERMISSIONS {
                let principals = raw
                    .get(&setting_name(resource, permission))
                    .map(principals_of)
                    .unwrap_or_default();
                if !principals.is_empty() {
                    grants.insert(permission.to_owned(), principals);
                }
            }
            by_resource.insert(resource.to_owned(), grants);
        }
        Self { by_resource }
    }

    /// Grants the pair permission `permission` to `principal` on the
    /// endpoints of `resource`, beside what the settings grant.
    pub fn with_grant(mut self, resource: &str, permission: &str, principal: &str) -> Self {
        self.by_resource
            .entry(resource.to_owned())
            .or_default()
            .entry(permission.to_owned())
            .or_default()
            .push(principal.to_owned());
        self
    }

    /// The access rules of `resource`'s endpoints: Kinto's tree, and the
    /// settings grants.
    pub fn access(&self, resource: &str) -> Access {
        let mut access = Access::shared(bound_permissions);
        for (permission, principals) in self.by_resource.get(resource).into_iter().flatten() {
            access = access.grant(permission.clone(), principals.iter().cloned());
        }
        access
    }

    /// Whether the settings grant one of `pairs` to one of `principals` on
    /// an endpoint of `resource`.
    pub fn allows(&self, resource: &str, pairs: &[BoundPermission], principals: &[String]) -> bool {
        let Some(grants) = self.by_resource.get(resource) else {
            return false;
        };
        pairs.iter().any(|pair| {
            grants
                .get(&pair.permission)
                .is_some_and(|granted| granted.iter().any(|p| principals.contains(p)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(object_id: &str, permission: &str) -> Vec<(String, String)> {
        bound_permissions(object_id, permission)
            .into_iter()
            .map(|p| (p.object_id, p.permission))
            .collect()
    }

    fn p(object: &str, permission: &str) -> (String, String) {
        (object.to_owned(), permission.to_owned())
    }

    #[test]
    fn bucket_write_grants_everything_below() {
        for uri in [
            "/buckets/b",
            "/buckets/b/collections/c",
            "/buckets/b/groups/g",
            "/buckets/b/collections/c/records/r",
        ] {
            for permission in ["read", "write"] {
                assert!(
                    pairs(uri, permission).contains(&p("/buckets/b", "write")),
                    "{uri} {permission}"
                );
            }
        }
        assert!(
            pairs("/buckets/b/collections", "collection:create")
                .contains(&p("/buckets/b", "write"))
        );
        assert!(
            pairs("/buckets/b/collections/c/records", "record:create")
                .contains(&p("/buckets/b", "write"))
        );
    }

    #[test]
    fn create_permissions_read_attributes_only() {
        assert!(pairs("/buckets/b", "read").contains(&p("/buckets/b", "collection:create")));
        assert!(
            !pairs("/buckets/b/collections/c", "read")
                .contains(&p("/buckets/b", "collection:create"))
        );
        assert!(
            pairs("/buckets/b/collections/c", "read")
                .contains(&p("/buckets/b/collections/c", "record:create"))
        );
        assert!(
            !pairs("/buckets/b/collections/c/records/r", "read")
                .contains(&p("/buckets/b/collections/c", "record:create"))
        );
        // group:create does not imply collection:create.
        assert!(
            !pairs("/buckets/b/collections", "collection:create")
                .contains(&p("/buckets/b", "group:create"))
        );
        // bucket:create is only what it is.
        assert_eq!(
            pairs("/buckets", "bucket:create"),
            [p("/buckets", "bucket:create")]
        );
    }

    #[test]
    fn patterns_name_children() {
        let list = pairs("/buckets/b/collections/*", "read");
        assert!(list.contains(&p("/buckets/b/collections/*", "read")));
        assert!(list.contains(&p("/buckets/b/collections/*", "record:create")));
        let records = pairs("/buckets/b/collections/c/records", "read");
        assert_eq!(records.len(), 4);
        assert!(!records.iter().any(|(o, _)| o.ends_with("/records")));
    }

    #[test]
    fn settings_names_follow_the_endpoint() {
        assert_eq!(
            setting_name("collection", "collection:create"),
            "collection_create_principals"
        );
        assert_eq!(setting_name("record", "write"), "record_write_principals");
        assert_eq!(
            setting_name("bucket", "bucket:create"),
            "bucket_create_principals"
        );
        assert_eq!(
            setting_name("bucket", "collection:create"),
            "bucket_collection:create_principals"
        );
    }

    #[test]
    fn grants_from_settings() {
        let mut raw = RawSettings::new();
        raw.set("bucket_create_principals", "system.Authenticated, fxa:x");
        raw.set("bucket_write_principals", "admin");
        let grants = Grants::from_settings(&raw);
        let create = bound_permissions("/buckets", "bucket:create");
        assert!(grants.allows("bucket", &create, &["fxa:x".to_owned()]));
        assert!(!grants.allows("bucket", &create, &["fxa:y".to_owned()]));
        // bucket_write_principals counts on bucket endpoints only.
        let write = bound_permissions("/buckets/b/collections/c", "write");
        assert!(grants.allows(
            "bucket",
            &bound_permissions("/buckets/b", "write"),
            &["admin".to_owned()]
        ));
        assert!(!grants.allows("collection", &write, &["admin".to_owned()]));
    }
}
