//! Requests per second and latency of one scenario, interleaved with the
//! stateless reference page on the same server and with the bare server
//! (the same page's bytes from memory): round after round, each runs for
//! the same time, in an order that rotates, and each round gives one ratio
//! to each. The median of those ratios is the
//! figure; a machine that gets busier or quieter during the run moves both
//! sides of a round alike.

use std::collections::BTreeMap;

use crate::{
    app::REFERENCE_GET_SESSION,
    load::{self, Cookies, Limits, Load, Outcome},
    options::Settings,
    progress,
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
pub struct Measured {
    pub outcome: Outcome,
    pub cpu_us_per_request: f64,
    pub client_cpu_us_per_request: f64,
}

pub async fn measure(
    server: &ServerProcess,
    load: &Load,
    settings: &Settings,
    limits: Limits,
) -> anyhow::Result<Measured> {
    let cpu_before = server.cpu_time()?;
    let client_before = servers::own_cpu_time()?;
    let outcome = load::run(server.address, load, settings.connections, limits).await;
    let client = servers::own_cpu_time()?.saturating_sub(client_before);
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

/// The servers every round is measured on besides the scenario's.
#[derive(Debug, Clone, Copy)]
pub struct Yardsticks<'a> {
    /// Whether the scenario's server is the app, with its reference page:
    /// a peer has none.
    pub reference: bool,
    /// The bare server: the reference page's bytes from memory.
    pub bare: &'a ServerProcess,
}

/// The arms of one round, in the order of the first round; each round
/// starts one arm later, so that every arm runs first as often as the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    Scenario,
    Reference,
    Bare,
}

/// Measures `scenario` on `server` against the reference page on the same
/// server and the bare server, in `settings.rounds` rounds.
///
/// A scenario whose cookies are each used once (visitors seen for the first
/// time) gets an equal share of them per round and is not warmed up, since
/// a warm-up would spend the very first sights it is there to measure.
pub async fn interleaved(
    server: &ServerProcess,
    configuration: &str,
    scenario: &Scenario,
    settings: &Settings,
    yardsticks: Yardsticks<'_>,
) -> anyhow::Result<ScenarioResult> {
    let reference = reference_load();
    let bare = yardsticks.bare;
    let warmup = Limits::time(settings.warmup);
    if yardsticks.reference {
        load::run(server.address, &reference, settings.connections, warmup).await;
    }
    load::run(bare.address, &reference, settings.connections, warmup).await;
    let single_use = match &scenario.load.cookies {
        Cookies::Once(values) => Some(values.clone()),
        Cookies::None | Cookies::Cycle(_) => {
            load::run(server.address, &scenario.load, settings.connections, warmup).await;
            None
        }
    };
    let arms: Vec<Arm> = if yardsticks.reference {
        vec![Arm::Scenario, Arm::Reference, Arm::Bare]
    } else {
        vec![Arm::Scenario, Arm::Bare]
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
        let (mut measured, mut referenced, mut barely) = (None, None, None);
        for offset in 0..arms.len() {
            match arms[(round + offset) % arms.len()] {
                Arm::Scenario => measured = Some(measure(server, &load, settings, limits).await?),
                Arm::Reference => {
                    referenced = Some(measure(server, &reference, settings, limits).await?);
                }
                Arm::Bare => barely = Some(measure(bare, &reference, settings, limits).await?),
            }
        }
        let (Some(measured), Some(bare_measured)) = (measured, barely) else {
            anyhow::bail!("a round left out the scenario or the bare server");
        };
        for outcome in [Some(&measured), referenced.as_ref(), Some(&bare_measured)]
            .into_iter()
            .flatten()
            .map(|measured| &measured.outcome)
        {
            error_responses += outcome.error_responses;
            transport_errors += outcome.transport_errors;
        }
        for (status, count) in &measured.outcome.statuses {
            *statuses.entry(status.to_string()).or_default() += count;
        }
        let _ = latency.add(&measured.outcome.latency);
        if let Some(reference) = &referenced {
            let _ = reference_latency.add(&reference.outcome.latency);
        }
        let rps = measured.outcome.requests_per_second();
        let (reference_rps, reference_cpu, reference_responses) =
            referenced
                .as_ref()
                .map_or((f64::NAN, f64::NAN, 0), |reference| {
                    (
                        reference.outcome.requests_per_second(),
                        reference.cpu_us_per_request,
                        reference.outcome.responses,
                    )
                });
        let bare_rps = bare_measured.outcome.requests_per_second();
        rounds.push(Round {
            rps,
            reference_rps,
            ratio: rps / reference_rps,
            cpu_us_per_request: measured.cpu_us_per_request,
            reference_cpu_us_per_request: reference_cpu,
            cpu_ratio: reference_cpu / measured.cpu_us_per_request,
            client_cpu_us_per_request: measured.client_cpu_us_per_request,
            bare_rps,
            bare_ratio: rps / bare_rps,
            bare_cpu_us_per_request: bare_measured.cpu_us_per_request,
            bare_cpu_ratio: bare_measured.cpu_us_per_request / measured.cpu_us_per_request,
            responses: measured.outcome.responses,
            reference_responses,
            bare_responses: bare_measured.outcome.responses,
            seconds: measured.outcome.elapsed.as_secs_f64(),
            configuration_first: round % arms.len() == 0,
        });
        progress::advance(1);
    }
    let of = |field: fn(&Round) -> f64| median(&rounds.iter().map(field).collect::<Vec<_>>());
    let ratios: Vec<f64> = rounds.iter().map(|round| round.ratio).collect();
    let finite = |value: f64| if value.is_finite() { value } else { f64::NAN };
    Ok(ScenarioResult {
        configuration: configuration.to_owned(),
        scenario: scenario.id.to_owned(),
        label: scenario.label.to_owned(),
        path: scenario.load.path.clone(),
        visitors: match &scenario.load.cookies {
            Cookies::None => 0,
            Cookies::Cycle(values) | Cookies::Once(values) => values.len(),
        },
        median_rps: of(|round| round.rps),
        median_reference_rps: of(|round| round.reference_rps),
        median_ratio: median(&ratios),
        min_ratio: finite(ratios.iter().copied().fold(f64::INFINITY, f64::min)),
        max_ratio: finite(ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        median_cpu_us_per_request: of(|round| round.cpu_us_per_request),
        median_reference_cpu_us_per_request: of(|round| round.reference_cpu_us_per_request),
        median_cpu_ratio: of(|round| round.cpu_ratio),
        median_client_cpu_us_per_request: of(|round| round.client_cpu_us_per_request),
        median_bare_rps: of(|round| round.bare_rps),
        median_bare_ratio: of(|round| round.bare_ratio),
        median_bare_cpu_us_per_request: of(|round| round.bare_cpu_us_per_request),
        median_bare_cpu_ratio: of(|round| round.bare_cpu_ratio),
        median_fixed_cost_us: of(|round| {
            round.reference_cpu_us_per_request - round.bare_cpu_us_per_request
        }),
        latency: Latency::of(&latency),
        reference_latency: Latency::of(&reference_latency),
        responses: rounds.iter().map(|round| round.responses).sum(),
        error_responses,
        transport_errors,
        statuses,
        rounds,
    })
}
