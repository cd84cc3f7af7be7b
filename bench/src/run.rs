//! One run: every selected configuration in turn, each on its own servers
//! and temporary folder, every measurement of it, and the results gathered.
//! A configuration whose server does not start is skipped with the reason;
//! a measurement that fails is reported as a problem, and the rest goes on.

use std::{path::Path, time::Instant};

use anyhow::{Context as _, bail};

use crate::{
    app::{REFERENCE_GET_SESSION, Route},
    comparisons::{self, Compared},
    configurations::{self, Configuration, Peer, Store},
    glance::RETURNING_AFTER_THE_CACHE,
    load::{Cookies, Limits, Load},
    machine::Machine,
    measurements::{self, RecordCounter},
    options::Settings,
    peers, progress,
    results::{
        Checks, ConfigurationRecord, CookieBytes, DiskPerSession, FixedCost, FloodCheck,
        LogoutEffect, MemoryPerSession, Results, RunSettings, SCHEMA_VERSION, ScalingPoint,
        ScenarioResult, ServerDefaults, Status, StoreOperations, median,
    },
    scaling,
    servers::{Binaries, ServerCommand, ServerProcess},
    services::PrivateDatabase,
    throughput::{self, Scenario, Yardsticks},
    wire,
};

/// Longer than the server's access log takes to write a line (its flush
/// interval, 100 ms), so that counting the log's lines counts every request.
const LOG_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// Most first-sight tokens minted for one configuration: enough for every
/// round on a fast machine, and a bound on the harness's own memory.
const MAX_FIRST_SIGHT_TOKENS: u64 = 150_000;

/// Requests over which store operations are counted, per scenario.
const STORE_OPERATION_REQUESTS: u64 = 1000;

/// A scenario whose store operations are counted: `requests` of `load`,
/// after an uncounted first pass and a pause where `after_a_first_pass` says.
struct Counted {
    scenario: (&'static str, &'static str),
    load: Load,
    requests: u64,
    after_a_first_pass: Option<std::time::Duration>,
}

/// Longest the population's logins may take; a slow login (RS256, a
/// remote store) logs in fewer, and the table says how many.
const POPULATION_LOGIN_TIME: std::time::Duration = std::time::Duration::from_secs(60);

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
    store_operations: Vec<StoreOperations>,
    problems: Vec<String>,
    server_log_lines: Option<u64>,
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

/// Rounds a run will measure, for the estimate of what is left.
fn planned_rounds(settings: &Settings) -> u64 {
    let rounds = settings.rounds as u64;
    let configurations: u64 = configurations::all()
        .iter()
        .filter(|configuration| settings.selects(configuration.name))
        .map(|configuration| planned_for(configuration, settings))
        .sum();
    let peers = Peer::ALL
        .iter()
        .filter(|peer| settings.selects(peer.name()))
        .count() as u64;
    rounds + configurations + peers * rounds + comparisons::planned_rounds(settings)
}

/// Rounds planned for one configuration, given back when it is skipped.
fn planned_for(configuration: &Configuration, settings: &Settings) -> u64 {
    let applies = configuration.applies();
    let first_sights_or_refreshes =
        u64::from(applies.first_sight || applies.refresh_cookie.is_some());
    let population = u64::from(configuration.measures_population());
    let scaling = if configuration.measures_scaling() {
        settings.session_counts.len() as u64
    } else {
        0
    };
    (3 + first_sights_or_refreshes + population + scaling) * settings.rounds as u64
}

