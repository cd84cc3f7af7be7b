//! The sentences of the docs that hold figures, made from the run: the
//! run's duration and load, the targets and their verdicts, what bounds
//! them, the signatures' cost and the multiples of Django. A page keeps
//! its explanation in words and splices these in (`<!-- bench:NAME -->`),
//! so that no figure in it is typed by hand.

use std::fmt::Write as _;

use crate::{
    glance::{self, LOGIN, NOT_MEASURED, RETURNING, cpu, micros_unit, scenario},
    machine::BUSY_LOAD_PER_CORE,
    options::{DEFAULT_ROUND_SECONDS, DEFAULT_ROUNDS},
    profile::{self, Counting},
    results::{PairedDifference, PeerComparison, Results, ScenarioResult},
    tables::{Table, grid, thousands},
    verdicts,
};

/// Every generated block of text, and the tables made here; `breakdown` is
/// the profile published beside the run (`--profile`), if any.
pub fn all(results: &Results, breakdown: Option<&Counting>) -> Vec<Table> {
    vec![
        glance::glance(results),
        glance::short_answer(results),
        run_summary(results),
        targets(results, breakdown),
        breakdown_change(breakdown),
        bounds(results),
        signatures(results),
        django(results),
    ]
}

/// The before and after of the profile published beside the run.
fn breakdown_change(breakdown: Option<&Counting>) -> Table {
    let text = match breakdown {
        Some(counted) => match profile::change(counted) {
            Some(change) => format!(
                "From [profile.md](profile.md), counted at commit `{}`. {change}",
                counted.commit
            ),
            None => "The profile beside this run has no earlier one to compare with.\n".to_owned(),
        },
        None => "No profile.json beside this run (`cargo run --release -p bench -- --profile`).\n"
            .to_owned(),
    };
    Table::text("breakdown_change", text)
}

/// The A/A check: the reference page against itself.
fn a_a(results: &Results) -> Option<&ScenarioResult> {
    results
        .throughput
        .iter()
        .find(|result| result.scenario == "reference_a_a")
}

fn two(value: Option<f64>) -> String {
    value
        .filter(|value| value.is_finite())
        .map_or_else(|| NOT_MEASURED.to_owned(), |value| format!("{value:.2}"))
}

/// Issue 30's bounds on what the app adds to a request, in µs of CPU.
const FIXED_COST_GOAL_US: f64 = 2.0;
const ACCESS_LOG_GOAL_US: f64 = 1.0;

/// A paired difference with its quartiles, or the absence said in words.
fn paired_figure(difference: Option<&PairedDifference>) -> String {
    difference.map_or_else(|| NOT_MEASURED.to_owned(), verdicts::figure)
}

/// The app against `peer` in paired rounds.
fn peer_comparison<'a>(results: &'a Results, peer: &str) -> Option<&'a PeerComparison> {
    results
        .paired_with_peers
        .iter()
        .find(|compared| compared.peer == peer)
}

/// Whether the run was shorter than a full one, as `--splice` judges a run
/// before it starts.
pub fn is_shortened(results: &Results) -> bool {
    let settings = &results.settings;
    settings.quick
        || settings.round_seconds < DEFAULT_ROUND_SECONDS
        || settings.rounds < DEFAULT_ROUNDS
}

/// Whether any of the load averages at the start or the end of the run
/// was above the busy mark: the machine was then not idle throughout.
fn loaded_at_some_point(results: &Results) -> bool {
    let limit = BUSY_LOAD_PER_CORE * results.machine.cores.max(1) as f64;
    results
        .machine
        .load_average
        .split_whitespace()
        .chain(results.machine.load_average_at_end.split_whitespace())
        .filter_map(|load| load.parse::<f64>().ok())
        .any(|load| load > limit)
}

/// The run in two sentences: when, which commit, how long, how loaded.
fn run_summary(results: &Results) -> Table {
    let settings = &results.settings;
    let machine = &results.machine;
    let mut text = format!(
        "The figures come from the run of {} (commit `{}`, [run.md](run.md)): {} rounds of {} s per scenario, \
         {} connections, {:.0} minutes in all, on {} cores. The load average (1, 5 and 15 minutes) was {} when \
         it started and {} when it ended",
        results.date,
        machine.git_commit,
        settings.rounds,
        settings.round_seconds,
        settings.connections,
        settings.total_seconds / 60.0,
        machine.cores,
        machine.load_average,
        if machine.load_average_at_end.is_empty() {
            "not recorded"
        } else {
            &machine.load_average_at_end
        },
    );
    if loaded_at_some_point(results) {
        let _ = write!(
            text,
            ": above {BUSY_LOAD_PER_CORE} per core at some point, so the machine was not idle throughout"
        );
    }
    text.push('.');
    if is_shortened(results) {
        text.push_str(
            " It was a shortened run (fewer seconds or rounds than the defaults), which `--splice` now refuses: \
             treat its figures as indicative until a full run replaces them.",
        );
    }
    text.push('\n');
    Table::text("run_summary", text)
}

