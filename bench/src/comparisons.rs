//! The verdicts that compare two servers, each measured in paired rounds
//! against `server-memory` as users run it (the default log level, the
//! access log written to a file): what counting costs (its twin that counts
//! nothing), what the access log costs (its twin with logging off), and
//! where the app stands against stock tower-sessions serving the same page,
//! rendered from the same templates or concatenated from its bytes. The
//! servers all run at once and are measured in one loop, so that the app
//! is started and its visitors logged in once, and every pair sees the same
//! stretch of the run.

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::{
    app::Route,
    configurations::{self, Configuration, LOG_OFF, METRICS_OFF, METRICS_ON, Peer},
    load::{Cookies, Load},
    measurements,
    options::Settings,
    paired::{self, Contender},
    peers, progress,
    results::{PairedDifference, PeerComparison},
    servers::{Binaries, ServerProcess},
    wire,
};

/// The configuration every comparison measures, as users run it.
pub const BASE: &str = METRICS_ON;

/// What `server-memory` is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Against {
    /// A configuration of the app that differs from it by one switch.
    Twin(&'static str),
    /// A peer, on its own paths and cookie.
    Peer(Peer),
}

/// Every comparison, in the order they are reported.
const COMPARED: [Against; 4] = [
    Against::Twin(METRICS_OFF),
    Against::Twin(LOG_OFF),
    Against::Peer(Peer::TowerSessionsMemory),
    Against::Peer(Peer::TowerSessionsMemoryBytes),
];

impl Against {
    fn name(self) -> &'static str {
        match self {
            Against::Twin(name) => name,
            Against::Peer(peer) => peer.name(),
        }
    }

    /// What the difference is, for problems and the progress display.
    fn what(self) -> String {
        match self {
            Against::Twin(METRICS_OFF) => "what counting costs".to_owned(),
            Against::Twin(LOG_OFF) => "what the access log costs".to_owned(),
            other => format!("{BASE} against {}", other.name()),
        }
    }
}

/// What the paired measurements gave; `None` or absent where not selected
/// or not measured (the reason is then among the run's problems).
#[derive(Debug, Default)]
pub struct Compared {
    pub metrics: Option<PairedDifference>,
    pub access_log: Option<PairedDifference>,
    pub peers: Vec<PeerComparison>,
}

/// The comparisons a run makes: those whose either server it selects.
fn selected(settings: &Settings) -> Vec<Against> {
    COMPARED
        .into_iter()
        .filter(|against| settings.selects(BASE) || settings.selects(against.name()))
        .collect()
}

/// Progress rounds the comparisons of a run count for.
pub fn planned_rounds(settings: &Settings) -> u64 {
    paired::planned_progress(settings, selected(settings).len())
}

/// Starts every selected server, checks that each serves the base's page,
/// and measures them all against the base in one paired loop. What fails
/// is added to `problems`, and the rest goes on.
pub async fn measure(
    binaries: &Binaries,
    settings: &Settings,
    problems: &mut Vec<String>,
) -> Compared {
    let compared = selected(settings);
    if compared.is_empty() {
        return Compared::default();
    }
    let planned = planned_rounds(settings);
    let before = progress::done();
    let result = measure_selected(&compared, binaries, settings, problems).await;
    progress::unplan(planned.saturating_sub(progress::done() - before));
    match result {
        Ok(compared) => compared,
        Err(err) => {
            problems.push(format!("paired comparisons with {BASE}: {err:#}"));
            Compared::default()
        }
    }
}

async fn measure_selected(
    compared: &[Against],
    binaries: &Binaries,
    settings: &Settings,
    problems: &mut Vec<String>,
) -> anyhow::Result<Compared> {
    let workspace = tempfile::Builder::new()
        .prefix("svj-bench-paired-")
        .tempdir()?;
    let all = configurations::all();
    let (server, load) = start_configuration(
        configuration(&all, BASE)?,
        binaries,
        workspace.path(),
        settings,
    )
    .await
    .with_context(|| format!("cannot start {BASE}"))?;
    let base = Contender {
        name: BASE.to_owned(),
        server,
        load,
    };
    let page = page(&base).await?;
    let mut others = Vec::new();
    for &against in compared {
        let started = async {
            let contender = start(against, &all, binaries, workspace.path(), settings).await?;
            let other = self::page(&contender).await?;
            if other != page {
                bail!(
                    "its get_session page ({} bytes) is not {BASE}'s ({} bytes): they would not do the same work",
                    other.len(),
                    page.len()
                );
            }
            Ok(contender)
        }
        .await;
        match started {
            Ok(contender) => others.push((against, contender)),
            Err(err) => problems.push(format!("{}: {err:#}", against.what())),
        }
    }
    if others.is_empty() {
        return Ok(Compared::default());
    }
    let names: Vec<&str> = others.iter().map(|(against, _)| against.name()).collect();
    progress::measuring(&format!(
        "[paired] {BASE} against {}, in paired rounds",
        names.join(", ")
    ));
    let (against, contenders): (Vec<Against>, Vec<Contender>) = others.into_iter().unzip();
    let differences = paired::differences(&base, &contenders, settings).await;
    let mut measured = Compared::default();
    for (against, difference) in against.into_iter().zip(differences) {
        let difference = match difference {
            Ok(difference) => difference,
            Err(err) => {
                problems.push(format!("{}: {err:#}", against.what()));
                continue;
            }
        };
        progress::line(&format!(
            "[paired] {}: {}",
            against.what(),
            crate::verdicts::figure(&difference)
        ));
        match against {
            Against::Twin(METRICS_OFF) => measured.metrics = Some(difference),
            Against::Twin(LOG_OFF) => measured.access_log = Some(difference),
            Against::Twin(_) => {}
            Against::Peer(peer) => measured.peers.push(PeerComparison {
                configuration: BASE.to_owned(),
                peer: peer.name().to_owned(),
                description: peer.description().to_owned(),
                difference,
            }),
        }
    }
    Ok(measured)
}

