//! The benchmark harness: measures every mechanism against the stateless
//! reference page and writes results.json, Markdown tables and SVG charts.
//! See docs/benchmark.md and docs/performance.md.
//!
//! Reading order: `options` (what a run does), `run` (the order of
//! measurements), then `throughput` and `measurements` (how each figure is
//! taken), `load` (the load generator), `servers` (the processes under
//! test), and `tables`, `charts`, `splice` (what is written), `publishing`
//! (whether it may go into the docs).

mod app;
mod charts;
mod configurations;
mod load;
mod machine;
mod measurements;
mod options;
mod peers;
mod progress;
mod publishing;
mod results;
mod run;
mod scaling;
mod seeding;
mod servers;
mod services;
mod splice;
mod tables;
mod throughput;
mod twins;
mod wire;

use std::{fs, path::Path, process::ExitCode};

use anyhow::Context as _;
use clap::Parser as _;

use crate::{
    machine::Machine,
    options::{Options, Settings},
    results::Results,
};

/// How long a run waits for the load of the build before it to fade.
const SETTLE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(240);

fn main() -> ExitCode {
    let options = Options::parse();
    let settings = Settings::from_options(&options);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(anyhow::Error::new(err).context("cannot start the async runtime")),
    };
    match runtime.block_on(bench(&options, &settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(err),
    }
}

fn fail(err: anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}

async fn bench(options: &Options, settings: &Settings) -> anyhow::Result<()> {
    if let Some(page) = &settings.splice
        && let Some(why) =
            publishing::refusal_before(settings.is_shortened(), machine::tree_is_dirty())
    {
        anyhow::bail!("--splice {} refused: {why}", page.display());
    }
    let mut names: Vec<&str> = configurations::all().iter().map(|c| c.name).collect();
    names.extend(configurations::Peer::ALL.map(configurations::Peer::name));
    for pattern in &settings.only {
        if !names
            .iter()
            .any(|name| Settings::selects_with(pattern, name))
        {
            anyhow::bail!(
                "--only {pattern} matches no configuration; they are: {}",
                names.join(", ")
            );
        }
    }
    let binaries = servers::binaries(options.server_binary.as_deref())?;
    let profile = servers::build_profile(&binaries.server);
    machine::wait_until_quiet(SETTLE_PATIENCE).await;
    let machine = Machine::describe(&binaries.server, &profile);
    let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    eprintln!("measuring {} ({profile} build)", binaries.server.display());
    if machine.busy_at_start {
        eprintln!(
            "warning: the machine is busy (load average {} on {} cores): its numbers are not for publishing",
            machine.load_average, machine.cores
        );
    }
    let results = tokio::select! {
        results = run::run(settings, &binaries, machine, date, command(&profile)) => results?,
        signal = stop_signal() => {
            // Dropping the run has killed its servers and cleaned its stores.
            anyhow::bail!("stopped by {}; nothing written", signal?);
        }
    };
    let refusals = match &settings.splice {
        Some(_) => {
            let busy = results.machine.busy_at_start.then(|| {
                format!(
                    "load average {} on {} cores",
                    results.machine.load_average, results.machine.cores
                )
            });
            publishing::refusals_after(busy, &results.checks)
        }
        None => Vec::new(),
    };
    if refusals.is_empty() {
        write(&results, &settings.out, settings.splice.as_deref())?;
        report(&results, &settings.out);
        return Ok(());
    }
    let elsewhere = publishing::refused_folder(&binaries.server);
    write(&results, &elsewhere, None)?;
    report(&results, &elsewhere);
    anyhow::bail!(
        "--splice refused, nothing written into the docs (the results are in {}):\n  {}",
        elsewhere.display(),
        refusals.join("\n  ")
    )
}

/// Ctrl-C or SIGTERM, so that no server outlives the harness.
async fn stop_signal() -> anyhow::Result<&'static str> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.map(|()| "Ctrl-C").map_err(Into::into),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

