//! Redis Sentinel failover, for real: a primary, a replica and three
//! sentinels of the test's own on loopback, two instances of the binary on a
//! `redis-sentinel://` store URL, and the primary killed under login load.
//! The instances must follow the failover without a restart: `/server`
//! answers 503 while there is no primary (never a 500, never a hang), then
//! logins and reads work again on both, and no login acknowledged after the
//! primary died is lost. Replication is asynchronous, so a login the old
//! primary acknowledged just before it died may be: the test counts and
//! prints how many (docs/configuration.md, "Session stores", states the window).
//!
//! The whole failover takes a while, so it runs once, and each test checks
//! one thing about it.

use crate::common;

use std::{
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    cookie_name,
    process::{Instance, binary, client},
    redis::{RedisNode, field, pair, wait_for},
    run_once,
};
use sessions_vs_jwt::routes::{Mount, Route};

const SERVICE: &str = "svj";
/// How long a sentinel waits before it calls the primary down: longer than
/// the app's 2 s store timeout, so that requests in the window end in a 503
/// before any failover can have begun.
const DOWN_AFTER_MS: u64 = 6000;
/// No test waits longer than this for one step of the failover.
const PATIENCE: Duration = Duration::from_secs(90);

/// One login request of the load.
#[derive(Debug, Clone)]
struct Login {
    instance: usize,
    username: String,
    started: Instant,
    /// The status, or why there was none (a hang ends in the client's 30 s
    /// timeout).
    answer: Result<u16, String>,
    /// The session cookie, when the login was acknowledged.
    cookie: Option<String>,
}

/// What a read of a login's cookie showed, after the failover.
#[derive(Debug, Clone)]
struct ReadBack {
    status: u16,
    username: Option<String>,
}

#[derive(Debug)]
struct Outcome {
    killed_at: Instant,
    logins: Vec<Login>,
    /// Index into `logins`, read on the other instance after the failover.
    read_backs: Vec<(usize, ReadBack)>,
    /// Requests sent to each instance after the kill, before any sentinel
    /// could call the primary down.
    window_statuses: Vec<Result<u16, String>>,
    /// Whether the replica was still a replica once those were answered.
    replica_still_replica_after_window: bool,
    /// Logged in on one instance, read on the other, after the failover:
    /// (expected username, login status, what the read showed).
    crossed: Vec<(String, u16, ReadBack)>,
    health_after: Vec<u16>,
    instances_running_after: bool,
}

fn outcome() -> &'static Outcome {
    static OUTCOME: OnceLock<Result<Outcome, String>> = OnceLock::new();
    run_once(&OUTCOME, run_failover)
}

/// Logs `username` in on `base`: the status, and the session cookie if one
/// was set.
async fn log_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
) -> Result<(u16, Option<String>), String> {
    let response = client
        .post(format!("{base}{}", Mount::SERVER.url(Route::SetSession)))
        .form(&[("username", username)])
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let prefix = format!("{}=", cookie_name(Mount::SERVER));
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let value = value.strip_prefix(&prefix)?.split(';').next()?;
            (!value.is_empty()).then(|| value.to_owned())
        });
    let _ = response.text().await;
    Ok((status, cookie))
}

/// Reads `get_session` on `base` with the session cookie `cookie`.
async fn read(client: &reqwest::Client, base: &str, cookie: &str) -> Result<ReadBack, String> {
    let response = client
        .get(format!("{base}{}", Mount::SERVER.url(Route::GetSession)))
        .header(
            reqwest::header::COOKIE,
            format!("{}={cookie}", cookie_name(Mount::SERVER)),
        )
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|err| err.to_string())?;
    let username = common::heading(&body, "Username: ");
    Ok(ReadBack { status, username })
}

fn acknowledged(login: &Login) -> bool {
    login.answer == Ok(200) && login.cookie.is_some()
}

/// The primary, its replica and three sentinels watching them.
struct Deployment {
    primary: RedisNode,
    replica: RedisNode,
    sentinels: Vec<RedisNode>,
}

