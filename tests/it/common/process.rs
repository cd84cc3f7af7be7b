//! Real processes: the `sessions-vs-jwt` binary as an operator runs it, and
//! a private `redis-server` that a test may kill and start again.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::proxy::StoreProxy;

/// The binary, with none of the developer's `SVJ_` settings leaking in.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessions-vs-jwt"));
    command.env_remove("RUST_LOG").env("NO_COLOR", "1");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SVJ_")) {
        command.env_remove(name);
    }
    command
}

/// A client for [`Instance`]s that sees each answer as it is (no redirect
/// followed), and calls a server that takes 30 s to answer hung.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One instance of the server in its own process, killed on drop.
pub struct Instance {
    child: Child,
    pub address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts the binary with `args` on a free port and waits until it says
    /// where it listens; panics with its log if it exits instead.
    pub fn start(args: &[&str]) -> Self {
        let mut command = binary();
        command.args(args);
        Self::launch(command, true)
    }

    /// Starts `command` (made from [`binary`]) and waits as [`Instance::start`] does.
    pub fn start_command(command: Command) -> Self {
        Self::launch(command, true)
    }

    /// Starts the binary in `folder`, as a user does after `git clone`.
    pub fn start_in(folder: &Path) -> Self {
        let mut command = binary();
        command.current_dir(folder);
        Self::launch(command, true)
    }

    /// Like [`Instance::start_in`], but the log pipe is closed once the
    /// server has said where it listens, as when a log collector goes away;
    /// it is closed by the time this returns.
    pub fn start_in_losing_its_log(folder: &Path) -> Self {
        let mut command = binary();
        command.current_dir(folder);
        Self::launch(command, false)
    }

    fn launch(mut command: Command, keep_reading_log: bool) -> Self {
        let mut child = command
            .args(["--bind", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                let mut lines = stderr.lines();
                for line in lines.by_ref().map_while(Result::ok) {
                    // The address ends where the text line or the JSON string does.
                    let listening = line.split("listening on http://").nth(1).map(|rest| {
                        rest.chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
                            .collect::<String>()
                    });
                    log.lock().unwrap().push(line);
                    if let Some(address) = listening {
                        if !keep_reading_log {
                            drop(lines);
                            let _ = found.send(address);
                            return;
                        }
                        let _ = found.send(address);
                    }
                }
            }
        });
        match address.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => Self {
                child,
                address,
                log,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not start:\n{}",
                    log.lock().unwrap().join("\n")
                )
            }
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop on SIGTERM");
    }

    /// SIGKILL, as the OOM killer would stop it: no chance to finish anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn visitor(&self) -> super::Visitor {
        super::Visitor::new(self.url(""))
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Its process id, to read its memory in /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` of this test's own, without persistence, behind a relay
/// that holds one port for the test's whole life. Unlike the shared Redis,
/// it can be killed and started again: it then comes back on whatever port
/// it could bind, and the relay forwards there, so the server under test
/// keeps its one address and no port is ever found free and used later.
pub struct PrivateRedis {
    relay: StoreProxy,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let (child, address) = start_redis_server();
        Self {
            relay: StoreProxy::start(address),
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}/0", self.relay.host_port())
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts it again, empty, and waits until it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let (child, address) = start_redis_server();
        self.relay.point_at(address);
        self.child = Some(child);
    }
}

/// `redis-server` cannot pick its own port (`--port 0` turns TCP off), so
/// this offers it one and, if it could not bind it, another.
fn start_redis_server() -> (Child, SocketAddr) {
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (see README, Test)");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break; // It could not bind the port: offer another.
            }
            if answers_ping(address) {
                return (child, address);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("redis-server did not start on any of 10 ports");
}

fn answers_ping(address: SocketAddr) -> bool {
    let Ok(mut connection) = TcpStream::connect(address) else {
        return false;
    };
    let mut reply = [0; 7];
    connection.write_all(b"PING\r\n").is_ok()
        && connection.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
