//! A plain axum app — notes kept in a `Vec` behind a lock — that adopts the
//! Cliquet protocol's layers one by one, without the resource crate.
//!
//! [`notes`] is the app as a team would have written it before adopting
//! anything; [`service`] wraps it in the protocol's layers, each a line;
//! [`Settings`] reads each layer's settings from one file and the
//! environment.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cliquet::settings::{RawSettings, SettingsError, check_unknown, field_names};
use cliquet_backoff::{BackoffLayer, BackoffSettings};
use cliquet_cors::{CorsLayer, CorsSettings, ExposedHeaders, OBJECT_GET_EXPOSED_HEADERS};
use cliquet_errors::{ApiError, ErrorLayer, Location};
use cliquet_heartbeat::{HeartbeatLayer, HeartbeatSettings};
use cliquet_timestamps::{
    ConditionalGetLayer, Current, ETag, Preconditions, set_timestamp_headers,
};
use cliquet_version::{EosLayer, SecurityHeadersLayer, VersionLayer, VersionSettings};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceBuilder;

/// One note.
#[derive(Debug, Clone)]
struct Note {
    id: String,
    last_modified: u64,
    text: String,
}

impl Note {
    fn to_json(&self) -> Value {
        json!({"id": self.id, "last_modified": self.last_modified, "text": self.text})
    }
}

/// The notes and the collection timestamp.
#[derive(Debug, Default)]
struct Notes {
    notes: Vec<Note>,
    timestamp: u64,
}

impl Notes {
    /// A timestamp greater than every previous one, even if the clock goes
    /// back.
    fn bump(&mut self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        self.timestamp = now.max(self.timestamp + 1);
        self.timestamp
    }
}

type Shared = Arc<RwLock<Notes>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    data: NoteData,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteData {
    text: String,
}

fn parse_body(body: &[u8]) -> Result<NoteData, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(ApiError::invalid_json)?;
    serde_json::from_value::<NoteBody>(value)
        .map(|body| body.data)
        .map_err(|error| ApiError::invalid_parameter(Location::Body, "data", error.to_string()))
}

/// A JSON response with the protocol's `ETag` and `Last-Modified`, and
/// those headers exposed to browsers by the CORS layer.
fn with_etag(status: StatusCode, timestamp: u64, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    set_timestamp_headers(response.headers_mut(), timestamp);
    response
        .extensions_mut()
        .insert(ExposedHeaders::from_static(OBJECT_GET_EXPOSED_HEADERS));
    response
}

async fn list(State(notes): State<Shared>) -> Response {
    let notes = notes.read().unwrap_or_else(|e| e.into_inner());
    let data: Vec<Value> = notes.notes.iter().map(Note::to_json).collect();
    with_etag(StatusCode::OK, notes.timestamp, json!({ "data": data }))
}

async fn create(State(notes): State<Shared>, body: bytes::Bytes) -> Result<Response, ApiError> {
    let data = parse_body(&body)?;
    let mut notes = notes.write().unwrap_or_else(|e| e.into_inner());
    let note = Note {
        id: uuid::Uuid::new_v4().to_string(),
        last_modified: notes.bump(),
        text: data.text,
    };
    let response = with_etag(
        StatusCode::CREATED,
        note.last_modified,
        json!({"data": note.to_json()}),
    );
    notes.notes.push(note);
    Ok(response)
}

async fn read(
    State(notes): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let notes = notes.read().unwrap_or_else(|e| e.into_inner());
    let note = notes
        .notes
        .iter()
        .find(|note| note.id == id)
        .ok_or_else(|| ApiError::object_not_found(&id, "note"))?;
    Ok(with_etag(
        StatusCode::OK,
        note.last_modified,
        json!({"data": note.to_json()}),
    ))
}

/// `PUT` replaces or creates a note; `If-Match` and `If-None-Match: *`
/// (parsed by the conditional layer into the request's extensions) are
/// checked against the note under the same lock as the write, so two
/// clients holding the same `ETag` cannot both succeed.
async fn replace(
    State(notes): State<Shared>,
    UrlPath(id): UrlPath<String>,
    preconditions: Option<axum::Extension<Preconditions>>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let data = parse_body(&body)?;
    let mut notes = notes.write().unwrap_or_else(|e| e.into_inner());
    let index = notes.notes.iter().position(|note| note.id == id);
    if let Some(axum::Extension(preconditions)) = preconditions {
        let existing = index.map(|i| notes.notes[i].to_json());
        let current = match (&existing, index) {
            (Some(object), Some(i)) => Current::object(notes.notes[i].last_modified, object),
            _ => Current::absent(notes.timestamp),
        };
        if let Err(rejection) = preconditions.evaluate(&Method::PUT, current) {
            return Ok(rejection.into_response());
        }
    }
    let last_modified = notes.bump();
    let note = Note {
        id,
        last_modified,
        text: data.text,
    };
    let body = json!({"data": note.to_json()});
    let status = match index {
        Some(i) => {
            notes.notes[i] = note;
            StatusCode::OK
        }
        None => {
            notes.notes.push(note);
            StatusCode::CREATED
        }
    };
    Ok(with_etag(status, last_modified, body))
}

