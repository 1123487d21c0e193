//! `layers serve [--config FILE] [--bind HOST:PORT]`: the notes app with the
//! protocol's layers.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use cliquet::cli::{Cli, Command, init_logging, serve, shutdown_signal};
use layers::{Settings, service};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let Command::Serve(args) = Cli::<cliquet::cli::NoExtraCommand>::parse().command();
    let settings = match Settings::load(args.config.as_deref(), std::env::vars()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let service = match service(&settings) {
        Ok(service) => service,
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
    match serve(listener, service, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
