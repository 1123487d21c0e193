//! The permission backend: access control entries and group memberships.
//!
//! An *access control entry* (ACE) is the set of principals holding one
//! permission on one object, the object being named by its URI without
//! version prefix (`/buckets/b/collections/c`): the *object id* here. An
//! object's ACL is its ACEs, `{permission: {principals}}` ([`Acl`]).
//!
//! *User principals* are extra principals of a user id: the groups they
//! belong to. Principals attached to the pseudo user `system.Authenticated`
//! belong to every authenticated user, so [`Permission::get_user_principals`]
//! returns them too.
//!
//! A permission is granted through other permissions: `write` on a bucket
//! grants `read` on its records. That *inheritance tree* belongs to the
//! application, which supplies it as a [`BoundPermissions`]; the functions
//! [`authorized_principals`] and [`check_permission`] ask the backend about
//! every `(object id, permission)` pair the tree lists. [`NoInheritance`] is
//! the generic resource's tree: `write` grants `read`, nothing else.
//!
//! ```
//! # async fn demo(backend: &dyn cliquet_storage::Permission) -> cliquet_storage::Result<()> {
//! use cliquet_storage::permission::{check_permission, NoInheritance};
//!
//! backend.add_principal_to_ace("/articles/a", "write", "account:alice").await?;
//! let principals = ["account:alice".to_owned(), "system.Everyone".to_owned()];
//! // `write` grants `read` in the default tree.
//! assert!(check_permission(backend, &NoInheritance, &principals, "/articles/a", "read").await?);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use async_trait::async_trait;

use crate::error::Result;

/// The principal every request has.
pub const EVERYONE: &str = "system.Everyone";
/// The principal every authenticated request has; principals attached to it
/// as a user belong to every authenticated user.
pub const AUTHENTICATED: &str = "system.Authenticated";

/// A set of principals.
pub type Principals = BTreeSet<String>;

/// The ACL of one object: its principals per permission. Permissions with no
/// principal are absent.
pub type Acl = BTreeMap<String, Principals>;

/// One `(object id, permission)` pair: a permission on one object, or, in
/// [`Permission::get_accessible_objects`], on every object whose id matches
/// a pattern with `*` wildcards.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundPermission {
    /// The object id (URI), or a pattern of them.
    pub object_id: String,
    /// The permission name (`read`, `write`, `record:create`).
    pub permission: String,
}

impl BoundPermission {
    /// The pair `(object_id, permission)`.
    pub fn new(object_id: impl Into<String>, permission: impl Into<String>) -> Self {
        Self {
            object_id: object_id.into(),
            permission: permission.into(),
        }
    }
}

/// A permission backend. Object-safe: used as `Arc<dyn Permission>`.
///
/// Writes inside a transaction go through [`crate::Transaction::permission`].
#[async_trait]
pub trait Permission: Send + Sync {
    /// Adds `principal` to the principals of `user_id` (idempotent).
    async fn add_user_principal(&self, user_id: &str, principal: &str) -> Result<()>;

    /// Removes `principal` from the principals of `user_id` (no error if absent).
    async fn remove_user_principal(&self, user_id: &str, principal: &str) -> Result<()>;

    /// Removes `principal` from every user (a deleted group).
    async fn remove_principal(&self, principal: &str) -> Result<()>;

    /// The principals of `user_id`, with those of [`AUTHENTICATED`].
    async fn get_user_principals(&self, user_id: &str) -> Result<Principals>;

    /// Adds `principal` to the ACE `(object_id, permission)` (idempotent).
    async fn add_principal_to_ace(
        &self,
        object_id: &str,
        permission: &str,
        principal: &str,
    ) -> Result<()>;

    /// Removes `principal` from the ACE `(object_id, permission)` (no error if absent).
    async fn remove_principal_from_ace(
        &self,
        object_id: &str,
        permission: &str,
        principal: &str,
    ) -> Result<()>;

    /// The principals of one ACE (empty if none).
    async fn get_object_permission_principals(
        &self,
        object_id: &str,
        permission: &str,
    ) -> Result<Principals>;

    /// The ACLs of several objects, in the order of `object_ids` (an empty
    /// ACL for an unknown id), restricted to `permissions` when given.
    async fn get_objects_permissions(
        &self,
        object_ids: &[String],
        permissions: Option<&[String]>,
    ) -> Result<Vec<Acl>>;

    /// The ACL of one object, restricted to `permissions` when given.
    async fn get_object_permissions(
        &self,
        object_id: &str,
        permissions: Option<&[String]>,
    ) -> Result<Acl> {
        let mut acls = self
            .get_objects_permissions(&[object_id.to_owned()], permissions)
            .await?;
        Ok(acls.pop().unwrap_or_default())
    }