async fn delete(
    State(notes): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let mut notes = notes.write().unwrap_or_else(|e| e.into_inner());
    let index = notes
        .notes
        .iter()
        .position(|note| note.id == id)
        .ok_or_else(|| ApiError::object_not_found(&id, "note"))?;
    notes.notes.remove(index);
    let last_modified = notes.bump();
    Ok(with_etag(
        StatusCode::OK,
        last_modified,
        json!({"data": {"id": id, "last_modified": last_modified, "deleted": true}}),
    ))
}

/// The app before any protocol layer: a router of notes.
pub fn notes() -> Router {
    Router::new()
        .route("/v1/notes", get(list).post(create))
        .route("/v1/notes/{id}", get(read).put(replace).delete(delete))
        .with_state(Shared::default())
}

/// The settings of the layers this app adopts, read from one namespace of
/// setting names (the protocol's).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `backoff`, `backoff_percentage`, `retry_after_seconds`, `readonly`.
    pub backoff: BackoffSettings,
    /// `http_api_version`, redirects, `eos*`.
    pub version: VersionSettings,
    /// `cors_origins`, `cors_max_age_seconds`.
    pub cors: CorsSettings,
    /// `heartbeat_timeout_seconds`, `version_json_path`.
    pub heartbeat: HeartbeatSettings,
}

impl Settings {
    /// Reads the settings from an optional file (TOML, or a Kinto-style
    /// `.ini`) and `NOTES_*` environment variables. Unknown keys of a TOML
    /// file are an error naming them.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut raw = RawSettings::new();
        // The app's own defaults, before the file and the environment.
        raw.set("project_version", env!("CARGO_PKG_VERSION"));
        raw.set("http_api_version", "1.0");
        if let Some(file) = file {
            raw.merge_file(file, "notes")?;
        }
        let known: Vec<&str> = [
            field_names::<BackoffSettings>(),
            field_names::<VersionSettings>(),
            field_names::<CorsSettings>(),
            field_names::<HeartbeatSettings>(),
        ]
        .concat();
        raw.merge_env(env, "notes", &known, |_| false);
        let (backoff, unused_backoff) = raw.extract()?;
        let (version, unused_version) = raw.extract()?;
        let (cors, unused_cors) = raw.extract()?;
        let (heartbeat, unused_heartbeat) = raw.extract()?;
        for key in check_unknown(
            &raw,
            &[
                unused_backoff,
                unused_version,
                unused_cors,
                unused_heartbeat,
            ],
        )? {
            tracing::warn!(key, "unknown setting ignored");
        }
        Ok(Self {
            backoff,
            version,
            cors,
            heartbeat,
        })
    }
}

/// The app wrapped in the protocol's layers, outermost first.
pub fn service(
    settings: &Settings,
) -> Result<
    impl tower::Service<
        axum::extract::Request,
        Response = http::Response<
            impl http_body::Body<
                Data = bytes::Bytes,
                Error = impl Into<Box<dyn std::error::Error + Send + Sync>> + Send,
            > + Send
            + 'static,
        >,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static,
    String,
> {
    let heartbeat = HeartbeatLayer::from_settings(&settings.heartbeat)
        .map_err(|e| e.to_string())?
        .check("notes", || async { true })
        .build_info(cliquet_heartbeat::build_info!());
    let stack = ServiceBuilder::new()
        .layer(ErrorLayer::new().retry_after(settings.backoff.retry_after_seconds))
        .layer(SecurityHeadersLayer::new())
        .layer(CorsLayer::from_settings(&settings.cors))
        .layer(EosLayer::from_settings(&settings.version).map_err(|e| e.to_string())?)
        .layer(BackoffLayer::from_settings(&settings.backoff).map_err(|e| e.to_string())?)
        .layer(VersionLayer::from_settings(&settings.version).map_err(|e| e.to_string())?)
        .layer(heartbeat)
        .layer(ConditionalGetLayer::new());
    Ok(stack.service(notes()))
}

/// An `ETag` as clients send it back, for tests and examples.
pub fn etag_of(headers: &HeaderMap) -> Option<u64> {
    ETag::from_header(headers.get(http::header::ETAG)?)
        .ok()
        .map(ETag::timestamp)
}
