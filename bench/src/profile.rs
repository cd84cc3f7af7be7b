//! `--profile`: where a request's instructions go, counted by callgrind
//! (valgrind), which counts the same on a busy machine as on an idle one.
//!
//! Each server runs twice under callgrind, and each time a visitor logs in,
//! warms the server up, then sends one request over and over on one
//! keep-alive connection: [`FEW`] times in the first run, [`MANY`] in the
//! second. The difference between the two runs, divided by the difference
//! in requests, is what one more request costs, with start-up, login,
//! warm-up and shut-down cancelled out. The same difference, function by
//! function (inclusive: a function with everything it calls), gives the
//! parts of [`PARTS`]. Only user space is counted: the kernel's share of a
//! request (loopback TCP, epoll, waking threads), about half of its CPU
//! time in the harness's own runs, is in none of these figures.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::{
    app::{REFERENCE_GET_SESSION, Route},
    configurations::{self, Configuration},
    machine, run,
    servers::{Binaries, ServerCommand, ServerProcess},
    wire,
};

/// Requests of the first run, and of the second.
const FEW: u64 = 300;
const MANY: u64 = 1_500;

/// Requests sent after the login and before the counted ones, in both runs.
const WARM_UP: u64 = 100;

/// How long a server under callgrind may take to exit and write its profile.
const STOP_PATIENCE: Duration = Duration::from_secs(120);

/// A part of the page path, and the functions whose inclusive costs (a
/// function with everything it calls) add up to it. A pattern stands for
/// the costliest function whose name contains it; the patterns are chosen
/// so that no part's functions call another part's.
pub const PARTS: &[(&str, &[&str])] = &[
    (
        "reading the request (hyper)",
        &["<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse"],
    ),
    (
        "routing (axum)",
        &["axum::routing::Router<S>::call_with_state"],
    ),
    (
        "reading the visitor: cookie and mechanism",
        &["<sessions_vs_jwt::web::visit::Visit<M> as axum_core::extract::FromRequestParts"],
    ),
    (
        "rendering the page (minijinja)",
        &["sessions_vs_jwt::web::templates::render"],
    ),
    (
        "writing back the cookie change",
        &["<sessions_vs_jwt::web::visit::Visit<M> as axum_core::response::into_response_parts"],
    ),
    (
        "counting for /metrics",
        &[
            "sessions_vs_jwt::metrics::Metrics::page",
            "sessions_vs_jwt::metrics::Metrics::request",
        ],
    ),
    (
        "the access line",
        &["sessions_vs_jwt::web::access_log::write_line"],
    ),
    (
        "writing the response head (hyper)",
        &["<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::encode"],
    ),
];

/// What `--profile` writes: every scenario, and what they were counted on.
#[derive(Debug, Serialize, Deserialize)]
pub struct Counting {
    /// The commit profiled, with `-dirty` when the tree had changes.
    pub commit: String,
    pub date: String,
    /// Requests by which the two runs of each server differ.
    pub requests: u64,
    pub scenarios: Vec<Profiled>,
    /// The first profile `--out` held, which the page compares with: the
    /// before of every change made since, until the file is removed.
    #[serde(default)]
    pub baseline: Option<Baseline>,
}

/// Each scenario's instructions per request at an earlier commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub commit: String,
    pub instructions: BTreeMap<String, f64>,
}

/// One scenario's cost per request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Profiled {
    pub label: String,
    /// Instructions per request, all of user space.
    pub instructions: f64,
    /// Instructions per request in each of [`PARTS`], by its label.
    pub parts: BTreeMap<String, f64>,
}

