//! Several instances behind one store, as a deployment scales out: two real
//! processes of the binary, on two ports, with the same `--store` and the
//! same keys folder. A visitor who moves between them (as behind a load
//! balancer) must not notice.

use crate::common;

use common::{
    cookie_name,
    process::{Instance, binary},
    stores::{FreshStore, TestStore},
};
use sessions_vs_jwt::routes::{Mount, Route};

/// Two instances on one fresh store, sharing one keys folder.
struct TwoInstances {
    first: Instance,
    second: Instance,
    _store: FreshStore,
    _folder: tempfile::TempDir,
}

impl TwoInstances {
    fn start(store: TestStore) -> Self {
        let (folder, fresh, args) = prepare(store);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self {
            first: Instance::start(&args),
            second: Instance::start(&args),
            _store: fresh,
            _folder: folder,
        }
    }
}

/// A folder with one signing key in it (so that neither instance makes its
/// own), a fresh store, and the arguments that name both.
fn prepare(store: TestStore) -> (tempfile::TempDir, FreshStore, Vec<String>) {
    let folder = tempfile::tempdir().unwrap();
    let fresh = store.fresh(folder.path());
    let keys = folder.path().join("keys").display().to_string();
    let made = binary()
        .args(["keys", "generate", "--keys-dir", &keys])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let mut args = fresh.args();
    args.extend(["--keys-dir".to_owned(), keys]);
    (folder, fresh, args)
}

async fn a_session_created_on_one_instance_is_read_on_the_other(store: TestStore) {
    let both = TwoInstances::start(store);
    let mut visitor = both.first.visitor();
    visitor.log_in_as(Mount::SERVER, "ada").await;
    let mut visitor = visitor.at(&both.second.url(""));
    let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "ada");
    assert_eq!(page.logged_in(), "True");
}

async fn a_logout_on_one_instance_is_seen_by_the_other(store: TestStore) {
    let both = TwoInstances::start(store);
    let mut visitor = both.first.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    let copy = visitor.cookie(cookie_name(Mount::SERVER)).unwrap();
    let mut elsewhere = both
        .second
        .visitor()
        .holding(cookie_name(Mount::SERVER), &copy);
    let page = elsewhere.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(
        page.username(),
        "john_doe",
        "the copy works on the other instance"
    );

    visitor.log_out_on(Mount::SERVER).await;
    let mut elsewhere = both
        .second
        .visitor()
        .holding(cookie_name(Mount::SERVER), &copy);
    let page = elsewhere.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(
        page.username(),
        "Guest",
        "and not after the logout on the first"
    );
}

async fn a_token_minted_by_one_instance_is_accepted_by_the_other(store: TestStore) {
    let both = TwoInstances::start(store);
    let mut visitor = both.first.visitor();
    visitor.log_in_as(Mount::TOKEN, "ada").await;
    let mut visitor = visitor.at(&both.second.url(""));
    let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
    assert_eq!(page.username(), "ada");
}

/// Logins through both instances at once, on a store neither has used:
/// every one lands, and each instance reads the other's.
async fn logins_through_both_instances_at_once_all_land(store: TestStore) {
    let both = TwoInstances::start(store);
    let logins = (0..16).map(|n| {
        let (here, there) = if n % 2 == 0 {
            (&both.first, &both.second)
        } else {
            (&both.second, &both.first)
        };
        let mut visitor = here.visitor();
        let there = there.url("");
        async move {
            let name = format!("user{n}");
            let page = visitor.log_in_as(Mount::SERVER, &name).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let mut visitor = visitor.at(&there);
            assert_eq!(visitor.username_on(Mount::SERVER).await, name);
        }
    });
    futures_util::future::join_all(logins).await;
}

/// A deploy starts every instance at the same moment on a store that has
/// no schema yet: each migrates, and none fails on the other's doing.
async fn two_instances_starting_at_once_on_a_new_store_both_start(store: TestStore) {
    let (_folder, _fresh, args) = prepare(store);
    let started: Vec<Instance> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..2)
            .map(|_| {
                scope
                    .spawn(|| Instance::start(&args.iter().map(String::as_str).collect::<Vec<_>>()))
            })
            .collect();
        starting
            .into_iter()
            .map(|start| start.join().unwrap())
            .collect()
    });
    for instance in &started {
        let page = instance.visitor().get("/healthz").await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
}

on_store!(
    on_one_sqlite_file: Sqlite,
    on_redis: Redis,
    on_postgres: Postgres,
    => [
        a_session_created_on_one_instance_is_read_on_the_other,
        a_logout_on_one_instance_is_seen_by_the_other,
        a_token_minted_by_one_instance_is_accepted_by_the_other,
        logins_through_both_instances_at_once_all_land,
        two_instances_starting_at_once_on_a_new_store_both_start,
    ]
);
