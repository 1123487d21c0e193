//! `GET /__api__`: the OpenAPI (Swagger 2.0) description of the running
//! service, as `service/openapi.md` outlines.
//!
//! The document is built once, when the service is assembled, from what is
//! routed: the four resources, the utility endpoints, and the endpoints of
//! the plugins that are on ([`ApiDescription::endpoint`] adds one). Only
//! `host` is filled per request (from the `Host` header). Top level:
//! `swagger: "2.0"`, `info` (`project_name`, `http_api_version`),
//! `basePath` (`/v1`), `schemes` (`http_scheme`, default `http`) and one
//! security definition per authentication policy that has one
//! (`basicauth` → `{"type": "basic"}`; the accounts policy has none, as in
//! Kinto).
//!
//! Operations carry Kinto's ids (`get_buckets`, `create_bucket`,
//! `update_bucket`, `patch_bucket`, `delete_bucket`…, `server_info`,
//! `get_openapi_spec`) and tags (`Buckets`, `Collections`, `Groups`,
//! `Records`, `Utilities`…). As in Kinto, querystring filters, the
//! JSON-Patch content type and the optional headers (`Backoff`, `Alert`)
//! are not described, and objects are free-form.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use cliquet_errors::ApiError;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Response};
use serde_json::{Map, Value, json};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No authentication required (`security: []`).
    Public,
    /// Any of the security definitions.
    Authenticated,
}

/// One operation of an endpoint.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The HTTP method, lower-case (`get`, `put`…).
    pub method: &'static str,
    /// The operation id.
    pub id: String,
    /// Whether it takes a JSON body.
    pub body: bool,
    /// The success status.
    pub status: u16,
    /// Who may call it.
    pub security: Security,
}

impl Operation {
    /// An operation without body answering 200.
    pub fn new(method: &'static str, id: impl Into<String>, security: Security) -> Self {
        Self {
            method,
            id: id.into(),
            body: false,
            status: 200,
            security,
        }
    }

    /// Takes a JSON body.
    pub fn with_body(mut self) -> Self {
        self.body = true;
        self
    }

    /// Answers `status` on success.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// The description being assembled.
#[derive(Debug, Clone)]
pub struct ApiDescription {
    title: String,
    version: String,
    base_path: String,
    scheme: String,
    security: Vec<(String, Value)>,
    paths: Vec<(String, String, Vec<Operation>)>,
}

impl ApiDescription {
    /// An empty description of the service the settings configure, with
    /// the security definitions of its authentication policies.
    pub fn new(settings: &crate::Settings) -> Self {
        let core = &settings.core;
        let security = core
            .multiauth_policies
            .iter()
            .filter(|policy| policy.as_str() == "basicauth")
            .map(|policy| (policy.clone(), json!({"type": "basic"})))
            .collect();
        Self {
            title: core.project_name.clone(),
            version: core.http_api_version.clone(),
            base_path: core.version_prefix(),
            scheme: core
                .http_scheme
                .clone()
                .unwrap_or_else(|| "http".to_owned()),
            security,
            paths: Vec::new(),
        }
    }

    /// Adds an endpoint: its path under the version prefix (parameters as
    /// `{name}`), its tag and its operations.
    pub fn endpoint(
        &mut self,
        path: impl Into<String>,
        tag: impl Into<String>,
        operations: Vec<Operation>,
    ) -> &mut Self {
        self.paths.push((path.into(), tag.into(), operations));
        self
    }

    /// Adds the plural and object endpoints of a resource named `name`
    /// (`bucket`) whose plural path is `plural` (`/buckets`).
    pub fn resource(&mut self, name: &str, plural: &str) -> &mut Self {
        let names = format!("{name}s");
        let tag = format!("{}{}", name[..1].to_uppercase(), &names[1..]);
        let auth = Security::Authenticated;
        self.endpoint(
            plural,
            &tag,
            vec![
                Operation::new("get", format!("get_{names}"), auth),
                Operation::new("head", format!("head_{names}"), auth),
                Operation::new("post", format!("create_{name}"), auth)
                    .with_body()
                    .with_status(201),
                Operation::new("delete", format!("delete_{names}"), auth),
            ],
        );
        self.endpoint(
            format!("{plural}/{{id}}"),
            &tag,
            vec![
                Operation::new("get", format!("get_{name}"), auth),
                Operation::new("head", format!("head_{name}"), auth),
                Operation::new("put", format!("update_{name}"), auth).with_body(),
                Operation::new("patch", format!("patch_{name}"), auth).with_body(),
                Operation::new("delete", format!("delete_{name}"), auth),
            ],
        );
        self
    }

    /// The paths described, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|(path, _, _)| path.as_str())
    }

    /// The document, without `host`.
    pub fn to_json(&self) -> Value {
        let mut paths = Map::new();
        let mut tags: Vec<&str> = Vec::new();
        for (path, tag, operations) in &self.paths {
            if !tags.contains(&tag.as_str()) {
                tags.push(tag);
            }
            let parameters: Vec<Value> = path_parameters(path)
                .into_iter()
                .map(|name| json!({"name": name, "in": "path", "required": true, "type": "string"}))
                .collect();
            let mut item = Map::new();
            if !parameters.is_empty() {
                item.insert("parameters".into(), Value::Array(parameters));
            }
            for operation in operations {
                item.insert(operation.method.into(), self.operation(tag, operation));
            }
            paths.insert(path.clone(), Value::Object(item));
        }
        let definitions: Map<String, Value> = self.security.iter().cloned().collect();
        json!({
            "swagger": "2.0",
            "info": {"title": self.title, "version": self.version},
            "basePath": self.base_path,
            "schemes": [self.scheme],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": definitions,
            "tags": tags.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
            "paths": paths,
        })
    }

