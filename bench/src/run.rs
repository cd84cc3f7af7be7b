//! One run: every selected configuration in turn, each on its own servers
//! and temporary folder, every measurement of it, and the results gathered.
//! A configuration whose server does not start is skipped with the reason;
//! a measurement that fails is reported as a problem, and the rest goes on.

use std::{path::Path, time::Instant};

use crate::{
    app::{Mount, Route},
    configurations::{self, Configuration, Store},
    load::{Cookies, Limits, Load},
    machine::Machine,
    measurements::{self, RecordCounter},
    options::Settings,
    results::{
        Checks, ConfigurationRecord, CookieBytes, DiskPerSession, FloodCheck, LogoutEffect,
        MemoryPerSession, Results, RunSettings, SCHEMA_VERSION, ScalingPoint, ScenarioResult,
        Status,
    },
    scaling,
    servers::ServerProcess,
    services::PrivateDatabase,
    throughput::{self, Scenario},
};

/// Most first-sight tokens minted for one configuration: enough for every
/// round on a fast machine, and a bound on the harness's own memory.
const MAX_FIRST_SIGHT_TOKENS: u64 = 150_000;

/// What one configuration gave.
#[derive(Debug, Default)]
struct Measured {
    throughput: Vec<ScenarioResult>,
    cookie_bytes: Vec<CookieBytes>,
    memory: Vec<MemoryPerSession>,
    disk: Vec<DiskPerSession>,
    scaling: Vec<ScalingPoint>,
    logout: Vec<LogoutEffect>,
    flood: Vec<FloodCheck>,
    problems: Vec<String>,
}

impl Measured {
    /// Keeps a measurement's result, or its error as a problem.
    fn keep<T>(&mut self, what: &str, result: anyhow::Result<T>, into: impl FnOnce(&mut Self, T)) {
        match result {
            Ok(value) => into(self, value),
            Err(err) => self.problems.push(format!("{what}: {err:#}")),
        }
    }
}

pub async fn run(
    settings: &Settings,
    binary: &Path,
    machine: Machine,
    date: String,
    command: String,
) -> Results {
    let started = Instant::now();
    let mut records = Vec::new();
    let mut all = Measured::default();
    eprintln!("[reference] the reference page against itself (A/A check)");
    match a_a_check(binary, settings).await {
        Ok(result) => all.throughput.push(result),
        Err(err) => all.problems.push(format!("A/A check: {err:#}")),
    }
    for configuration in configurations::all() {
        let mut record = ConfigurationRecord {
            name: configuration.name.to_owned(),
            side: configuration.mount.name().to_owned(),
            store: configuration.store.name().to_owned(),
            algorithm: configuration.algorithm.to_owned(),
            description: configuration.description.to_owned(),
            server_args: configuration.server_args(Path::new("$WORKSPACE"), None),
            status: Status::NotSelected,
            reason: None,
            problems: Vec::new(),
        };
        if settings.selects(configuration.name) {
            eprintln!("[{}] {}", configuration.name, configuration.description);
            match measure(&configuration, binary, settings).await {
                Ok(measured) => {
                    record.status = Status::Measured;
                    record.problems = measured.problems.clone();
                    merge(&mut all, measured);
                }
                Err(reason) => {
                    eprintln!("[{}] skipped: {reason:#}", configuration.name);
                    record.status = Status::Skipped;
                    record.reason = Some(format!("{reason:#}"));
                }
            }
        }
        records.push(record);
    }
    let mut checks = checks(&records, &all);
    checks.problems.extend(all.problems.iter().cloned());
    Results {
        schema: SCHEMA_VERSION,
        date,
        command,
        machine,
        settings: RunSettings {
            quick: settings.quick,
            round_seconds: settings.round.as_secs_f64(),
            warmup_seconds: settings.warmup.as_secs_f64(),
            rounds: settings.rounds,
            connections: settings.connections,
            client_threads: settings.client_threads,
            only: settings.only.clone(),
            session_counts: settings.session_counts.clone(),
            memory_logins: settings.memory_logins,
            flood_requests: settings.flood_requests,
            returning_visitors: settings.returning_visitors,
            logout_cookie_age_seconds: settings.logout_cookie_age,
            total_seconds: started.elapsed().as_secs_f64(),
        },
        configurations: records,
        throughput: all.throughput,
        cookie_bytes: all.cookie_bytes,
        memory: all.memory,
        disk: all.disk,
        scaling: all.scaling,
        logout: all.logout,
        flood: all.flood,
        checks,
    }
}