pub async fn run(
    settings: &Settings,
    binaries: &Binaries,
    mut machine: Machine,
    date: String,
    command: String,
) -> anyhow::Result<Results> {
    let started = Instant::now();
    progress::start(planned_rounds(settings));
    let mut records = Vec::new();
    let mut all = Measured::default();
    let workspace = tempfile::Builder::new()
        .prefix("svj-bench-reference-")
        .tempdir()?;
    progress::measuring("[bare] recording the reference page, starting the bare server");
    let keys = workspace.path().join("keys").display().to_string();
    let args = ["--store", "memory", "--keys-dir", keys.as_str()].map(str::to_owned);
    let reference = ServerProcess::start(
        &binaries.server,
        &args,
        &workspace.path().join("server.log"),
    )
    .await
    .context("cannot start the server for the reference page")?;
    let bare = start_bare(binaries, &reference, workspace.path()).await?;
    progress::measuring("[reference] the reference page against itself (A/A check)");
    match a_a_check(&reference, settings, &bare).await {
        Ok(result) => all.throughput.push(result),
        Err(err) => all.problems.push(format!("A/A check: {err:#}")),
    }
    drop(reference);
    for configuration in configurations::all() {
        let mut record = ConfigurationRecord {
            name: configuration.name.to_owned(),
            side: configuration.mount().name().to_owned(),
            store: configuration.store.name().to_owned(),
            algorithm: configuration.algorithm.to_owned(),
            description: configuration.description.to_owned(),
            server_args: configuration.server_args(Path::new("$WORKSPACE"), None),
            status: Status::NotSelected,
            reason: None,
            problems: Vec::new(),
            server_log_lines: None,
        };
        if settings.selects(configuration.name) {
            progress::line(&format!(
                "[{}] {}",
                configuration.name, configuration.description
            ));
            let planned = planned_for(&configuration, settings);
            let before = progress::done();
            match measure(&configuration, binaries, settings, &bare).await {
                Ok(measured) => {
                    record.status = Status::Measured;
                    record.problems = measured.problems.clone();
                    record.server_log_lines = measured.server_log_lines;
                    merge(&mut all, measured);
                }
                Err(reason) => {
                    progress::line(&format!("[{}] skipped: {reason:#}", configuration.name));
                    record.status = Status::Skipped;
                    record.reason = Some(format!("{reason:#}"));
                }
            }
            // Rounds a failed measurement did not run are not left to wait for.
            progress::unplan(planned.saturating_sub(progress::done() - before));
        }
        records.push(record);
    }
    let mut peer_results = Vec::new();
    for peer in Peer::ALL {
        let mut record = ConfigurationRecord {
            name: peer.name().to_owned(),
            side: "peer".to_owned(),
            store: peer.store().to_owned(),
            algorithm: String::new(),
            description: peer.description().to_owned(),
            server_args: peers::server_args(peer),
            status: Status::NotSelected,
            reason: None,
            problems: Vec::new(),
            server_log_lines: None,
        };
        if settings.selects(peer.name()) {
            progress::measuring(&format!("[{}] {}", peer.name(), peer.description()));
            let before = progress::done();
            match peers::measure(peer, binaries, workspace.path(), settings, &bare).await {
                Ok(result) => {
                    record.status = Status::Measured;
                    peer_results.push(result);
                }
                Err(reason) => {
                    progress::line(&format!("[{}] skipped: {reason:#}", peer.name()));
                    record.status = Status::Skipped;
                    record.reason = Some(format!("{reason:#}"));
                }
            }
            progress::unplan((settings.rounds as u64).saturating_sub(progress::done() - before));
        }
        records.push(record);
    }
    drop(bare);
    let compared = comparisons::measure(binaries, settings, &mut all.problems).await;
    progress::finish();
    machine.record_end();
    let fixed_cost = fixed_cost(&all.throughput, &compared);
    let mut checks = checks(&records, &all, &peer_results);
    checks.problems.extend(all.problems.iter().cloned());
    Ok(Results {
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
            population: settings.population,
            logout_cookie_age_seconds: settings.logout_cookie_age,
            total_seconds: started.elapsed().as_secs_f64(),
            server_defaults: ServerDefaults::of_the_app(),
        },
        configurations: records,
        throughput: all.throughput,
        peers: peer_results,
        fixed_cost,
        paired_with_peers: compared.peers,
        cookie_bytes: all.cookie_bytes,
        memory: all.memory,
        disk: all.disk,
        scaling: all.scaling,
        logout: all.logout,
        flood: all.flood,
        store_operations: all.store_operations,
        checks,
    })
}

/// The app's fixed cost (reference CPU minus bare CPU per request) as
/// users run it, from the A/A check, and with logging off, from
/// `server-memory-log-off`'s rounds, each against the same bare server;
/// what the access log and counting cost, from the paired comparisons.
fn fixed_cost(throughput: &[ScenarioResult], compared: &Compared) -> FixedCost {
    let of = |configuration: &str| {
        let costs: Vec<f64> = throughput
            .iter()
            .filter(|result| result.configuration == configuration)
            .flat_map(|result| &result.rounds)
            .map(|round| round.reference_cpu_us_per_request - round.bare_cpu_us_per_request)
            .collect();
        let cost = median(&costs);
        cost.is_finite().then_some(cost)
    };
    FixedCost {
        fixed_cost_us: of(REFERENCE),
        fixed_cost_log_off_us: of(configurations::LOG_OFF),
        access_log: compared.access_log.clone(),
        metrics: compared.metrics.clone(),
    }
}

