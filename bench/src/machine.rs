//! What the numbers were measured on: absolute figures mean little without
//! it (ratios travel between machines, requests per second do not).

use std::{path::Path, process::Command};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub rustc: String,
    /// The 1-, 5- and 15-minute load averages when the run started: a busy
    /// machine makes absolute numbers lower and noisier.
    pub load_average: String,
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
        Self {
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
            load_average: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            server_binary: server_binary.display().to_string(),
            build_profile: build_profile.to_owned(),
            git_commit: git_commit(),
        }
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

fn git_commit() -> String {
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|output| !output.stdout.is_empty());
    if dirty && commit != "unknown" {
        format!("{commit}-dirty")
    } else {
        commit
    }
}
