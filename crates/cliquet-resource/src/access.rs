//! Who may do what: the permission rules of a resource.
//!
//! A resource is either **private** ([`Access::private`], the default):
//! each authenticated user has a collection of their own (the parent id is
//! the user id), anonymous requests get 401, and no ACL is stored; or
//! **shared** ([`Access::shared`]): objects of a collection are shared, and
//! every request needs a permission checked against ACLs stored in the
//! permission backend, through the application's inheritance tree
//! ([`BoundPermissions`]), as `permissions.md` says:
//!
//! | request | object id checked | permission |
//! | --- | --- | --- |
//! | GET/HEAD plural | plural URI | `read` (else only the objects readable one by one) |
//! | POST plural | plural URI | `<resource>:create`; an existing id: `read` on it |
//! | DELETE plural | plural URI | `write` (else only the objects writable one by one) |
//! | GET/HEAD object | object URI | `read` |
//! | PUT object | object URI / plural URI | `write` if it exists (`create` with `If-None-Match: *`), `create` if not |
//! | PATCH/DELETE object | object URI | `write`; a missing object: `read` on the plural URI decides between 404 and 401/403 |
//!
//! [`Access::grant`] gives a permission to principals whatever the ACLs say
//! (Kinto's `<resource>_<permission>_principals` settings): a grant of `P'`
//! counts for every `P` that `P'` is a bound permission of.
//!
//! Denials are 401 errno 104 for anonymous requests, 403 errno 121 for
//! authenticated ones.
//!
//! ```
//! use cliquet_resource::Access;
//! use cliquet_storage::permission::{BoundPermission, NoInheritance};
//!
//! // Anyone authenticated may create; the rest is per object.
//! let access = Access::shared(NoInheritance).grant("article:create", ["system.Authenticated"]);
//! # let _ = access;
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use cliquet_auth::Identity;
use cliquet_errors::ApiError;
use cliquet_storage::permission::Acl;
use cliquet_storage::permission::{BoundPermission, NoInheritance};
use cliquet_storage::{BoundPermissions, Permission};

/// The permission rules of a resource.
#[derive(Clone)]
pub struct Access {
    pub(crate) kind: Kind,
}

#[derive(Clone)]
pub(crate) enum Kind {
    Private,
    Shared {
        tree: Arc<dyn BoundPermissions>,
        grants: BTreeMap<String, Vec<String>>,
    },
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Private => f.write_str("Access::Private"),
            Kind::Shared { grants, .. } => f
                .debug_struct("Access::Shared")
                .field("grants", grants)
                .finish_non_exhaustive(),
        }
    }
}

impl Default for Access {
    fn default() -> Self {
        Self::private()
    }
}

impl Access {
    /// Private per user: the parent id of every object is the user id,
    /// only authenticated users have access, each to their own objects.
    pub fn private() -> Self {
        Self {
            kind: Kind::Private,
        }
    }

    /// Shared objects under ACLs, with the inheritance `tree` of the
    /// application ([`NoInheritance`] for a resource on its own).
    pub fn shared(tree: impl BoundPermissions + 'static) -> Self {
        Self {
            kind: Kind::Shared {
                tree: Arc::new(tree),
                grants: BTreeMap::new(),
            },
        }
    }

    /// Shared objects with the default tree: `write` grants `read`.
    pub fn shared_default() -> Self {
        Self::shared(NoInheritance)
    }

    /// Grants `permission` to `principals` on every object of the resource
    /// (Kinto's `<resource>_<permission>_principals` settings). Does
    /// nothing on a private resource.
    pub fn grant<I, S>(mut self, permission: impl Into<String>, principals: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Kind::Shared { grants, .. } = &mut self.kind {
            grants
                .entry(permission.into())
                .or_default()
                .extend(principals.into_iter().map(Into::into));
        }
        self
    }

    /// Whether objects are private per user.
    pub fn is_private(&self) -> bool {
        matches!(self.kind, Kind::Private)
    }