/// A goal met, not met, or not measured.
fn verdict(value: Option<f64>, met: impl Fn(f64) -> bool) -> String {
    match value.filter(|value| value.is_finite()) {
        Some(value) if met(value) => "met".to_owned(),
        Some(_) => "**not met**".to_owned(),
        None => NOT_MEASURED.to_owned(),
    }
}

/// An EdDSA login's ceiling as a share of the bare server's requests/s:
/// the bare server's CPU and the load generator's per request, over the
/// same plus the signature's (an Ed25519 login's CPU minus an HS256
/// login's). With two cores shared by both, that is the most the login
/// can reach even if the app cost nothing beyond the signature.
fn eddsa_login_bound(results: &Results) -> Option<(f64, f64)> {
    let login = scenario(results, "token-eddsa", LOGIN)?;
    let signature = cpu(results, "token-eddsa", LOGIN)? - cpu(results, "token-hs256", LOGIN)?;
    let bare = login.median_bare_cpu_us_per_request;
    let client = login.median_client_cpu_us_per_request;
    let bound = (bare + client) / (bare + signature + client);
    bound.is_finite().then_some((bound, signature))
}

/// Issue 30's targets against this run: goal, measured, verdict.
fn targets(results: &Results, breakdown: Option<&Counting>) -> Table {
    let bare_ratio = |name: &str, id: &str| {
        scenario(results, name, id)
            .map(|result| result.median_bare_ratio)
            .filter(|value| value.is_finite())
    };
    let cost = &results.fixed_cost;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut at_least = |what: &str, goal: f64, value: Option<f64>| {
        rows.push(vec![
            what.to_owned(),
            format!("≥ {goal:.2}"),
            two(value),
            verdict(value, |value| value >= goal),
        ]);
    };
    let reference = a_a(results);
    at_least(
        "`/reference/get_session/`, requests/s",
        0.80,
        reference.map(|a_a| a_a.median_bare_ratio),
    );
    at_least(
        "`/reference/get_session/`, CPU",
        0.75,
        reference.map(|a_a| a_a.median_bare_cpu_ratio),
    );
    for (label, name, goal) in [
        ("`/server` memory, returning visitor", "server-memory", 0.75),
        ("`/token` EdDSA, returning visitor", "token-eddsa", 0.75),
        ("`/cookie`, returning visitor", "cookie-aes256gcm", 0.75),
        ("`/server` SQLite, returning visitor", "server-sqlite", 0.60),
    ] {
        at_least(label, goal, bare_ratio(name, RETURNING));
    }
    at_least(
        "`/server` memory, login",
        0.70,
        bare_ratio("server-memory", LOGIN),
    );
    let bound = eddsa_login_bound(results);
    let login = bare_ratio("token-eddsa", LOGIN);
    let share = login.zip(bound).map(|(login, (bound, _))| login / bound);
    rows.push(vec![
        "`/token` EdDSA, login, as a share of its bound".to_owned(),
        "≥ 0.85".to_owned(),
        match (login, bound) {
            (Some(login), Some((bound, signature))) => format!(
                "{:.2} ({login:.2} of the bare server; bound {bound:.2}, with a signature of {signature:.1} µs)",
                login / bound
            ),
            _ => NOT_MEASURED.to_owned(),
        },
        verdict(share, |share| share >= 0.85),
    ]);
    let fixed_cost = cost.fixed_cost_us.filter(|value| value.is_finite());
    rows.push(vec![
        "fixed cost over the bare server, CPU per request".to_owned(),
        format!("≤ {FIXED_COST_GOAL_US:.1} µs"),
        micros_unit(fixed_cost),
        verdict(fixed_cost, |value| value <= FIXED_COST_GOAL_US),
    ]);
    rows.push(vec![
        "the access log, CPU per request".to_owned(),
        format!("≤ {ACCESS_LOG_GOAL_US:.1} µs"),
        paired_figure(cost.access_log.as_ref()),
        cost.access_log
            .as_ref()
            .map_or(NOT_MEASURED, |log| {
                verdicts::at_most(log, ACCESS_LOG_GOAL_US)
            })
            .to_owned(),
    ]);
    for (peer, against) in [
        (
            "peer-tower-sessions-memory",
            "stock tower-sessions rendering the same templates",
        ),
        (
            "peer-tower-sessions-memory-bytes",
            "stock tower-sessions concatenating the same page's bytes",
        ),
    ] {
        let compared = peer_comparison(results, peer).map(|compared| &compared.difference);
        rows.push(vec![
            format!("`/server` memory ahead of {against}, returning visitor"),
            "ahead, paired".to_owned(),
            compared.map_or_else(
                || NOT_MEASURED.to_owned(),
                |difference| {
                    format!(
                        "{} of CPU per request, the app's minus the peer's (the app with its access log, the peer without)",
                        verdicts::figure(difference)
                    )
                },
            ),
            compared.map_or_else(|| NOT_MEASURED.to_owned(), verdicts::ahead_as_a_target),
        ]);
    }
    rows.push(vec![
        "the cost breakdown (instructions per part of the page path)".to_owned(),
        "published".to_owned(),
        breakdown.map_or_else(
            || "no profile.json beside this run".to_owned(),
            |counted| {
                format!(
                    "[profile.md](profile.md), {} scenarios counted at commit `{}`",
                    counted.scenarios.len(),
                    counted.commit
                )
            },
        ),
        if breakdown.is_some() {
            "met"
        } else {
            "**not met**"
        }
        .to_owned(),
    ]);
    let mut body = String::from(
        "The performance targets (issue 30) against this run: medians of interleaved rounds as ratios to the bare \
         server (the reference page's bytes from memory), at the default log level, on the machine of \
         [run.md](run.md). An EdDSA login's bound is the most it could reach if the app cost nothing beyond the \
         signature: (bare CPU + load generator's CPU) ÷ (bare CPU + signature + load generator's CPU) per \
         request, the signature being an Ed25519 login's CPU minus an HS256 login's in the same run. A verdict \
         that compares two servers comes from paired rounds: both servers running at once, each round measuring \
         one right after the other, the order alternating; the figure is the median of the rounds' differences \
         of server CPU per request, with the quartiles (half of the rounds fell between them), and a verdict is \
         given only where the two quartiles agree, the run saying otherwise that it cannot tell.\n\n",
    );
    body.push_str(&grid(&["target", "goal", "measured", "verdict"], &rows));
    Table::of_file("targets", "The targets against this run", body)
}