/// Name of the A/A row in the throughput results.
pub const REFERENCE: &str = "reference";

/// The reference measured against itself exactly as every scenario is: its
/// ratio should be 1.00, and how far its rounds stray from it is the noise
/// floor of this run on this machine.
async fn a_a_check(binary: &Path, settings: &Settings) -> anyhow::Result<ScenarioResult> {
    let workspace = tempfile::Builder::new()
        .prefix("svj-bench-reference-")
        .tempdir()?;
    let keys = workspace.path().join("keys").display().to_string();
    let args = ["--store", "memory", "--keys-dir", keys.as_str()].map(str::to_owned);
    let server = ServerProcess::start(binary, &args, &workspace.path().join("server.log")).await?;
    let scenario = Scenario {
        id: "reference_a_a",
        label: "the reference page itself (A/A check)",
        load: throughput::reference_load(),
    };
    throughput::interleaved(&server, REFERENCE, &scenario, settings).await
}

fn merge(all: &mut Measured, measured: Measured) {
    all.throughput.extend(measured.throughput);
    all.cookie_bytes.extend(measured.cookie_bytes);
    all.memory.extend(measured.memory);
    all.disk.extend(measured.disk);
    all.scaling.extend(measured.scaling);
    all.logout.extend(measured.logout);
    all.flood.extend(measured.flood);
}

