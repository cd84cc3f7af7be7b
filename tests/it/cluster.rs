//! Redis Cluster, for real: three masters of the test's own on loopback,
//! the first with a replica, made a cluster with `redis-cli --cluster
//! create`, and two instances of the binary on a `redis-cluster://` store
//! URL. Logins on one instance are read on the other, the sessions spread
//! over every master, a slot moved from one master to another goes on
//! serving its sessions, the first master killed is replaced by its replica
//! and its sessions come back, and a master killed without a replica makes
//! only the sessions it held unavailable.
//!
//! The cluster takes a while to form, so it runs once, and each test checks
//! one thing about it.

use crate::common;

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use common::{
    cookie_name,
    process::{Instance, binary, client},
    redis::{RedisCluster, RedisNode, wait_for},
    run_once,
};
use sessions_vs_jwt::{
    routes::{Mount, Route},
    stores::{self, DEFAULT_REDIS_PREFIX},
};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

const LOGINS: usize = 60;

/// One login, and what became of it.
#[derive(Debug, Clone)]
struct Session {
    username: String,
    cookie: String,
    /// Which master holds its record (index into the three): the resharded
    /// one moves from master 0 to master 1.
    master: usize,
    /// `get_session` on the other instance, before any master was killed.
    read_before: (u16, Option<String>),
    /// `get_session` on each instance right after master 0 was killed,
    /// before its replica took over (the other masters' sessions only).
    read_while_a_master_was_down: Vec<(u16, Option<String>)>,
    /// `get_session` on each instance once master 0's replica was promoted
    /// and the instances had found it (master 0's sessions only).
    read_after_promotion: Vec<(u16, Option<String>)>,
    /// `get_session` on each instance right after master 2 was killed too.
    read_after: Vec<(u16, Option<String>)>,
}

#[derive(Debug)]
struct Outcome {
    sessions: Vec<Session>,
    /// A session whose slot was moved from master 0 to master 1, read on
    /// each instance while its key had moved but the slot had not (Redis
    /// answers `ASK`), then once the slot had (`MOVED`).
    resharded: Resharded,
    killed: usize,
    /// The store's own `count()`, through the library, after the logins.
    counted: u64,
    /// Two compare-and-swaps of one record expecting its first expiry,
    /// through the library: whether each replaced it.
    swaps: [bool; 2],
}

#[derive(Debug)]
struct Resharded {
    session: Session,
    while_moving: Vec<(u16, Option<String>)>,
    once_moved: Vec<(u16, Option<String>)>,
}

fn outcome() -> &'static Outcome {
    static OUTCOME: OnceLock<Result<Outcome, String>> = OnceLock::new();
    run_once(&OUTCOME, run_cluster)
}

/// `get_session` on `base` with `cookie`: the status and the username shown.
async fn read(client: &reqwest::Client, base: &str, cookie: &str) -> (u16, Option<String>) {
    let response = client
        .get(format!("{base}{}", Mount::SERVER.url(Route::GetSession)))
        .header(
            reqwest::header::COOKIE,
            format!("{}={cookie}", cookie_name(Mount::SERVER)),
        )
        .send()
        .await
        .expect("an answer, not a hang");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let username = common::heading(&body, "Username: ");
    (status, username)
}

