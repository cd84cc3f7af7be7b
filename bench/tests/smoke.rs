//! The benchmark harness on a tiny load, so that it cannot rot: it runs the
//! real `bench` binary against the real server binary (the debug build
//! `cargo test --workspace` made, or, when only this crate is tested, the
//! one the harness builds with `cargo build -p sessions-vs-jwt` as it does
//! under `cargo run`), the bare server and the peers, and checks that what
//! it writes is complete and well-formed. It runs from a fresh git
//! repository of its own, so that what it measures is a committed tree
//! whatever state the developer's is in. No figure is checked for speed: a smoke run's numbers mean
//! nothing, and tests never time anything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

const TABLES: [&str; 13] = [
    "throughput",
    "peers",
    "population",
    "latency",
    "first_sight",
    "cookie_bytes",
    "memory",
    "disk",
    "scaling",
    "logout",
    "store_operations",
    "checks",
    "run",
];
const CHARTS: [&str; 6] = [
    "cpu_per_request",
    "throughput",
    "cpu_ratio",
    "latency",
    "cookie_bytes",
    "scaling",
];
const MEASURED: [&str; 6] = [
    "server-memory",
    "server-memory-log-off",
    "server-sqlite",
    "server-sqlite-cache",
    "token-hs256",
    "hybrid-sqlite",
];
const PEERS: [&str; 5] = [
    "peer-tower-sessions-memory",
    "peer-tower-sessions-memory-bytes",
    "peer-tower-sessions-sqlite",
    "peer-django-db",
    "peer-django-signed-cookies",
];
/// Whether this machine can serve the Django peer (`pip install django gunicorn`).
fn django_runs_here() -> bool {
    Command::new("python3")
        .args(["-c", "import django, gunicorn"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// A fresh git repository with one commit and, if `dirty`, an uncommitted
/// change to a tracked file.
fn git_repository(dirty: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=smoke", "-c", "user.email=smoke@localhost"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("git runs");
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    git(&["init", "-q"]);
    fs::write(dir.path().join("tracked.txt"), "committed\n").unwrap();
    git(&["add", "tracked.txt"]);
    git(&["commit", "-q", "-m", "one commit"]);
    if dirty {
        fs::write(dir.path().join("tracked.txt"), "changed\n").unwrap();
    }
    dir
}

/// The server `cargo test --workspace` built, next to the harness; `None`
/// when only this crate was built, and the harness builds it itself.
fn server_binary() -> Option<PathBuf> {
    let server = Path::new(env!("CARGO_BIN_EXE_bench")).with_file_name("sessions-vs-jwt");
    server.exists().then_some(server)
}

struct SmokeRun {
    out: tempfile::TempDir,
    stderr: String,
    results: Value,
}

/// One tiny run shared by every check below (a run takes seconds, not
/// milliseconds, so it is made once).
fn smoke_run() -> &'static SmokeRun {
    static RUN: std::sync::OnceLock<SmokeRun> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let repository = git_repository(false);
        let mut command = Command::new(env!("CARGO_BIN_EXE_bench"));
        if let Some(server) = server_binary() {
            command.arg("--server-binary").arg(server);
        }
        let output = command
            .current_dir(repository.path())
            .arg("--quick")
            .args(["--duration", "0.1"])
            .args(["--only", &[&MEASURED[..], &PEERS[..]].concat().join(",")])
            .args(["--sessions", "50,200"])
            .arg("--out")
            .arg(out.path().join("results"))
            .output()
            .expect("the bench binary runs");
        assert!(
            output.status.success(),
            "bench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json = fs::read_to_string(out.path().join("results/results.json")).unwrap();
        SmokeRun {
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            results: serde_json::from_str(&json).expect("results.json is JSON"),
            out,
        }
    })
}

fn results() -> &'static Value {
    &smoke_run().results
}

fn results_dir() -> std::path::PathBuf {
    smoke_run().out.path().join("results")
}

