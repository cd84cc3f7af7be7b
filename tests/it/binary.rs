//! The `sessions-vs-jwt` binary itself, as a user starts it.

use crate::common;

use common::process::{Instance, binary};

/// A page of `server`, as its status and body.
async fn get(server: &Instance, path: &str) -> (u16, String) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[test]
fn an_unknown_store_scheme_exits_with_usage_error_2() {
    let output = binary()
        .args(["--store", "mongodb://localhost"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown session store `mongodb://localhost`"),
        "{stderr}"
    );
}

/// The options table of docs/configuration.md, as (option, variable) pairs:
/// rows that start with a backquoted `--option` and name an `SVJ_` variable.
fn documented_options() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    page.lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `--")?.split('|');
            let option = format!("--{}", cells.next()?.split(['`', ' ']).next()?);
            let variable = cells.next()?.trim().trim_matches('`').to_owned();
            variable.starts_with("SVJ_").then_some((option, variable))
        })
        .collect()
}

#[test]
fn the_configuration_page_documents_exactly_the_options_of_help_with_their_variables() {
    let defined: Vec<(String, String)> = <sessions_vs_jwt::Cli as clap::CommandFactory>::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let variable = arg.get_env()?.to_string_lossy().into_owned();
            Some((format!("--{long}"), variable))
        })
        .collect();
    let mut documented = documented_options();
    let mut defined_sorted = defined.clone();
    documented.sort();
    defined_sorted.sort();
    assert_eq!(
        documented, defined_sorted,
        "docs/configuration.md's table against the options clap defines"
    );

    let output = binary().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let words: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .collect();
    for (option, variable) in &defined {
        assert!(words.contains(&option.as_str()), "--help lacks {option}");
        assert!(
            words.contains(&variable.as_str()),
            "--help lacks {variable}"
        );
    }
}

#[test]
fn options_fall_back_to_environment_variables() {
    let output = binary().env("SVJ_STORE", "bogus").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown session store `bogus`"));
}

#[tokio::test]
async fn a_first_run_creates_the_sqlite_file_and_a_private_key_then_stops_cleanly_on_sigterm() {
    let folder = tempfile::tempdir().unwrap();
    let mut server = Instance::start_in(folder.path());
    let (status, body) = get(&server, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sqlite://data/sessions.sqlite3"), "{body}");
    assert!(folder.path().join("data/sessions.sqlite3").exists());

    let private_keys: Vec<_> = std::fs::read_dir(folder.path().join("keys"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".eddsa.pem"))
        .collect();
    assert_eq!(
        private_keys.len(),
        1,
        "one Ed25519 private key was generated"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_keys[0])
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the private key is readable by its owner only"
        );
    }

    assert!(server.stop().success(), "SIGTERM is a clean shutdown");
}

/// A supervisor may send SIGTERM the moment it reads "listening on": the
/// handler must already be there then, or the signal kills the server
/// outright (killed by signal 15 instead of exiting 0).
#[test]
fn sigterm_as_soon_as_the_server_says_it_listens_is_a_clean_shutdown() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let mut server = Instance::start(&["--store", "memory", "--keys-dir", keys.to_str().unwrap()]);
    let status = server.stop();
    assert!(status.success(), "{status}:\n{}", server.log());
}

#[tokio::test]
async fn the_server_keeps_answering_when_its_log_output_goes_away() {
    let folder = tempfile::tempdir().unwrap();
    let mut server = Instance::start_in_losing_its_log(folder.path());
    for _ in 0..3 {
        let (status, _) = get(&server, "/token/set_session/").await;
        assert_eq!(status, 200);
    }
    assert!(server.is_running(), "{}", server.log());
}