/// Every measurement of one configuration. An error here means its server
/// could not be started at all: the configuration is skipped.
async fn measure(
    configuration: &Configuration,
    binary: &Path,
    settings: &Settings,
) -> anyhow::Result<Measured> {
    let workspace = tempfile::Builder::new()
        .prefix(&format!("svj-bench-{}-", configuration.name))
        .tempdir()?;
    let dir = workspace.path();
    let database = if configuration.store.is_service() {
        Some(PrivateDatabase::prepare(configuration.store)?)
    } else {
        None
    };
    let args = configuration.server_args(dir, None);
    let log = dir.join("server.log");
    let start = || ServerProcess::start(binary, &args, &log);
    let mut measured = Measured::default();

    let server = start().await?;
    let returning = measurements::log_in_many(
        &server,
        configuration,
        settings,
        Limits::count(settings.returning_visitors as u64),
        settings.returning_visitors,
    )
    .await?;
    let mut scenarios = Vec::new();
    let server = if configuration.mount == Mount::Token {
        // Tokens for first sights are minted on this process, then measured
        // on a new one with the same keys, which has never seen any of them
        // (whatever it may remember of tokens it signed itself).
        let minted = measurements::log_in_many(
            &server,
            configuration,
            settings,
            Limits {
                duration: settings.round * u32::try_from(settings.rounds).unwrap_or(u32::MAX),
                max_requests: Some(MAX_FIRST_SIGHT_TOKENS),
            },
            settings.rounds,
        )
        .await?;
        eprintln!(
            "[{}] minted {} tokens for first sights; restarting the server",
            configuration.name,
            minted.len()
        );
        drop(server);
        scenarios.push(Scenario {
            id: "get_session_first_sight",
            label: "get_session, token never seen before",
            load: Load::get(
                &configuration.path(Route::GetSession),
                Cookies::once(minted),
            ),
        });
        start().await?
    } else {
        server
    };
    scenarios.extend([
        Scenario {
            id: "get_session_returning",
            label: "get_session, returning visitor",
            load: Load::get(
                &configuration.path(Route::GetSession),
                Cookies::cycle(returning),
            ),
        },
        Scenario {
            id: "get_session_new_visitor",
            label: "get_session, new visitor",
            load: Load::get(&configuration.path(Route::GetSession), Cookies::None),
        },
        Scenario {
            id: "set_session",
            label: "set_session, new login",
            load: Load::get(&configuration.path(Route::SetSession), Cookies::None),
        },
    ]);
    for scenario in &scenarios {
        eprintln!("[{}] {}", configuration.name, scenario.label);
        let result = throughput::interleaved(&server, configuration.name, scenario, settings).await;
        measured.keep(scenario.label, result, |all, result| {
            all.throughput.push(result)
        });
    }

    eprintln!("[{}] bytes on the wire", configuration.name);
    let bytes = measurements::cookie_bytes(&server, configuration).await;
    measured.keep("cookie bytes", bytes, |all, rows| {
        all.cookie_bytes.extend(rows)
    });

    eprintln!("[{}] flood of random cookies", configuration.name);
    let counter = match (configuration.store, &database) {
        (Store::Sqlite, _) => RecordCounter::Sqlite(dir.join("sessions.sqlite3")),
        (_, Some(database)) => RecordCounter::Service(database),
        _ => RecordCounter::Uncountable,
    };
    let flood = measurements::flood(&server, configuration, settings, &counter).await;
    measured.keep("flood", flood, |all, check| all.flood.push(check));
    drop(server);

    if configuration.measures_memory_per_session() {
        eprintln!(
            "[{}] memory per stored session ({} logins)",
            configuration.name, settings.memory_logins
        );
        let memory = async {
            let server = start().await?;
            measurements::memory_per_session(&server, configuration, settings).await
        }
        .await;
        measured.keep("memory per session", memory, |all, row| {
            all.memory.push(row)
        });
    }

    eprintln!("[{}] logout-to-effect", configuration.name);
    let logout = async {
        let age = settings.logout_cookie_age;
        let server = ServerProcess::start(
            binary,
            &configuration.server_args(dir, Some(age)),
            &dir.join("server-logout.log"),
        )
        .await?;
        measurements::logout_effect(&server, configuration, age).await
    }
    .await;
    measured.keep("logout-to-effect", logout, |all, row| all.logout.push(row));

    if configuration.measures_scaling() {
        let scaling =
            scaling::measure(binary, configuration, dir, database.as_ref(), settings).await;
        measured.scaling.extend(scaling.points);
        measured.disk.extend(scaling.disk);
        measured.problems.extend(scaling.problems);
    }
    Ok(measured)
}

fn checks(records: &[ConfigurationRecord], all: &Measured) -> Checks {
    let measured = all
        .throughput
        .iter()
        .chain(all.scaling.iter().map(|point| &point.measurement));
    let mut problems: Vec<String> = records
        .iter()
        .flat_map(|record| {
            record
                .problems
                .iter()
                .map(move |problem| format!("{}: {problem}", record.name))
        })
        .collect();
    let (mut error_responses, mut transport_errors) = (0, 0);
    for result in measured {
        error_responses += result.error_responses;
        transport_errors += result.transport_errors;
        if result.error_responses + result.transport_errors > 0 {
            problems.push(format!(
                "{} {}: {} error responses and {} transport errors (statuses {:?})",
                result.configuration,
                result.scenario,
                result.error_responses,
                result.transport_errors,
                result.statuses
            ));
        }
    }
    for check in &all.flood {
        if !check.flat || check.error_responses + check.transport_errors > 0 {
            problems.push(format!(
                "{} flood: memory grew by {} bytes, records {:?} -> {:?}, {} error responses, {} transport errors",
                check.configuration,
                check.rss_growth_bytes,
                check.records_before,
                check.records_after,
                check.error_responses,
                check.transport_errors
            ));
        }
    }
    Checks {
        error_responses,
        transport_errors,
        flood_flat: all.flood.iter().all(|check| check.flat),
        problems,
    }
}
