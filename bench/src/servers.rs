//! The servers under test: the real `sessions-vs-jwt` binary, the bare
//! yardstick and the peers, each started as a child process on a free port
//! of 127.0.0.1, watched through /proc, and killed when dropped, so that no
//! server outlives the run, even on error.

use std::{
    fs,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use nix::{time::ClockId, unistd::Pid};

use crate::wire;

/// How long a server may take to answer `/healthz` (SQLite with a million
/// rows opens in well under a second; this is for a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The programs a run starts.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The app: `--server-binary`, or `sessions-vs-jwt` next to this program.
    pub server: PathBuf,
    /// This crate's bare yardstick server (`src/bin/bare.rs`).
    pub bare: PathBuf,
    /// This crate's stock tower-sessions peer (`src/bin/peer-tower-sessions.rs`).
    pub peer_tower_sessions: PathBuf,
}

/// The programs to start, all next to this program (one workspace, one
/// target folder) unless `--server-binary` names the app. Under `cargo run
/// -p bench`, which builds only the harness, the app and this crate's other
/// binaries are rebuilt first in the same profile, so that a stale server
/// is never measured; with `--server-binary`, nothing is built.
pub fn binaries(chosen: Option<&Path>) -> anyhow::Result<Binaries> {
    let own = std::env::current_exe().context("cannot find this program's path")?;
    let folder = own
        .parent()
        .context("this program's path has no folder")?
        .to_owned();
    let binaries = Binaries {
        server: chosen.map_or_else(|| folder.join("sessions-vs-jwt"), Path::to_owned),
        bare: folder.join("bare"),
        peer_tower_sessions: folder.join("peer-tower-sessions"),
    };
    let cargo = std::env::var("CARGO").ok().filter(|_| chosen.is_none());
    if let (Some(cargo), Ok(manifest)) = (cargo, std::env::var("CARGO_MANIFEST_DIR")) {
        // Two builds, so that the server's features are its own, not
        // unified with the peers' (sqlx's SQLite driver): the binary users run.
        for package in [&["-p", "sessions-vs-jwt"][..], &["-p", "bench", "--bins"]] {
            let mut command = Command::new(&cargo);
            // The workspace's root manifest is the app's, one folder above this crate's.
            command
                .args(["build", "--quiet"])
                .args(package)
                .arg("--manifest-path")
                .arg(Path::new(&manifest).join("../Cargo.toml"));
            match folder.file_name().and_then(|name| name.to_str()) {
                Some("debug") | None => {}
                Some("release") => {
                    command.arg("--release");
                }
                Some(profile) => {
                    command.args(["--profile", profile]);
                }
            }
            eprintln!("building: {command:?}");
            let status = command.status().context("cannot run cargo build")?;
            if !status.success() {
                bail!("cargo build failed ({status}): {command:?}");
            }
        }
    }
    if !binaries.server.exists() {
        bail!(
            "no server binary at {}: build it with `cargo build --release -p sessions-vs-jwt`, or pass --server-binary",
            binaries.server.display()
        );
    }
    for own in [&binaries.bare, &binaries.peer_tower_sessions] {
        if !own.exists() {
            bail!(
                "no {} next to the harness: build them with `cargo build --release -p bench --bins`",
                own.display()
            );
        }
    }
    Ok(binaries)
}

/// How to start one server: the program, its arguments (`--bind ADDRESS`
/// is appended), and its environment.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Set in the child's environment, after every `SVJ_*` and `RUST_LOG`
    /// of the harness's own is removed, so that an exported variable never
    /// changes what is measured.
    pub env: Vec<(String, String)>,
    pub current_dir: Option<PathBuf>,
    /// Whether the server's CPU time includes its child processes' (a
    /// pre-forking server such as gunicorn).
    pub with_children: bool,
    /// Whether the server also serves its operators' pages
    /// (`--metrics-bind ADDRESS` is appended, on a free port of its own).
    pub operations: bool,
}

impl ServerCommand {
    pub fn new(program: &Path, args: Vec<String>) -> Self {
        Self {
            program: program.to_owned(),
            args,
            env: Vec::new(),
            current_dir: None,
            with_children: false,
            operations: false,
        }
    }

    /// The app's operators' pages (`/store-operations`) on a port of their own.
    pub fn with_operations(mut self) -> Self {
        self.operations = true;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The profile the server binary was built in, from the folder cargo put it in.
pub fn build_profile(binary: &Path) -> String {
    binary
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .unwrap_or("unknown")
        .to_owned()
}

/// A running server. Dropping it kills the process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub address: SocketAddr,
    /// Where the app serves `/store-operations`, when started with them.
    pub operations: Option<SocketAddr>,
    pid: u32,
    log: PathBuf,
    with_children: bool,
}

impl ServerProcess {
    /// Starts the app `binary` with `args`, at its default log level, on a
    /// free port, and waits until `/healthz` answers 200.
    pub async fn start(binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        Self::start_command(&ServerCommand::new(binary, args.to_vec()), log).await
    }

