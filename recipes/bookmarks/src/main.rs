//! `bookmarks serve [--config FILE] [--bind HOST:PORT]`.

use std::convert::Infallible;
use std::path::PathBuf;

use bookmarks::{Settings, memory_app};
use clap::{Parser, Subcommand};

/// The bookmarks service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the API over HTTP.
    Serve {
        /// A TOML settings file.
        #[arg(long, env = "BOOKMARKS_CONFIG")]
        config: Option<PathBuf>,
        /// Where to listen, overriding the settings.
        #[arg(long)]
        bind: Option<String>,
    },
}

fn settings(config: Option<PathBuf>) -> Result<Settings, String> {
    let Some(path) = config else {
        return Ok(Settings::default());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    toml::from_str(&text)
        .map_err(|error| format!("invalid settings in {}: {error}", path.display()))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let Cli {
        command: Command::Serve { config, bind },
    } = Cli::parse();
    let mut settings = settings(config)?;
    if let Some(bind) = bind {
        settings.bind = bind;
    }
    let app = memory_app(&settings);
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", settings.bind))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("bookmarks listening on http://{address}/v1/");
    let make = tower::service_fn(
        move |_: axum::serve::IncomingStream<'_, tokio::net::TcpListener>| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app) }
        },
    );
    axum::serve(listener, make)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|error| error.to_string())
}
