//! The Cliquet umbrella: typed settings loaded from a file and the
//! environment, and the assembly of the protocol's layers into a service.
//!
//! # Settings
//!
//! One namespace of Kinto's setting names configures every crate; a file
//! (TOML, or a Kinto `.ini`) is overridden by `KINTO_*`-style variables.
//!
//! ```
//! use cliquet::settings::{RawSettings, Settings, Sources};
//!
//! let mut defaults = RawSettings::new();
//! defaults.set("project_name", "notes");
//! defaults.set("http_api_version", "1.0");
//! let settings: Settings = Settings::load(Sources {
//!     file: None,
//!     prefix: "notes",
//!     env: vec![
//!         ("NOTES_BACKOFF".to_owned(), "30".to_owned()),
//!         ("NOTES_STORAGE_BACKEND".to_owned(), "postgresql".to_owned()),
//!         ("NOTES_MULTIAUTH_POLICIES".to_owned(), "account basicauth".to_owned()),
//!     ],
//!     defaults,
//! })
//! .unwrap();
//! assert_eq!(settings.core.project_name, "notes");
//! assert_eq!(settings.core.storage_backend, "postgresql");
//! assert_eq!(settings.core.multiauth_policies, ["account", "basicauth"]);
//! assert_eq!(settings.backoff.backoff, Some(30));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod capabilities;
pub mod cli;
mod hello;
mod init;
pub mod settings;

pub use capabilities::{Capabilities, DuplicateCapability};
pub use hello::{Hello, UserInfoHook};
pub use init::{BackendKind, Cliquet, InitError, backends_from_settings};
