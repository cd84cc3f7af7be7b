//! What one switch costs, measured on two servers that differ by nothing
//! else and run at the same time: round after round, the same returning
//! visitors' load on each, the order alternating, and each round gives one
//! difference of server CPU per request. Taken from the throughput rounds,
//! minutes apart and each against its own yardsticks, such a difference of
//! two ~20 µs figures is lost in a noise of about ±2 µs; paired this way, a
//! machine that drifts moves both sides of a round alike.

use anyhow::{Context as _, bail};

use crate::{
    app::Route,
    configurations::Configuration,
    load::{self, Cookies, Limits, Load},
    measurements,
    options::Settings,
    progress,
    results::{SwitchCost, median},
    servers::{Binaries, ServerProcess},
    throughput,
};

/// Rounds per paired measurement, for each round of the throughput
/// measurements: a round here measures one scenario, not three.
const ROUNDS_PER_ROUND: usize = 4;

/// A returning visitor's server CPU per request on `with` minus the same on
/// `without`, in paired rounds.
pub async fn switch_cost(
    with: &Configuration,
    without: &Configuration,
    binaries: &Binaries,
    settings: &Settings,
) -> anyhow::Result<SwitchCost> {
    let workspace = tempfile::Builder::new()
        .prefix(&format!("svj-bench-{}-", without.name))
        .tempdir()?;
    let mut servers = Vec::new();
    for configuration in [with, without] {
        let dir = workspace.path().join(configuration.name);
        std::fs::create_dir_all(&dir)?;
        let command = configuration.command(&binaries.server, &dir, None);
        let server = ServerProcess::start_command(&command, &dir.join("server.log"))
            .await
            .with_context(|| format!("cannot start {}", configuration.name))?;
        let visitors =
            measurements::log_in_returning_visitors(&server, configuration, settings).await?;
        let load = Load::get(
            &configuration.path(Route::GetSession),
            Cookies::cycle(visitors),
        );
        load::run(
            server.address,
            &load,
            settings.connections,
            Limits::time(settings.warmup),
        )
        .await;
        servers.push((server, load));
    }
    let rounds = settings.rounds * ROUNDS_PER_ROUND;
    let limits = Limits::time(settings.round);
    let mut differences = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // CPU per request of `with` (0) and `without` (1), in the order of
        // this round.
        let mut cpu = [0.0; 2];
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let (server, load) = &servers[index];
            let measured = throughput::measure(server, load, settings, limits).await?;
            let outcome = &measured.outcome;
            if outcome.error_responses + outcome.transport_errors > 0 {
                bail!(
                    "round {round}: {} error responses, {} transport errors",
                    outcome.error_responses,
                    outcome.transport_errors
                );
            }
            cpu[index] = measured.cpu_us_per_request;
        }
        differences.push(cpu[0] - cpu[1]);
    }
    progress::advance(settings.rounds as u64);
    summary(&differences).context("no round was measured")
}

/// The median of the rounds' differences, and the quartiles that say how
/// far they strayed.
fn summary(differences: &[f64]) -> Option<SwitchCost> {
    let mut sorted: Vec<f64> = differences
        .iter()
        .copied()
        .filter(|difference| difference.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    Some(SwitchCost {
        median_us: median(&sorted),
        first_quartile_us: sorted[last / 4],
        third_quartile_us: sorted[last * 3 / 4],
        rounds: sorted.len(),
    })
}