/// What bounds the targets, in the run's figures.
fn bounds(results: &Results) -> Table {
    let cost = &results.fixed_cost;
    let mut text = format!(
        "- **The app's fixed cost**, its reference page's server CPU per request minus the bare server's in the \
         same rounds: {} at the default log level, {} with logging off.\n\
         - **The access log**: {} per request, `server-memory`'s returning visitor minus its log-off twin's, \
         both running at once and measured one right after the other in each round.\n",
        micros_unit(cost.fixed_cost_us),
        micros_unit(cost.fixed_cost_log_off_us),
        paired_figure(cost.access_log.as_ref()),
    );
    if let Some(a_a) = a_a(results) {
        let _ = writeln!(
            text,
            "- **The load generator shares the cores**: it used {:.1} µs of CPU per request in the A/A check, \
             against {:.1} µs for the reference page and {:.1} µs for the bare server, so the bare server, the \
             cheapest, gains most from the cores it leaves, and ratios of requests/s to the bare server are \
             lower than CPU ratios.\n\
             - **The noise floor**: the A/A check's ratio ranged {:.2}–{:.2}; a difference between two ratios \
             smaller than that means nothing in this run.",
            a_a.median_client_cpu_us_per_request,
            a_a.median_reference_cpu_us_per_request,
            a_a.median_bare_cpu_us_per_request,
            a_a.min_ratio,
            a_a.max_ratio,
        );
    }
    if let Some(metrics) = &cost.metrics {
        let _ = writeln!(
            text,
            "- **Counting for `/metrics` and the inspector**: {} per request, `server-memory`'s returning visitor \
             minus its metrics-off twin's, in the same paired rounds.",
            verdicts::figure(metrics),
        );
    }
    if let Some((bound, signature)) = eddsa_login_bound(results) {
        let _ = writeln!(
            text,
            "- **An EdDSA login's signature**: {signature:.1} µs of CPU, so even an app that cost nothing else \
             would serve EdDSA logins at {bound:.2} of the bare server's rate here."
        );
    }
    Table::text("bounds", text)
}