#[test]
fn a_private_key_readable_by_others_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let kid = sessions_vs_jwt::token_session::keys::generate(
        &keys,
        sessions_vs_jwt::token_session::keys::KeyAlgorithm::EdDsa,
    )
    .unwrap();
    let key = keys.join(format!("{kid}.eddsa.pem"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let server = Instance::start_in(folder.path());
    let log = server.log();
    let warning = log
        .lines()
        .find(|line| line.contains("readable by other users"))
        .unwrap_or_else(|| panic!("no warning in the log:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&format!("{kid}.eddsa.pem")), "{warning}");
}

fn run(folder: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = binary().current_dir(folder).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap(), text)
}

#[test]
fn clearsessions_deletes_expired_sessions_and_says_how_many() {
    let folder = tempfile::tempdir().unwrap();
    let (code, _) = run(folder.path(), &["clearsessions"]);
    assert_eq!(code, 0, "it works on a store that does not exist yet");
    let database = folder.path().join("data/sessions.sqlite3");
    insert_expired_sessions(&database, 2);
    let (code, out) = run(folder.path(), &["clearsessions"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Deleted 2 expired session(s)"), "{out}");
    let (_, out) = run(
        folder.path(),
        &["clearsessions", "--store", "sqlite://data/sessions.sqlite3"],
    );
    assert!(out.contains("Deleted 0 expired session(s)"), "{out}");
}

fn insert_expired_sessions(database: &std::path::Path, count: usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = sessions_vs_jwt::stores::open(&sessions_vs_jwt::stores::StoreUrl::Sqlite(
            database.to_owned(),
        ))
        .await
        .unwrap();
        for _ in 0..count {
            let mut record = tower_sessions::session::Record {
                id: Default::default(),
                data: Default::default(),
                expiry_date: time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
            };
            store.create(&mut record).await.unwrap();
        }
    });
}

#[test]
fn keys_can_be_generated_rotated_listed_and_retired() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("k");
    let keys = keys.to_str().unwrap();

    let (code, out) = run(folder.path(), &["keys", "generate", "--keys-dir", keys]);
    assert_eq!(code, 0, "{out}");
    let mut generated = out
        .lines()
        .map(|line| line.strip_prefix("generated ").unwrap().to_owned());
    let (first, cookie_key) = (generated.next().unwrap(), generated.next().unwrap());
    let (_, out) = run(folder.path(), &["keys", "generate", "--keys-dir", keys]);
    assert!(out.contains("already has"), "generate is idempotent: {out}");

    let (code, out) = run(folder.path(), &["keys", "rotate", "--keys-dir", keys]);
    assert_eq!(code, 0, "{out}");
    let second = out
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(';')
        .to_owned();
    assert!(second > first);

    let (_, out) = run(folder.path(), &["keys", "list", "--keys-dir", keys]);
    assert!(out.contains(&format!("{first}  EdDsa\n")), "{out}");
    assert!(out.contains(&format!("{second}  EdDsa  (signs)")), "{out}");
    assert!(
        out.contains(&format!("{cookie_key}  cookie (AES-256-GCM)  (seals)")),
        "{out}"
    );

    let (code, out) = run(
        folder.path(),
        &["keys", "rotate", "--cookie", "--keys-dir", keys],
    );
    assert_eq!(code, 0, "{out}");
    let new_cookie_key = out.split_whitespace().nth(1).unwrap().trim_end_matches(';');
    let (_, out) = run(folder.path(), &["keys", "list", "--keys-dir", keys]);
    assert!(
        out.contains(&format!("{new_cookie_key}  cookie (AES-256-GCM)  (seals)")),
        "the newest cookie key seals: {out}"
    );
    assert!(
        out.contains(&format!("{cookie_key}  cookie (AES-256-GCM)\n")),
        "the older one still opens: {out}"
    );
    let (code, out) = run(
        folder.path(),
        &["keys", "retire", &cookie_key, "--keys-dir", keys],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cookies it sealed"), "{out}");

    let (code, out) = run(
        folder.path(),
        &["keys", "retire", &first, "--keys-dir", keys],
    );
    assert_eq!(code, 0, "{out}");
    let (_, out) = run(folder.path(), &["keys", "list", "--keys-dir", keys]);
    assert!(!out.contains(&first), "{out}");

    let (code, out) = run(
        folder.path(),
        &["keys", "retire", "no-such-kid", "--keys-dir", keys],
    );
    assert_eq!(code, 1);
    assert!(out.contains("no key no-such-kid"), "{out}");
}

#[test]
fn a_corrupt_key_stops_the_server_with_one_line_naming_it() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("keys")).unwrap();
    std::fs::write(folder.path().join("keys/bad.eddsa.pem"), "not a key").unwrap();
    let (code, out) = run(folder.path(), &["--bind", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("error: token keys:") && last.contains("bad.eddsa.pem"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn a_cookie_key_of_the_wrong_size_stops_the_server_with_one_line_naming_it() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("keys")).unwrap();
    std::fs::write(folder.path().join("keys/bad.cookie.key"), [7_u8; 10]).unwrap();
    let (code, out) = run(folder.path(), &["--bind", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("error: cookie keys:") && last.contains("bad.cookie.key"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

/// A port this test holds bound without listening on it, so that
/// connecting to it is refused until the socket is dropped, and no other
/// program can take the port meanwhile.
fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

#[test]
fn an_unreachable_store_at_start_stops_the_server_with_one_line_and_no_password() {
    let folder = tempfile::tempdir().unwrap();
    let (_redis_socket, redis_port) = refusing_port();
    let (_postgres_socket, postgres_port) = refusing_port();
    for url in [
        format!("redis://:hunter2@127.0.0.1:{redis_port}/0"),
        format!("postgres://postgres:hunter2@127.0.0.1:{postgres_port}/test"),
    ] {
        let (code, out) = run(folder.path(), &["--bind", "127.0.0.1:0", "--store", &url]);
        assert_eq!(code, 1, "{out}");
        let last = out.lines().last().unwrap();
        let shown = url.replace("hunter2", "***");
        assert!(
            last.starts_with(&format!("error: session store {shown}: ")),
            "{out}"
        );
        assert!(!out.contains("hunter2"), "the password leaked: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

#[test]
fn clearsessions_on_an_unreachable_store_fails_with_one_line() {
    let folder = tempfile::tempdir().unwrap();
    let (_socket, port) = refusing_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let (code, out) = run(folder.path(), &["clearsessions", "--store", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with(&format!("error: session store {url}: ")),
        "{out}"
    );
}

/// The access lines in `log`.
fn access_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|line| line.contains("access")).collect()
}

/// Waits (a bounded while) until the stopped server's last line has come
/// through the pipe: everything logged before it has too.
async fn wait_for_shutdown_line(server: &Instance) -> String {
    common::wait_until("the server's last log line", || async {
        server.log().contains("shut down")
    })
    .await;
    server.log()
}

#[tokio::test]
async fn sigterm_right_after_requests_still_leaves_an_access_line_for_each() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let mut server = Instance::start(&["--store", "memory", "--keys-dir", keys.to_str().unwrap()]);
    const REQUESTS: usize = 300;
    let client = reqwest::Client::new();
    for _ in 0..REQUESTS {
        let response = client
            .get(server.url("/token/get_session/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(server.stop().success());
    let log = wait_for_shutdown_line(&server).await;
    let answered = access_lines(&log)
        .into_iter()
        .filter(|line| line.contains("path=/token/get_session/"))
        .count();
    assert_eq!(answered, REQUESTS, "{log}");
}

#[tokio::test]
async fn json_log_lines_are_one_object_each_with_the_access_fields() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let mut server = Instance::start(&[
        "--store",
        "memory",
        "--keys-dir",
        keys.to_str().unwrap(),
        "--log-format",
        "json",
    ]);
    let (status, _) = get(&server, "/server/get_session/").await;
    assert_eq!(status, 200);
    assert!(server.stop().success());
    let log = wait_for_shutdown_line(&server).await;
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
    }
    let access: serde_json::Value = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|line| line["target"] == "access")
        .unwrap_or_else(|| panic!("no access line in {log}"));
    assert_eq!(access["fields"]["path"], "/server/get_session/", "{access}");
    assert_eq!(access["fields"]["status"], 200, "{access}");
    assert_eq!(access["fields"]["cookie"], "guest", "{access}");
}

#[tokio::test]
async fn log_lines_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let mut command = binary();
    command.env_remove("NO_COLOR").args([
        "--store",
        "memory",
        "--keys-dir",
        keys.to_str().unwrap(),
    ]);
    let mut server = Instance::start_command(command);
    let (status, _) = get(&server, "/server/get_session/").await;
    assert_eq!(status, 200);
    assert!(server.stop().success());
    let log = wait_for_shutdown_line(&server).await;
    assert!(!access_lines(&log).is_empty(), "{log}");
    assert!(!log.contains('\u{1b}'), "an escape code in a pipe: {log:?}");
}
