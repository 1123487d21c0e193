//! The command line every recipe binary shares: `serve [--config FILE]
//! [--bind HOST:PORT]`, and serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use std::convert::Infallible;

use axum::ServiceExt as _;
use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use http::Response;
use tokio::net::TcpListener;
use tower::util::MapResponse;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The options of `serve`.
#[derive(Debug, Clone, Default, Args, PartialEq, Eq)]
pub struct ServeArgs {
    /// The settings file: our TOML format, or a Kinto `.ini` file (told
    /// apart by the `.ini` extension).
    #[arg(long, short, env = "CLIQUET_CONFIG")]
    pub config: Option<PathBuf>,
    /// The address to listen on (default: the recipe's, usually
    /// 127.0.0.1:8888).
    #[arg(long, short)]
    pub bind: Option<SocketAddr>,
}

/// A recipe's command line: `serve` (the default) and the recipe's own
/// commands.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli<C: Subcommand = NoExtraCommand> {
    /// What to do (`serve` when omitted).
    #[command(subcommand)]
    pub command: Option<Command<C>>,
}

/// The commands of a recipe.
#[derive(Debug, Subcommand)]
pub enum Command<C: Subcommand = NoExtraCommand> {
    /// Serve the API.
    Serve(ServeArgs),
    /// A recipe's own command.
    #[command(flatten)]
    Recipe(C),
}

/// No recipe-specific command.
#[derive(Debug, Subcommand)]
pub enum NoExtraCommand {}

impl<C: Subcommand> Cli<C> {
    /// The command, `serve` with its defaults when none was given.
    pub fn command(self) -> Command<C> {
        self.command
            .unwrap_or_else(|| Command::Serve(ServeArgs::default()))
    }
}

/// Installs a `tracing` subscriber writing to stderr, filtered by
/// `RUST_LOG` (default `info`); JSON lines when `CLIQUET_LOG_FORMAT=json`.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("CLIQUET_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A subscriber may already be installed (tests); keep it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Resolves when the process receives SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Serves `service` on `listener` until `shutdown` resolves; requests in
/// flight then finish before this returns.
///
/// `service` is the whole stack (the protocol's layers wrap the router, not
/// the other way round, so that they see the router's own 404 and 405
/// answers); any response body type that carries bytes is accepted.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "listening");
    }
    let service = MapResponse::new(service, |response: Response<B>| response.map(Body::new));
    axum::serve(listener, service.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}

/// The address recipes listen on by default.
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8888);

/// Listens on `bind` (or [`DEFAULT_BIND`]) and serves `service` until
/// SIGINT or SIGTERM, letting requests in flight finish; the error says
/// what failed, for the binary to print.
pub async fn listen_and_serve<S, B>(bind: Option<SocketAddr>, service: S) -> Result<(), String>
where
    S: Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let bind = bind.unwrap_or(DEFAULT_BIND);
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|error| format!("cannot listen on {bind}: {error}"))?;
    serve(listener, service, shutdown_signal())
        .await
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Subcommand, PartialEq)]
    enum Extra {
        /// Apply migrations.
        Migrate,
    }

    #[test]
    fn serve_is_the_default() {
        let cli = Cli::<Extra>::try_parse_from(["kinto"]).unwrap();
        assert!(matches!(cli.command(), Command::Serve(args) if args == ServeArgs::default()));
    }

    #[test]
    fn serve_options_and_recipe_commands() {
        let cli = Cli::<Extra>::try_parse_from([
            "kinto",
            "serve",
            "--config",
            "kinto.ini",
            "--bind",
            "0.0.0.0:9999",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command() else {
            panic!("not serve");
        };
        assert_eq!(args.config, Some(PathBuf::from("kinto.ini")));
        assert_eq!(args.bind, Some("0.0.0.0:9999".parse().unwrap()));
        let cli = Cli::<Extra>::try_parse_from(["kinto", "migrate"]).unwrap();
        assert!(matches!(cli.command(), Command::Recipe(Extra::Migrate)));
        assert!(Cli::<Extra>::try_parse_from(["kinto", "serve", "--bind", "nowhere"]).is_err());
    }

    #[tokio::test]
    async fn in_flight_requests_finish_on_shutdown() {
        use std::time::Duration;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let app = axum::Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, async {
            let _ = stopped.await;
        }));

        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("done"), "{response}");
        server.await.unwrap().unwrap();
    }
}
