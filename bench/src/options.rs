//! The harness's command line, and the settings a run uses once `--quick`
//! has chosen its defaults.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

/// Measures every mechanism against the stateless reference page: starts
/// the real server on 127.0.0.1, drives it over HTTP with keep-alive
/// connections, and writes results.json, Markdown tables and SVG charts.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
pub struct Options {
    /// Folder for results.json, the Markdown tables and the SVG charts
    /// (created if missing; files of an earlier run are replaced).
    #[arg(long, default_value = "docs/results")]
    pub out: PathBuf,

    /// Seconds per measured round [default: 2, --quick: 0.25].
    #[arg(long)]
    pub duration: Option<f64>,

    /// Rounds per scenario; each round measures the scenario, the reference
    /// and the bare server once, in an order that rotates. The paired
    /// comparisons take four times as many, for each pair [default: 5,
    /// --quick: 2].
    #[arg(long)]
    pub rounds: Option<usize>,

    /// Concurrent keep-alive connections of the load generator
    /// [default: 32, --quick: 4].
    #[arg(long)]
    pub connections: Option<usize>,

    /// Threads of the load generator. One leaves the other core(s) to the
    /// server on a small machine.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Only these configurations (comma-separated names; a trailing `*`
    /// matches by prefix), e.g. `server-memory,token-*`. The names are listed
    /// in run.md and results.json.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,

    /// Numbers of stored sessions for the scaling measurement
    /// [default: 1000,100000,1000000, --quick: 100,1000].
    #[arg(long, value_delimiter = ',')]
    pub sessions: Option<Vec<u64>>,

    /// Logins whose growth of the server's memory gives the memory per
    /// stored session [default: 100000, --quick: 500].
    #[arg(long)]
    pub memory_logins: Option<u64>,

    /// Requests with random cookies in the flood check [default: 20000,
    /// --quick: 300].
    #[arg(long)]
    pub flood_requests: Option<u64>,

    /// Logged-in visitors of the population scenario, far more than the
    /// caches hold, each returning seconds apart [default: 100000,
    /// --quick: 2000].
    #[arg(long)]
    pub population: Option<u64>,

    /// The Python that serves the Django peer (it needs `pip install django
    /// gunicorn`; without them the Django rows are skipped, with the reason).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,

    /// A tiny run that checks the harness, not the app: short rounds, few
    /// connections and small stores. Its numbers mean nothing.
    #[arg(long)]
    pub quick: bool,

    /// The server binary to measure [default: `sessions-vs-jwt` next to
    /// this program, rebuilt first when run through `cargo run`].
    #[arg(long)]
    pub server_binary: Option<PathBuf>,

    /// Markdown pages whose `<!-- bench:NAME -->...<!-- /bench:NAME -->`
    /// blocks are replaced by the table or generated text NAME (a table
    /// file's name without `.md`), comma-separated or repeated, e.g.
    /// `docs/comparison.md,docs/performance.md`. Refused for a shortened run
    /// or a tree with changes or untracked files (before measuring), and
    /// for a busy machine or a failed check (after): published numbers come
    /// from a commit, a full run, an idle machine and passed checks.
    #[arg(long, value_delimiter = ',')]
    pub splice: Vec<PathBuf>,

    /// Measure nothing: read this results.json and write its tables, charts
    /// and generated text into `--out` (and `--splice`'s pages), so that a
    /// change to what the harness writes can be seen on a published run.
    /// Splicing a re-render is refused when the results file, the harness
    /// (`bench/`) or a page to splice has uncommitted changes, or when the
    /// run was measured on a busy machine or failed a check.
    #[arg(long, value_name = "RESULTS_JSON", conflicts_with_all = ["quick", "duration", "rounds", "only", "server_binary"])]
    pub render: Option<PathBuf>,

    /// Measure nothing: fail when README.md or a page of docs/ quotes,
    /// outside a generated block, a measured figure (a decimal number, or a
    /// number with a unit such as µs, req/s, × or bytes) that the results in
    /// `--out` do not hold.
    #[arg(long, conflicts_with = "render")]
    pub check_docs: bool,

    /// Measure no throughput: count, under valgrind's callgrind, the
    /// instructions one request costs on the bare server, on the reference
    /// page and for each mechanism's returning visitor, part by part (the
    /// access line, the counters, rendering, the mechanism), and write them
    /// into `--out` as profile.md and profile.json. Counts do not depend on
    /// how busy the machine is.
    #[arg(long, conflicts_with_all = ["render", "check_docs", "splice"])]
    pub profile: bool,
}

