//! `bookmarks serve [--config FILE] [--bind HOST:PORT]`.

use std::process::ExitCode;

use clap::Parser;
use cliquet::cli::{Cli, Command, NoExtraCommand, init_logging, listen_and_serve};

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
    match listen_and_serve(args.bind, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
