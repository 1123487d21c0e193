//! `bookmarks serve [--config FILE] [--bind HOST:PORT]`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use cliquet::cli::{Cli, Command, NoExtraCommand, init_logging, serve, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let Command::Serve(args) = Cli::<NoExtraCommand>::parse().command();
    let settings = match bookmarks::settings(args.config.as_deref(), std::env::vars()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    for key in &settings.ignored {
        tracing::warn!(key, "unknown setting ignored");
    }
    let app = match bookmarks::service(settings).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let bind = args
        .bind
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8888)));
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match serve(listener, app, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
