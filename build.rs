//! Decides at build time which optional tests this machine can run, so that a
//! test needing a service or a program that is not there is reported by
//! `cargo test` as ignored, with its reason, instead of passing without having
//! run (see README, "Test").

use std::{env, path::PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    services();
    redis_server();
    chromium();
    openssl();
    promtool();
    descriptors();
}

/// `cfg(svj_test_redis)` and `cfg(svj_test_postgres)` when the tests are told
/// where the service is (`SVJ_TEST_REDIS_URL`, `SVJ_TEST_POSTGRES_URL`).
fn services() {
    for (variable, cfg) in [
        ("SVJ_TEST_REDIS_URL", "svj_test_redis"),
        ("SVJ_TEST_POSTGRES_URL", "svj_test_postgres"),
    ] {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if env::var(variable).is_ok_and(|url| !url.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// `cfg(svj_redis_server)` when `redis-server` is on the `PATH` (the Redis
/// outage test starts and kills one of its own), `cfg(svj_redis_cli)` when
/// `redis-cli` is (the failover and cluster tests administer theirs with it).
fn redis_server() {
    println!("cargo::rustc-check-cfg=cfg(svj_redis_server)");
    println!("cargo::rustc-check-cfg=cfg(svj_redis_cli)");
    println!("cargo::rerun-if-env-changed=PATH");
    let folders: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    // A folder that does not exist would make every build rerun this.
    for folder in folders.iter().filter(|folder| folder.is_dir()) {
        println!("cargo::rerun-if-changed={}", folder.display());
    }
    for (program, cfg) in [
        ("redis-server", "svj_redis_server"),
        ("redis-cli", "svj_redis_cli"),
    ] {
        if folders.iter().any(|folder| folder.join(program).is_file()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// `cfg(svj_chromium)` when Chromium and chromedriver are installed (Debian's
/// `chromium` and `chromium-driver`, or the programs that `SVJ_CHROMIUM` and
/// `SVJ_CHROMEDRIVER` name). The browser test reads their paths from
/// `SVJ_CHROMIUM_BIN` and `SVJ_CHROMEDRIVER_BIN`. With `SVJ_REQUIRE_CHROMIUM`
/// set, as CI sets it, a missing program fails the build instead.
fn chromium() {
    println!("cargo::rustc-check-cfg=cfg(svj_chromium)");
    println!("cargo::rerun-if-env-changed=SVJ_REQUIRE_CHROMIUM");
    let chromium = program("SVJ_CHROMIUM", "/usr/bin/chromium");
    let chromedriver = program("SVJ_CHROMEDRIVER", "/usr/bin/chromedriver");
    println!("cargo::rustc-env=SVJ_CHROMIUM_BIN={}", chromium.display());
    println!(
        "cargo::rustc-env=SVJ_CHROMEDRIVER_BIN={}",
        chromedriver.display()
    );
    let missing: Vec<String> = [&chromium, &chromedriver]
        .into_iter()
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        println!("cargo::rustc-cfg=svj_chromium");
    } else if env::var_os("SVJ_REQUIRE_CHROMIUM").is_some() {
        eprintln!(
            "SVJ_REQUIRE_CHROMIUM is set but {} is missing: apt-get install chromium chromium-driver",
            missing.join(" and ")
        );
        std::process::exit(1);
    } else {
        println!(
            "cargo::warning=the browser test will be ignored: {} is missing (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
    }
}

/// `cfg(svj_openssl)` when the `openssl` command is installed (or the program
/// `SVJ_OPENSSL` names), so that the tests that read generated keys with the
/// standard tool run; its path reaches them as `SVJ_OPENSSL_BIN`.
fn openssl() {
    println!("cargo::rustc-check-cfg=cfg(svj_openssl)");
    let openssl = program("SVJ_OPENSSL", "/usr/bin/openssl");
    println!("cargo::rustc-env=SVJ_OPENSSL_BIN={}", openssl.display());
    if openssl.is_file() {
        println!("cargo::rustc-cfg=svj_openssl");
    } else {
        println!(
            "cargo::warning=the tests that read generated keys with openssl will be ignored: {} is missing (apt-get install openssl)",
            openssl.display()
        );
    }
}

/// `cfg(svj_promtool)` when Prometheus's `promtool` is on the `PATH`
/// (Debian's `prometheus` package), so that the exposition test runs.
fn promtool() {
    println!("cargo::rustc-check-cfg=cfg(svj_promtool)");
    let found = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .any(|folder| folder.join("promtool").is_file());
    if found {
        println!("cargo::rustc-cfg=svj_promtool");
    } else {
        println!(
            "cargo::warning=the /metrics exposition test will be ignored: promtool is missing (apt-get install prometheus)"
        );
    }
}

/// Open files the overload test needs in each process (tests/it/overload.rs).
const OVERLOAD_DESCRIPTORS: u64 = 2_500;

/// `cfg(svj_many_descriptors)` when this process's hard limit on open files
/// lets the overload test raise its soft limit to what it needs; the test
/// and the server it starts inherit that hard limit.
fn descriptors() {
    println!("cargo::rustc-check-cfg=cfg(svj_many_descriptors)");
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|line| line.starts_with("Max open files"))?;
            let hard = line.split_whitespace().nth(4)?;
            Some(hard.parse::<u64>().unwrap_or(u64::MAX))
        })
        .unwrap_or(0);
    if hard >= OVERLOAD_DESCRIPTORS {
        println!("cargo::rustc-cfg=svj_many_descriptors");
    } else {
        println!(
            "cargo::warning=the overload tests will be ignored: the hard limit on open files is {hard}, under the {OVERLOAD_DESCRIPTORS} they need"
        );
    }
}

/// The program's path, watched so that installing or removing it rebuilds.
fn program(variable: &str, default: &str) -> PathBuf {
    println!("cargo::rerun-if-env-changed={variable}");
    let path = env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    let watched = match path.parent() {
        Some(folder) if !path.exists() && !folder.as_os_str().is_empty() => folder.to_path_buf(),
        _ => path.clone(),
    };
    println!("cargo::rerun-if-changed={}", watched.display());
    path
}
