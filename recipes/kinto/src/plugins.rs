//! Which of Kinto's plugins the settings switch on.
//!
//! Kinto names its plugins in `includes` by Python module
//! (`kinto.plugins.accounts`); the short name (`accounts`) is accepted
//! too. A few switches are plain settings rather than includes:
//! `experimental_permissions_endpoint` (also on with the admin plugin) and
//! `experimental_collection_schema_validation`. An entry this service does
//! not implement (`kinto_attachment`, `kinto_signer`...) is kept in
//! [`Plugins::unknown`]; the binary logs a warning for each and runs
//! without it.

use crate::Settings;

/// The plugins and plugin-like switches of one configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plugins {
    /// `kinto.plugins.accounts`: `/accounts` and the `account` policy.
    pub accounts: bool,
    /// `kinto.plugins.default_bucket`: `/buckets/default`.
    pub default_bucket: bool,
    /// `kinto.plugins.history`: `/buckets/{bid}/history`.
    pub history: bool,
    /// `kinto.plugins.flush`: `POST /__flush__`.
    pub flush: bool,
    /// `kinto.plugins.prometheus`: `/__metrics__`.
    pub prometheus: bool,
    /// `kinto.plugins.statsd`: metrics sent to `statsd_url`.
    pub statsd: bool,
    /// `kinto.plugins.admin`: the admin console (its static files are not
    /// bundled; the plugin switches the permissions endpoint on).
    pub admin: bool,
    /// `GET /permissions` (`experimental_permissions_endpoint`, or the
    /// admin plugin).
    pub permissions_endpoint: bool,
    /// Records validated against their collection's `schema`
    /// (`experimental_collection_schema_validation`).
    pub schema_validation: bool,
    /// Included plugins this service does not implement, in settings order.
    pub unknown: Vec<String>,
    /// Every recognised plugin, in the order of `includes` (the order in
    /// which their capabilities are announced).
    pub order: Vec<&'static str>,
}

/// The short names of the plugins this service implements.
pub const KNOWN: &[&str] = &[
    "accounts",
    "default_bucket",
    "history",
    "flush",
    "prometheus",
    "statsd",
    "admin",
];

impl Plugins {
    /// Reads `includes` and the plugin switches.
    pub fn from_settings(settings: &Settings) -> Self {
        let mut plugins = Self::default();
        for include in &settings.core.includes {
            let name = include.trim();
            let short = name.strip_prefix("kinto.plugins.").unwrap_or(name);
            let Some(known) = KNOWN.iter().find(|known| **known == short) else {
                plugins.unknown.push(name.to_owned());
                continue;
            };
            if plugins.order.contains(known) {
                continue;
            }
            plugins.order.push(known);
            match *known {
                "accounts" => plugins.accounts = true,
                "default_bucket" => plugins.default_bucket = true,
                "history" => plugins.history = true,
                "flush" => plugins.flush = true,
                "prometheus" => plugins.prometheus = true,
                "statsd" => plugins.statsd = true,
                "admin" => plugins.admin = true,
                _ => {}
            }
        }
        plugins.permissions_endpoint =
            plugins.admin || settings.extra.experimental_permissions_endpoint;
        plugins.schema_validation = settings.extra.experimental_collection_schema_validation;
        plugins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugins(pairs: &[(&str, &str)]) -> Plugins {
        let env = pairs
            .iter()
            .map(|(k, v)| (format!("KINTO_{}", k.to_uppercase()), (*v).to_owned()));
        Plugins::from_settings(&crate::settings(None, env).unwrap())
    }

    #[test]
    fn nothing_is_on_by_default() {
        assert_eq!(plugins(&[]), Plugins::default());
    }

    #[test]
    fn includes_switch_plugins_on_and_keep_unknown_ones() {
        let p = plugins(&[(
            "includes",
            "kinto.plugins.accounts kinto_attachment flush kinto.plugins.admin",
        )]);
        assert!(p.accounts && p.flush && p.admin && p.permissions_endpoint);
        assert!(!p.history && !p.default_bucket && !p.schema_validation);
        assert_eq!(p.unknown, ["kinto_attachment"]);
        assert_eq!(p.order, ["accounts", "flush", "admin"]);
    }

    #[test]
    fn switches_are_settings() {
        let p = plugins(&[
            ("experimental_permissions_endpoint", "True"),
            ("experimental_collection_schema_validation", "true"),
        ]);
        assert!(p.permissions_endpoint && p.schema_validation);
        let p = plugins(&[("experimental_permissions_endpoint", "false")]);
        assert!(!p.permissions_endpoint);
    }
}