/// What to profile: a server, and the request a returning visitor sends.
struct Target {
    label: String,
    server: Server,
    /// The page the visitor logs in on first, and the cookie it sets.
    login: Option<(String, &'static str)>,
    path: String,
}

enum Server {
    Bare,
    App(Configuration),
}

/// Profiles the bare server, the reference page and each mechanism's
/// returning visitor, and writes `profile.md` and `profile.json` into `out`.
pub async fn profile(binaries: &Binaries, out: &Path) -> anyhow::Result<()> {
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.is_ok_and(|output| output.status.success()) {
        bail!("--profile needs valgrind (Debian: apt-get install valgrind)");
    }
    let workspace = tempfile::Builder::new()
        .prefix("svj-bench-profile-")
        .tempdir()?;
    let reference = reference_response(binaries, workspace.path()).await?;
    let mut profiled = Vec::new();
    for target in targets() {
        eprintln!("profiling {} under callgrind", target.label);
        let few = callgrind(binaries, &target, &reference, workspace.path(), FEW).await?;
        let many = callgrind(binaries, &target, &reference, workspace.path(), MANY).await?;
        let requests = (MANY - FEW) as f64;
        let parts = PARTS
            .iter()
            .map(|(label, _)| {
                let cost = many.parts.get(*label).copied().unwrap_or(0)
                    - few.parts.get(*label).copied().unwrap_or(0);
                ((*label).to_owned(), cost as f64 / requests)
            })
            .collect();
        profiled.push(Profiled {
            label: target.label,
            instructions: (many.total - few.total) as f64 / requests,
            parts,
        });
    }
    let counted = Counting {
        commit: machine::git_commit(),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        requests: MANY - FEW,
        scenarios: profiled,
        baseline: baseline(&out.join("profile.json")),
    };
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("profile.json"),
        serde_json::to_string_pretty(&counted)?,
    )?;
    std::fs::write(out.join("profile.md"), page(&counted))?;
    eprintln!("wrote {}", out.join("profile.md").display());
    Ok(())
}

/// The profile written into `out`, if there is a readable one.
pub fn published(out: &Path) -> Option<Counting> {
    serde_json::from_str(&std::fs::read_to_string(out.join("profile.json")).ok()?).ok()
}

/// The baseline of the profile at `path`, or that profile itself when it
/// has none; `None` when there is no readable profile there.
fn baseline(path: &Path) -> Option<Baseline> {
    let earlier: Counting = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(earlier.baseline.unwrap_or_else(|| {
        Baseline {
            commit: earlier.commit,
            instructions: earlier
                .scenarios
                .into_iter()
                .map(|scenario| (scenario.label, scenario.instructions))
                .collect(),
        }
    }))
}

fn targets() -> Vec<Target> {
    let all = configurations::all();
    let named = |name: &str| all.iter().find(|c| c.name == name).cloned();
    let mut targets = vec![Target {
        label: "bare server".to_owned(),
        server: Server::Bare,
        login: None,
        path: REFERENCE_GET_SESSION.to_owned(),
    }];
    if let Some(memory) = named("server-memory") {
        targets.push(Target {
            label: "reference page".to_owned(),
            server: Server::App(memory),
            login: None,
            path: REFERENCE_GET_SESSION.to_owned(),
        });
    }
    for name in [
        "server-memory",
        "server-sqlite",
        "token-eddsa",
        "cookie-aes256gcm",
        "hybrid-sqlite",
    ] {
        if let Some(configuration) = named(name) {
            targets.push(Target {
                label: format!("{name}, returning visitor"),
                login: Some((
                    configuration.path(Route::SetSession),
                    configuration.cookie_name(),
                )),
                path: configuration.path(Route::GetSession),
                server: Server::App(configuration),
            });
        }
    }
    targets
}

/// The reference page's response as the app sends it, for the bare server
/// to replay.
async fn reference_response(binaries: &Binaries, workspace: &Path) -> anyhow::Result<PathBuf> {
    let args = vec![
        "--store".to_owned(),
        "memory".to_owned(),
        "--keys-dir".to_owned(),
        workspace.join("keys").display().to_string(),
    ];
    let app =
        ServerProcess::start(&binaries.server, &args, &workspace.join("reference.log")).await?;
    Ok(run::record_reference(app.address, workspace).await?.0)
}

/// What one run under callgrind counted, in instructions.
struct Counted {
    total: u64,
    parts: BTreeMap<&'static str, u64>,
}

