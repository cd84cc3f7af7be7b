//! Redis deployments of a test's own: `redis-server` processes (a primary,
//! a replica, a sentinel, a cluster node) on loopback, administered with
//! `redis-cli`, each killed when dropped, on panic too.
//!
//! `redis-server` cannot choose its own port (`--port 0` turns TCP off), so
//! it is offered one, and the test then checks that the process answering
//! there is the one it started (its `process_id`), never trusting a port it
//! merely found free: a program that took the port meanwhile makes
//! `redis-server` exit, and it is offered another.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// One `redis-server` process, killed on drop.
#[derive(Debug)]
pub struct RedisNode {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl RedisNode {
    /// Starts `redis-server` with the arguments `args` gives for the port
    /// offered (a sentinel's config file first, for example), plus its port,
    /// loopback, and its log and working folder in `dir`. With `below`, only
    /// ports under it are offered (a cluster node also binds port + 10000).
    pub fn start(
        dir: &Path,
        name: &str,
        below: Option<u16>,
        args: impl Fn(u16) -> Vec<String>,
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        for _ in 0..20 {
            let port = offer_port(below);
            let child = Command::new("redis-server")
                .args(args(port))
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--logfile")
                .arg(&log)
                // Where a replica keeps the copy it syncs: not the work tree.
                .arg("--dir")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed (see README, Test)");
            let mut node = Self {
                child: Some(child),
                port,
                log: log.clone(),
            };
            if node.wait_until_it_answers() {
                return node;
            }
            node.kill();
        }
        panic!("{name}: redis-server did not start on any of 20 ports");
    }

    /// Whether this very process came to answer on its port: false if it
    /// exited (it could not bind) or another process answers there.
    fn wait_until_it_answers(&mut self) -> bool {
        let pid = self.child.as_ref().map(Child::id).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                return false;
            }
            if let Some(info) = self.try_cli(&["INFO", "server"]) {
                return field(&info, "process_id") == Some(pid.to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis-cli` with `args` against this node: its output, or `None` if
    /// it could not connect or the command failed.
    pub fn try_cli(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli is installed (see README, Test)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let failed = !output.status.success()
            || text.starts_with("ERR")
            || text.starts_with("Could not connect");
        (!failed).then_some(text)
    }

    /// Like [`RedisNode::try_cli`], failing the test if the command fails.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|| panic!("redis-cli -p {} {args:?} failed", self.port))
    }

    /// The keys matching `pattern` this node holds (not the cluster's).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.cli(&["--scan", "--pattern", pattern])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The end of its log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster node also binds its port + 10000 (the cluster bus).
const BELOW_BUS_LIMIT: u16 = 55_535;

/// A Redis Cluster of three masters without replicas, made with
/// `redis-cli --cluster create`; its nodes are killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    pub masters: Vec<RedisNode>,
}

impl RedisCluster {
    /// Starts the masters, their logs and files in `dir`, and waits until
    /// every one of them sees the whole cluster.
    pub fn start(dir: &Path) -> Self {
        let masters: Vec<RedisNode> = (0..3)
            .map(|n| cluster_node(dir, &format!("master-{n}")))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(masters.iter().map(RedisNode::address))
            .args(["--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );
        for master in &masters {
            wait_for(
                "every master seeing a whole cluster",
                Duration::from_secs(90),
                || {
                    master.try_cli(&["CLUSTER", "INFO"]).is_some_and(|info| {
                        field(&info, "cluster_state").as_deref() == Some("ok")
                            && field(&info, "cluster_known_nodes").as_deref() == Some("3")
                            && field(&info, "cluster_slots_ok").as_deref() == Some("16384")
                    })
                },
                || master.log_tail(),
            );
        }
        Self { masters }
    }

    /// Starts a node in `dir` that joins as a replica of master `of`, and
    /// waits until it holds a copy of that master's data.
    pub fn add_replica(&self, dir: &Path, of: usize) -> RedisNode {
        let replica = cluster_node(dir, &format!("replica-of-{of}"));
        let master = &self.masters[of];
        let master_id = master.cli(&["CLUSTER", "MYID"]).trim().to_owned();
        let added = Command::new("redis-cli")
            .args([
                "--cluster",
                "add-node",
                &replica.address(),
                &master.address(),
            ])
            .args(["--cluster-slave", "--cluster-master-id", &master_id])
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stdout)
        );
        wait_for(
            "the replica in sync with its master",
            Duration::from_secs(90),
            || {
                replica
                    .try_cli(&["INFO", "replication"])
                    .is_some_and(|info| field(&info, "master_link_status").as_deref() == Some("up"))
            },
            || replica.log_tail(),
        );
        replica
    }

    /// The store URL naming every master.
    pub fn store_url(&self) -> String {
        let addresses: Vec<String> = self.masters.iter().map(RedisNode::address).collect();
        format!(
            "redis-cluster://{}?node={}&node={}",
            addresses[0], addresses[1], addresses[2]
        )
    }
}

/// A cluster-enabled node of its own folder's config, without persistence.
fn cluster_node(dir: &Path, name: &str) -> RedisNode {
    RedisNode::start(dir, name, Some(BELOW_BUS_LIMIT), |port| {
        [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &dir.join(format!("nodes-{port}.conf")).display().to_string(),
            "--cluster-node-timeout",
            "2000",
            // Without replicas, a dead master's slots stay uncovered: the
            // others must go on serving theirs.
            "--cluster-require-full-coverage",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .to_vec()
    })
}

/// A port that was free a moment ago (under `below`, if given): an offer
/// only, checked by [`RedisNode::start`].
fn offer_port(below: Option<u16>) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if below.is_none_or(|limit| port < limit) {
            return port;
        }
    }
}

/// `name:value` from `INFO` text, or from `redis-cli`'s one-item-per-line
/// replies when `name` and value are on consecutive lines.
pub fn field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (key, value) = line.trim_end().split_once(':')?;
        (key == name).then(|| value.to_owned())
    })
}

/// The value after the line `name` in a flat key/value reply, as
/// `SENTINEL MASTER` prints it through `redis-cli`.
pub fn pair(reply: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = reply.lines().map(str::trim_end).collect();
    lines
        .iter()
        .position(|line| *line == name)
        .and_then(|at| lines.get(at + 1))
        .map(|value| (*value).to_owned())
}

/// Waits, checking every 100 ms, until `condition` holds; fails the test
/// after `limit`, with `what` and `context()` (logs, for example).
pub fn wait_for(
    what: &str,
    limit: Duration,
    mut condition: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "still not {what} after {limit:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