/// Records the reference page as the app serves it and starts the bare
/// server on those bytes; checks that it answers with the same body.
async fn start_bare(
    binaries: &Binaries,
    app: &ServerProcess,
    workspace: &Path,
) -> anyhow::Result<ServerProcess> {
    let (recorded, page) = record_reference(app.address, workspace).await?;
    let command = ServerCommand::new(
        &binaries.bare,
        vec!["--response".to_owned(), recorded.display().to_string()],
    );
    let bare = ServerProcess::start_command(&command, &workspace.join("bare.log"))
        .await
        .context("cannot start the bare server")?;
    let replayed = wire::exchange(bare.address, wire::Request::get(REFERENCE_GET_SESSION)).await?;
    let mut sent: Vec<&(String, String)> = page
        .headers
        .iter()
        .filter(|(name, _)| name != "date")
        .collect();
    let mut again: Vec<&(String, String)> = replayed
        .headers
        .iter()
        .filter(|(name, _)| name != "date")
        .collect();
    sent.sort();
    again.sort();
    if replayed.body != page.body || sent != again || replayed.response_bytes != page.response_bytes
    {
        bail!(
            "the bare server does not answer the reference page's bytes ({} bytes, headers {again:?}; the app's: {} bytes, {sent:?})",
            replayed.response_bytes,
            page.response_bytes
        );
    }
    Ok(bare)
}

/// Records the reference page as the app at `app` answers it, into a file
/// of `workspace` that the bare server replays; gives the file and the page.
pub async fn record_reference(
    app: std::net::SocketAddr,
    workspace: &Path,
) -> anyhow::Result<(std::path::PathBuf, wire::Response)> {
    let page = wire::exchange(app, wire::Request::get(REFERENCE_GET_SESSION)).await?;
    if page.status != 200 {
        bail!("{REFERENCE_GET_SESSION} answered {}", page.status);
    }
    // hyper writes these itself, on the app as on the bare server.
    let headers: Vec<(String, String)> = page
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "content-length"))
        .cloned()
        .collect();
    let recorded = workspace.join("reference-response.json");
    std::fs::write(
        &recorded,
        serde_json::to_string(&serde_json::json!({
            "status": page.status,
            "headers": headers,
            "body": page.body,
        }))?,
    )?;
    Ok((recorded, page))
}

/// Name of the A/A row in the throughput results.
pub const REFERENCE: &str = "reference";

/// The reference measured against itself exactly as every scenario is: its
/// ratio should be 1.00, and how far its rounds stray from it is the noise
/// floor of this run on this machine. Its ratio to the bare server is the
/// app's fixed cost as users run it.
async fn a_a_check(
    server: &ServerProcess,
    settings: &Settings,
    bare: &ServerProcess,
) -> anyhow::Result<ScenarioResult> {
    let scenario = Scenario {
        id: "reference_a_a",
        label: "the reference page itself (A/A check)",
        load: throughput::reference_load(),
    };
    let yardsticks = Yardsticks {
        reference: true,
        bare,
    };
    throughput::interleaved(server, REFERENCE, &scenario, settings, yardsticks).await
}

fn merge(all: &mut Measured, measured: Measured) {
    all.throughput.extend(measured.throughput);
    all.cookie_bytes.extend(measured.cookie_bytes);
    all.memory.extend(measured.memory);
    all.disk.extend(measured.disk);
    all.scaling.extend(measured.scaling);
    all.logout.extend(measured.logout);
    all.flood.extend(measured.flood);
    all.store_operations.extend(measured.store_operations);
}