fn run_cluster() -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let cluster = RedisCluster::start(dir.path());
    let replica = cluster.add_replica(dir.path(), 0);
    let store = cluster.store_url();
    let mut masters = cluster.masters;
    let keys = dir.path().join("keys").display().to_string();
    let made = binary()
        .args(["keys", "generate", "--keys-dir", &keys])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let instances = [
        Instance::start(&["--store", &store, "--keys-dir", &keys]),
        Instance::start(&["--store", &store, "--keys-dir", &keys]),
    ];
    let bases: Vec<String> = instances.iter().map(|instance| instance.url("")).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = client();

    // Logins on the first instance, each read on the second.
    let mut sessions: Vec<Session> = runtime.block_on(async {
        let mut sessions = Vec::new();
        for n in 0..LOGINS {
            let username = format!("visitor{n}");
            let mut visitor = common::Visitor::new(bases[0].clone());
            let page = visitor.log_in_as(Mount::SERVER, &username).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let cookie = visitor.cookie(cookie_name(Mount::SERVER)).unwrap();
            let read_before = read(&client, &bases[1], &cookie).await;
            sessions.push(Session {
                username,
                cookie,
                master: usize::MAX,
                read_before,
                read_while_a_master_was_down: Vec::new(),
                read_after_promotion: Vec::new(),
                read_after: Vec::new(),
            });
        }
        sessions
    });
    for (index, master) in masters.iter().enumerate() {
        let held = master.keys(&format!("{DEFAULT_REDIS_PREFIX}*"));
        for session in &mut sessions {
            if held.contains(&format!("{DEFAULT_REDIS_PREFIX}{}", session.cookie)) {
                session.master = index;
            }
        }
    }

    let (counted, swaps) = runtime.block_on(async {
        let store = stores::open(&store.parse().unwrap()).await.unwrap();
        let counted = store.count().await.unwrap();
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut record).await.unwrap();
        let first = record.expiry_date;
        let mut swaps = [false; 2];
        for (n, swapped) in swaps.iter_mut().enumerate() {
            record.expiry_date = first + time::Duration::minutes(n as i64 + 1);
            *swapped = store.compare_and_swap(&record, first).await.unwrap();
        }
        store.delete(&record.id).await.unwrap();
        (counted, swaps)
    });

    let resharded = reshard(&runtime, &client, &bases, &masters, &sessions);
    for session in &mut sessions {
        if session.cookie == resharded.session.cookie {
            session.master = 1;
        }
    }

    // Master 0 has a replica: once its writes have reached it, kill it and
    // read its sessions where the replica took over.
    let synced = masters[0].cli(&["WAIT", "1", "5000"]);
    assert_eq!(synced.trim(), "1", "the replica has every login");
    masters[0].kill();
    let others: Vec<&Session> = sessions
        .iter()
        .filter(|session| session.master != 0)
        .collect();
    let while_down = read_everywhere(&runtime, &client, &bases, &others);
    for (session, reads) in sessions
        .iter_mut()
        .filter(|session| session.master != 0)
        .zip(while_down)
    {
        session.read_while_a_master_was_down = reads;
    }
    wait_for(
        "the replica promoted",
        Duration::from_secs(60),
        || {
            replica
                .try_cli(&["ROLE"])
                .is_some_and(|role| role.starts_with("master"))
        },
        || replica.log_tail(),
    );
    let replaced: Vec<&Session> = sessions
        .iter()
        .filter(|session| session.master == 0)
        .collect();
    wait_until_read_well(&runtime, &client, &bases, replaced[0]);
    let after_promotion = read_everywhere(&runtime, &client, &bases, &replaced);
    for (session, reads) in sessions
        .iter_mut()
        .filter(|session| session.master == 0)
        .zip(after_promotion)
    {
        session.read_after_promotion = reads;
    }

    let killed = 2;
    masters[killed].kill();
    let everyone: Vec<&Session> = sessions.iter().collect();
    let after_kill = read_everywhere(&runtime, &client, &bases, &everyone);
    for (session, reads) in sessions.iter_mut().zip(after_kill) {
        session.read_after = reads;
    }
    drop(instances);
    Outcome {
        sessions,
        resharded,
        killed,
        counted,
        swaps,
    }
}