    /// Starts `command` on a free port, its stderr going to `log` as a
    /// user's terminal or service manager would keep it, and waits until
    /// `/healthz` answers 200. The error says why it did not, in the
    /// server's own words when it printed any (an unknown flag, an
    /// unreachable store).
    pub async fn start_command(command: &ServerCommand, log: &Path) -> anyhow::Result<Self> {
        let mut last_error = None;
        // A port found free can be taken before the server binds it: retry.
        for _ in 0..3 {
            match Self::start_once(command, log).await {
                Ok(server) => return Ok(server),
                Err(err) if err.to_string().contains("cannot listen") => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    async fn start_once(command: &ServerCommand, log: &Path) -> anyhow::Result<Self> {
        let address = free_port()?;
        let operations = if command.operations {
            Some(free_port()?)
        } else {
            None
        };
        let log_file = fs::File::create(log)
            .with_context(|| format!("cannot create the server log {}", log.display()))?;
        let mut child = Command::new(&command.program);
        child
            .args(&command.args)
            .arg("--bind")
            .arg(address.to_string())
            .args(
                operations
                    .iter()
                    .flat_map(|operations| ["--metrics-bind".to_owned(), operations.to_string()]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        for (name, _) in std::env::vars_os() {
            let inherited = name.to_string_lossy();
            if inherited.starts_with("SVJ_") || inherited == "RUST_LOG" {
                child.env_remove(&name);
            }
        }
        child.envs(command.env.iter().map(|(name, value)| (name, value)));
        if let Some(folder) = &command.current_dir {
            child.current_dir(folder);
        }
        let child = child
            .spawn()
            .with_context(|| format!("cannot start {}", command.program.display()))?;
        let mut server = Self {
            pid: child.id(),
            child,
            address,
            operations,
            log: log.to_owned(),
            with_children: command.with_children,
        };
        server.wait_until_healthy().await?;
        Ok(server)
    }

    async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}): {}", self.log_tail());
            }
            match wire::exchange(self.address, wire::Request::get("/healthz")).await {
                Ok(response) if response.status == 200 => return Ok(()),
                Ok(response) if started.elapsed() > START_TIMEOUT => bail!(
                    "/healthz still answers {} after {START_TIMEOUT:?}: {}",
                    response.status,
                    response.body.trim()
                ),
                Err(err) if started.elapsed() > START_TIMEOUT => {
                    bail!(
                        "no answer on {} after {START_TIMEOUT:?}: {err:#}",
                        self.address
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// What the server said before it exited: its `error:` line if it
    /// printed one (clap and `main` both start errors so), else its last lines.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        if let Some(error) = lines.iter().find(|line| line.starts_with("error")) {
            return (*error).to_owned();
        }
        let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
        if tail.is_empty() {
            "(it printed nothing)".to_owned()
        } else {
            tail
        }
    }

    /// Resident memory, from /proc/PID/status (VmRSS).
    /// Stops the server as a service manager does, with SIGTERM, and waits
    /// up to `patience` for it to exit by itself: what a profiler running
    /// it needs to write its output.
    pub async fn stop(mut self, patience: Duration) -> anyhow::Result<()> {
        nix::sys::signal::kill(
            Pid::from_raw(i32::try_from(self.pid)?),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > patience {
                bail!("the server did not exit within {patience:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("cannot read the server's /proc status")?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .context("no VmRSS in /proc status")?;
        Ok(kib * 1024)
    }

    /// User plus system CPU time of all the server's threads so far, and
    /// of its child processes' for a pre-forking server.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let own = cpu_time_of(self.pid)?;
        if !self.with_children {
            return Ok(own);
        }
        Ok(descendants(self.pid)
            .iter()
            .filter_map(|pid| cpu_time_of(*pid).ok())
            .fold(own, |total, child| total + child))
    }
}

/// Every live process below `pid`, from the parent fields of /proc/*/stat.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|process| {
            let stat = fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
            let parent = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((process, parent))
        })
        .collect();
    let mut found = vec![pid];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            parents
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(process, _)| *process),
        );
        index += 1;
    }
    found.split_off(1)
}

/// CPU time of a process so far, its exited threads included, to the
/// nanosecond: the kernel's own clock of it (clock_getcpuclockid(3)), where
/// /proc/PID/stat rounds user and system time to 10 ms each, a noise of
/// about 0.5 µs per request in a one-second round.
pub fn cpu_time_of(process: u32) -> anyhow::Result<Duration> {
    let pid = i32::try_from(process).context("a pid beyond i32")?;
    let clock = ClockId::pid_cpu_clock_id(Pid::from_raw(pid))
        .with_context(|| format!("no CPU clock for process {process}"))?;
    let time = clock
        .now()
        .with_context(|| format!("cannot read process {process}'s CPU clock"))?;
    Ok(Duration::from(time))
}

/// This program's CPU time so far: the load generator's.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    let time = ClockId::CLOCK_PROCESS_CPUTIME_ID
        .now()
        .context("cannot read this process's CPU clock")?;
    Ok(Duration::from(time))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Found before the parent dies, while they are still its children.
        let children = if self.with_children {
            descendants(self.pid)
        } else {
            Vec::new()
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !children.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(children.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?)
}