impl Deployment {
    fn start(dir: &std::path::Path) -> Self {
        let persistence = || {
            vec![
                "--save".to_owned(),
                String::new(),
                "--appendonly".to_owned(),
                "no".to_owned(),
            ]
        };
        let primary = RedisNode::start(dir, "primary", None, |_| persistence());
        let replica = RedisNode::start(dir, "replica", None, |_| {
            let mut args = persistence();
            args.extend([
                "--replicaof".to_owned(),
                "127.0.0.1".to_owned(),
                primary.port.to_string(),
            ]);
            args
        });
        wait_for(
            "the replica in sync",
            PATIENCE,
            || {
                replica
                    .try_cli(&["INFO", "replication"])
                    .is_some_and(|info| field(&info, "master_link_status").as_deref() == Some("up"))
            },
            || replica.log_tail(),
        );
        let sentinels: Vec<RedisNode> = (0..3)
            .map(|n| {
                let name = format!("sentinel-{n}");
                RedisNode::start(dir, &name, None, |port| {
                    // A sentinel rewrites its config file: one per sentinel and port.
                    let config = dir.join(format!("{name}-{port}.conf"));
                    std::fs::write(
                        &config,
                        format!(
                            "sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n\
                             sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n\
                             sentinel failover-timeout {SERVICE} 20000\n",
                            primary = primary.port
                        ),
                    )
                    .unwrap();
                    vec![config.display().to_string(), "--sentinel".to_owned()]
                })
            })
            .collect();
        for sentinel in &sentinels {
            wait_for(
                "every sentinel aware of the replica and of the two others",
                PATIENCE,
                || {
                    sentinel
                        .try_cli(&["SENTINEL", "MASTER", SERVICE])
                        .is_some_and(|reply| {
                            pair(&reply, "num-slaves").as_deref() == Some("1")
                                && pair(&reply, "num-other-sentinels").as_deref() == Some("2")
                        })
                },
                || sentinel.log_tail(),
            );
        }
        Self {
            primary,
            replica,
            sentinels,
        }
    }

    /// The store URL the app is given: every sentinel, the service name.
    fn store_url(&self) -> String {
        let nodes: Vec<String> = self.sentinels[1..]
            .iter()
            .map(|sentinel| format!("node={}", sentinel.address()))
            .collect();
        format!(
            "redis-sentinel://{}/0?sentinelServiceName={SERVICE}&{}",
            self.sentinels[0].address(),
            nodes.join("&")
        )
    }

