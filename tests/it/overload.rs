//! Overload: 2,000 connections open at once against the real binary, each
//! sending a few requests, round after round. Every request must get a
//! response (or the connection a clean refusal), none may hang, and the
//! server's resident memory must not go on growing from round to round.
//!
//! The test process and the server each need over 2,000 file descriptors:
//! the soft limit is raised towards the hard one (with `prlimit`, as the
//! crate forbids `unsafe`). Where the hard limit is too low, build.rs marks
//! both tests ignored, with the reason; where it is high enough and the
//! limit still cannot be raised, they fail.
//!
//! The rounds take a while, so they run once, and each test checks one
//! thing about them.

use crate::common;

use std::{process::Command, sync::OnceLock, time::Duration};

use common::{process::Instance, run_once};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const CONNECTIONS: usize = 2_000;
const REQUESTS_PER_CONNECTION: usize = 3;
const ROUNDS: usize = 4;
/// What a connection's requests may take before it counts as hung: far
/// beyond any answer, only so that a hang fails instead of stalling.
const HANG: Duration = Duration::from_secs(120);
/// Descriptors each process needs: the connections, and room for the rest.
const DESCRIPTORS: u64 = CONNECTIONS as u64 + 500;
// build.rs's OVERLOAD_DESCRIPTORS is this figure.
const _: () = assert!(DESCRIPTORS == 2_500);
/// Growth of resident memory from the end of the first round to the end of
/// the last that still counts as flat: buffers and allocator arenas settle
/// within it; a leak of a few hundred bytes a request would not.
const GROWTH_LIMIT: u64 = 32 * 1024 * 1024;

/// What became of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// The status of each request.
    Answered(Vec<u16>),
    /// Refused when it tried to connect: a client can tell, and retry.
    RefusedAtConnect(String),
    /// Closed or reset after it was accepted, `answered` requests in: the
    /// client cannot tell whether its request was served. Never clean.
    Cut { answered: usize, error: String },
    /// No answer within [`HANG`]: to the request of this index, or to the
    /// connection itself (`None`).
    Hung(Option<usize>),
}

#[derive(Debug)]
struct Outcome {
    fates: Vec<Fate>,
    /// The server's resident memory after each round, in bytes.
    rss: Vec<u64>,
}

fn outcome() -> &'static Outcome {
    static OUTCOME: OnceLock<Result<Outcome, String>> = OnceLock::new();
    run_once(&OUTCOME, run_overload)
}

/// The soft and hard limits on open files of process `pid`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| {
            word.parse()
                .ok()
                .or((word == "unlimited").then_some(u64::MAX))
        })
        .collect();
    (numbers[0], numbers[1])
}

/// Raises this process's soft limit to [`DESCRIPTORS`] if it is lower (the
/// server inherits it); the reason, if that cannot be done.
fn enough_descriptors() -> Result<(), String> {
    let pid = std::process::id();
    let (soft, hard) = open_file_limits(pid);
    if soft >= DESCRIPTORS {
        return Ok(());
    }
    if hard < DESCRIPTORS {
        return Err(format!(
            "the hard limit on open files is {hard}, under the {DESCRIPTORS} needed"
        ));
    }
    let raised = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={DESCRIPTORS}:{hard}"))
        .status()
        .map_err(|err| format!("prlimit (util-linux) could not run: {err}"))?;
    if raised.success() && open_file_limits(pid).0 >= DESCRIPTORS {
        Ok(())
    } else {
        Err(format!(
            "prlimit could not raise the soft limit from {soft} to {DESCRIPTORS}"
        ))
    }
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// The requests each connection sends, in turn: a stranger's random session
/// id on `/server` (a store lookup), a token no server signed on `/token`,
/// and the health check.
fn request(connection: usize, index: usize) -> String {
    let (path, cookie) = match index % 3 {
        0 => (
            "/server/get_session/",
            format!("sessionid=stranger{connection:0>20}xxxx"),
        ),
        1 => (
            "/token/get_session/",
            format!("token=eyJhbGciOiJFZERTQSJ9.e30.{connection}"),
        ),
        _ => ("/healthz", String::new()),
    };
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n")
}

/// Reads one response: its status, after its whole body.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<u16> {
    let closed = || {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed before a whole response",
        )
    };
    let end_of_head = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0; 4096];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(closed());
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..end_of_head]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(closed)?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < end_of_head + length {
        let mut chunk = [0; 4096];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(closed());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    buffer.drain(..end_of_head + length);
    Ok(status)
}