    /// The pairs granting `permission` on `object_id`.
    pub(crate) fn bound(&self, object_id: &str, permission: &str) -> Vec<BoundPermission> {
        match &self.kind {
            Kind::Private => Vec::new(),
            Kind::Shared { tree, .. } => tree.bound_permissions(object_id, permission),
        }
    }

    /// Whether the principals hold `permission` on `object_id`.
    pub(crate) async fn allowed(
        &self,
        backend: &dyn Permission,
        principals: &[String],
        object_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError> {
        let Kind::Shared { tree, grants } = &self.kind else {
            return Ok(true);
        };
        let bound = tree.bound_permissions(object_id, permission);
        if self.granted_by_settings(grants, &bound, principals) {
            return Ok(true);
        }
        Ok(backend.check_permission(principals, &bound).await?)
    }

    /// Reads, in one backend call, every ACL that decides `permissions`
    /// on `object_id`, and the object's own ACL: what a read of one object
    /// needs to check `read`, decide whether to show the ACL (`write`) and
    /// show it. `None` when a bound pair is a pattern (then check one
    /// permission at a time with [`Access::allowed`]).
    pub(crate) async fn snapshot(
        &self,
        backend: &dyn Permission,
        object_id: &str,
        permissions: &[&str],
    ) -> Result<Option<AclSnapshot>, ApiError> {
        let Kind::Shared { tree, .. } = &self.kind else {
            return Ok(Some(AclSnapshot::default()));
        };
        let mut bound = Vec::new();
        for permission in permissions {
            bound.extend(tree.bound_permissions(object_id, permission));
        }
        if bound.iter().any(|pair| pair.object_id.contains('*')) {
            return Ok(None);
        }
        let mut ids: Vec<String> = bound.iter().map(|pair| pair.object_id.clone()).collect();
        ids.push(object_id.to_owned());
        ids.sort_unstable();
        ids.dedup();
        let acls = backend.get_objects_permissions(&ids, None).await?;
        Ok(Some(AclSnapshot {
            acls: ids.into_iter().zip(acls).collect(),
        }))
    }

    /// Whether the principals hold `permission` on `object_id`, from a
    /// [`snapshot`](Access::snapshot) that covers it.
    pub(crate) fn allowed_in(
        &self,
        snapshot: &AclSnapshot,
        principals: &[String],
        object_id: &str,
        permission: &str,
    ) -> bool {
        let Kind::Shared { tree, grants } = &self.kind else {
            return true;
        };
        let bound = tree.bound_permissions(object_id, permission);
        self.granted_by_settings(grants, &bound, principals)
            || bound.iter().any(|pair| {
                snapshot
                    .acls
                    .get(&pair.object_id)
                    .and_then(|acl| acl.get(&pair.permission))
                    .is_some_and(|granted| principals.iter().any(|p| granted.contains(p)))
            })
    }

    fn granted_by_settings(
        &self,
        grants: &BTreeMap<String, Vec<String>>,
        bound: &[BoundPermission],
        principals: &[String],
    ) -> bool {
        !grants.is_empty()
            && bound.iter().any(|pair| {
                grants
                    .get(&pair.permission)
                    .is_some_and(|granted| granted.iter().any(|p| principals.contains(p)))
            })
    }
}

/// ACLs read at once by [`Access::snapshot`].
#[derive(Debug, Default)]
pub(crate) struct AclSnapshot {
    acls: BTreeMap<String, Acl>,
}

impl AclSnapshot {
    /// The ACL of one of the objects read (empty for another).
    pub(crate) fn acl(&self, object_id: &str) -> Acl {
        self.acls.get(object_id).cloned().unwrap_or_default()
    }
}

/// The denial of a request: 401 for anonymous users, 403 otherwise.
pub(crate) fn deny(identity: &Identity) -> ApiError {
    if identity.is_authenticated() {
        ApiError::forbidden()
    } else {
        ApiError::unauthorized()
    }
}
