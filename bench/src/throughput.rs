//! Requests per second and latency of one scenario, interleaved with the
//! stateless reference page on the same server: round after round, the
//! reference and the scenario each run for the same time, in alternating
//! order, and each round gives one ratio. The median of those ratios is the
//! figure; a machine that gets busier or quieter during the run moves both
//! sides of a round alike.

use std::collections::BTreeMap;

use crate::{
    app::REFERENCE_GET_SESSION,
    load::{self, Cookies, Limits, Load, Outcome},
    options::Settings,
    results::{Latency, Round, ScenarioResult, median},
    servers::{self, ServerProcess},
};

/// One kind of request to measure.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Stable name, used in results.json and the tables.
    pub id: &'static str,
    pub label: &'static str,
    pub load: Load,
}

/// What one measured load cost the server and the load generator.
struct Measured {
    outcome: Outcome,
    cpu_us_per_request: f64,
    client_cpu_us_per_request: f64,
}

async fn measure(
    server: &ServerProcess,
    load: &Load,
    settings: &Settings,
    limits: Limits,
) -> anyhow::Result<Measured> {
    let cpu_before = server.cpu_time()?;
    let client_before = servers::cpu_time_of("self")?;
    let outcome = load::run(server.address, load, settings.connections, limits).await;
    let client = servers::cpu_time_of("self")?.saturating_sub(client_before);
    let cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let per_request = |time: std::time::Duration| {
        if outcome.responses > 0 {
            time.as_secs_f64() * 1e6 / outcome.responses as f64
        } else {
            f64::NAN
        }
    };
    Ok(Measured {
        cpu_us_per_request: per_request(cpu),
        client_cpu_us_per_request: per_request(client),
        outcome,
    })
}

pub fn reference_load() -> Load {
    Load::get(REFERENCE_GET_SESSION, Cookies::None)
}

/// Measures `scenario` against the reference on `server`, in `settings.rounds` rounds.
///
/// A scenario whose cookies are each used once (visitors seen for the first
/// time) gets an equal share of them per round and is not warmed up, since
/// a warm-up would spend the very first sights it is there to measure.
pub async fn interleaved(
    server: &ServerProcess,
    configuration: &str,
    scenario: &Scenario,
    settings: &Settings,
) -> anyhow::Result<ScenarioResult> {
    let reference = reference_load();
    let warmup = Limits::time(settings.warmup);
    load::run(server.address, &reference, settings.connections, warmup).await;
    let single_use = match &scenario.load.cookies {
        Cookies::Once(values) => Some(values.clone()),
        Cookies::None | Cookies::Cycle(_) => {
            load::run(server.address, &scenario.load, settings.connections, warmup).await;
            None
        }
    };
    let mut rounds = Vec::new();
    let mut latency = load::histogram();
    let mut reference_latency = load::histogram();
    let mut statuses = BTreeMap::new();
    let (mut error_responses, mut transport_errors) = (0, 0);
    for round in 0..settings.rounds {
        let load = match &single_use {
            Some(values) => {
                let share = values.len() / settings.rounds;
                let chunk = values[round * share..(round + 1) * share].to_vec();
                Load {
                    cookies: Cookies::once(chunk),
                    ..scenario.load.clone()
                }
            }
            None => scenario.load.clone(),
        };
        let limits = Limits::time(settings.round);
        let configuration_first = round % 2 == 0;
        let (measured, reference) = if configuration_first {
            let measured = measure(server, &load, settings, limits).await?;
            (
                measured,
                measure(server, &reference, settings, limits).await?,
            )
        } else {
            let reference = measure(server, &reference, settings, limits).await?;
            (measure(server, &load, settings, limits).await?, reference)
        };
        for outcome in [&measured.outcome, &reference.outcome] {
            error_responses += outcome.error_responses;
            transport_errors += outcome.transport_errors;
        }
        for (status, count) in &measured.outcome.statuses {
            *statuses.entry(status.to_string()).or_default() += count;
        }
        let _ = latency.add(&measured.outcome.latency);
        let _ = reference_latency.add(&reference.outcome.latency);
        let rps = measured.outcome.requests_per_second();
        let reference_rps = reference.outcome.requests_per_second();
        rounds.push(Round {
            rps,
            reference_rps,
            ratio: rps / reference_rps,
            cpu_us_per_request: measured.cpu_us_per_request,
            reference_cpu_us_per_request: reference.cpu_us_per_request,
            cpu_ratio: reference.cpu_us_per_request / measured.cpu_us_per_request,
            client_cpu_us_per_request: measured.client_cpu_us_per_request,
            responses: measured.outcome.responses,
            reference_responses: reference.outcome.responses,
            seconds: measured.outcome.elapsed.as_secs_f64(),
            configuration_first,
        });
    }
    let of = |field: fn(&Round) -> f64| median(&rounds.iter().map(field).collect::<Vec<_>>());
    let ratios: Vec<f64> = rounds.iter().map(|round| round.ratio).collect();
    Ok(ScenarioResult {
        configuration: configuration.to_owned(),
        scenario: scenario.id.to_owned(),
        label: scenario.label.to_owned(),
        path: scenario.load.path.clone(),
        median_rps: of(|round| round.rps),
        median_reference_rps: of(|round| round.reference_rps),
        median_ratio: median(&ratios),
        min_ratio: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        max_ratio: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        median_cpu_us_per_request: of(|round| round.cpu_us_per_request),
        median_reference_cpu_us_per_request: of(|round| round.reference_cpu_us_per_request),
        median_cpu_ratio: of(|round| round.cpu_ratio),
        median_client_cpu_us_per_request: of(|round| round.client_cpu_us_per_request),
        latency: Latency::of(&latency),
        reference_latency: Latency::of(&reference_latency),
        responses: rounds.iter().map(|round| round.responses).sum(),
        error_responses,
        transport_errors,
        statuses,
        rounds,
    })
}
