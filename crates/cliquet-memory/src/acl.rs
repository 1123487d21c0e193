//! Access control entries and user principals, as plain maps.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cliquet_storage::permission::AUTHENTICATED;
use cliquet_storage::{Acl, BoundPermission, Principals, pattern};

/// The permission data: ACLs by object id, principals by user id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Acls {
    objects: HashMap<String, Acl>,
    users: HashMap<String, Principals>,
}

impl Acls {
    pub(crate) fn add_user_principal(&mut self, user_id: &str, principal: &str) {
        self.users
            .entry(user_id.to_owned())
            .or_default()
            .insert(principal.to_owned());
    }

    pub(crate) fn remove_user_principal(&mut self, user_id: &str, principal: &str) {
        if let Some(principals) = self.users.get_mut(user_id) {
            principals.remove(principal);
            if principals.is_empty() {
                self.users.remove(user_id);
            }
        }
    }

    pub(crate) fn remove_principal(&mut self, principal: &str) {
        self.users.retain(|_, principals| {
            principals.remove(principal);
            !principals.is_empty()
        });
    }

    pub(crate) fn user_principals(&self, user_id: &str) -> Principals {
        let mut principals = self.users.get(user_id).cloned().unwrap_or_default();
        if let Some(everybody) = self.users.get(AUTHENTICATED) {
            principals.extend(everybody.iter().cloned());
        }
        principals
    }

    pub(crate) fn add_principal_to_ace(
        &mut self,
        object_id: &str,
        permission: &str,
        principal: &str,
    ) {
        self.objects
            .entry(object_id.to_owned())
            .or_default()
            .entry(permission.to_owned())
            .or_default()
            .insert(principal.to_owned());
    }

    pub(crate) fn remove_principal_from_ace(
        &mut self,
        object_id: &str,
        permission: &str,
        principal: &str,
    ) {
        let Some(acl) = self.objects.get_mut(object_id) else {
            return;
        };
        if let Some(principals) = acl.get_mut(permission) {
            principals.remove(principal);
            if principals.is_empty() {
                acl.remove(permission);
            }
        }
        if acl.is_empty() {
            self.objects.remove(object_id);
        }
    }

    pub(crate) fn ace(&self, object_id: &str, permission: &str) -> Principals {
        self.objects
            .get(object_id)
            .and_then(|acl| acl.get(permission))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn acl(&self, object_id: &str, permissions: Option<&[String]>) -> Acl {
        let Some(acl) = self.objects.get(object_id) else {
            return Acl::new();
        };
        match permissions {
            None => acl.clone(),
            Some(permissions) => acl
                .iter()
                .filter(|(permission, _)| permissions.contains(permission))
                .map(|(permission, principals)| (permission.clone(), principals.clone()))
                .collect(),
        }
    }

    pub(crate) fn replace(&mut self, object_id: &str, replacement: &Acl) {
        if replacement.is_empty() {
            return;
        }
        let acl = self.objects.entry(object_id.to_owned()).or_default();
        for (permission, principals) in replacement {
            if principals.is_empty() {
                acl.remove(permission);
            } else {
                acl.insert(permission.clone(), principals.clone());
            }
        }
        if acl.is_empty() {
            self.objects.remove(object_id);
        }
    }

    pub(crate) fn delete(&mut self, object_ids: &[String]) {
        let (patterns, exact): (Vec<&String>, Vec<&String>) =
            object_ids.iter().partition(|id| pattern::is_pattern(id));
        for id in exact {
            self.objects.remove(id);
        }
        if !patterns.is_empty() {
            self.objects
                .retain(|id, _| !patterns.iter().any(|pattern| pattern::matches(pattern, id)));
        }
    }

    pub(crate) fn authorized_principals(&self, bound: &[BoundPermission]) -> Principals {
        bound
            .iter()
            .filter_map(|pair| self.objects.get(&pair.object_id)?.get(&pair.permission))
            .flat_map(|principals| principals.iter().cloned())
            .collect()
    }

    pub(crate) fn accessible_objects(
        &self,
        principals: &[String],
        bound: Option<&[BoundPermission]>,
        with_children: bool,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let held = |ace: &Principals| principals.iter().any(|principal| ace.contains(principal));
        let mut accessible: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut grant = |object_id: &str, permission: &str| {
            accessible
                .entry(object_id.to_owned())
                .or_default()
                .insert(permission.to_owned());
        };
        match bound {
            None => {
                for (object_id, acl) in &self.objects {
                    for (permission, ace) in acl {
                        if held(ace) {
                            grant(object_id, permission);
                        }
                    }
                }
            }
            Some(bound) => {
                for pair in bound {
                    if pattern::is_pattern(&pair.object_id) {
                        let matches = |id: &str| {
                            if with_children {
                                pattern::matches(&pair.object_id, id)
                            } else {
                                pattern::matches_segment(&pair.object_id, id)
                            }
                        };
                        for (object_id, acl) in &self.objects {
                            if matches(object_id) && acl.get(&pair.permission).is_some_and(held) {
                                grant(object_id, &pair.permission);
                            }
                        }
                    } else if self.ace_held(&pair.object_id, &pair.permission, &held) {
                        grant(&pair.object_id, &pair.permission);
                    }
                }
            }
        }
        accessible
    }

    fn ace_held(
        &self,
        object_id: &str,
        permission: &str,
        held: &impl Fn(&Principals) -> bool,
    ) -> bool {
        self.objects
            .get(object_id)
            .and_then(|acl| acl.get(permission))
            .is_some_and(held)
    }

    pub(crate) fn clear(&mut self) {
        self.objects.clear();
        self.users.clear();
    }
}
