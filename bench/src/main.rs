//! The benchmark harness: measures every mechanism against the stateless
//! reference page and writes results.json, Markdown tables and SVG charts.
//! See docs/benchmark.md and docs/performance.md.
//!
//! Reading order: `options` (what a run does), `run` (the order of
//! measurements), then `throughput` and `measurements` (how each figure is
//! taken), `load` (the load generator), `servers` (the processes under
//! test), and `tables`, `charts`, `glance` and `prose` (what is written,
//! the facts of each mechanism in `facts`), `splice` (into the docs),
//! `publishing` (whether it may go into the docs), `docs_check` (that the
//! docs quote no figure the run does not hold).

mod app;
mod applicable;
mod charts;
mod comparisons;
mod configurations;
mod docs_check;
mod facts;
mod glance;
mod load;
mod machine;
mod measurements;
mod options;
mod paired;
mod peers;
mod profile;
mod progress;
mod prose;
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
mod verdicts;
mod wire;

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

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
    if let Some(source) = &options.render {
        return match render(source, &settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(err),
        };
    }
    if options.check_docs {
        return match check_docs(&settings.out.join("results.json")) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(err),
        };
    }
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
    if !settings.splice.is_empty()
        && let Some(why) =
            publishing::refusal_before(settings.is_shortened(), machine::tree_is_dirty())
    {
        anyhow::bail!("--splice refused: {why}");
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
    if options.profile {
        return profile::profile(&binaries, &settings.out).await;
    }
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
    let refusals = if settings.splice.is_empty() {
        Vec::new()
    } else {
        refusals_after(&results)
    };
    if refusals.is_empty() {
        save_results(&results, &settings.out)?;
        write(&results, &settings.out, &settings.splice)?;
        report(&results, &settings.out);
        return Ok(());
    }
    let elsewhere = publishing::refused_folder(&binaries.server);
    save_results(&results, &elsewhere)?;
    write(&results, &elsewhere, &[])?;
    report(&results, &elsewhere);
    anyhow::bail!(
        "--splice refused, nothing written into the docs (the results are in {}):\n  {}",
        elsewhere.display(),
        refusals.join("\n  ")
    )
}

/// Why a measured run may not go into the docs: a busy machine, a failed check.
fn refusals_after(results: &Results) -> Vec<String> {
    let busy = results.machine.busy_at_start.then(|| {
        format!(
            "load average {} on {} cores",
            results.machine.load_average, results.machine.cores
        )
    });
    publishing::refusals_after(busy, &results.checks)
}

/// Reads a results.json.
fn read_results(source: &Path) -> anyhow::Result<Results> {
    let text =
        fs::read_to_string(source).with_context(|| format!("cannot read {}", source.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a results.json", source.display()))
}

/// `--render`: the tables, charts and generated text of an existing
/// results.json, without measuring. The results file itself is copied, not
/// written again, so that a re-render never changes a published figure.
fn render(source: &Path, settings: &Settings) -> anyhow::Result<()> {
    let results = read_results(source)?;
    if !settings.splice.is_empty() {
        let mut inputs: Vec<&Path> = vec![source, Path::new("bench")];
        inputs.extend(settings.splice.iter().map(PathBuf::as_path));
        if let Some(why) = publishing::refusal_to_render(machine::paths_are_dirty(&inputs)) {
            anyhow::bail!("--splice refused: {why}");
        }
        let refusals = refusals_after(&results);
        if !refusals.is_empty() {
            anyhow::bail!(
                "--splice refused, nothing written:\n  {}",
                refusals.join("\n  ")
            );
        }
    }
    fs::create_dir_all(&settings.out)
        .with_context(|| format!("cannot create {}", settings.out.display()))?;
    let target = settings.out.join("results.json");
    let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(source, &target) {
        fs::copy(source, &target)
            .with_context(|| format!("cannot copy {} to {}", source.display(), target.display()))?;
    }
    write(&results, &settings.out, &settings.splice)?;
    eprintln!(
        "rendered {} into {}",
        source.display(),
        settings.out.display()
    );
    Ok(())
}

/// `--check-docs`: every figure README.md and docs/ quote outside a
/// generated block must be one the results hold.
fn check_docs(results: &Path) -> anyhow::Result<()> {
    let results_json: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(results)
            .with_context(|| format!("cannot read {}", results.display()))?,
    )
    .with_context(|| format!("{} is not JSON", results.display()))?;
    let strays = docs_check::check_pages(Path::new("."), &results_json)?;
    if strays.is_empty() {
        eprintln!(
            "every figure in the docs is generated or in {}",
            results.display()
        );
        return Ok(());
    }
    anyhow::bail!(
        "{} figure(s) typed in the docs that {} does not hold:\n  {}",
        strays.len(),
        results.display(),
        strays
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
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

/// Writes results.json into `out`.
fn save_results(results: &Results, out: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("results.json");
    fs::write(&path, serde_json::to_string_pretty(results)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the tables and charts into `out`, and splices the tables and
/// generated text into each page of `splice`.
fn write(results: &Results, out: &Path, splice: &[PathBuf]) -> anyhow::Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let save = |name: String, contents: &str| {
        let path = out.join(name);
        fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))
    };
    let footer = tables::footer(results);
    let mut tables = tables::all(results);
    let breakdown = profile::published(out);
    tables.extend(prose::all(results, breakdown.as_ref()));
    for table in tables.iter().filter(|table| table.is_file()) {
        save(format!("{}.md", table.name), &table.file(&footer))?;
    }
    for chart in charts::all(results)? {
        save(format!("{}.svg", chart.name), &chart.svg)?;
    }
    // Every page is spliced in memory first, so that a page that cannot
    // be spliced leaves all of them as they were.
    let mut pages = Vec::new();
    for page in splice {
        let text =
            fs::read_to_string(page).with_context(|| format!("cannot read {}", page.display()))?;
        let prefix = link_prefix(page, out);
        let spliced: Vec<(&str, String)> = tables
            .iter()
            .map(|table| (table.name, table.spliced(&footer, &prefix)))
            .collect();
        let (text, replaced) = splice::splice(&text, &spliced)
            .with_context(|| format!("cannot splice tables into {}", page.display()))?;
        pages.push((page, text, replaced));
    }
    for (page, text, replaced) in pages {
        fs::write(page, text).with_context(|| format!("cannot write {}", page.display()))?;
        eprintln!(
            "spliced {} block(s) into {}: {}",
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
    let cost = &results.fixed_cost;
    for (what, difference) in [
        ("the access log", &cost.access_log),
        ("counting", &cost.metrics),
    ] {
        if let Some(difference) = difference {
            eprintln!("  {what:<65} {}", verdicts::figure(difference));
        }
    }
    for compared in &results.paired_with_peers {
        eprintln!(
            "  {:<65} {}: {}",
            format!("{} against {}", compared.configuration, compared.peer),
            verdicts::figure(&compared.difference),
            verdicts::against_peer(&compared.difference)
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
