//! What `/__version__` answers: a `version.json` file or the build
//! information the application supplies.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

/// The build information of the application, served by `/__version__` when
/// no `version.json` file was found.
///
/// It renders as Dockerflow's `version.json`:
/// `{"name", "version", "source", "commit"}` (`source` and `commit` only
/// when known). [`build_info!`](crate::build_info) fills it from the calling
/// crate's `Cargo.toml`.
///
/// ```
/// use cliquet_heartbeat::BuildInfo;
///
/// let info = BuildInfo::new("kinto", "26.5.0")
///     .source("https://github.com/Kinto/kinto.git")
///     .commit("ab8db089ee63dc8e14f4bcfc427a86f311dd7e52");
/// assert_eq!(
///     serde_json::to_string(&info).unwrap(),
///     r#"{"name":"kinto","version":"26.5.0","source":"https://github.com/Kinto/kinto.git","commit":"ab8db089ee63dc8e14f4bcfc427a86f311dd7e52"}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildInfo {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
}

impl BuildInfo {
    /// The application's name and version.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            source: None,
            commit: None,
        }
    }

    /// Sets the URL of the source repository (ignored when empty).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into()).filter(|s| !s.is_empty());
        self
    }

    /// Sets the commit the application was built from (ignored when empty).
    pub fn commit(mut self, commit: impl Into<String>) -> Self {
        self.commit = Some(commit.into()).filter(|c| !c.is_empty());
        self
    }

    pub(crate) fn to_json(&self) -> Bytes {
        // A struct of strings always serialises.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// The [`BuildInfo`] of the crate that invokes it: its package name,
/// version and repository, and the commit in the `GIT_COMMIT` environment
/// variable at compile time, if set.
///
/// ```
/// let info = cliquet_heartbeat::build_info!();
/// let json = serde_json::to_value(&info).unwrap();
/// assert_eq!(json["name"], env!("CARGO_PKG_NAME"));
/// assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
/// ```
#[macro_export]
macro_rules! build_info {
    () => {{
        let info = $crate::BuildInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .source(env!("CARGO_PKG_REPOSITORY"));
        match option_env!("GIT_COMMIT") {
            Some(commit) => info.commit(commit),
            None => info,
        }
    }};
}

/// Why the `version.json` file could not be used.
#[derive(Debug)]
pub struct VersionFileError {
    path: PathBuf,
    kind: VersionFileErrorKind,
}

#[derive(Debug)]
enum VersionFileErrorKind {
    Io(io::Error),
    Json(serde_json::Error),
}

impl VersionFileError {
    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for VersionFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            VersionFileErrorKind::Io(error) => write!(
                f,
                "version_json_path: cannot read {}: {error}",
                self.path.display()
            ),
            VersionFileErrorKind::Json(error) => write!(
                f,
                "version_json_path: {} is not JSON: {error}",
                self.path.display()
            ),
        }
    }
}

impl std::error::Error for VersionFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            VersionFileErrorKind::Io(error) => Some(error),
            VersionFileErrorKind::Json(error) => Some(error),
        }
    }
}

/// Reads and validates a `version.json` file, compacted: `Ok(None)` when the
/// file does not exist.
pub(crate) fn read_version_file(path: &Path) -> Result<Option<Bytes>, VersionFileError> {
    let error = |kind| VersionFileError {
        path: path.to_owned(),
        kind,
    };
    let content = match std::fs::read(path) {
        Ok(content) => content,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(VersionFileErrorKind::Io(e))),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&content).map_err(|e| error(VersionFileErrorKind::Json(e)))?;
    Ok(Some(Bytes::from(value.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cliquet-heartbeat-version-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("version.json");
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn reads_and_compacts_the_file() {
        let path = temp_file(
            "ok",
            b"{\n  \"name\": \"kinto\",\n  \"version\": \"26.5.0\"\n}\n",
        );
        let body = read_version_file(&path).unwrap().unwrap();
        assert_eq!(body, r#"{"name":"kinto","version":"26.5.0"}"#);
    }

    #[test]
    fn a_missing_file_is_none() {
        let path = std::env::temp_dir().join("cliquet-heartbeat-no-such-dir/version.json");
        assert!(read_version_file(&path).unwrap().is_none());
    }

    #[test]
    fn invalid_json_names_the_setting_and_the_file() {
        let path = temp_file("bad", b"{not json");
        let error = read_version_file(&path).unwrap_err();
        assert_eq!(error.path(), path);
        let message = error.to_string();
        assert!(message.starts_with("version_json_path: "), "{message}");
        assert!(message.contains("is not JSON"), "{message}");
    }

    #[test]
    fn a_directory_is_an_io_error() {
        let path = temp_file("dir", b"{}");
        let error = read_version_file(path.parent().unwrap()).unwrap_err();
        assert!(error.to_string().contains("cannot read"), "{error}");
    }

    #[test]
    fn build_info_omits_unknown_fields() {
        let info = BuildInfo::new("app", "1.0.0").source("").commit("");
        assert_eq!(info.to_json(), r#"{"name":"app","version":"1.0.0"}"#);
    }
}