/// Starts the server `against` names, with its returning visitors logged in.
async fn start(
    against: Against,
    all: &[Configuration],
    binaries: &Binaries,
    workspace: &Path,
    settings: &Settings,
) -> anyhow::Result<Contender> {
    let name = against.name().to_owned();
    let (server, load) = match against {
        Against::Twin(twin) => {
            start_configuration(configuration(all, twin)?, binaries, workspace, settings).await?
        }
        Against::Peer(peer) => {
            let dir = workspace.join(peer.name());
            std::fs::create_dir_all(&dir)?;
            peers::start(peer, binaries, &dir, settings).await?
        }
    };
    Ok(Contender { name, server, load })
}

fn configuration<'a>(all: &'a [Configuration], name: &str) -> anyhow::Result<&'a Configuration> {
    all.iter()
        .find(|configuration| configuration.name == name)
        .with_context(|| format!("no configuration {name}"))
}

async fn start_configuration(
    configuration: &Configuration,
    binaries: &Binaries,
    workspace: &Path,
    settings: &Settings,
) -> anyhow::Result<(ServerProcess, Load)> {
    let dir = workspace.join(configuration.name);
    std::fs::create_dir_all(&dir)?;
    let command = configuration.command(&binaries.server, &dir, None);
    let server = ServerProcess::start_command(&command, &dir.join("server.log")).await?;
    let visitors =
        measurements::log_in_returning_visitors(&server, configuration, settings).await?;
    let load = Load::get(
        &configuration.path(Route::GetSession),
        Cookies::cycle(visitors),
    );
    Ok((server, load))
}

/// The page a contender's load gets, for its first visitor.
async fn page(contender: &Contender) -> anyhow::Result<String> {
    let cookie = match &contender.load.cookies {
        Cookies::Cycle(cookies) | Cookies::Once(cookies) => cookies.first().cloned(),
        Cookies::None => None,
    };
    let request = wire::Request::get(&contender.load.path).with_cookie(cookie);
    let response = wire::exchange(contender.server.address, request)
        .await
        .with_context(|| format!("cannot get {}'s page", contender.name))?;
    if response.status != 200 {
        bail!(
            "{}'s {} answered {}",
            contender.name,
            contender.load.path,
            response.status
        );
    }
    Ok(response.body)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::options::Options;

    fn settings(args: &[&str]) -> Settings {
        Settings::from_options(&Options::try_parse_from(["bench"].iter().chain(args)).unwrap())
    }

    #[test]
    fn a_comparison_is_made_when_the_run_selects_either_of_its_servers() {
        assert_eq!(selected(&settings(&[])), COMPARED);
        assert_eq!(selected(&settings(&["--only", BASE])), COMPARED);
        assert_eq!(
            selected(&settings(&["--only", "peer-tower-sessions-memory-bytes"])),
            [Against::Peer(Peer::TowerSessionsMemoryBytes)]
        );
        assert_eq!(
            selected(&settings(&["--only", LOG_OFF])),
            [Against::Twin(LOG_OFF)]
        );
        assert!(selected(&settings(&["--only", "token-*,peer-django-db"])).is_empty());
        assert_eq!(planned_rounds(&settings(&["--only", "token-*"])), 0);
    }

    #[test]
    fn every_twin_compared_is_a_configuration_that_differs_only_in_a_switch() {
        let all = configurations::all();
        assert!(configuration(&all, BASE).is_ok());
        for against in COMPARED {
            if let Against::Twin(name) = against {
                let twin = configuration(&all, name).unwrap();
                assert!(twin.throughput_only(), "{name}");
                assert_eq!(twin.store, configurations::Store::Memory, "{name}");
            }
        }
    }
}