/// The command line as the user would type it again.
fn command(profile: &str) -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|arg| {
            if arg.contains(char::is_whitespace) || arg.is_empty() {
                format!("'{arg}'")
            } else {
                arg
            }
        })
        .collect();
    let program = if std::env::var_os("CARGO").is_some() {
        match profile {
            "release" => "cargo run --release -p bench --".to_owned(),
            "debug" => "cargo run -p bench --".to_owned(),
            other => format!("cargo run --profile {other} -p bench --"),
        }
    } else {
        "bench".to_owned()
    };
    if args.is_empty() {
        program.trim_end_matches(" --").to_owned()
    } else {
        format!("{program} {}", args.join(" "))
    }
}

/// Writes the results into `out`, and splices the tables into `splice`.
fn write(results: &Results, out: &Path, splice: Option<&Path>) -> anyhow::Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let save = |name: String, contents: &str| {
        let path = out.join(name);
        fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))
    };
    save(
        "results.json".to_owned(),
        &(serde_json::to_string_pretty(results)? + "\n"),
    )?;
    let footer = tables::footer(results);
    let tables = tables::all(results);
    for table in &tables {
        save(format!("{}.md", table.name), &table.file(&footer))?;
    }
    for chart in charts::all(results)? {
        save(format!("{}.svg", chart.name), &chart.svg)?;
    }
    if let Some(page) = splice {
        let text =
            fs::read_to_string(page).with_context(|| format!("cannot read {}", page.display()))?;
        let spliced: Vec<(&str, String)> = tables
            .iter()
            .map(|table| (table.name, table.spliced(&footer, &link_prefix(page, out))))
            .collect();
        let (text, replaced) = splice::splice(&text, &spliced)
            .with_context(|| format!("cannot splice tables into {}", page.display()))?;
        fs::write(page, text).with_context(|| format!("cannot write {}", page.display()))?;
        eprintln!(
            "spliced {} table(s) into {}: {}",
            replaced.len(),
            page.display(),
            replaced.join(", ")
        );
    }
    Ok(())
}

/// How a link from `page` reaches a file in `out`: `results/` from
/// `docs/comparison.md` to `docs/results`, `../results/` from a page in
/// a folder beside `docs/results`.
fn link_prefix(page: &Path, out: &Path) -> String {
    let absolute = |path: &Path| fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let from = absolute(page.parent().unwrap_or(Path::new(".")));
    let to = absolute(out);
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut prefix = "../".repeat(ups);
    for part in to.components().skip(common) {
        prefix.push_str(&part.as_os_str().to_string_lossy());
        prefix.push('/');
    }
    prefix
}

/// A few lines on stderr: where the results are, and what went wrong.
fn report(results: &Results, out: &Path) {
    eprintln!(
        "\nwrote {} in {:.0} s",
        out.display(),
        results.settings.total_seconds
    );
    for result in &results.throughput {
        eprintln!(
            "  {:<24} {:<40} ratio {:>5.2}  ({:.0} req/s; reference {:.0})",
            result.configuration,
            result.label,
            result.median_ratio,
            result.median_rps,
            result.median_reference_rps
        );
    }
    for result in &results.peers {
        eprintln!(
            "  {:<24} {:<40} bare ratio {:>5.2}  ({:.0} req/s; bare {:.0})",
            result.configuration,
            result.label,
            result.median_bare_ratio,
            result.median_rps,
            result.median_bare_rps
        );
    }
    for record in &results.configurations {
        if let Some(reason) = &record.reason {
            eprintln!("  skipped {}: {reason}", record.name);
        }
    }
    for problem in &results.checks.problems {
        eprintln!("  problem: {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_from_a_spliced_page_reach_the_results_folder() {
        let docs = tempfile::tempdir().unwrap();
        let results = docs.path().join("results");
        fs::create_dir_all(&results).unwrap();
        let page = docs.path().join("comparison.md");
        assert_eq!(link_prefix(&page, &results), "results/");
        let beside = docs.path().join("other").join("page.md");
        fs::create_dir_all(beside.parent().unwrap()).unwrap();
        assert_eq!(link_prefix(&beside, &results), "../results/");
        assert_eq!(link_prefix(&results.join("page.md"), &results), "");
    }
}
