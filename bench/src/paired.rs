//! Differences of server CPU per request between servers that run at the
//! same time: round after round, each server compared with the base one is
//! measured right after or right before it, on its own returning visitors'
//! load, the order alternating, and each round gives one difference per
//! pair. Taken from the throughput rounds, minutes apart and each against
//! its own yardsticks, such a difference of two ~20 µs figures is lost in a
//! noise of about ±2 µs; paired this way, a machine that drifts moves both
//! sides of a round alike.

use anyhow::{Context as _, anyhow, bail};

use crate::{
    load::{self, Limits, Load},
    options::Settings,
    progress,
    results::{PairedDifference, median},
    servers::ServerProcess,
    throughput,
};

/// Paired rounds for each round of the throughput measurements: a paired
/// round measures one scenario, not three.
pub const ROUNDS_PER_ROUND: usize = 4;

/// Arms of a throughput round (scenario, reference, bare): the unit the
/// progress display counts in.
const ARMS_PER_PROGRESS_ROUND: u64 = 3;

/// A started server and the load it is measured with, with that server's
/// own path and cookies.
pub struct Contender {
    pub name: String,
    pub server: ServerProcess,
    pub load: Load,
}

/// Paired rounds of a run.
pub fn rounds(settings: &Settings) -> usize {
    settings.rounds * ROUNDS_PER_ROUND
}

/// What measuring `base` against `others` counts for the progress display.
pub fn planned_progress(settings: &Settings, others: usize) -> u64 {
    measured_arms(rounds(settings), others) / ARMS_PER_PROGRESS_ROUND
}

fn measured_arms(rounds: usize, others: usize) -> u64 {
    (rounds * others * 2) as u64
}

/// For each of `others`, in its order, the CPU per request on `base` minus
/// the same on it, in paired rounds. A contender whose load fails leaves
/// the rounds with its error and the others go on; the base failing fails
/// them all.
pub async fn differences(
    base: &Contender,
    others: &[Contender],
    settings: &Settings,
) -> Vec<anyhow::Result<PairedDifference>> {
    let warmup = Limits::time(settings.warmup);
    for contender in std::iter::once(base).chain(others) {
        load::run(
            contender.server.address,
            &contender.load,
            settings.connections,
            warmup,
        )
        .await;
    }
    let rounds = rounds(settings);
    let limits = Limits::time(settings.round);
    let mut measured: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); others.len()];
    let mut failures: Vec<Option<anyhow::Error>> = others.iter().map(|_| None).collect();
    let (mut arms, mut reported) = (0, 0);
    for round in 0..rounds {
        for offset in 0..others.len() {
            // Each round starts one contender later, so that none always
            // follows the same one.
            let index = (round + offset) % others.len();
            if failures[index].is_some() {
                continue;
            }
            let pair = [(BASE, base), (OTHER, &others[index])];
            let order = if round % 2 == 0 {
                pair
            } else {
                [pair[1], pair[0]]
            };
            let mut cpu = [f64::NAN; 2];
            for (side, contender) in order {
                let result = cpu_per_request(contender, settings, limits)
                    .await
                    .with_context(|| format!("round {round}, {}", contender.name));
                arms += 1;
                match result {
                    Ok(value) => cpu[side] = value,
                    Err(err) if side == BASE => {
                        let reason = format!("{err:#}");
                        return others.iter().map(|_| Err(anyhow!("{reason}"))).collect();
                    }
                    Err(err) => {
                        failures[index] = Some(err);
                        break;
                    }
                }
            }
            if failures[index].is_none() {
                measured[index].push(cpu[BASE] - cpu[OTHER]);
            }
        }
        let due = arms / ARMS_PER_PROGRESS_ROUND;
        progress::advance(due - reported);
        reported = due;
    }
    measured
        .iter()
        .zip(failures)
        .map(|(differences, failure)| match failure {
            Some(err) => Err(err),
            None => summary(differences).context("no round was measured"),
        })
        .collect()
}

/// Where a round's two measurements go.
const BASE: usize = 0;
const OTHER: usize = 1;

/// A returning visitor's server CPU per request on `contender` over one
/// round; a round with an error response or a failed request measures
/// something else, and fails.
async fn cpu_per_request(
    contender: &Contender,
    settings: &Settings,
    limits: Limits,
) -> anyhow::Result<f64> {
    let measured =
        throughput::measure(&contender.server, &contender.load, settings, limits).await?;
    let outcome = &measured.outcome;
    if outcome.error_responses + outcome.transport_errors > 0 {
        bail!(
            "{} error responses, {} transport errors",
            outcome.error_responses,
            outcome.transport_errors
        );
    }
    Ok(measured.cpu_us_per_request)
}

/// The median of the rounds' differences, and the quartiles that say how
/// far they strayed.
fn summary(differences: &[f64]) -> Option<PairedDifference> {
    let mut sorted: Vec<f64> = differences
        .iter()
        .copied()
        .filter(|difference| difference.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    Some(PairedDifference {
        median_us: median(&sorted),
        first_quartile_us: sorted[last / 4],
        third_quartile_us: sorted[last * 3 / 4],
        rounds: sorted.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_the_median_and_the_quartiles_of_the_rounds() {
        let rounds: Vec<f64> = (1..=9).map(f64::from).rev().collect();
        let summary = summary(&rounds).unwrap();
        assert_eq!(summary.median_us, 5.0);
        assert_eq!(summary.first_quartile_us, 3.0);
        assert_eq!(summary.third_quartile_us, 7.0);
        assert_eq!(summary.rounds, 9);
    }

    #[test]
    fn rounds_that_measured_nothing_are_left_out_and_none_at_all_is_no_figure() {
        let summary = summary(&[f64::NAN, 2.0, 4.0]).unwrap();
        assert_eq!(summary.rounds, 2);
        assert_eq!(summary.median_us, 3.0);
        assert!(super::summary(&[f64::NAN]).is_none());
        assert!(super::summary(&[]).is_none());
    }
}
