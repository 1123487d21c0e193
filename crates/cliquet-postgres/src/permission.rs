//! The PostgreSQL permission backend, on Kinto's `user_principals` and
//! `access_control_entries` tables.
//!
//! Object ids with `*` wildcards are matched with regular expressions built
//! from bound parameters (every other character escaped), so that `*` may
//! stop at `/` when only direct children are asked for.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use cliquet_storage::permission::{AUTHENTICATED, Acl, BoundPermission, Principals};
use cliquet_storage::{Permission, Result};

use crate::Pool;
use crate::conn::Conn;
use crate::storage::storage_error;

const ADD_USER_PRINCIPAL: &str = "INSERT INTO user_principals (user_id, principal) VALUES ($1::text, $2::text) \
                                  ON CONFLICT (user_id, principal) DO NOTHING";
const REMOVE_USER_PRINCIPAL: &str =
    "DELETE FROM user_principals WHERE user_id = $1::text AND principal = $2::text";
const REMOVE_PRINCIPAL: &str = "DELETE FROM user_principals WHERE principal = $1::text";
const USER_PRINCIPALS: &str =
    "SELECT DISTINCT principal FROM user_principals WHERE user_id = $1::text OR user_id = $2::text";
const ADD_ACE: &str = "INSERT INTO access_control_entries (object_id, permission, principal) \
                       VALUES ($1::text, $2::text, $3::text) \
                       ON CONFLICT (object_id, permission, principal) DO NOTHING";
const REMOVE_ACE: &str = "DELETE FROM access_control_entries \
                          WHERE object_id = $1::text AND permission = $2::text AND principal = $3::text";
const ACE_PRINCIPALS: &str = "SELECT principal FROM access_control_entries \
                              WHERE object_id = $1::text AND permission = $2::text";
const OBJECTS_PERMISSIONS: &str = "SELECT object_id, permission, principal FROM access_control_entries \
                                   WHERE object_id = ANY($1::text[])";
const OBJECTS_SOME_PERMISSIONS: &str = "SELECT object_id, permission, principal FROM access_control_entries \
                                        WHERE object_id = ANY($1::text[]) AND permission = ANY($2::text[])";
/// Keeps the entries that stay, deletes the others of the listed
/// permissions, inserts the new ones (no row is both deleted and inserted).
const REPLACE_ACL: &str = "WITH wanted(permission, principal) AS (SELECT * FROM unnest($2::text[], $3::text[])), \
       removed AS ( \
         DELETE FROM access_control_entries a \
          WHERE a.object_id = $1::text AND a.permission = ANY($4::text[]) \
            AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.permission = a.permission AND w.principal = a.principal)) \
     INSERT INTO access_control_entries (object_id, permission, principal) \
     SELECT $1::text, permission, principal FROM wanted \
     ON CONFLICT (object_id, permission, principal) DO NOTHING";
const DELETE_OBJECTS: &str = "DELETE FROM access_control_entries \
                              WHERE object_id = ANY($1::text[]) OR object_id LIKE ANY($2::text[])";
const AUTHORIZED: &str = "SELECT DISTINCT a.principal FROM access_control_entries a \
                          JOIN unnest($1::text[], $2::text[]) AS b(object_id, permission) \
                            ON a.object_id = b.object_id AND a.permission = b.permission";
const ACCESSIBLE_ALL: &str = "SELECT object_id, permission FROM access_control_entries \
                              WHERE principal = ANY($1::text[])";
const ACCESSIBLE_MATCHING: &str = "SELECT DISTINCT a.object_id, a.permission FROM access_control_entries a \
                                   JOIN unnest($2::text[], $3::text[]) AS b(pattern, permission) \
                                     ON a.permission = b.permission AND a.object_id ~ b.pattern \
                                   WHERE a.principal = ANY($1::text[])";

/// The PostgreSQL permission backend.
#[derive(Clone)]
pub struct PostgresPermission {
    conn: Conn,
}

impl std::fmt::Debug for PostgresPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresPermission").finish_non_exhaustive()
    }
}

impl PostgresPermission {
    /// A permission backend on `pool` (tables created by
    /// [`crate::migrate()`]).
    pub fn new(pool: Pool) -> Self {
        Self {
            conn: Conn::Pool(pool),
        }
    }

    pub(crate) fn on(conn: Conn) -> Self {
        Self { conn }
    }