/// Opens every connection first, so that all are open at once, then sends
/// each one's requests; every connection is held until all are done.
async fn round(address: &str) -> Vec<Fate> {
    let connecting: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let address = address.to_owned();
            tokio::spawn(
                async move { tokio::time::timeout(HANG, TcpStream::connect(address)).await },
            )
        })
        .collect();
    let mut streams = Vec::new();
    for connecting in connecting {
        streams.push(connecting.await.unwrap());
    }
    let talking: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(connection, stream)| {
            tokio::spawn(async move {
                let mut stream = match stream {
                    Err(_) => return (Fate::Hung(None), None),
                    Ok(Err(err)) => return (Fate::RefusedAtConnect(err.to_string()), None),
                    Ok(Ok(stream)) => stream,
                };
                let mut statuses = Vec::new();
                let talk = async {
                    let mut buffer = Vec::new();
                    for index in 0..REQUESTS_PER_CONNECTION {
                        stream
                            .write_all(request(connection, index).as_bytes())
                            .await?;
                        statuses.push(read_response(&mut stream, &mut buffer).await?);
                    }
                    Ok::<_, std::io::Error>(())
                };
                let timed = tokio::time::timeout(HANG, talk).await;
                let fate = match timed {
                    Err(_) => Fate::Hung(Some(statuses.len())),
                    Ok(Err(err)) => Fate::Cut {
                        answered: statuses.len(),
                        error: err.to_string(),
                    },
                    Ok(Ok(())) => Fate::Answered(statuses),
                };
                // Handed back open: every connection stays open until each
                // has its fate.
                (fate, Some(stream))
            })
        })
        .collect();
    let mut fates = Vec::new();
    let mut open = Vec::new();
    for handle in talking {
        let (fate, stream) = handle.await.unwrap();
        fates.push(fate);
        open.push(stream);
    }
    drop(open);
    fates
}

fn run_overload() -> Outcome {
    if let Err(reason) = enough_descriptors() {
        panic!("the overload tests need {DESCRIPTORS} open files per process: {reason}");
    }
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("sessions.sqlite3").display());
    let keys = dir.path().join("keys").display().to_string();
    let server = Instance::start(&["--store", &store, "--keys-dir", &keys]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut fates = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..ROUNDS {
        fates.extend(runtime.block_on(round(&server.address)));
        rss.push(resident_bytes(server.pid()));
    }
    Outcome { fates, rss }
}

needs!(
    many_descriptors,
    #[test]
    fn every_one_of_two_thousand_concurrent_connections_is_answered_or_cleanly_refused() {
        let outcome = outcome();
        let hung: Vec<Option<usize>> = outcome
            .fates
            .iter()
            .filter_map(|fate| match fate {
                Fate::Hung(at) => Some(*at),
                _ => None,
            })
            .collect();
        assert!(
            hung.is_empty(),
            "{} connections without an answer within {HANG:?}, waiting on requests {:?}",
            hung.len(),
            hung.iter().take(40).collect::<Vec<_>>()
        );
        let cut: Vec<&Fate> = outcome
            .fates
            .iter()
            .filter(|fate| matches!(fate, Fate::Cut { .. }))
            .collect();
        assert!(
            cut.is_empty(),
            "{} connections closed or reset after they were accepted: {:?}",
            cut.len(),
            cut.iter().take(10).collect::<Vec<_>>()
        );
        for fate in &outcome.fates {
            if let Fate::Answered(statuses) = fate {
                assert_eq!(statuses.len(), REQUESTS_PER_CONNECTION, "{statuses:?}");
                assert!(
                    statuses.iter().all(|status| matches!(status, 200 | 503)),
                    "{statuses:?}"
                );
            }
        }
        let answered = outcome
            .fates
            .iter()
            .filter(|fate| matches!(fate, Fate::Answered(_)))
            .count();
        let refused: Vec<&Fate> = outcome
            .fates
            .iter()
            .filter(|fate| matches!(fate, Fate::RefusedAtConnect(_)))
            .collect();
        eprintln!(
            "overload: {answered} of {} connections answered, {} refused at connect ({:?}…)",
            outcome.fates.len(),
            refused.len(),
            refused.first()
        );
        assert_eq!(
            answered + refused.len(),
            outcome.fates.len(),
            "every connection is answered or refused"
        );
        assert!(answered > 0, "not one connection was answered");
    }
);

needs!(
    many_descriptors,
    #[test]
    fn memory_does_not_grow_round_after_round_of_two_thousand_connections() {
        let outcome = outcome();
        let (first, last) = (outcome.rss[0], outcome.rss[ROUNDS - 1]);
        eprintln!(
            "overload: resident memory after each round (MiB): {:?}",
            outcome
                .rss
                .iter()
                .map(|rss| rss / 1_048_576)
                .collect::<Vec<_>>()
        );
        assert!(
            last < first + GROWTH_LIMIT,
            "grew from {first} to {last} bytes over rounds 2 to {ROUNDS}: {:?}",
            outcome.rss
        );
    }
);
