//! Declaring a resource, and mounting it.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodFilter, MethodRouter};
use cliquet_errors::ApiError;
use cliquet_filter::ParseOptions;
use cliquet_storage::Backends;
use http::Method;
use http::header::{ALLOW, HeaderValue};

use crate::access::Access;
use crate::hooks::{NoHooks, ResourceHooks};
use crate::ids::{IdGenerator, Uuid4};
use crate::schema::Schema;

/// The bounds a request must stay within (400 errno 107 beyond, 413 for
/// the body size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest body read, in bytes (default 2 MiB).
    pub max_body_bytes: usize,
    /// The deepest nesting of a JSON body (default 64).
    pub max_depth: usize,
    /// The most querystring parameters of a list or deletion (default 100).
    pub max_params: usize,
    /// The most `_sort` fields (default 16).
    pub max_sort_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            max_depth: 64,
            max_params: 100,
            max_sort_fields: 16,
        }
    }
}

/// A declared resource: what [`Resource::router`] serves.
///
/// Built with [`Resource::builder`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct Resource {
    pub(crate) config: Arc<Config>,
}

pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) plural_path: String,
    pub(crate) object_path: Option<String>,
    pub(crate) plural_methods: Vec<Method>,
    pub(crate) object_methods: Vec<Method>,
    pub(crate) schema: Schema,
    pub(crate) parent_id: String,
    pub(crate) access: Access,
    pub(crate) hooks: Arc<dyn ResourceHooks>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) permissions: Vec<String>,
    pub(crate) create_permission: String,
    pub(crate) parse_options: ParseOptions,
    pub(crate) cache_expires: Option<i64>,
    pub(crate) limits: Limits,
    pub(crate) delete_token_ttl: std::time::Duration,
    pub(crate) explicit_permissions: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("name", &self.name)
            .field("plural_path", &self.plural_path)
            .field("object_path", &self.object_path)
            .field("schema", &self.schema)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Resource`].
pub struct ResourceBuilder {
    config: Config,
}

impl fmt::Debug for ResourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

/// A resource declaration that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid resource: {}", self.0)
    }
}

impl std::error::Error for BuildError {}

impl Resource {
    /// Starts declaring the resource `name` (`bookmark`): served at
    /// `/{name}s` and `/{name}s/{id}`, every method, any JSON object,
    /// private per user, UUID4 ids.
    pub fn builder(name: impl Into<String>) -> ResourceBuilder {
        let name = name.into();
        ResourceBuilder {
            config: Config {
                plural_path: format!("/{name}s"),
                object_path: Some(format!("/{name}s/{{id}}")),
                plural_methods: vec![Method::GET, Method::POST, Method::DELETE],
                object_methods: vec![Method::GET, Method::PUT, Method::PATCH, Method::DELETE],
                schema: Schema::any(),
                parent_id: String::new(),
                access: Access::private(),
                hooks: Arc::new(NoHooks),
                ids: Arc::new(Uuid4),
                permissions: vec!["read".to_owned(), "write".to_owned()],
                create_permission: format!("{name}:create"),
                parse_options: ParseOptions::new(),
                cache_expires: None,
                limits: Limits::default(),
                delete_token_ttl: std::time::Duration::from_secs(600),
                explicit_permissions: true,
                name,
            },
        }
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The plural path template (`/bookmarks`).
    pub fn plural_path(&self) -> &str {
        &self.config.plural_path
    }

    /// The object path template (`/bookmarks/{id}`), if any.
    pub fn object_path(&self) -> Option<&str> {
        self.config.object_path.as_deref()
    }

    /// The axum router serving the resource on `backends`. Nest or merge
    /// it under the version prefix (`/v1`); put [`AuthLayer`] (and the
    /// batch layer with [`TransactionScope`]) around it.
    ///
    /// [`AuthLayer`]: cliquet_auth::AuthLayer
    /// [`TransactionScope`]: crate::TransactionScope
    pub fn router(&self, backends: Backends) -> Router {
        let state = Arc::new(crate::handlers::Shared {
            config: self.config.clone(),
            backends,
        });
        let config = &self.config;
        let mut router = Router::new().route(
            &config.plural_path,
            method_router(&config.plural_methods, true),
        );
        if let Some(object_path) = &config.object_path
            && !config.object_methods.is_empty()
        {
            router = router.route(object_path, method_router(&config.object_methods, false));
        }
        router.with_state(state)
    }
}

type State = Arc<crate::handlers::Shared>;

fn method_router(methods: &[Method], plural: bool) -> MethodRouter<State> {
    let mut router = MethodRouter::new();
    let mut allow: Vec<&str> = Vec::new();
    for method in methods {
        let filter = match *method {
            Method::GET => {
                allow.extend(["HEAD", "GET"]);
                MethodFilter::GET.or(MethodFilter::HEAD)
            }
            Method::POST if plural => {
                allow.push("POST");
                MethodFilter::POST
            }
            Method::PUT if !plural => {
                allow.push("PUT");
                MethodFilter::PUT
            }
            Method::PATCH if !plural => {
                allow.push("PATCH");
                MethodFilter::PATCH
            }
            Method::DELETE => {
                allow.push("DELETE");
                MethodFilter::DELETE
            }
            _ => continue,
        };
        router = if plural {
            router.on(filter, crate::handlers::plural)
        } else {
            router.on(filter, crate::handlers::object)
        };
    }
    let allow = HeaderValue::from_str(&allow.join(", ")).unwrap_or(HeaderValue::from_static(""));
    router.fallback(move || {
        let allow = allow.clone();
        async move { ApiError::method_not_allowed().with_header(ALLOW, allow) }
    })
}

impl ResourceBuilder {
    /// The plural path template (default `/{name}s`). Nested resources name
    /// their parents' ids: `/buckets/{bucket_id}/collections/{collection_id}/records`.
    pub fn plural_path(mut self, path: impl Into<String>) -> Self {
        self.config.plural_path = path.into();
        self
    }

    /// The object path template, with `{id}` (default `{plural}/{id}`);
    /// `None` for a resource without object endpoint. With no
    /// [object methods](Self::object_methods) the path is not served, but
    /// still names the objects' URIs, whose ACLs the plural endpoint
    /// consults.
    pub fn object_path(mut self, path: Option<impl Into<String>>) -> Self {
        self.config.object_path = path.map(Into::into);
        self
    }

    /// The methods of the plural endpoint, among `GET` (with `HEAD`),
    /// `POST`, `DELETE`; the others answer 405.
    pub fn plural_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.config.plural_methods = methods.into_iter().collect();
        self
    }

    /// The methods of the object endpoint, among `GET` (with `HEAD`),
    /// `PUT`, `PATCH`, `DELETE`.
    pub fn object_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.config.object_methods = methods.into_iter().collect();
        self
    }

    /// The schema of `data`.
    pub fn schema(mut self, schema: Schema) -> Self {
        self.config.parse_options.known_fields = schema.strict_fields();
        self.config.schema = schema;
        self
    }

    /// The permission rules (default: private per user).
    pub fn access(mut self, access: Access) -> Self {
        self.config.access = access;
        self
    }

    /// The parent id of a shared resource's objects: a template filled with
    /// the path parameters (`/buckets/{bucket_id}/collections/{collection_id}`);
    /// default `""`, one collection for everyone. Private resources use the
    /// user id instead.
    pub fn parent_id(mut self, template: impl Into<String>) -> Self {
        self.config.parent_id = template.into();
        self
    }

    /// The hooks.
    pub fn hooks(mut self, hooks: impl ResourceHooks) -> Self {
        self.config.hooks = Arc::new(hooks);
        self
    }

    /// The id generator (default [`Uuid4`]).
    pub fn ids(mut self, ids: impl IdGenerator) -> Self {
        self.config.ids = Arc::new(ids);
        self
    }

    /// The permission names a `permissions` body may hold (default `read`,
    /// `write`; Kinto's buckets add `collection:create`, `group:create`).
    pub fn permissions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.permissions = names.into_iter().map(Into::into).collect();
        self
    }

    /// The permission a creation needs on the plural URI (default
    /// `{name}:create`).
    pub fn create_permission(mut self, name: impl Into<String>) -> Self {
        self.config.create_permission = name.into();
        self
    }

    /// The `paginate_by` setting: the default page size, and a cap.
    pub fn paginate_by(mut self, paginate_by: Option<usize>) -> Self {
        self.config.parse_options.paginate_by = paginate_by;
        self
    }

    /// Root fields holding text: a filter value that looks like a number
    /// (`?record_id=2`) is compared as text on them.
    pub fn text_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.parse_options.text_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// The `storage_max_fetch_size` setting (default 10,000).
    pub fn max_fetch_size(mut self, max_fetch_size: usize) -> Self {
        self.config.parse_options.max_fetch_size = max_fetch_size;
        self
    }

    /// The `{name}_cache_expires_seconds` setting: anonymous reads get
    /// `Cache-Control: max-age=<n>`.
    pub fn cache_expires(mut self, seconds: Option<i64>) -> Self {
        self.config.cache_expires = seconds;
        self
    }

    /// How long the `_token` of a plural `DELETE`'s `Next-Page` may be used
    /// (the `pagination_token_validity_seconds` setting, default 600 s).
    pub fn delete_token_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.config.delete_token_ttl = ttl;
        self
    }

    /// The `explicit_permissions` setting (default `true`): whether the
    /// writer of a shared object is added to its `write` ACL on every
    /// create, replace and update. When `false`, an object's ACL is exactly
    /// what the request sent, and access to it relies on the inheritance
    /// tree and the granted principals alone. Private resources are not
    /// concerned (their owner is the parent id).
    pub fn explicit_permissions(mut self, explicit: bool) -> Self {
        self.config.explicit_permissions = explicit;
        self
    }

    /// The request bounds.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Checks the declaration.
    pub fn build(self) -> Result<Resource, BuildError> {
        let config = self.config;
        if config.name.is_empty() {
            return Err(BuildError("the name is empty".into()));
        }
        if !config.plural_path.starts_with('/') {
            return Err(BuildError(format!(
                "the plural path {:?} does not start with /",
                config.plural_path
            )));
        }
        if let Some(object_path) = &config.object_path
            && !object_path.contains("{id}")
        {
            return Err(BuildError(format!(
                "the object path {object_path:?} has no {{id}}"
            )));
        }
        for method in config.plural_methods.iter() {
            if ![Method::GET, Method::POST, Method::DELETE].contains(method) {
                return Err(BuildError(format!("{method} is not a plural method")));
            }
        }
        for method in config.object_methods.iter() {
            if ![Method::GET, Method::PUT, Method::PATCH, Method::DELETE].contains(method) {
                return Err(BuildError(format!("{method} is not an object method")));
            }
        }
        if config.limits.max_depth == 0 || config.limits.max_params == 0 {
            return Err(BuildError("limits must be positive".into()));
        }
        Ok(Resource {
            config: Arc::new(config),
        })
    }
}
