//! The `sessions-vs-jwt` binary: parses the command line, then serves or
//! runs the command given.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use clap::Parser as _;
use sessions_vs_jwt::{Cli, Config, cli::Command, commands, logging};

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
    let listener = sessions_vs_jwt::listen(config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    let operations = match config.metrics_bind {
        Some(bind) => Some(
            sessions_vs_jwt::listen(bind)
                .with_context(|| format!("cannot listen on {bind} (--metrics-bind)"))?,
        ),
        None => None,
    };
    let operations_address = operations
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()?;
    // Before "listening on": a supervisor may send SIGTERM as soon as it reads
    // that line, and a signal that found no handler would kill the server
    // outright instead of stopping it cleanly.
    let shutdown = shutdown_signal()?;
    if let Some(operations_address) = operations_address {
        tracing::info!("serving /metrics and /store-operations on http://{operations_address}");
    }
    tracing::info!(
        store = %config.store.url,
        keys = %config.keys.dir.display(),
        "listening on http://{address}"
    );
    sessions_vs_jwt::serve(listener, operations, site, shutdown).await?;
    tracing::info!("shut down");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight. The
/// handlers are installed when this is called, not when the future is first
/// polled, so that no signal arrives between the two with none in place.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// Ctrl-C: stop accepting, finish what is in flight.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    })
}
