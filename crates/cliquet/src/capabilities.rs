//! [`Capabilities`]: what the server announces in the hello endpoint.

use serde_json::{Map, Value};

/// The capabilities a server announces (`capabilities` of `GET /v1/`):
/// names mapped to `{"description", "url", ...extra}`, in registration
/// order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capabilities {
    entries: Vec<(String, Map<String, Value>)>,
}

/// Registering one capability name twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateCapability(pub String);

impl std::fmt::Display for DuplicateCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the capability `{}` is registered twice", self.0)
    }
}

impl std::error::Error for DuplicateCapability {}

impl Capabilities {
    /// No capabilities.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name` with a description, a documentation URL and extra
    /// attributes (copied verbatim). A name registered twice is an error,
    /// as in Kinto.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        url: impl Into<String>,
        extra: Map<String, Value>,
    ) -> Result<(), DuplicateCapability> {
        let name = name.into();
        if self.contains(&name) {
            return Err(DuplicateCapability(name));
        }
        let mut value = Map::new();
        value.insert("description".to_owned(), Value::String(description.into()));
        value.insert("url".to_owned(), Value::String(url.into()));
        value.extend(extra);
        self.entries.push((name, value));
        Ok(())
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// The names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The JSON object of the hello endpoint.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.entries
                .iter()
                .map(|(name, value)| (name.clone(), Value::Object(value.clone())))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn register_and_render() {
        let mut capabilities = Capabilities::new();
        capabilities
            .register("basicauth", "Very basic.", "http://docs/", Map::new())
            .unwrap();
        let mut extra = Map::new();
        extra.insert("validation_enabled".into(), json!(false));
        capabilities
            .register(
                "accounts",
                "Manage user accounts.",
                "http://docs/accounts",
                extra,
            )
            .unwrap();
        assert_eq!(
            capabilities.register("accounts", "", "", Map::new()),
            Err(DuplicateCapability("accounts".into()))
        );
        assert_eq!(
            capabilities.names().collect::<Vec<_>>(),
            ["basicauth", "accounts"]
        );
        assert_eq!(
            capabilities.to_json(),
            json!({
                "basicauth": {"description": "Very basic.", "url": "http://docs/"},
                "accounts": {"description": "Manage user accounts.", "url": "http://docs/accounts",
                             "validation_enabled": false},
            })
        );
    }
}
