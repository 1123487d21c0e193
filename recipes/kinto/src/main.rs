//! `kinto serve [--config FILE] [--bind HOST:PORT]` (the default command),
//! `kinto migrate [--config FILE]` and
//! `kinto create-user [--config FILE] [-u USER] [-p PASSWORD]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cliquet::cli::{Cli, Command, init_logging, listen_and_serve};

/// mimalloc instead of the system allocator: a request allocates and frees
/// many small buffers from several threads, where glibc's malloc took a
/// tenth of the server's time on the hello endpoint.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Kinto's own commands.
#[derive(Debug, Subcommand)]
enum KintoCommand {
    /// Create or migrate the PostgreSQL schema, then exit.
    Migrate {
        /// The settings file: our TOML format, or a Kinto `.ini` file.
        #[arg(long, short, env = "CLIQUET_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Create an account, or set the password of an existing one, in the
    /// configured storage (the accounts plugin must be included). The
    /// password is asked for, or read from standard input, when not given.
    CreateUser {
        /// The settings file: our TOML format, or a Kinto `.ini` file
        /// (`--ini` as in Kinto works too).
        #[arg(long, short, visible_alias = "ini", env = "CLIQUET_CONFIG")]
        config: Option<PathBuf>,
        /// The account id.
        #[arg(long, short)]
        username: Option<String>,
        /// The password (visible to other users of the machine: prefer
        /// typing it or piping it on standard input).
        #[arg(long, short)]
        password: Option<String>,
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
        Command::Recipe(KintoCommand::CreateUser {
            config,
            username,
            password,
        }) => {
            let settings = match load(config.as_deref()) {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            create_user(settings, username, password).await
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

/// Reads one line of standard input, after `prompt` on a terminal (with
/// the terminal's echo off, through `stty`, when `hidden`).
fn ask(prompt: &str, hidden: bool) -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let terminal = std::io::stdin().is_terminal();
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|status| status.success())
    };
    if terminal {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
    }
    let echo_off = terminal && hidden && stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        stty("echo");
        eprintln!();
    }
    if read? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no input",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn create_user(
    settings: kinto::Settings,
    username: Option<String>,
    password: Option<String>,
) -> ExitCode {
    let username = match username.map_or_else(|| ask("Username: ", false), Ok) {
        Ok(username) => username,
        Err(error) => {
            eprintln!("error: no username: {error}");
            return ExitCode::FAILURE;
        }
    };
    let password = match password {
        Some(password) => password,
        None => match ask(&format!("Password for {username}: "), true) {
            Ok(password) => password,
            Err(error) => {
                eprintln!("error: no password: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let backends = match cliquet::backends_from_settings(&settings).await {
        Ok(backends) => backends,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match kinto::accounts::create_user(&settings, &backends, &username, &password).await {
        Ok(true) => {
            println!("Account {username:?} created");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("Password of account {username:?} updated");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
