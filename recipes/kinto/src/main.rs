//! `kinto serve [--config FILE] [--bind HOST:PORT]` (the default command)
//! and `kinto migrate [--config FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cliquet::cli::{Cli, Command, init_logging, listen_and_serve};

/// Kinto's own commands.
#[derive(Debug, Subcommand)]
enum KintoCommand {
    /// Create or migrate the PostgreSQL schema, then exit.
    Migrate {
        /// The settings file: our TOML format, or a Kinto `.ini` file.
        #[arg(long, short, env = "CLIQUET_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn load(config: Option<&std::path::Path>) -> Result<kinto::Settings, ExitCode> {
    match kinto::settings(config, std::env::vars()) {
        Ok(settings) => {
            for key in &settings.ignored {
                tracing::warn!(key, "unknown setting ignored");
            }
            for include in &kinto::plugins::Plugins::from_settings(&settings).unknown {
                tracing::warn!(include, "plugin not available, running without it");
            }
            Ok(settings)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match Cli::<KintoCommand>::parse().command() {
        Command::Serve(args) => {
            let settings = match load(args.config.as_deref()) {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            let app = match kinto::service(settings).await {
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
        Command::Recipe(KintoCommand::Migrate { config }) => {
            let settings = match load(config.as_deref()) {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            match kinto::migrate(settings).await {
                Ok(()) => {
                    tracing::info!("schema up to date");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