async fn callgrind(
    binaries: &Binaries,
    target: &Target,
    reference: &Path,
    workspace: &Path,
    requests: u64,
) -> anyhow::Result<Counted> {
    let run = workspace.join(format!("run-{}", uuid_like(&target.label, requests)));
    std::fs::create_dir_all(&run)?;
    let output = run.join("callgrind.out");
    let (program, args) = match &target.server {
        Server::Bare => (
            &binaries.bare,
            vec!["--response".to_owned(), reference.display().to_string()],
        ),
        Server::App(configuration) => (&binaries.server, configuration.server_args(&run, None)),
    };
    let mut wrapped = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", output.display()),
        program.display().to_string(),
    ];
    wrapped.extend(args);
    let command = ServerCommand::new(Path::new("valgrind"), wrapped);
    let server = ServerProcess::start_command(&command, &run.join("server.log"))
        .await
        .with_context(|| format!("cannot start {} under callgrind", target.label))?;
    let cookie = match &target.login {
        Some((path, name)) => Some(wire::log_in(server.address, path, name, None).await?.0),
        None => None,
    };
    let request = wire::Request::get(&target.path).with_cookie(cookie);
    wire::exchange_repeatedly(server.address, &request, WARM_UP).await?;
    wire::exchange_repeatedly(server.address, &request, requests).await?;
    server.stop(STOP_PATIENCE).await?;
    read_profile(&output)
}

/// A folder name for one run.
fn uuid_like(label: &str, requests: u64) -> String {
    let plain: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{plain}-{requests}")
}

/// The total and each part's cost in a callgrind output file.
fn read_profile(output: &Path) -> anyhow::Result<Counted> {
    let annotated = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(output)
        .output()
        .context("cannot run callgrind_annotate")?;
    if !annotated.status.success() {
        bail!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&annotated.stderr)
        );
    }
    let text = String::from_utf8_lossy(&annotated.stdout);
    let mut total = None;
    let mut costliest: BTreeMap<&'static str, u64> = BTreeMap::new();
    for line in text.lines() {
        let Some((cost, function)) = cost_and_rest(line) else {
            continue;
        };
        if function.contains("PROGRAM TOTALS") {
            total = Some(cost);
            continue;
        }
        for pattern in PARTS.iter().flat_map(|(_, patterns)| patterns.iter()) {
            if function.contains(pattern) {
                let known = costliest.entry(pattern).or_default();
                *known = (*known).max(cost);
            }
        }
    }
    let parts = PARTS
        .iter()
        .map(|(label, patterns)| {
            let cost = patterns
                .iter()
                .filter_map(|pattern| costliest.get(pattern))
                .sum();
            (*label, cost)
        })
        .collect();
    Ok(Counted {
        total: total.context("no PROGRAM TOTALS in callgrind_annotate's output")?,
        parts,
    })
}

/// `1,234,567 (12.34%)  file:function [object]` as its cost and the rest.
fn cost_and_rest(line: &str) -> Option<(u64, &str)> {
    let line = line.trim_start();
    let (number, rest) = line.split_once(' ')?;
    let cost = number.replace(',', "").parse().ok()?;
    Some((cost, rest.trim_start()))
}

/// The page: what was counted, how, and the table.
fn page(counted: &Counting) -> String {
    let mut text = String::from("# Where a request's instructions go\n\n");
    let _ = writeln!(
        text,
        "Counted at commit `{}` on {} by `cargo run --release -p bench -- --profile`: instructions per request in user space, under callgrind, which counts the same on a busy machine as on an idle one. Each figure is the difference between two runs of one server, one serving {} more requests than the other (a returning visitor's `GET`, one after the other on one keep-alive connection), divided by that number. The kernel's share (loopback TCP, epoll, waking threads) is not counted. A part is the inclusive cost of the functions `bench/src/profile.rs` names for it (0 where the compiler inlined them into their caller: they are then in the rest); the rest is everything else: hyper's connection and buffers, tokio, axum's layers and boxed services, allocation.\n",
        counted.commit, counted.date, counted.requests
    );
    text.push_str(&table(&counted.scenarios));
    if let Some(change) = change(counted) {
        text.push_str("\n## Since the first profile\n\n");
        text.push_str(&change);
    }
    text
}