/// What a signature costs, from the run: each algorithm's login CPU minus
/// an HS256 login's, whose MAC costs next to nothing.
fn signatures(results: &Results) -> Table {
    let hmac = cpu(results, "token-hs256", LOGIN);
    let reference = a_a(results).map(|a_a| a_a.median_reference_cpu_us_per_request);
    let mut text = String::from(
        "What a login's signature costs on this machine, in the run: each algorithm's login CPU minus an HS256 \
         login's (whose MAC costs next to nothing), beside a first sight's extra CPU over a returning visitor's \
         (the verification; [first_sight.md](first_sight.md)):\n\n",
    );
    let rows: Vec<Vec<String>> = [
        ("Ed25519 (EdDSA)", "token-eddsa"),
        ("ECDSA P-256 (ES256)", "token-es256"),
        ("RSA 2048 (RS256)", "token-rs256"),
    ]
    .into_iter()
    .filter(|(_, name)| scenario(results, name, LOGIN).is_some())
    .map(|(label, name)| {
        let signature = cpu(results, name, LOGIN)
            .zip(hmac)
            .map(|(login, hmac)| login - hmac);
        let verification = cpu(results, name, "get_session_first_sight")
            .zip(cpu(results, name, RETURNING))
            .map(|(first, returning)| first - returning);
        vec![
            label.to_owned(),
            glance::micros(signature),
            glance::micros(verification),
        ]
    })
    .collect();
    if rows.is_empty() {
        let _ = writeln!(text, "Not measured in this run: no token configuration.");
    } else {
        text.push_str(&grid(
            &["algorithm", "signature, µs", "first sight's extra, µs"],
            &rows,
        ));
        let _ = writeln!(
            text,
            "\nThe reference page, a whole request, cost the server {} in the same run.",
            micros_unit(reference)
        );
    }
    Table::text("signatures", text)
}

/// The project's aim against the reference document's own framework.
const DJANGO_MULTIPLE: f64 = 20.0;

/// The configurations whose multiples of Django are listed: the twins
/// that differ from `server-memory` only in a switch are left out.
fn compared_with_django(name: &str) -> bool {
    !matches!(
        name,
        "reference" | "server-memory-log-off" | "server-memory-metrics-off"
    )
}