/// Every measurement of one configuration. An error here means its server
/// could not be started at all: the configuration is skipped.
async fn measure(
    configuration: &Configuration,
    binaries: &Binaries,
    settings: &Settings,
    bare: &ServerProcess,
) -> anyhow::Result<Measured> {
    let binary = &binaries.server;
    let workspace = tempfile::Builder::new()
        .prefix(&format!("svj-bench-{}-", configuration.name))
        .tempdir()?;
    let dir = workspace.path();
    let database = if configuration.store.is_service() {
        Some(PrivateDatabase::prepare(configuration.store)?)
    } else {
        None
    };
    let command = configuration.command(binary, dir, None);
    let log = dir.join("server.log");
    let start = || ServerProcess::start_command(&command, &log);
    let mut measured = Measured::default();

    let server = start().await?;
    let returning =
        measurements::log_in_returning_visitors(&server, configuration, settings).await?;
    // Visitors of the population scenario log in on this process; tokens
    // are then read by the next one, a second instance with the same keys.
    let population = if configuration.measures_population() {
        progress::measuring(&format!(
            "[{}] logging in a population of {} visitors",
            configuration.name, settings.population
        ));
        let population = measurements::log_in_many(
            &server,
            configuration,
            settings,
            Limits {
                duration: POPULATION_LOGIN_TIME,
                max_requests: Some(settings.population),
            },
            1,
        )
        .await?;
        Some(population)
    } else {
        None
    };
    let mut scenarios = Vec::new();
    // /hybrid's refresh ids, each good for one refresh: some to count what a
    // refresh costs the store, the rest for the refresh scenario.
    let applies = configuration.applies();
    let mut refreshes = if let Some(refresh_cookie) = applies.refresh_cookie {
        let mut minted = measurements::log_in_many_keeping(
            &server,
            configuration,
            settings,
            Limits {
                duration: settings.round * u32::try_from(settings.rounds).unwrap_or(u32::MAX),
                max_requests: Some(MAX_FIRST_SIGHT_TOKENS),
            },
            settings.rounds,
            refresh_cookie,
        )
        .await?;
        let counted_requests = usize::try_from(STORE_OPERATION_REQUESTS)
            .unwrap_or(usize::MAX)
            .min(minted.len() / 2);
        let counted = minted.split_off(minted.len() - counted_requests);
        scenarios.push(Scenario {
            id: "get_session_refresh",
            label: "get_session, access token expired: one refresh",
            load: Load::get(
                &configuration.path(Route::GetSession),
                Cookies::once(minted),
            ),
        });
        Some(counted)
    } else {
        None
    };
    let counted_scenarios = {
        let get_session = configuration.path(Route::GetSession);
        let returning_load = Load::get(&get_session, Cookies::cycle(returning.clone()));
        // Returning visitors are counted on a second pass over the same
        // visitors, each back moments after the first as in the hot loop, and,
        // behind a cache, once more after its entries have expired.
        let mut counted = vec![
            Counted {
                scenario: ("get_session_returning", "get_session, returning visitor"),
                load: returning_load.clone(),
                requests: STORE_OPERATION_REQUESTS,
                after_a_first_pass: Some(std::time::Duration::ZERO),
            },
            Counted {
                scenario: ("set_session", "set_session, new login"),
                load: Load::get(&configuration.path(Route::SetSession), Cookies::None),
                requests: STORE_OPERATION_REQUESTS,
                after_a_first_pass: None,
            },
        ];
        if configuration.has_store_cache() {
            let defaults =
                ServerDefaults::of_the_app().context("the app's command line gave no defaults")?;
            let ttl = std::time::Duration::from_secs(defaults.store_cache_ttl_seconds);
            counted.push(Counted {
                scenario: (
                    RETURNING_AFTER_THE_CACHE,
                    "get_session, returning visitor after the cache's TTL",
                ),
                load: returning_load,
                // Each visitor once: a second visit would find the entry
                // that the first put back.
                requests: u64::try_from(returning.len())
                    .unwrap_or(u64::MAX)
                    .min(STORE_OPERATION_REQUESTS),
                after_a_first_pass: Some(ttl + std::time::Duration::from_secs(1)),
            });
        }
        if let Some(refreshes) = refreshes.take() {
            counted.push(Counted {
                scenario: (
                    "get_session_refresh",
                    "get_session, access token expired: one refresh",
                ),
                load: Load::get(&get_session, Cookies::once(refreshes)),
                requests: STORE_OPERATION_REQUESTS,
                after_a_first_pass: None,
            });
        }
        counted
    };
    for counted in &counted_scenarios {
        progress::measuring(&format!(
            "[{}] store operations of {}",
            configuration.name, counted.scenario.1
        ));
        let counted = measurements::store_operations(
            &server,
            configuration,
            counted.scenario,
            &counted.load,
            counted.requests,
            counted.after_a_first_pass,
        )
        .await;
        measured.keep("store operations", counted, |all, row| {
            all.store_operations.push(row)
        });
    }
    let server = if applies.first_sight {
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
        progress::line(&format!(
            "[{}] minted {} tokens for first sights; restarting the server",
            configuration.name,
            minted.len()
        ));
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
    if let Some(population) = population {
        scenarios.push(Scenario {
            id: "get_session_population",
            label: "get_session, returning visitor among the population",
            load: Load::get(
                &configuration.path(Route::GetSession),
                Cookies::cycle(population),
            ),
        });
    }
    let yardsticks = Yardsticks {
        reference: true,
        bare,
    };
    for scenario in &scenarios {
        progress::measuring(&format!("[{}] {}", configuration.name, scenario.label));
        let result =
            throughput::interleaved(&server, configuration.name, scenario, settings, yardsticks)
                .await;
        measured.keep(scenario.label, result, |all, result| {
            all.throughput.push(result)
        });
    }
    // The server writes its access lines in batches at least every 100 ms
    // (src/logging.rs): past that, every answered request has its line.
    tokio::time::sleep(LOG_FLUSH_WAIT).await;
    measured.server_log_lines = std::fs::read(&log)
        .ok()
        .map(|text| text.iter().filter(|byte| **byte == b'\n').count() as u64);
    if configuration.throughput_only() {
        return Ok(measured);
    }

    progress::measuring(&format!("[{}] bytes on the wire", configuration.name));
    let bytes = measurements::cookie_bytes(&server, configuration).await;
    measured.keep("cookie bytes", bytes, |all, rows| {
        all.cookie_bytes.extend(rows)
    });

    progress::measuring(&format!("[{}] flood of random cookies", configuration.name));
    let counter = match (configuration.store, &database) {
        (Store::Sqlite, _) => RecordCounter::Sqlite(dir.join("sessions.sqlite3")),
        (_, Some(database)) => RecordCounter::Service(database),
        _ => RecordCounter::Uncountable,
    };
    let flood = measurements::flood(&server, configuration, settings, &counter).await;
    measured.keep("flood", flood, |all, check| all.flood.push(check));
    drop(server);

    if configuration.measures_memory_per_session() {
        progress::measuring(&format!(
            "[{}] memory per stored session ({} logins)",
            configuration.name, settings.memory_logins
        ));
        let memory = async {
            let server = start().await?;
            measurements::memory_per_session(&server, configuration, settings).await
        }
        .await;
        measured.keep("memory per session", memory, |all, row| {
            all.memory.push(row)
        });
    }

    progress::measuring(&format!("[{}] logout-to-effect", configuration.name));
    let logout = async {
        let age = settings.logout_cookie_age;
        let mut command = configuration.command(binary, dir, Some(age));
        // An access token shorter than the login, so that the row shows
        // /hybrid's bound (the access age) rather than the login's end.
        if configuration.applies().refresh_cookie.is_some() {
            command.args.extend([
                "--access-token-age".to_owned(),
                (age / 2).max(1).to_string(),
            ]);
        }
        let server = ServerProcess::start_command(&command, &dir.join("server-logout.log")).await?;
        measurements::logout_effect(&server, configuration, age).await
    }
    .await;
    measured.keep("logout-to-effect", logout, |all, row| all.logout.push(row));

    if configuration.measures_scaling() {
        let scaling = scaling::measure(
            binary,
            configuration,
            dir,
            database.as_ref(),
            settings,
            bare,
        )
        .await;
        measured.scaling.extend(scaling.points);
        measured.disk.extend(scaling.disk);
        measured.problems.extend(scaling.problems);
    }
    Ok(measured)
}

fn checks(records: &[ConfigurationRecord], all: &Measured, peers: &[ScenarioResult]) -> Checks {
    let measured = all
        .throughput
        .iter()
        .chain(all.scaling.iter().map(|point| &point.measurement))
        .chain(peers);
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
        if !check.memory_flat
            || check.records_created == Some(true)
            || check.error_responses + check.transport_errors > 0
        {
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
        flood_flat: all
            .flood
            .iter()
            .all(|check| check.memory_flat && check.records_created != Some(true)),
        problems,
    }
}