fn rows<'a>(section: &str, configuration: &str) -> Vec<&'a Value> {
    results()[section]
        .as_array()
        .unwrap_or_else(|| panic!("results.json has no array `{section}`"))
        .iter()
        .filter(|row| row["configuration"] == configuration)
        .collect()
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

#[test]
fn results_describe_the_run_the_machine_and_every_configuration() {
    let results = results();
    assert_eq!(results["schema"], 5);
    assert!(
        number(&results["settings"]["server_defaults"]["token_cache"]) > 0.0,
        "the server's defaults the tables quote are recorded"
    );
    assert!(results["date"].as_str().unwrap().contains('T'));
    assert!(results["command"].as_str().unwrap().contains("--quick"));
    for field in [
        "cpu_model",
        "kernel",
        "rustc",
        "build_profile",
        "git_commit",
    ] {
        assert!(
            !results["machine"][field].as_str().unwrap().is_empty(),
            "machine.{field}"
        );
    }
    assert!(number(&results["machine"]["cores"]) >= 1.0);
    assert_eq!(results["settings"]["quick"], true);
    let configurations = results["configurations"].as_array().unwrap();
    let names: Vec<&str> = configurations
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in [
        "token-eddsa",
        "token-es256",
        "token-rs256",
        "token-hs256",
        "token-eddsa-revocation",
        "server-memory",
        "server-memory-log-off",
        "server-sqlite",
        "server-sqlite-cache",
        "server-redis",
        "server-postgres",
    ]
    .iter()
    .chain(&PEERS)
    {
        assert!(names.contains(expected), "{expected} is listed");
    }
    for configuration in configurations {
        let name = configuration["name"].as_str().unwrap();
        if configuration["side"] == "peer" {
            continue;
        }
        let expected = if MEASURED.contains(&name) {
            "measured"
        } else {
            "not_selected"
        };
        assert_eq!(configuration["status"], expected, "{name}");
        assert!(
            configuration["server_args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|arg| arg == "--store"),
            "{name} lists its flags"
        );
    }
}

#[test]
fn every_scenario_is_measured_against_the_reference_in_every_round() {
    for configuration in MEASURED {
        let mut scenarios: Vec<&str> = rows("throughput", configuration)
            .iter()
            .map(|row| row["scenario"].as_str().unwrap())
            .collect();
        scenarios.sort_unstable();
        let mut expected = vec![
            "get_session_new_visitor",
            "get_session_returning",
            "set_session",
        ];
        if configuration.starts_with("token") {
            expected.push("get_session_first_sight");
        }
        if configuration.starts_with("hybrid") {
            expected.push("get_session_refresh");
        }
        if configuration != "server-memory-log-off" {
            expected.push("get_session_population");
        }
        expected.sort_unstable();
        assert_eq!(scenarios, expected, "{configuration}");
        for row in rows("throughput", configuration) {
            let rounds = row["rounds"].as_array().unwrap();
            assert_eq!(rounds.len(), 2, "{configuration} {}", row["scenario"]);
            for round in rounds {
                assert!(number(&round["responses"]) > 0.0);
                assert!(number(&round["reference_responses"]) > 0.0);
                assert!(number(&round["bare_responses"]) > 0.0);
                let ratio = number(&round["rps"]) / number(&round["reference_rps"]);
                assert!((ratio - number(&round["ratio"])).abs() < 1e-9);
            }
            let latency = &row["latency"];
            assert!(number(&latency["p50_us"]) <= number(&latency["p99_us"]));
            assert!(number(&latency["p99_us"]) <= number(&latency["p999_us"]));
            assert!(number(&latency["p999_us"]) <= number(&latency["max_us"]));
            assert!(number(&row["median_cpu_ratio"]) > 0.0);
        }
    }
}

#[test]
fn the_reference_is_also_measured_against_itself() {
    let a_a = rows("throughput", "reference");
    assert_eq!(a_a.len(), 1);
    assert_eq!(a_a[0]["scenario"], "reference_a_a");
    assert_eq!(a_a[0]["rounds"].as_array().unwrap().len(), 2);
    assert!(number(&a_a[0]["median_ratio"]) > 0.0);
    assert!(number(&a_a[0]["median_client_cpu_us_per_request"]).is_finite());
}

/// A ratio that is NaN, infinite or zero means a measurement divided by a
/// round that measured nothing: the harness must never publish one.
fn assert_positive_ratio(value: &Value, what: &str) {
    let ratio = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is {value}, not a number"));
    assert!(
        ratio.is_finite() && ratio > 0.0,
        "{what} is {ratio}: not a finite, positive ratio"
    );
}

#[test]
fn every_ratio_of_every_row_is_finite_and_positive() {
    let rows = results()["throughput"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let what = format!("{} {}", row["configuration"], row["scenario"]);
        for field in [
            "median_ratio",
            "min_ratio",
            "max_ratio",
            "median_cpu_ratio",
            "median_bare_ratio",
            "median_bare_cpu_ratio",
        ] {
            assert_positive_ratio(&row[field], &format!("{what} {field}"));
        }
        for (index, round) in row["rounds"].as_array().unwrap().iter().enumerate() {
            for field in ["ratio", "cpu_ratio", "bare_ratio", "bare_cpu_ratio"] {
                assert_positive_ratio(&round[field], &format!("{what} round {index} {field}"));
            }
        }
    }
}

#[test]
fn every_peer_is_measured_against_the_bare_server_or_skipped_with_its_reason() {
    let configurations = results()["configurations"].as_array().unwrap();
    for peer in PEERS {
        let record = configurations
            .iter()
            .find(|record| record["name"] == peer)
            .unwrap_or_else(|| panic!("{peer} is listed"));
        let django_missing = peer.starts_with("peer-django") && !django_runs_here();
        if django_missing {
            assert_eq!(record["status"], "skipped", "{peer}");
            let reason = record["reason"].as_str().unwrap();
            assert!(
                reason.contains("pip install django gunicorn"),
                "{peer}: {reason}"
            );
            continue;
        }
        assert_eq!(record["status"], "measured", "{peer}: {record}");
        let rows = rows("peers", peer);
        assert_eq!(rows.len(), 1, "{peer}");
        assert_eq!(rows[0]["scenario"], "get_session_returning");
        assert_eq!(rows[0]["rounds"].as_array().unwrap().len(), 2);
        assert_positive_ratio(&rows[0]["median_bare_ratio"], peer);
        assert_positive_ratio(&rows[0]["median_bare_cpu_ratio"], peer);
        assert_eq!(rows[0]["error_responses"], 0, "{peer}");
        assert_eq!(rows[0]["transport_errors"], 0, "{peer}");
    }
    let peers = fs::read_to_string(results_dir().join("peers.md")).unwrap();
    assert!(
        peers.contains("| `peer-tower-sessions-memory` |"),
        "{peers}"
    );
    assert!(peers.contains("| `server-memory` |"), "{peers}");
}

#[test]
fn the_population_is_larger_than_the_hot_loop_and_reported_beside_it() {
    for configuration in ["server-memory", "server-sqlite", "token-hs256"] {
        let rows = rows("throughput", configuration);
        let visitors = |scenario: &str| {
            let row = rows
                .iter()
                .find(|row| row["scenario"] == scenario)
                .unwrap_or_else(|| panic!("{configuration} {scenario}"));
            number(&row["visitors"])
        };
        assert_eq!(
            visitors("get_session_population"),
            2000.0,
            "{configuration}"
        );
        assert_eq!(visitors("get_session_returning"), 50.0, "{configuration}");
    }
    let table = fs::read_to_string(results_dir().join("population.md")).unwrap();
    assert!(table.contains("| `token-hs256` |"), "{table}");
}

#[test]
fn run_md_states_the_fixed_cost_the_access_log_and_the_load_average() {
    let cost = &results()["fixed_cost"];
    for field in ["fixed_cost_us", "fixed_cost_log_off_us"] {
        assert!(
            cost[field].as_f64().is_some_and(f64::is_finite),
            "{field}: {cost}"
        );
    }
    assert_paired(&cost["access_log"]);
    let machine = &results()["machine"];
    assert!(!machine["load_average_at_end"].as_str().unwrap().is_empty());
    let run = fs::read_to_string(results_dir().join("run.md")).unwrap();
    assert!(run.contains("The app's fixed cost"), "{run}");
    assert!(run.contains("The access log's cost"), "{run}");
    assert!(run.contains(", at end "), "{run}");
    if machine["busy_at_start"] == true {
        assert!(run.contains("the machine was busy"), "{run}");
    }
}

#[test]
fn run_md_states_what_counting_costs_from_paired_rounds() {
    assert_paired(&results()["fixed_cost"]["metrics"]);
    let run = fs::read_to_string(results_dir().join("run.md")).unwrap();
    assert!(run.contains("What counting costs"), "{run}");
    assert!(run.contains(", 8 rounds)"), "{run}");
}

/// A difference from paired rounds: its median and ordered quartiles, from
/// four paired rounds for each of --quick's two rounds per scenario.
fn assert_paired(difference: &Value) {
    for field in ["median_us", "first_quartile_us", "third_quartile_us"] {
        assert!(
            difference[field].as_f64().is_some_and(f64::is_finite),
            "{field}: {difference}"
        );
    }
    assert!(
        number(&difference["first_quartile_us"]) <= number(&difference["third_quartile_us"]),
        "{difference}"
    );
    assert_eq!(difference["rounds"], 8, "{difference}");
}

#[test]
fn the_app_is_compared_with_stock_tower_sessions_in_paired_rounds() {
    let compared = results()["paired_with_peers"].as_array().unwrap();
    let peers: Vec<&str> = compared
        .iter()
        .map(|row| row["peer"].as_str().unwrap())
        .collect();
    assert_eq!(
        peers,
        [
            "peer-tower-sessions-memory",
            "peer-tower-sessions-memory-bytes"
        ]
    );
    for row in compared {
        assert_eq!(row["configuration"], "server-memory", "{row}");
        assert_paired(&row["difference"]);
    }
    let verdicts = ["ahead", "not distinguishable", "behind"];
    let table = fs::read_to_string(results_dir().join("peers.md")).unwrap();
    for peer in peers {
        let line = table
            .lines()
            .find(|line| line.starts_with(&format!("| `{peer}` |")) && line.contains("quartiles"))
            .unwrap_or_else(|| panic!("{peer} has a paired row: {table}"));
        assert!(
            verdicts
                .iter()
                .any(|verdict| line.contains(&format!("**{verdict}**"))),
            "{line}"
        );
    }
    let targets = fs::read_to_string(results_dir().join("targets.md")).unwrap();
    let rows: Vec<&str> = targets
        .lines()
        .filter(|line| line.contains("ahead of stock tower-sessions"))
        .collect();
    assert_eq!(rows.len(), 2, "{targets}");
    for row in rows {
        assert!(row.contains("rounds)"), "{row}");
        assert!(
            row.ends_with("| met: ahead |")
                || row.ends_with("| **not met**: not distinguishable |")
                || row.ends_with("| **not met**: behind |"),
            "{row}"
        );
    }
}

#[test]
fn servers_log_every_request_to_a_file_unless_logging_is_off() {
    let log_lines = |name: &str| {
        let record = results()["configurations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|record| record["name"] == name)
            .unwrap();
        number(&record["server_log_lines"])
    };
    let measured: f64 = rows("throughput", "server-memory")
        .iter()
        .map(|row| number(&row["responses"]))
        .sum();
    // The harness counts after the log's flush interval: every response
    // measured has its line (and warm-ups and health checks have theirs).
    assert!(
        log_lines("server-memory") >= measured,
        "an access line per request: {} lines for {measured} responses",
        log_lines("server-memory")
    );
    assert_eq!(log_lines("server-memory-log-off"), 0.0);
}

#[test]
fn progress_is_told_in_plain_lines_when_stderr_is_not_a_terminal() {
    let stderr = &smoke_run().stderr;
    assert!(
        stderr.contains("[server-memory] get_session, returning visitor  ("),
        "{stderr}"
    );
    assert!(stderr.contains(" s elapsed, "), "{stderr}");
    assert!(stderr.contains(" s left"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal escapes in a pipe: {stderr}"
    );
}

/// Runs the harness with `--splice` from `repository`: its stderr, whether
/// it wrote its results, and what the page holds afterwards.
fn splice_attempt(repository: &Path, args: &[&str]) -> (String, bool, String) {
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("page.md");
    fs::write(
        &page,
        "<!-- bench:throughput -->\nold\n<!-- /bench:throughput -->\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .current_dir(repository)
        .args(args)
        .args(["--only", "server-memory"])
        .arg("--out")
        .arg(out.path().join("results"))
        .arg("--splice")
        .arg(&page)
        .output()
        .expect("the bench binary runs");
    assert!(!output.status.success(), "the splice was refused");
    (
        String::from_utf8_lossy(&output.stderr).into_owned(),
        out.path().join("results").exists(),
        fs::read_to_string(&page).unwrap(),
    )
}

#[test]
fn splicing_from_a_dirty_tree_is_refused_before_anything_is_measured() {
    let repository = git_repository(true);
    let (stderr, wrote, page) = splice_attempt(repository.path(), &[]);
    assert!(stderr.contains("uncommitted changes"), "{stderr}");
    assert!(!wrote, "nothing is written");
    assert!(page.contains("old"));
}

#[test]
fn a_smoke_load_gets_no_error_responses() {
    let checks = &results()["checks"];
    assert_eq!(checks["error_responses"], 0, "{checks}");
    assert_eq!(checks["transport_errors"], 0, "{checks}");
}

#[test]
fn a_token_grows_with_the_stored_data_and_a_session_id_does_not() {
    let sizes = |configuration| -> Vec<f64> {
        rows("cookie_bytes", configuration)
            .iter()
            .map(|row| number(&row["cookie_value_bytes"]))
            .collect()
    };
    let token = sizes("token-hs256");
    assert_eq!(token.len(), 4);
    assert!(token.windows(2).all(|pair| pair[0] < pair[1]), "{token:?}");
    assert_eq!(sizes("server-memory"), vec![22.0; 4]);
}

#[test]
fn a_copied_token_outlives_the_logout_and_a_copied_session_id_does_not() {
    let worked = |configuration| {
        let rows = rows("logout", configuration);
        assert_eq!(rows.len(), 1, "{configuration}");
        number(&rows[0]["copied_cookie_worked_seconds"])
    };
    assert_eq!(worked("server-memory"), 0.0);
    assert!(worked("token-hs256") > 0.0);
}

#[test]
fn store_operations_are_counted_for_every_configuration() {
    for configuration in MEASURED {
        let counted = rows("store_operations", configuration);
        let per_thousand = |scenario: &str| {
            counted
                .iter()
                .find(|row| row["scenario"] == scenario)
                .map(|row| number(&row["per_thousand_requests"]))
                .unwrap_or_else(|| panic!("{configuration} counts {scenario}"))
        };
        let returning = per_thousand("get_session_returning");
        if configuration == "server-sqlite-cache" {
            assert_eq!(returning, 0.0, "the cache holds every visitor back at once");
            let later = per_thousand("get_session_returning_after_ttl");
            assert!(later >= 1000.0, "back after the TTL: {later}");
        } else if configuration.starts_with("server") {
            assert!(returning >= 1000.0, "{configuration}: {returning}");
            assert!(
                !counted
                    .iter()
                    .any(|row| row["scenario"] == "get_session_returning_after_ttl"),
                "{configuration} has no cache"
            );
        } else {
            assert_eq!(returning, 0.0, "{configuration} reads no store");
        }
        if configuration.starts_with("hybrid") {
            assert!(per_thousand("get_session_refresh") >= 1000.0);
        }
    }
}

#[test]
fn memory_disk_flood_and_scaling_are_reported() {
    let memory = rows("memory", "server-memory");
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0]["logins"], 500);
    for configuration in MEASURED
        .iter()
        .filter(|name| **name != "server-memory-log-off")
    {
        let flood = rows("flood", configuration);
        assert_eq!(flood.len(), 1, "{configuration}");
        assert_eq!(flood[0]["requests"], 300, "{configuration}");
    }
    let flood = rows("flood", "server-sqlite");
    assert_eq!(
        flood[0]["records_before"], flood[0]["records_after"],
        "a flood of strangers creates no record"
    );
    let scaling: Vec<f64> = rows("scaling", "server-sqlite")
        .iter()
        .map(|point| number(&point["sessions"]))
        .collect();
    assert_eq!(scaling, [50.0, 200.0]);
    let disk = rows("disk", "server-sqlite");
    assert_eq!(disk.len(), 2);
    assert!(number(&disk[1]["bytes_per_session"]) > 0.0);
}

#[test]
fn every_table_is_written_self_explanatory_with_its_provenance() {
    for name in TABLES {
        let path = results_dir().join(format!("{name}.md"));
        let text = fs::read_to_string(&path).unwrap_or_else(|_| panic!("{name}.md is written"));
        assert!(text.starts_with("# "), "{name}.md has a title");
        assert!(
            text.contains("do not edit"),
            "{name}.md says it is generated"
        );
        assert!(text.contains("| configuration |"), "{name}.md has a table");
        assert!(text.contains("--quick"), "{name}.md gives the command");
        assert!(
            text.contains("only check the harness"),
            "{name}.md warns that a quick run means nothing"
        );
    }
    let throughput = fs::read_to_string(results_dir().join("throughput.md")).unwrap();
    for configuration in MEASURED {
        assert!(throughput.contains(&format!("`{configuration}`")));
    }
}

#[test]
fn the_decision_at_a_glance_and_the_targets_are_written_from_the_run() {
    let glance = fs::read_to_string(results_dir().join("glance.md")).unwrap();
    assert!(glance.contains("| mechanism |"), "{glance}");
    for configuration in ["server-memory", "server-sqlite", "hybrid-sqlite"] {
        assert!(
            glance.contains(&format!("(`{configuration}`) |")),
            "{configuration} has a row: {glance}"
        );
    }
    assert!(glance.contains("cpu_per_request.svg"), "{glance}");
    let targets = fs::read_to_string(results_dir().join("targets.md")).unwrap();
    assert!(
        targets.contains("| target | goal | measured | verdict |"),
        "{targets}"
    );
}

/// Runs `bench --render` of the smoke run's results from `folder`.
fn render(folder: &Path, source: &Path, out: &Path, splice: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bench"));
    command
        .current_dir(folder)
        .arg("--render")
        .arg(source)
        .arg("--out")
        .arg(out);
    if let Some(page) = splice {
        command.arg("--splice").arg(page);
    }
    command.output().expect("the bench binary runs")
}

#[test]
fn a_re_render_writes_the_runs_tables_and_charts_again_byte_for_byte() {
    let out = tempfile::tempdir().unwrap();
    let output = render(
        Path::new("."),
        &results_dir().join("results.json"),
        out.path(),
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for entry in fs::read_dir(results_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            fs::read(out.path().join(name)).unwrap_or_default(),
            "{} differs",
            name.to_string_lossy()
        );
    }
}

#[test]
fn a_re_render_splices_only_into_a_committed_page() {
    let repository = git_repository(false);
    let page = repository.path().join("page.md");
    fs::write(
        &page,
        "<!-- bench:glance -->\nold\n<!-- /bench:glance -->\n",
    )
    .unwrap();
    let source = repository.path().join("results.json");
    // As a run that may be published: not busy, every check passed (the
    // smoke run itself may have shared the machine with a build).
    let mut publishable = results().clone();
    publishable["machine"]["busy_at_start"] = Value::Bool(false);
    publishable["checks"] = serde_json::json!({
        "error_responses": 0, "transport_errors": 0, "flood_flat": true, "problems": []
    });
    fs::write(&source, serde_json::to_string_pretty(&publishable).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();

    let refused = render(repository.path(), &source, out.path(), Some(&page));
    assert!(!refused.status.success(), "an untracked page is refused");
    assert!(fs::read_to_string(&page).unwrap().contains("\nold\n"));

    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=smoke", "-c", "user.email=smoke@localhost"])
            .args(args)
            .current_dir(repository.path())
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["add", "page.md", "results.json"]);
    git(&["commit", "-q", "-m", "the page"]);
    let spliced = render(repository.path(), &source, out.path(), Some(&page));
    assert!(
        spliced.status.success(),
        "{}",
        String::from_utf8_lossy(&spliced.stderr)
    );
    let text = fs::read_to_string(&page).unwrap();
    assert!(
        !text.contains("\nold\n") && text.contains("| mechanism |"),
        "{text}"
    );
}

#[test]
fn every_chart_is_a_well_formed_svg_with_text() {
    for name in CHARTS {
        let svg = fs::read_to_string(results_dir().join(format!("{name}.svg")))
            .unwrap_or_else(|_| panic!("{name}.svg is written"));
        assert_well_formed(&svg, name);
        assert!(svg.contains("<text"), "{name}.svg has labels");
    }
    let throughput = fs::read_to_string(results_dir().join("throughput.svg")).unwrap();
    assert!(throughput.contains("server-memory"));
    assert!(throughput.contains("<rect"), "bars are drawn");
}

#[test]
fn a_shortened_run_is_refused_for_splicing_before_anything_is_measured() {
    let repository = git_repository(false);
    let (stderr, wrote, page) = splice_attempt(repository.path(), &["--quick"]);
    assert!(stderr.contains("shorter than a full one"), "{stderr}");
    assert!(!wrote, "nothing is written");
    assert!(page.contains("old"));
}

/// Every tag closed in order, one root `<svg>`: enough XML to catch a
/// truncated or garbled file without an XML parser.
fn assert_well_formed(svg: &str, name: &str) {
    let body = svg.trim();
    assert!(body.starts_with("<svg"), "{name}.svg starts with <svg");
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .unwrap_or_else(|| panic!("{name}.svg: unclosed tag"))
            + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(closing.trim()), "{name}.svg: </{closing}>");
            continue;
        }
        let tag_name = tag.split_whitespace().next().unwrap_or_default();
        if open.is_empty() {
            roots += 1;
        }
        if !tag.ends_with('/') {
            open.push(tag_name);
        }
    }
    assert!(open.is_empty(), "{name}.svg leaves {open:?} open");
    assert_eq!(roots, 1, "{name}.svg has one root element");
}
