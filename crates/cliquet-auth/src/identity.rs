//! [`Identity`]: who the request is from, and its principals.

/// The principal every request has.
pub const EVERYONE: &str = "system.Everyone";
/// The principal every authenticated request has.
pub const AUTHENTICATED: &str = "system.Authenticated";

/// The identity of a request, put in its extensions by
/// [`AuthLayer`](crate::AuthLayer).
///
/// Principals come in the protocol's order: the prefixed user id (when
/// authenticated), [`EVERYONE`], [`AUTHENTICATED`] (when authenticated),
/// then those a [`PrincipalsProvider`](crate::PrincipalsProvider) adds
/// (group memberships), without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    user_id: Option<String>,
    authn_type: Option<String>,
    principals: Vec<String>,
}

impl Identity {
    /// An anonymous request: principals `["system.Everyone"]`.
    pub fn anonymous() -> Self {
        Self {
            user_id: None,
            authn_type: None,
            principals: vec![EVERYONE.to_owned()],
        }
    }

    /// A request authenticated by the policy `authn_type` as the prefixed
    /// `user_id` (`basicauth:…`, `account:alice`), with extra principals.
    pub fn authenticated(
        user_id: impl Into<String>,
        authn_type: impl Into<String>,
        extra_principals: impl IntoIterator<Item = String>,
    ) -> Self {
        let user_id = user_id.into();
        let mut principals = vec![
            user_id.clone(),
            EVERYONE.to_owned(),
            AUTHENTICATED.to_owned(),
        ];
        for principal in extra_principals {
            if !principals.contains(&principal) {
                principals.push(principal);
            }
        }
        Self {
            user_id: Some(user_id),
            authn_type: Some(authn_type.into()),
            principals,
        }
    }

    /// The prefixed user id, when authenticated.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The name of the policy that authenticated the request.
    pub fn authn_type(&self) -> Option<&str> {
        self.authn_type.as_deref()
    }

    /// Whether a policy identified the user.
    pub fn is_authenticated(&self) -> bool {
        self.user_id.is_some()
    }

    /// The principals, in the protocol's order.
    pub fn principals(&self) -> &[String] {
        &self.principals
    }

    /// Whether `principal` is one of the request's.
    pub fn has_principal(&self, principal: &str) -> bool {
        self.principals.iter().any(|p| p == principal)
    }
}

impl Default for Identity {
    fn default() -> Self {
        Self::anonymous()
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_order_and_dedup() {
        let identity = Identity::authenticated(
            "account:alice",
            "account",
            ["/buckets/b/groups/g".to_owned(), EVERYONE.to_owned()],
        );
        assert_eq!(
            identity.principals(),
            [
                "account:alice",
                "system.Everyone",
                "system.Authenticated",
                "/buckets/b/groups/g"
            ]
        );
        assert!(identity.has_principal("/buckets/b/groups/g"));
        assert_eq!(Identity::anonymous().principals(), ["system.Everyone"]);
        assert!(!Identity::anonymous().is_authenticated());
    }
}