/// Each scenario's instructions per request at the baseline's commit and
/// now, as a Markdown table with the sentence that introduces it; `None`
/// without a baseline.
pub fn change(counted: &Counting) -> Option<String> {
    let baseline = counted.baseline.as_ref()?;
    let mut text = format!(
        "Instructions per request at commit `{}` and now.\n\n| scenario | then | now | change |\n|---|---:|---:|---:|\n",
        baseline.commit
    );
    for row in &counted.scenarios {
        if let Some(then) = baseline.instructions.get(&row.label) {
            let _ = writeln!(
                text,
                "| {} | {then:.0} | {:.0} | {:+.1} % |",
                row.label,
                row.instructions,
                (row.instructions / then - 1.0) * 100.0
            );
        }
    }
    Some(text)
}

/// The Markdown table of what each scenario costs, part by part.
fn table(profiled: &[Profiled]) -> String {
    let mut text = String::new();
    let _ = write!(text, "| scenario | all |");
    for (label, _) in PARTS {
        let _ = write!(text, " {label} |");
    }
    text.push_str(" the rest |\n|---|---:|");
    for _ in PARTS {
        text.push_str("---:|");
    }
    text.push_str("---:|\n");
    for row in profiled {
        let _ = write!(text, "| {} | {:.0} |", row.label, row.instructions);
        let mut parts = 0.0;
        for (label, _) in PARTS {
            let cost = row.parts.get(*label).copied().unwrap_or(0.0);
            parts += cost;
            let _ = write!(text, " {cost:.0} |");
        }
        let _ = writeln!(text, " {:.0} |", row.instructions - parts);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annotated_line_gives_its_cost_and_its_function() {
        let line =
            " 4,730,212 (10.19%)  ???:sessions_vs_jwt::web::templates::render [/x/sessions-vs-jwt]";
        let (cost, function) = cost_and_rest(line).unwrap();
        assert_eq!(cost, 4_730_212);
        assert!(function.contains(PARTS[3].1[0]), "{function}");
        assert_eq!(cost_and_rest("Ir  "), None);
        assert_eq!(cost_and_rest(""), None);
    }

    #[test]
    fn the_rest_is_what_the_parts_leave_of_the_whole() {
        let row = Profiled {
            label: "reference page".to_owned(),
            instructions: 1000.0,
            parts: PARTS
                .iter()
                .map(|(label, _)| ((*label).to_owned(), 100.0))
                .collect(),
        };
        let table = table(std::slice::from_ref(&row));
        let rest = 1000 - 100 * PARTS.len();
        assert!(table.contains("| reference page | 1000 |"), "{table}");
        assert!(table.trim_end().ends_with(&format!(" {rest} |")), "{table}");
    }

    #[test]
    fn the_baseline_is_the_first_profile_and_stays_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        assert!(baseline(&path).is_none());
        let first = Counting {
            commit: "aaa".to_owned(),
            date: String::new(),
            requests: 1,
            scenarios: vec![Profiled {
                label: "bare server".to_owned(),
                instructions: 100.0,
                parts: BTreeMap::new(),
            }],
            baseline: None,
        };
        std::fs::write(&path, serde_json::to_string(&first).unwrap()).unwrap();
        let from_first = baseline(&path).unwrap();
        assert_eq!(from_first.commit, "aaa");
        let second = Counting {
            commit: "bbb".to_owned(),
            baseline: Some(from_first),
            ..first
        };
        std::fs::write(&path, serde_json::to_string(&second).unwrap()).unwrap();
        let kept = baseline(&path).unwrap();
        assert_eq!(kept.commit, "aaa");
        assert_eq!(kept.instructions["bare server"], 100.0);
        assert!(page(&second).contains("| bare server | 100 | 100 | +0.0 % |"));
    }
}