    /// Replaces, for each permission of `acl`, the principals of that ACE;
    /// an empty set deletes the ACE; permissions absent from `acl` are left
    /// alone (an empty `acl` changes nothing).
    async fn replace_object_permissions(&self, object_id: &str, acl: &Acl) -> Result<()>;

    /// Deletes every ACE of these objects; ids may be patterns with `*`
    /// (matching any characters, `/` included).
    async fn delete_object_permissions(&self, object_ids: &[String]) -> Result<()>;

    /// The union of the principals of the listed ACEs (exact object ids).
    async fn get_authorized_principals(&self, bound: &[BoundPermission]) -> Result<Principals>;

    /// Whether any of `principals` is in any of the listed ACEs.
    async fn check_permission(
        &self,
        principals: &[String],
        bound: &[BoundPermission],
    ) -> Result<bool> {
        let authorized = self.get_authorized_principals(bound).await?;
        Ok(principals
            .iter()
            .any(|principal| authorized.contains(principal)))
    }

    /// The objects on which some of `principals` hold some permission, with
    /// those permissions.
    ///
    /// With `bound = Some(pairs)`, only the permissions and object ids the
    /// pairs name count, where `*` in a pair's object id is a wildcard; it
    /// crosses `/` when `with_children` is true, and stops at `/` when it
    /// is false (direct children only). `Some(&[])` gives an empty map,
    /// `None` everything the principals hold.
    async fn get_accessible_objects(
        &self,
        principals: &[String],
        bound: Option<&[BoundPermission]>,
        with_children: bool,
    ) -> Result<BTreeMap<String, BTreeSet<String>>>;

    /// Deletes every ACE and every user principal.
    async fn flush(&self) -> Result<()>;

    /// Checks that the backend answers (for `/__heartbeat__`).
    async fn healthcheck(&self) -> Result<()>;
}

/// An application's inheritance tree: which `(object, permission)` pairs
/// grant a permission on an object.
///
/// A closure `Fn(&str, &str) -> Vec<BoundPermission>` is one.
pub trait BoundPermissions: Send + Sync {
    /// Every pair that grants `permission` on `object_id` (including the pair
    /// itself, when holding it directly counts).
    fn bound_permissions(&self, object_id: &str, permission: &str) -> Vec<BoundPermission>;
}

impl<F> BoundPermissions for F
where
    F: Fn(&str, &str) -> Vec<BoundPermission> + Send + Sync,
{
    fn bound_permissions(&self, object_id: &str, permission: &str) -> Vec<BoundPermission> {
        self(object_id, permission)
    }
}

/// The tree of the generic resource: `read` is granted by `read` or
/// `write` on the same object; any other permission only by itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInheritance;

impl BoundPermissions for NoInheritance {
    fn bound_permissions(&self, object_id: &str, permission: &str) -> Vec<BoundPermission> {
        if permission == "read" {
            vec![
                BoundPermission::new(object_id, "read"),
                BoundPermission::new(object_id, "write"),
            ]
        } else {
            vec![BoundPermission::new(object_id, permission)]
        }
    }
}

impl fmt::Debug for dyn BoundPermissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundPermissions")
    }
}

/// Every principal holding `permission` on `object_id` through the
/// inheritance `tree`.
pub async fn authorized_principals(
    backend: &dyn Permission,
    tree: &dyn BoundPermissions,
    object_id: &str,
    permission: &str,
) -> Result<Principals> {
    backend
        .get_authorized_principals(&tree.bound_permissions(object_id, permission))
        .await
}

/// Whether any of `principals` holds `permission` on `object_id` through
/// the inheritance `tree`.
pub async fn check_permission(
    backend: &dyn Permission,
    tree: &dyn BoundPermissions,
    principals: &[String],
    object_id: &str,
    permission: &str,
) -> Result<bool> {
    backend
        .check_permission(principals, &tree.bound_permissions(object_id, permission))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_inheritance_tree() {
        let pairs = NoInheritance.bound_permissions("/a", "read");
        assert_eq!(
            pairs,
            vec![
                BoundPermission::new("/a", "read"),
                BoundPermission::new("/a", "write")
            ]
        );
        assert_eq!(
            NoInheritance.bound_permissions("/a", "write"),
            vec![BoundPermission::new("/a", "write")]
        );
    }

    #[test]
    fn closures_are_trees() {
        let tree = |object_id: &str, _: &str| vec![BoundPermission::new(object_id, "admin")];
        let tree: &dyn BoundPermissions = &tree;
        assert_eq!(
            tree.bound_permissions("/x", "read"),
            vec![BoundPermission::new("/x", "admin")]
        );
    }
}