/// What one run does, every default resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub out: PathBuf,
    pub round: Duration,
    pub warmup: Duration,
    pub rounds: usize,
    pub connections: usize,
    pub client_threads: usize,
    pub only: Vec<String>,
    pub session_counts: Vec<u64>,
    pub memory_logins: u64,
    pub flood_requests: u64,
    /// Logged-in visitors whose cookies the returning-visitor scenarios cycle through.
    pub returning_visitors: usize,
    pub population: u64,
    pub python: PathBuf,
    /// Cookie age of the servers that measure logout-to-effect: short, so
    /// that a token's expiry is reached in seconds.
    pub logout_cookie_age: u64,
    pub quick: bool,
    pub splice: Vec<PathBuf>,
}

/// Seconds per round and rounds per scenario of a full run.
pub const DEFAULT_ROUND_SECONDS: f64 = 2.0;
pub const DEFAULT_ROUNDS: usize = 5;

impl Settings {
    /// Whether the run is shorter than a full one (`--quick`, or fewer
    /// seconds or rounds than the defaults): a check of the harness, whose
    /// figures are not for publishing.
    pub fn is_shortened(&self) -> bool {
        self.quick
            || self.round < Duration::from_secs_f64(DEFAULT_ROUND_SECONDS)
            || self.rounds < DEFAULT_ROUNDS
    }

    pub fn from_options(options: &Options) -> Self {
        let quick = options.quick;
        let pick = |full: f64, tiny: f64| if quick { tiny } else { full };
        let seconds = options
            .duration
            .unwrap_or(pick(DEFAULT_ROUND_SECONDS, 0.25))
            .max(0.05);
        Self {
            out: options.out.clone(),
            round: Duration::from_secs_f64(seconds),
            warmup: Duration::from_secs_f64((seconds / 4.0).min(0.5)),
            rounds: options
                .rounds
                .unwrap_or(if quick { 2 } else { DEFAULT_ROUNDS })
                .max(1),
            connections: options
                .connections
                .unwrap_or(if quick { 4 } else { 32 })
                .max(1),
            client_threads: options.client_threads.max(1),
            only: options.only.clone(),
            session_counts: options.sessions.clone().unwrap_or_else(|| {
                if quick {
                    vec![100, 1000]
                } else {
                    vec![1000, 100_000, 1_000_000]
                }
            }),
            memory_logins: options
                .memory_logins
                .unwrap_or(if quick { 500 } else { 100_000 })
                .max(1),
            flood_requests: options
                .flood_requests
                .unwrap_or(if quick { 300 } else { 20_000 })
                .max(1),
            returning_visitors: if quick { 50 } else { 1000 },
            population: options
                .population
                .unwrap_or(if quick { 2000 } else { 100_000 })
                .max(1),
            python: options.python.clone(),
            logout_cookie_age: if quick { 1 } else { 2 },
            quick,
            splice: options.splice.clone(),
        }
    }

    /// Whether `--only` selects the configuration called `name`.
    pub fn selects(&self, name: &str) -> bool {
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|pattern| Self::selects_with(pattern, name))
    }

    /// Whether one `--only` pattern names the configuration `name`.
    pub fn selects_with(pattern: &str, name: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == pattern,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Settings {
        let options = Options::try_parse_from(["bench"].iter().chain(args)).unwrap();
        Settings::from_options(&options)
    }

    #[test]
    fn only_selects_exact_names_and_prefixes_ending_in_a_star() {
        let settings = settings(&["--only", "server-sqlite,token-*"]);
        assert!(settings.selects("server-sqlite"));
        assert!(!settings.selects("server-sqlite-cache"));
        assert!(settings.selects("token-eddsa-revocation"));
        assert!(!settings.selects("server-memory"));
    }

    #[test]
    fn without_only_everything_is_selected() {
        assert!(settings(&[]).selects("server-postgres"));
    }

    #[test]
    fn quick_changes_the_defaults_but_not_explicit_values() {
        let quick = settings(&["--quick", "--rounds", "3"]);
        assert_eq!(quick.rounds, 3);
        assert_eq!(quick.connections, 4);
        assert_eq!(quick.session_counts, [100, 1000]);
        let full = settings(&[]);
        assert_eq!(full.rounds, 5);
        assert_eq!(full.session_counts, [1000, 100_000, 1_000_000]);
        assert_eq!(full.memory_logins, 100_000);
        assert_eq!(full.population, 100_000);
        assert_eq!(quick.population, 2000);
    }
}
