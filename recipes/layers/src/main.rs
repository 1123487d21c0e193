//! `layers serve [--config FILE] [--bind HOST:PORT]`: the notes app with the
//! protocol's layers.

use std::process::ExitCode;

use clap::Parser;
use cliquet::cli::{Cli, Command, NoExtraCommand, init_logging, listen_and_serve};
use layers::{Settings, service};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let Command::Serve(args) = Cli::<NoExtraCommand>::parse().command();
    let settings = match Settings::load(args.config.as_deref(), std::env::vars()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let app = match service(&settings) {
        Ok(service) => service,
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