/// Until the instances find the replica promoted in a dead master's place,
/// that master's sessions fail: waits (a bounded while) until `probe` reads
/// well on every instance. Only the replaced master's sessions wait so;
/// every other read in this test is taken at once.
fn wait_until_read_well(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    bases: &[String],
    probe: &Session,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    runtime.block_on(async {
        for base in bases {
            while read(client, base, &probe.cookie).await != (200, Some(probe.username.clone()))
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
}

/// Reads each of `sessions` on each instance, all at once (a read that
/// fails may take the store timeout): per session, a read per instance.
fn read_everywhere(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    bases: &[String],
    sessions: &[&Session],
) -> Vec<Vec<(u16, Option<String>)>> {
    runtime.block_on(async {
        let mut reads = Vec::new();
        for session in sessions {
            for base in bases {
                let (client, base, cookie) = (client.clone(), base.clone(), session.cookie.clone());
                reads.push(tokio::spawn(
                    async move { read(&client, &base, &cookie).await },
                ));
            }
        }
        let mut reads = reads.into_iter();
        let mut per_session = Vec::new();
        for _ in sessions {
            let mut on_each = Vec::new();
            for _ in bases {
                on_each.push(reads.next().unwrap().await.unwrap());
            }
            per_session.push(on_each);
        }
        per_session
    })
}

/// Moves the slot of a session on master 0 to master 1 the way
/// `redis-cli --cluster reshard` does, reading the session on every
/// instance halfway and at the end.
fn reshard(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    bases: &[String],
    masters: &[RedisNode],
    sessions: &[Session],
) -> Resharded {
    let session = sessions
        .iter()
        .find(|session| session.master == 0)
        .unwrap()
        .clone();
    let key = format!("{DEFAULT_REDIS_PREFIX}{}", session.cookie);
    let slot = masters[0]
        .cli(&["CLUSTER", "KEYSLOT", &key])
        .trim()
        .to_owned();
    let id = |master: &RedisNode| master.cli(&["CLUSTER", "MYID"]).trim().to_owned();
    let (from, to) = (id(&masters[0]), id(&masters[1]));
    let read_on_each = || {
        read_everywhere(runtime, client, bases, &[&session])
            .pop()
            .unwrap()
    };
    masters[1].cli(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from]);
    masters[0].cli(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to]);
    let port = masters[1].address().rsplit_once(':').unwrap().1.to_owned();
    let migrated = masters[0].cli(&["MIGRATE", "127.0.0.1", &port, &key, "0", "5000"]);
    assert_eq!(migrated.trim(), "OK");
    let while_moving = read_on_each();
    for master in masters {
        master.cli(&["CLUSTER", "SETSLOT", &slot, "NODE", &to]);
    }
    let once_moved = read_on_each();
    Resharded {
        session,
        while_moving,
        once_moved,
    }
}

needs!(
    redis_programs,
    #[test]
    fn a_login_on_one_instance_is_read_on_the_other() {
        for session in &outcome().sessions {
            assert_eq!(
                session.read_before,
                (200, Some(session.username.clone())),
                "{session:?}"
            );
        }
    }
);

needs!(
    redis_programs,
    /// Session ids are random, so their keys hash to slots on every master.
    #[test]
    fn sessions_spread_over_every_master() {
        let outcome = outcome();
        for master in 0..3 {
            let held = outcome
                .sessions
                .iter()
                .filter(|session| session.master == master)
                .count();
            assert!(held > 0, "master {master} holds none of {LOGINS} sessions");
        }
        assert!(
            outcome.sessions.iter().all(|session| session.master < 3),
            "every session is on a master"
        );
    }
);

needs!(
    redis_programs,
    #[test]
    fn the_store_counts_the_sessions_on_every_master() {
        assert_eq!(outcome().counted, LOGINS as u64);
    }
);

needs!(
    redis_programs,
    /// How `/hybrid` consumes a refresh id once: the script runs on the
    /// master of the record's slot.
    #[test]
    fn a_compare_and_swap_replaces_a_record_once() {
        assert_eq!(outcome().swaps, [true, false]);
    }
);

needs!(
    redis_programs,
    /// A session on the killed master is unavailable, on both instances:
    /// a 503, not a Guest page that would log the visitor out.
    #[test]
    fn a_killed_master_makes_its_sessions_503() {
        let outcome = outcome();
        let lost: Vec<&Session> = outcome
            .sessions
            .iter()
            .filter(|session| session.master == outcome.killed)
            .collect();
        assert!(!lost.is_empty());
        for session in lost {
            for (status, _) in &session.read_after {
                assert_eq!(*status, 503, "{session:?}");
            }
        }
    }
);

needs!(
    redis_programs,
    /// The sessions on the other masters go on working, on both instances:
    /// fred 10.1's cluster client made them all 503, and redis-rs 1.8's
    /// could stall one instance for good (stores/src/redis_cluster.rs).
    #[test]
    fn a_killed_master_leaves_the_other_masters_sessions_working() {
        let outcome = outcome();
        for session in outcome
            .sessions
            .iter()
            .filter(|session| session.master != outcome.killed)
        {
            for read in &session.read_after {
                assert_eq!(*read, (200, Some(session.username.clone())), "{session:?}");
            }
        }
    }
);

needs!(
    redis_programs,
    /// While a master is down and before anything replaced it, the other
    /// masters' sessions read well at once, on both instances: no read of
    /// theirs waits on the dead master.
    #[test]
    fn while_a_master_is_down_the_other_masters_sessions_read_at_once() {
        let survivors: Vec<&Session> = outcome()
            .sessions
            .iter()
            .filter(|session| !session.read_while_a_master_was_down.is_empty())
            .collect();
        assert!(!survivors.is_empty());
        for session in survivors {
            for read in &session.read_while_a_master_was_down {
                assert_eq!(*read, (200, Some(session.username.clone())), "{session:?}");
            }
        }
    }
);

needs!(
    redis_programs,
    /// The instances find the replica promoted in the dead master's place.
    #[test]
    fn a_master_replaced_by_its_replica_serves_its_sessions_again() {
        let replaced: Vec<&Session> = outcome()
            .sessions
            .iter()
            .filter(|session| !session.read_after_promotion.is_empty())
            .collect();
        assert!(!replaced.is_empty());
        for session in replaced {
            for read in &session.read_after_promotion {
                assert_eq!(*read, (200, Some(session.username.clone())), "{session:?}");
            }
        }
    }
);

needs!(
    redis_programs,
    /// Redis answers `ASK` for a key already at the importing master.
    #[test]
    fn a_session_whose_slot_is_being_moved_is_still_read() {
        let resharded = &outcome().resharded;
        for read in &resharded.while_moving {
            assert_eq!(
                *read,
                (200, Some(resharded.session.username.clone())),
                "{resharded:?}"
            );
        }
    }
);

needs!(
    redis_programs,
    /// Redis answers `MOVED` until the instance re-reads the slot map.
    #[test]
    fn a_session_whose_slot_has_moved_is_still_read() {
        let resharded = &outcome().resharded;
        for read in &resharded.once_moved {
            assert_eq!(
                *read,
                (200, Some(resharded.session.username.clone())),
                "{resharded:?}"
            );
        }
    }
);