    async fn write(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<()> {
        self.conn
            .write(None, sql, params)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn read(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        self.conn.read(sql, params).await.map_err(storage_error)
    }

    /// A read by key that no value can make fail (see [`Conn::lookup`]).
    async fn lookup(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        self.conn.lookup(sql, params).await.map_err(storage_error)
    }
}

/// A `LIKE` pattern for an object id where `*` matches anything.
fn like_pattern(object_id: &str) -> String {
    let mut out = String::with_capacity(object_id.len());
    for c in object_id.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// An anchored regular expression for an object id pattern: `*` matches
/// anything (`with_children`) or anything but `/`.
fn regex_pattern(object_id: &str, with_children: bool) -> String {
    let mut out = String::with_capacity(object_id.len() + 8);
    out.push('^');
    for c in object_id.chars() {
        if c == '*' {
            out.push_str(if with_children { ".*" } else { "[^/]*" });
        } else if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out.push('$');
    out
}

#[async_trait]
impl Permission for PostgresPermission {
    async fn add_user_principal(&self, user_id: &str, principal: &str) -> Result<()> {
        self.write(ADD_USER_PRINCIPAL, &[&user_id, &principal])
            .await
    }

    async fn remove_user_principal(&self, user_id: &str, principal: &str) -> Result<()> {
        self.write(REMOVE_USER_PRINCIPAL, &[&user_id, &principal])
            .await
    }

    async fn remove_principal(&self, principal: &str) -> Result<()> {
        self.write(REMOVE_PRINCIPAL, &[&principal]).await
    }

    async fn get_user_principals(&self, user_id: &str) -> Result<Principals> {
        let rows = self
            .lookup(USER_PRINCIPALS, &[&user_id, &AUTHENTICATED])
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    async fn add_principal_to_ace(
        &self,
        object_id: &str,
        permission: &str,
        principal: &str,
    ) -> Result<()> {
        self.write(ADD_ACE, &[&object_id, &permission, &principal])
            .await
    }

    async fn remove_principal_from_ace(
        &self,
        object_id: &str,
        permission: &str,
        principal: &str,
    ) -> Result<()> {
        self.write(REMOVE_ACE, &[&object_id, &permission, &principal])
            .await
    }

    async fn get_object_permission_principals(
        &self,
        object_id: &str,
        permission: &str,
    ) -> Result<Principals> {
        let rows = self
            .lookup(ACE_PRINCIPALS, &[&object_id, &permission])
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    async fn get_objects_permissions(
        &self,
        object_ids: &[String],
        permissions: Option<&[String]>,
    ) -> Result<Vec<Acl>> {
        let ids = object_ids.to_vec();
        let rows = match permissions {
            Some(permissions) => {
                let permissions = permissions.to_vec();
                self.lookup(OBJECTS_SOME_PERMISSIONS, &[&ids, &permissions])
                    .await?
            }
            None => self.lookup(OBJECTS_PERMISSIONS, &[&ids]).await?,
        };
        let mut by_object: BTreeMap<String, Acl> = BTreeMap::new();
        for row in &rows {
            by_object
                .entry(row.get(0))
                .or_default()
                .entry(row.get(1))
                .or_default()
                .insert(row.get(2));
        }
        Ok(object_ids
            .iter()
            .map(|id| by_object.get(id).cloned().unwrap_or_default())
            .collect())
    }

    async fn replace_object_permissions(&self, object_id: &str, acl: &Acl) -> Result<()> {
        if acl.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = acl.keys().cloned().collect();
        let (permissions, principals): (Vec<String>, Vec<String>) = acl
            .iter()
            .flat_map(|(permission, principals)| {
                principals
                    .iter()
                    .map(move |p| (permission.clone(), p.clone()))
            })
            .unzip();
        self.write(
            REPLACE_ACL,
            &[&object_id, &permissions, &principals, &listed],
        )
        .await
    }

    async fn delete_object_permissions(&self, object_ids: &[String]) -> Result<()> {
        if object_ids.is_empty() {
            return Ok(());
        }
        let (patterns, exact): (Vec<&String>, Vec<&String>) =
            object_ids.iter().partition(|id| id.contains('*'));
        let exact: Vec<String> = exact.into_iter().cloned().collect();
        let patterns: Vec<String> = patterns.into_iter().map(|p| like_pattern(p)).collect();
        self.write(DELETE_OBJECTS, &[&exact, &patterns]).await
    }

    async fn get_authorized_principals(&self, bound: &[BoundPermission]) -> Result<Principals> {
        if bound.is_empty() {
            return Ok(Principals::new());
        }
        let (objects, permissions): (Vec<String>, Vec<String>) = bound
            .iter()
            .map(|b| (b.object_id.clone(), b.permission.clone()))
            .unzip();
        let rows = self.lookup(AUTHORIZED, &[&objects, &permissions]).await?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    async fn get_accessible_objects(
        &self,
        principals: &[String],
        bound: Option<&[BoundPermission]>,
        with_children: bool,
    ) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let principals = principals.to_vec();
        let rows = match bound {
            Some([]) => return Ok(BTreeMap::new()),
            Some(bound) => {
                let (patterns, permissions): (Vec<String>, Vec<String>) = bound
                    .iter()
                    .map(|b| {
                        (
                            regex_pattern(&b.object_id, with_children),
                            b.permission.clone(),
                        )
                    })
                    .unzip();
                self.read(ACCESSIBLE_MATCHING, &[&principals, &patterns, &permissions])
                    .await?
            }
            None => self.lookup(ACCESSIBLE_ALL, &[&principals]).await?,
        };
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in &rows {
            out.entry(row.get(0)).or_default().insert(row.get(1));
        }
        Ok(out)
    }

    async fn flush(&self) -> Result<()> {
        self.write(
            "WITH a AS (DELETE FROM user_principals) DELETE FROM access_control_entries",
            &[],
        )
        .await
    }

    async fn healthcheck(&self) -> Result<()> {
        self.read("SELECT 1", &[]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_patterns_escape_and_anchor() {
        assert_eq!(regex_pattern("/buckets/*", false), "^\\/buckets\\/[^/]*$");
        assert_eq!(regex_pattern("/a.b/*", true), "^\\/a\\.b\\/.*$");
    }

    #[test]
    fn like_patterns_escape() {
        assert_eq!(like_pattern("/b/a_%/*"), "/b/a\\_\\%/%");
    }
}
