//! The `sessions-vs-jwt` binary: parses the command line, then serves or
//! runs the command given.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use clap::Parser as _;
use sessions_vs_jwt::{Cli, Config, commands, config::Command, logging};
use tokio::net::TcpListener;

/// A request allocates and frees dozens of small buffers; mimalloc does that
/// in a fraction of glibc's time (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Dropping it writes out the lines still waiting, so a server stopped
    // by a signal still writes its last access lines.
    let log = logging::start(cli.serve.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(anyhow::Error::new(err).context("cannot start the async runtime")),
    };
    let outcome = match cli.command {
        None => runtime.block_on(serve(cli.serve)),
        Some(Command::Clearsessions { store }) => {
            runtime.block_on(commands::clear_sessions(&store, &mut std::io::stdout()))
        }
        Some(Command::Keys { action, dir }) => {
            commands::manage_keys(&action, &dir, &mut std::io::stdout())
        }
    };
    // The log first, so that a failure's one line is the last one.
    drop(log);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(err),
    }
}

/// One clear line on stderr, no backtrace.
fn fail(err: anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let site = Arc::new(config.open_site().await?);
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    tracing::info!(
        store = %config.store.url,
        keys = %config.keys.dir.display(),
        "listening on http://{address}"
    );
    sessions_vs_jwt::serve(listener, site, shutdown_signal()).await?;
    tracing::info!("shut down");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