    /// Whether every sentinel names the former replica as the primary.
    fn replica_promoted(&self) -> bool {
        self.sentinels.iter().all(|sentinel| {
            sentinel
                .try_cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE])
                .is_some_and(|reply| {
                    reply.lines().nth(1).map(str::trim) == Some(&self.replica.port.to_string())
                })
        })
    }

    fn logs(&self) -> String {
        self.sentinels
            .iter()
            .chain([&self.replica])
            .map(RedisNode::log_tail)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

fn run_failover() -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut deployment = Deployment::start(dir.path());
    let keys = dir.path().join("keys").display().to_string();
    let made = binary()
        .args(["keys", "generate", "--keys-dir", &keys])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let store = deployment.store_url();
    let mut instances = [
        Instance::start(&["--store", &store, "--keys-dir", &keys]),
        Instance::start(&["--store", &store, "--keys-dir", &keys]),
    ];
    let bases: Vec<String> = instances.iter().map(|instance| instance.url("")).collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let logins: Arc<Mutex<Vec<Login>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (logins, stop, bases) = (Arc::clone(&logins), Arc::clone(&stop), bases.clone());
            runtime.spawn(async move {
                let client = client();
                let instance = worker % 2;
                let mut sequence = 0;
                while !stop.load(Ordering::Relaxed) {
                    sequence += 1;
                    let username = format!("w{worker}n{sequence}");
                    let started = Instant::now();
                    let answer = log_in(&client, &bases[instance], &username).await;
                    let (answer, cookie) = match answer {
                        Ok((status, cookie)) => (Ok(status), cookie),
                        Err(err) => (Err(err), None),
                    };
                    logins.lock().unwrap().push(Login {
                        instance,
                        username,
                        started,
                        answer,
                        cookie,
                    });
                }
            })
        })
        .collect();
    let count = |condition: &dyn Fn(&Login) -> bool| {
        logins
            .lock()
            .unwrap()
            .iter()
            .filter(|login| condition(login))
            .count()
    };

    wait_for(
        "40 logins acknowledged before the kill",
        PATIENCE,
        || count(&acknowledged) >= 40,
        || format!("{:?}", logins.lock().unwrap().last()),
    );
    deployment.primary.kill();
    let killed_at = Instant::now();

    // Before any sentinel can call the primary down: no primary exists.
    let window_statuses: Vec<Result<u16, String>> = runtime.block_on(async {
        let client = client();
        let mut statuses = Vec::new();
        for base in &bases {
            statuses.push(
                log_in(&client, base, "in_the_window")
                    .await
                    .map(|(status, _)| status),
            );
        }
        statuses
    });
    let replica_still_replica_after_window = deployment
        .replica
        .cli(&["ROLE"])
        .lines()
        .next()
        .is_some_and(|role| role.trim() == "slave");

    wait_for(
        "the replica promoted by every sentinel",
        PATIENCE,
        || deployment.replica_promoted(),
        || deployment.logs(),
    );
    let promoted_at = Instant::now();
    for (instance, server) in instances.iter().enumerate() {
        wait_for(
            "20 logins acknowledged by each instance after the promotion",
            PATIENCE,
            || {
                count(&|login| {
                    login.instance == instance && login.started > promoted_at && acknowledged(login)
                }) >= 20
            },
            || format!("{}\n{}", server.log(), deployment.logs()),
        );
    }
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for worker in workers {
            worker.await.unwrap();
        }
    });

    let logins = logins.lock().unwrap().clone();
    let (read_backs, crossed, health_after) = runtime.block_on(async {
        let client = client();
        let mut read_backs = Vec::new();
        for (index, login) in logins.iter().enumerate() {
            if let Some(cookie) = &login.cookie {
                let other = &bases[1 - login.instance];
                read_backs.push((index, read(&client, other, cookie).await.unwrap()));
            }
        }
        let mut crossed = Vec::new();
        for (from, to) in [(0, 1), (1, 0)] {
            let username = format!("after_failover_{from}");
            let (status, cookie) = log_in(&client, &bases[from], &username).await.unwrap();
            let shown = read(&client, &bases[to], &cookie.unwrap_or_default())
                .await
                .unwrap();
            crossed.push((username, status, shown));
        }
        let mut health = Vec::new();
        for base in &bases {
            health.push(
                client
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        (read_backs, crossed, health)
    });
    let instances_running_after = instances.iter_mut().all(Instance::is_running);
    Outcome {
        killed_at,
        logins,
        read_backs,
        window_statuses,
        replica_still_replica_after_window,
        crossed,
        health_after,
        instances_running_after,
    }
}

needs!(
    redis_programs,
    /// With the primary dead and no sentinel yet calling it down, no
    /// primary exists: a login can only be refused, and cleanly.
    #[test]
    fn while_there_is_no_primary_server_answers_503() {
        let outcome = outcome();
        assert!(
            outcome.replica_still_replica_after_window,
            "the requests meant for the window were answered after the failover had begun"
        );
        assert_eq!(outcome.window_statuses, vec![Ok(503), Ok(503)]);
    }
);

needs!(
    redis_programs,
    /// Every login of the load, before, during and after the failover, was
    /// answered: with its page or a 503, never a 500 and never a hang.
    #[test]
    fn under_a_failover_every_login_is_answered_with_its_page_or_a_503() {
        let outcome = outcome();
        let others: Vec<&Login> = outcome
            .logins
            .iter()
            .filter(|login| !matches!(login.answer, Ok(200 | 503)))
            .collect();
        assert!(others.is_empty(), "{others:#?}");
        assert!(
            outcome
                .logins
                .iter()
                .any(|login| login.started > outcome.killed_at && login.answer == Ok(503)),
            "the load met the window"
        );
    }
);

needs!(
    redis_programs,
    /// The same two processes, never restarted, log visitors in and read
    /// each other's logins on the promoted replica.
    #[test]
    fn after_a_failover_both_instances_log_in_and_read_each_others_logins_without_a_restart() {
        let outcome = outcome();
        assert!(outcome.instances_running_after);
        assert_eq!(outcome.health_after, vec![200, 200]);
        for (username, status, shown) in &outcome.crossed {
            assert_eq!(*status, 200, "{username}");
            assert_eq!(shown.status, 200, "{username}");
            assert_eq!(shown.username.as_deref(), Some(username.as_str()));
        }
    }
);

needs!(
    redis_programs,
    /// A login whose request began after the primary died can only have
    /// been written to the promoted replica: none may be lost. Those the
    /// old primary acknowledged are counted and printed, lost or not:
    /// replication is asynchronous.
    #[test]
    fn no_login_acknowledged_after_the_primary_died_is_lost() {
        let outcome = outcome();
        let read_of = |index: usize| {
            outcome
                .read_backs
                .iter()
                .find(|(at, _)| *at == index)
                .map(|(_, read)| read)
        };
        let mut after = 0;
        let (mut before, mut lost_before) = (0, 0);
        for (index, login) in outcome
            .logins
            .iter()
            .enumerate()
            .filter(|(_, login)| acknowledged(login))
        {
            let read = read_of(index).unwrap();
            assert_eq!(read.status, 200, "{login:?}");
            let kept = read.username.as_deref() == Some(login.username.as_str());
            if login.started > outcome.killed_at {
                after += 1;
                assert!(kept, "lost after the kill: {login:?}, read {read:?}");
            } else {
                before += 1;
                lost_before += usize::from(!kept);
            }
        }
        assert!(after > 0, "no login was acknowledged after the kill");
        eprintln!(
            "Sentinel failover: {lost_before} of the {before} logins the old primary acknowledged were lost \
             (asynchronous replication); 0 of the {after} acknowledged after it died"
        );
    }
);
