//! The yardstick: a server that answers every request with one fixed
//! response, read from a file at start, and does nothing else. The harness
//! fills that file with the exact status, headers and body of the app's
//! `/reference/get_session/`, so that the bare server puts the same bytes on
//! the wire as the app's cheapest page: the fastest this machine serves that
//! page, against which the app's fixed cost is measured (docs/performance.md).
//! Same stack as the app below its own code: tokio, hyper through axum 0.8.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
};
use clap::Parser;
use serde::Deserialize;

/// Serves one fixed response, from memory, on every path.
#[derive(Debug, Parser)]
#[command(name = "bare")]
struct Options {
    /// Address to listen on.
    #[arg(long)]
    bind: SocketAddr,
    /// A JSON file `{"status": 200, "headers": [[name, value], ...], "body": "..."}`.
    #[arg(long)]
    response: PathBuf,
}

/// What the harness wrote: the response to replay, `date` and
/// `content-length` left out (hyper writes both, as it does for the app).
#[derive(Debug, Deserialize)]
struct Recorded {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err.into()),
    };
    match runtime.block_on(serve(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}

async fn serve(options: &Options) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&options.response)
        .with_context(|| format!("cannot read {}", options.response.display()))?;
    let recorded: Recorded = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a recorded response", options.response.display()))?;
    let status = StatusCode::from_u16(recorded.status)?;
    let mut headers = HeaderMap::new();
    for (name, value) in &recorded.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    let body = Bytes::from(recorded.body);
    let router = Router::new().fallback(move || {
        let (headers, body) = (headers.clone(), body.clone());
        async move { (status, headers, body) }
    });
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    axum::serve(listener, router).await?;
    Ok(())
}
