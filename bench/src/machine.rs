//! What the numbers were measured on: absolute figures mean little without
//! it (ratios travel between machines, requests per second do not).

use std::{path::Path, process::Command};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub rustc: String,
    /// The 1-, 5- and 15-minute load averages when the run started: a busy
    /// machine makes absolute numbers lower and noisier.
    pub load_average: String,
    /// The same when the run ended (filled in then).
    pub load_average_at_end: String,
    /// Whether the 1-minute load average at the start was above
    /// [`BUSY_LOAD_PER_CORE`] per core: its numbers are not for publishing.
    pub busy_at_start: bool,
    pub server_binary: String,
    /// `release` unless the numbers are only a check of the harness.
    pub build_profile: String,
    /// The commit measured, with `-dirty` when the tree had changes.
    pub git_commit: String,
}

impl Machine {
    pub fn describe(server_binary: &Path, build_profile: &str) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        let mut machine = Self {
            cpu_model: cpuinfo
                .lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map_or_else(
                    || "unknown".to_owned(),
                    |(_, model)| model.trim().to_owned(),
                ),
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            memory_bytes: meminfo
                .lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc: output(
                &std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()),
                &["--version"],
            ),
            load_average: load_average(),
            load_average_at_end: String::new(),
            busy_at_start: false,
            server_binary: server_binary.display().to_string(),
            build_profile: build_profile.to_owned(),
            git_commit: git_commit(),
        };
        machine.busy_at_start = is_busy(&machine.load_average, machine.cores);
        machine
    }

    pub fn record_end(&mut self) {
        self.load_average_at_end = load_average();
    }

    /// One line for the foot of every table.
    pub fn summary(&self) -> String {
        format!(
            "{} ({} cores, {:.0} GiB), Linux {}, {}, {} build",
            self.cpu_model,
            self.cores,
            self.memory_bytes as f64 / f64::from(1u32 << 30),
            self.kernel,
            self.rustc,
            self.build_profile
        )
    }
}

/// A 1-minute load average above this, per core, means other work was
/// running when the run started.
pub const BUSY_LOAD_PER_CORE: f64 = 0.5;

/// The 1-, 5- and 15-minute load averages, e.g. `0.12 0.30 0.41`.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits, up to `patience`, for the 1-minute load average to fall below
/// the busy mark: the harness has just built the server, and a build's
/// load lingers in the average for a minute or two after it ends, which
/// would mark a quiet machine busy. Other work still running keeps it high,
/// and the run then starts marked busy.
pub async fn wait_until_quiet(patience: std::time::Duration) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let started = std::time::Instant::now();
    let mut said = false;
    while is_busy(&load_average(), cores) && started.elapsed() < patience {
        if !said {
            eprintln!(
                "waiting up to {} s for the machine to settle (load average {})",
                patience.as_secs(),
                load_average()
            );
            said = true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

fn is_busy(load_average: &str, cores: usize) -> bool {
    load_average
        .split_whitespace()
        .next()
        .and_then(|one_minute| one_minute.parse::<f64>().ok())
        .is_some_and(|load| load > BUSY_LOAD_PER_CORE * cores.max(1) as f64)
}

/// The git tree of the current folder has uncommitted changes or untracked
/// files: what is measured is then no commit anyone can check out.
pub fn tree_is_dirty() -> Option<bool> {
    tree_is_dirty_in(Path::new("."))
}

fn tree_is_dirty_in(folder: &Path) -> Option<bool> {
    paths_are_dirty_in(folder, &[])
}

/// Whether any of `paths` (files or folders) has uncommitted changes or
/// untracked files: what a re-render reads (the results, the harness, the
/// pages it splices into) must be what a commit holds, while work elsewhere
/// in the tree changes nothing it writes.
pub fn paths_are_dirty(paths: &[&Path]) -> Option<bool> {
    paths_are_dirty_in(Path::new("."), paths)
}

fn paths_are_dirty_in(folder: &Path, paths: &[&Path]) -> Option<bool> {
    let output = Command::new("git")
        .arg("-C")
        .arg(folder)
        .args(["status", "--porcelain", "--untracked-files=normal", "--"])
        .args(paths)
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    Some(!output.stdout.is_empty())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |output| String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
}

pub fn git_commit() -> String {
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]);
    if tree_is_dirty() == Some(true) && commit != "unknown" {
        format!("{commit}-dirty")
    } else {
        commit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_minute_load_above_half_a_core_per_core_is_busy() {
        assert!(is_busy("1.10 0.20 0.10", 2));
        assert!(!is_busy("0.90 3.00 3.00", 2));
        assert!(!is_busy("", 2));
    }

    fn git(folder: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(folder)
            .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn an_untracked_file_makes_the_tree_dirty_as_a_changed_one_does() {
        let folder = tempfile::tempdir().unwrap();
        git(folder.path(), &["init", "-q"]);
        std::fs::write(folder.path().join("a.txt"), "a").unwrap();
        git(folder.path(), &["add", "a.txt"]);
        git(folder.path(), &["commit", "-q", "-m", "a"]);
        assert_eq!(tree_is_dirty_in(folder.path()), Some(false));

        std::fs::write(folder.path().join("new.txt"), "untracked").unwrap();
        assert_eq!(
            tree_is_dirty_in(folder.path()),
            Some(true),
            "an untracked file"
        );
        std::fs::remove_file(folder.path().join("new.txt")).unwrap();
        std::fs::write(folder.path().join("a.txt"), "changed").unwrap();
        assert_eq!(
            tree_is_dirty_in(folder.path()),
            Some(true),
            "a changed file"
        );
    }

    #[test]
    fn changes_outside_the_paths_asked_about_leave_them_clean() {
        let folder = tempfile::tempdir().unwrap();
        git(folder.path(), &["init", "-q"]);
        std::fs::create_dir(folder.path().join("bench")).unwrap();
        std::fs::write(folder.path().join("bench/a.txt"), "a").unwrap();
        std::fs::write(folder.path().join("other.txt"), "o").unwrap();
        git(folder.path(), &["add", "bench/a.txt", "other.txt"]);
        git(folder.path(), &["commit", "-q", "-m", "a"]);
        std::fs::write(folder.path().join("other.txt"), "changed").unwrap();
        std::fs::write(folder.path().join("untracked.txt"), "u").unwrap();
        let bench = [Path::new("bench")];
        assert_eq!(paths_are_dirty_in(folder.path(), &bench), Some(false));
        std::fs::write(folder.path().join("bench/new.txt"), "n").unwrap();
        assert_eq!(paths_are_dirty_in(folder.path(), &bench), Some(true));
    }
}
