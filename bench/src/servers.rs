//! The servers under test: the real `sessions-vs-jwt` binary, started as a
//! child process on a free port of 127.0.0.1, watched through /proc, and
//! killed when dropped, so that no server outlives the run, even on error.

use std::{
    fs,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::wire;

/// How long a server may take to answer `/healthz` (SQLite with a million
/// rows opens in well under a second; this is for a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Linux reports CPU times in /proc in ticks of 1/100 s (USER_HZ) on every
/// architecture this runs on.
const TICKS_PER_SECOND: u64 = 100;

/// The binary to measure: `--server-binary`, or `sessions-vs-jwt` next to
/// this program (one workspace, one target folder). Under `cargo run -p
/// bench`, which builds only the harness, it is rebuilt first in the same
/// profile so that a stale server is never measured.
pub fn server_binary(chosen: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = chosen {
        return Ok(path.to_owned());
    }
    let own = std::env::current_exe().context("cannot find this program's path")?;
    let folder = own
        .parent()
        .context("this program's path has no folder")?
        .to_owned();
    let binary = folder.join("sessions-vs-jwt");
    if let (Ok(cargo), Ok(manifest)) = (std::env::var("CARGO"), std::env::var("CARGO_MANIFEST_DIR"))
    {
        let mut command = Command::new(cargo);
        // The workspace's root manifest is the app's, one folder above this crate's.
        command
            .args([
                "build",
                "--quiet",
                "-p",
                "sessions-vs-jwt",
                "--bin",
                "sessions-vs-jwt",
                "--manifest-path",
            ])
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
        eprintln!("building the server: {command:?}");
        let status = command.status().context("cannot run cargo build")?;
        if !status.success() {
            bail!("cargo build of the server failed ({status})");
        }
    }
    if !binary.exists() {
        bail!(
            "no server binary at {}: build it with `cargo build --release -p sessions-vs-jwt`, or pass --server-binary",
            binary.display()
        );
    }
    Ok(binary)
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
    pid: u32,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `binary` with `args` on a free port and waits until `/healthz`
    /// answers 200. The error says why it did not, in the server's own words
    /// when it printed any (an unknown flag, an unreachable store).
    pub async fn start(binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let mut last_error = None;
        // A port found free can be taken before the server binds it: retry.
        for _ in 0..3 {
            match Self::start_once(binary, args, log).await {
                Ok(server) => return Ok(server),
                Err(err) if err.to_string().contains("cannot listen") => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    async fn start_once(binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let address = free_port()?;
        let log_file = fs::File::create(log)
            .with_context(|| format!("cannot create the server log {}", log.display()))?;
        let child = Command::new(binary)
            .arg("--bind")
            .arg(address.to_string())
            .args(args)
            // Per-request logging off, as gunicorn's access log is by default:
            // the harness measures the mechanisms, not the log's pipe.
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            pid: child.id(),
            child,
            address,
            log: log.to_owned(),
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

    /// User plus system CPU time of all the server's threads so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.pid.to_string())
    }
}

/// User plus system CPU time of all of a process's threads so far, from
/// /proc/PROCESS/stat; `self` is this program (the load generator).
pub fn cpu_time_of(process: &str) -> anyhow::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{process}/stat"))
        .with_context(|| format!("cannot read /proc/{process}/stat"))?;
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
    };
    // Fields 14 and 15 of proc_pid_stat(5); 11 and 12 once the pid and name are cut.
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        bail!("unexpected /proc stat: {stat}");
    };
    Ok(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?)
}