fn django(results: &Results) -> Table {
    let peer = |name: &str| {
        results
            .peers
            .iter()
            .find(|result| result.configuration == name)
    };
    let Some(db) = peer("peer-django-db").filter(|db| db.median_rps > 0.0) else {
        return Table::text(
            "django",
            format!("Django: {NOT_MEASURED} (see [run.md](run.md) for why).\n"),
        );
    };
    let target = DJANGO_MULTIPLE * db.median_rps;
    let mut text = format!(
        "Django, measured in the same run ([peers.md](peers.md)), served a returning visitor {} requests/s with \
         database sessions on SQLite and {} with `signed_cookies`. The project aims for {DJANGO_MULTIPLE:.0} times \
         Django's database sessions on every configuration: {} requests/s in this run. Each configuration's \
         requests/s as a multiple of Django's, below the aim in bold:\n\n",
        thousands(db.median_rps.round() as u64),
        peer("peer-django-signed-cookies").map_or_else(
            || NOT_MEASURED.to_owned(),
            |signed| thousands(signed.median_rps.round() as u64)
        ),
        thousands(target.round() as u64),
    );
    let mut names: Vec<&str> = Vec::new();
    for result in &results.throughput {
        if compared_with_django(&result.configuration)
            && !names.contains(&result.configuration.as_str())
        {
            names.push(&result.configuration);
        }
    }
    for name in names {
        let cells: Vec<String> = results
            .throughput
            .iter()
            .filter(|result| result.configuration == name)
            .map(|result| {
                let multiple = result.median_rps / db.median_rps;
                let label = ["get_session, ", "set_session, "]
                    .into_iter()
                    .find_map(|prefix| result.label.strip_prefix(prefix))
                    .unwrap_or(&result.label);
                if multiple < DJANGO_MULTIPLE {
                    format!("{label} **{multiple:.0}×**")
                } else {
                    format!("{label} {multiple:.0}×")
                }
            })
            .collect();
        let _ = writeln!(text, "- `{name}`: {}", cells.join("; "));
    }
    Table::text("django", text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{results::PairedDifference, verdicts::tests::difference};

    /// The published run, as committed.
    fn published() -> Results {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results/results.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn compared(peer: &str, difference: PairedDifference) -> PeerComparison {
        PeerComparison {
            configuration: "server-memory".to_owned(),
            peer: peer.to_owned(),
            description: String::new(),
            difference,
        }
    }

    fn row<'a>(table: &'a str, starting: &str) -> &'a str {
        table
            .lines()
            .find(|line| line.starts_with(starting))
            .unwrap_or_else(|| panic!("no row {starting}: {table}"))
    }

    #[test]
    fn the_targets_that_compare_two_servers_are_judged_on_the_paired_figures() {
        let mut results = published();
        results.fixed_cost.access_log = Some(difference(0.7, 0.8, 1.3));
        results.paired_with_peers = vec![
            compared("peer-tower-sessions-memory", difference(-1.6, -1.3, -1.1)),
            compared(
                "peer-tower-sessions-memory-bytes",
                difference(-0.5, 0.3, 0.9),
            ),
        ];
        let table = targets(&results, None).body;
        let log = row(&table, "| the access log");
        assert!(
            log.contains("+0.8 µs (quartiles +0.7 to +1.3, 20 rounds)"),
            "{log}"
        );
        assert!(
            log.ends_with("| not distinguishable from the goal |"),
            "{log}"
        );
        let templates = row(
            &table,
            "| `/server` memory ahead of stock tower-sessions rendering",
        );
        assert!(
            templates.contains("-1.3 µs (quartiles -1.6 to -1.1"),
            "{templates}"
        );
        assert!(templates.ends_with("| met: ahead |"), "{templates}");
        let bytes = row(
            &table,
            "| `/server` memory ahead of stock tower-sessions concatenating",
        );
        assert!(
            bytes.ends_with("| **not met**: not distinguishable |"),
            "{bytes}"
        );
        let bounds = bounds(&results).body;
        assert!(
            bounds.contains("**The access log**: +0.8 µs (quartiles +0.7 to +1.3, 20 rounds)"),
            "{bounds}"
        );
    }

    #[test]
    fn a_run_without_paired_figures_gives_those_targets_no_verdict() {
        let mut results = published();
        results.fixed_cost.access_log = None;
        results.paired_with_peers.clear();
        let table = targets(&results, None).body;
        for starting in ["| the access log", "| `/server` memory ahead of stock"] {
            let row = row(&table, starting);
            assert!(
                row.ends_with(&format!("| {NOT_MEASURED} | {NOT_MEASURED} |")),
                "{row}"
            );
        }
        assert!(!table.contains("ahead |"), "{table}");
    }

    #[test]
    fn the_breakdown_is_met_only_with_a_profile_beside_the_run() {
        let results = published();
        let without = targets(&results, None).body;
        let row_without = row(&without, "| the cost breakdown");
        assert!(row_without.ends_with("| **not met** |"), "{row_without}");
        let counted: Counting = serde_json::from_value(serde_json::json!({
            "commit": "abc123",
            "date": "2026-12-07T00:00:00Z",
            "requests": 1200,
            "scenarios": [],
        }))
        .unwrap();
        let with = targets(&results, Some(&counted)).body;
        let row_with = row(&with, "| the cost breakdown");
        assert!(row_with.contains("at commit `abc123`"), "{row_with}");
        assert!(row_with.ends_with("| met |"), "{row_with}");
    }

    #[test]
    fn the_breakdowns_before_and_after_compares_each_scenario_with_the_baseline() {
        let counted: Counting = serde_json::from_value(serde_json::json!({
            "commit": "abc123",
            "date": "2026-12-07T00:00:00Z",
            "requests": 1200,
            "scenarios": [{"label": "reference page", "instructions": 800.0, "parts": {}}],
            "baseline": {"commit": "0ld", "instructions": {"reference page": 1000.0}},
        }))
        .unwrap();
        let text = breakdown_change(Some(&counted)).body;
        assert!(text.contains("at commit `0ld` and now"), "{text}");
        assert!(
            text.contains("| reference page | 1000 | 800 | -20.0 % |"),
            "{text}"
        );
        assert!(breakdown_change(None).body.contains("No profile.json"));
    }

    #[test]
    fn a_goal_not_reached_is_not_met_and_a_missing_figure_is_not_measured() {
        assert_eq!(verdict(Some(0.81), |value| value >= 0.80), "met");
        assert_eq!(verdict(Some(0.57), |value| value >= 0.75), "**not met**");
        assert_eq!(verdict(None, |value| value >= 0.75), NOT_MEASURED);
        assert_eq!(verdict(Some(f64::NAN), |value| value >= 0.75), NOT_MEASURED);
    }
}
