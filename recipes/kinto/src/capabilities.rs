//! The capabilities the plugins announce in `GET /v1/`, and the routes of
//! the service-wide endpoints they switch on.
//!
//! Order, as in Kinto: `basicauth` (registered by the toolkit), then the
//! plugins in `includes` order, then `schema`, then
//! `permissions_endpoint`.

use axum::Router;
use cliquet::{Cliquet, InitError};
use cliquet_storage::Backends;
use serde_json::{Map, Value};

use crate::metrics::ServiceMetrics;
use crate::plugins::Plugins;
use crate::{KintoSettings, Settings};

fn register_one(
    cliquet: &mut Cliquet<KintoSettings>,
    name: &str,
    value: Value,
) -> Result<(), InitError> {
    let Value::Object(mut value) = value else {
        return Err(InitError::new(format!(
            "capability `{name}` is not an object"
        )));
    };
    let text = |value: &mut Map<String, Value>, key: &str| match value.remove(key) {
        Some(Value::String(text)) => text,
        _ => String::new(),
    };
    let description = text(&mut value, "description");
    let url = text(&mut value, "url");
    cliquet
        .capabilities
        .register(name, description, url, value)
        .map_err(|error| InitError::new(error.to_string()))
}

/// Registers the capabilities of the plugins that are on, in Kinto's
/// order.
pub fn register(
    cliquet: &mut Cliquet<KintoSettings>,
    plugins: &Plugins,
    metrics: Option<&ServiceMetrics>,
    accounts: &crate::accounts::Accounts,
) -> Result<(), InitError> {
    let duplicate = |error: cliquet::DuplicateCapability| InitError::new(error.to_string());
    for plugin in &plugins.order {
        match *plugin {
            "prometheus" => {
                if let Some(capability) = metrics.and_then(ServiceMetrics::capability) {
                    register_one(cliquet, "prometheus", capability)?;
                }
            }
            "default_bucket" => {
                let secret = crate::default_bucket::secret(&cliquet.settings);
                cliquet.user_info = Some(crate::default_bucket::user_info(secret));
                crate::default_bucket::register_capability(&mut cliquet.capabilities)
                    .map_err(duplicate)?;
            }
            "accounts" => accounts.register_capability(cliquet)?,
            "history" => {
                let history = crate::history::HistorySettings::from_settings(&cliquet.settings);
                crate::history::register_capability(&mut cliquet.capabilities, &history);
            }
            "flush" => {
                crate::flush::register_capability(&mut cliquet.capabilities).map_err(duplicate)?
            }
            _ => {}
        }
    }
    if plugins.schema_validation {
        crate::schema::register_capability(&mut cliquet.capabilities);
    }
    if plugins.permissions_endpoint {
        register_one(
            cliquet,
            "permissions_endpoint",
            serde_json::json!({
                "description": "The permissions endpoint can be used to list all user objects permissions.",
                "url": "https://kinto.readthedocs.io/en/latest/configuration/settings.html#activating-the-permissions-endpoint",
            }),
        )?;
    }
    let prefix = cliquet.prefix();
    cliquet.name_endpoints(move |parts: &http::request::Parts, context: &_| {
        crate::metrics::name_endpoint(&prefix, parts, context);
    });
    Ok(())
}

/// The routes of `/permissions` and `/__metrics__` when they are on, and
/// of `/__user_data__/{principal}` (to nest under the version prefix).
pub fn plugin_routes(
    settings: &Settings,
    plugins: &Plugins,
    backends: &Backends,
    metrics: Option<&ServiceMetrics>,
) -> Router {
    let mut router = crate::user_data::router(settings, backends.clone());
    if plugins.permissions_endpoint {
        router = router.merge(crate::permissions_endpoint::router(
            settings,
            backends.clone(),
            plugins.accounts,
        ));
    }
    if let Some(metrics) = metrics.and_then(ServiceMetrics::router) {
        router = router.merge(metrics);
    }
    router
}