    fn operation(&self, tag: &str, operation: &Operation) -> Value {
        let security: Vec<Value> = match operation.security {
            Security::Public => Vec::new(),
            Security::Authenticated => self
                .security
                .iter()
                .map(|(name, _)| json!({ name.clone(): [] }))
                .collect(),
        };
        let mut responses = Map::new();
        responses.insert(
            operation.status.to_string(),
            json!({"description": "Success.", "schema": {"type": "object"}}),
        );
        responses.insert(
            "default".into(),
            json!({"description": "An error, in the protocol's error format.", "schema": {"type": "object"}}),
        );
        let mut value = json!({
            "operationId": operation.id,
            "tags": [tag],
            "security": security,
            "responses": responses,
        });
        if operation.body {
            value["parameters"] = json!([{
                "name": "body",
                "in": "body",
                "required": false,
                "schema": {"type": "object"},
            }]);
        }
        value
    }

    /// The `/__api__` route (to nest under the version prefix).
    pub fn router(&self) -> Router {
        let document = Arc::new(self.to_json());
        Router::new().route(
            "/__api__",
            get(move |request: Request| {
                let document = document.clone();
                async move { serve(&document, &request) }
            })
            .fallback(|| async { ApiError::method_not_allowed().into_response::<Body>() }),
        )
    }
}

/// The `{name}` parameters of a path template.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

fn serve(document: &Value, request: &Request) -> Response<Body> {
    let mut document = document.clone();
    if let Some(host) = request.headers().get(HOST).and_then(|h| h.to_str().ok()) {
        document["host"] = Value::String(host.to_owned());
    }
    let body = if request.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from(document.to_string())
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

/// The description of the Kinto service: its resources, the utility
/// endpoints, and the endpoints of the plugins `plugins` switches on.
pub fn describe(settings: &crate::Settings, plugins: &crate::plugins::Plugins) -> ApiDescription {
    let public = Security::Public;
    let mut api = ApiDescription::new(settings);
    api.endpoint(
        "/",
        "Utilities",
        vec![Operation::new("get", "server_info", public)],
    )
    .endpoint(
        "/batch",
        "Batch",
        vec![Operation::new("post", "batch", public).with_body()],
    )
    .endpoint(
        "/__heartbeat__",
        "Utilities",
        vec![Operation::new("get", "heartbeat", public)],
    )
    .endpoint(
        "/__lbheartbeat__",
        "Utilities",
        vec![Operation::new("get", "lbheartbeat", public)],
    )
    .endpoint(
        "/__version__",
        "Utilities",
        vec![Operation::new("get", "version", public)],
    )
    .endpoint(
        "/__api__",
        "Utilities",
        vec![Operation::new("get", "get_openapi_spec", public)],
    )
    .endpoint(
        "/__user_data__/{principal}",
        "Utilities",
        vec![Operation::new(
            "delete",
            "delete_user_data",
            Security::Authenticated,
        )],
    );
    api.resource("bucket", "/buckets")
        .resource("collection", "/buckets/{bucket_id}/collections")
        .resource("group", "/buckets/{bucket_id}/groups")
        .resource(
            "record",
            "/buckets/{bucket_id}/collections/{collection_id}/records",
        );
    if plugins.permissions_endpoint {
        api.endpoint(
            "/permissions",
            "Permissions",
            vec![
                Operation::new("get", "get_permissions", public),
                Operation::new("head", "head_permissions", public),
            ],
        );
    }
    if plugins.prometheus {
        api.endpoint(
            "/__metrics__",
            "Utilities",
            vec![Operation::new("get", "get_metrics", public)],
        );
    }
    api
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_named() {
        assert_eq!(
            path_parameters("/buckets/{bucket_id}/collections/{id}"),
            ["bucket_id", "id"]
        );
        assert!(path_parameters("/batch").is_empty());
    }

    #[test]
    fn operations_follow_kintos_names() {
        let settings = crate::settings(None, Vec::new()).unwrap();
        let mut api = ApiDescription::new(&settings);
        api.resource("bucket", "/buckets");
        let doc = api.to_json();
        assert_eq!(
            doc["paths"]["/buckets"]["post"]["operationId"],
            "create_bucket"
        );
        assert_eq!(
            doc["paths"]["/buckets"]["get"]["operationId"],
            "get_buckets"
        );
        assert_eq!(
            doc["paths"]["/buckets/{id}"]["put"]["operationId"],
            "update_bucket"
        );
        assert_eq!(
            doc["paths"]["/buckets/{id}"]["get"]["tags"],
            json!(["Buckets"])
        );
        assert_eq!(
            doc["paths"]["/buckets/{id}"]["get"]["security"],
            json!([{"basicauth": []}])
        );
        assert_eq!(
            doc["securityDefinitions"],
            json!({"basicauth": {"type": "basic"}})
        );
        assert_eq!(doc["basePath"], "/v1");
        assert_eq!(doc["info"], json!({"title": "kinto", "version": "1.23"}));
    }
}
