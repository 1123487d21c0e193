//! The Cliquet umbrella: typed settings loaded from a file and the
//! environment, and the assembly of the protocol's layers into a service.
//!
//! # Settings
//!
//! ```
//! use std::path::Path;
//!
//! use cliquet::settings::{CoreSettings, RawSettings, check_unknown};
//!
//! let mut raw = RawSettings::new();
//! raw.merge_toml_str(
//!     r#"
//!     project_name = "notes"
//!     storage_backend = "memory"
//!     batch_max_requests = 50
//!     [multiauth]
//!     policies = ["basicauth"]
//!     "#,
//!     Path::new("notes.toml"),
//! )
//! .unwrap();
//! // KINTO_BATCH_MAX_REQUESTS=10 would override the file.
//! raw.merge_env(
//!     [("KINTO_STORAGE_BACKEND".to_owned(), "postgresql".to_owned())],
//!     "kinto",
//!     cliquet::settings::field_names::<CoreSettings>(),
//!     cliquet::settings::is_pattern_setting,
//! );
//! let (core, unused) = raw.extract::<CoreSettings>().unwrap();
//! assert_eq!(core.project_name, "notes");
//! assert_eq!(core.storage_backend, "postgresql");
//! assert_eq!(core.multiauth_policies, ["basicauth"]);
//! // `batch_max_requests` belongs to the batch layer's settings: unknown
//! // to `CoreSettings` alone.
//! assert!(check_unknown(&raw, &[unused]).is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod capabilities;
pub mod cli;
mod hello;
pub mod settings;

pub use capabilities::{Capabilities, DuplicateCapability};
pub use hello::{Hello, UserInfoHook};
