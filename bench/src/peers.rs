//! The peers: what a team would run instead of this app, measured in the
//! same run against the same bare server. Stock tower-sessions (this
//! crate's `peer-tower-sessions` binary) on its memory store, rendering the
//! app's templates or concatenating the page's bytes, and on the
//! published SQLite store, and the reference document's own framework,
//! Django (bench/django), on database sessions and on signed cookies,
//! served by gunicorn with one worker per core. A peer that cannot run here
//! (Python, Django or gunicorn missing) is skipped with the reason.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::{
    configurations::{DJANGO_PROJECT, PEER_COOKIE, PEER_GET_SESSION, PEER_SET_SESSION, Peer},
    load::{self, Cookies, Limits, Load},
    options::Settings,
    results::ScenarioResult,
    servers::{Binaries, ServerCommand, ServerProcess},
    throughput::{self, Scenario, Yardsticks},
};

/// Starts `peer` with its files in `workspace`, logs in the returning
/// visitors and measures them against the bare server. An error means the
/// peer could not be started: it is skipped.
pub async fn measure(
    peer: Peer,
    binaries: &Binaries,
    workspace: &Path,
    settings: &Settings,
    bare: &ServerProcess,
) -> anyhow::Result<ScenarioResult> {
    let (server, returning) = start(peer, binaries, workspace, settings).await?;
    let scenario = Scenario {
        id: "get_session_returning",
        label: "get_session, returning visitor",
        load: returning,
    };
    let yardsticks = Yardsticks {
        reference: false,
        bare,
    };
    throughput::interleaved(&server, peer.name(), &scenario, settings, yardsticks).await
}

/// Starts `peer` with its files in `workspace` and logs in the returning
/// visitors through its own `set_session`: the server, and its returning
/// visitors' load, on the peer's own paths and cookie.
pub async fn start(
    peer: Peer,
    binaries: &Binaries,
    workspace: &Path,
    settings: &Settings,
) -> anyhow::Result<(ServerProcess, Load)> {
    let command = command(peer, binaries, workspace, settings)?;
    let server =
        ServerProcess::start_command(&command, &workspace.join(format!("{}.log", peer.name())))
            .await?;
    let logins = Load {
        collect_cookie: Some(PEER_COOKIE),
        ..Load::get(PEER_SET_SESSION, Cookies::None)
    };
    let outcome = load::run(
        server.address,
        &logins,
        settings.connections,
        Limits::count(settings.returning_visitors as u64),
    )
    .await;
    if outcome.collected.len() < settings.returning_visitors {
        bail!(
            "logins gave {} cookies, fewer than {} ({} error responses, {} transport errors)",
            outcome.collected.len(),
            settings.returning_visitors,
            outcome.error_responses,
            outcome.transport_errors
        );
    }
    let returning = Load::get(PEER_GET_SESSION, Cookies::cycle(outcome.collected));
    Ok((server, returning))
}

/// The peer's command line as run.md shows it, temporary paths as `$WORKSPACE`.
pub fn server_args(peer: Peer) -> Vec<String> {
    let args: &[&str] = match peer {
        Peer::TowerSessionsMemory => &["peer-tower-sessions", "--store", "memory"],
        Peer::TowerSessionsMemoryBytes => &[
            "peer-tower-sessions",
            "--store",
            "memory",
            "--page",
            "bytes",
        ],
        Peer::TowerSessionsSqlite => &[
            "peer-tower-sessions",
            "--store",
            "sqlite://$WORKSPACE/tower-sessions.sqlite3",
        ],
        Peer::DjangoDatabase => &[
            "DJANGO_SETTINGS_MODULE=svj_peer.settings",
            "python3 -m gunicorn --workers CORES --worker-class gthread --threads 1 svj_peer.wsgi:application",
        ],
        Peer::DjangoSignedCookies => &[
            "DJANGO_SETTINGS_MODULE=svj_peer.settings_signed",
            "python3 -m gunicorn --workers CORES --worker-class gthread --threads 1 svj_peer.wsgi:application",
        ],
    };
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

fn command(
    peer: Peer,
    binaries: &Binaries,
    workspace: &Path,
    settings: &Settings,
) -> anyhow::Result<ServerCommand> {
    let store = |path: &str| vec!["--store".to_owned(), path.to_owned()];
    Ok(match peer {
        Peer::TowerSessionsMemory => {
            ServerCommand::new(&binaries.peer_tower_sessions, store("memory"))
        }
        Peer::TowerSessionsMemoryBytes => ServerCommand::new(
            &binaries.peer_tower_sessions,
            [
                store("memory"),
                vec!["--page".to_owned(), "bytes".to_owned()],
            ]
            .concat(),
        ),
        Peer::TowerSessionsSqlite => ServerCommand::new(
            &binaries.peer_tower_sessions,
            store(&format!(
                "sqlite://{}",
                workspace.join("tower-sessions.sqlite3").display()
            )),
        ),
        Peer::DjangoDatabase | Peer::DjangoSignedCookies => django(peer, workspace, settings)?,
    })
}

/// gunicorn serving bench/django, after `migrate` for database sessions.
fn django(peer: Peer, workspace: &Path, settings: &Settings) -> anyhow::Result<ServerCommand> {
    let python = &settings.python;
    let imports = Command::new(python)
        .args(["-c", "import django, gunicorn"])
        .output()
        .with_context(|| {
            format!(
                "cannot run {}: install Python 3, then `pip install django gunicorn`",
                python.display()
            )
        })?;
    if !imports.status.success() {
        bail!(
            "{} cannot import django and gunicorn: `pip install django gunicorn` ({})",
            python.display(),
            String::from_utf8_lossy(&imports.stderr)
                .lines()
                .last()
                .unwrap_or("no error output")
        );
    }
    let settings_module = match peer {
        Peer::DjangoSignedCookies => "svj_peer.settings_signed",
        _ => "svj_peer.settings",
    };
    let database = workspace.join("django.sqlite3").display().to_string();
    let project = PathBuf::from(DJANGO_PROJECT);
    let environment = [
        ("DJANGO_SETTINGS_MODULE", settings_module),
        ("SVJ_DJANGO_DB", database.as_str()),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ];
    if peer == Peer::DjangoDatabase {
        let migrated = Command::new(python)
            .args(["-m", "django", "migrate", "-v", "0"])
            .current_dir(&project)
            .envs(environment)
            .output()
            .context("cannot run Django's migrate")?;
        if !migrated.status.success() {
            bail!(
                "Django's migrate failed: {}",
                String::from_utf8_lossy(&migrated.stderr).trim()
            );
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut command = ServerCommand::new(
        python,
        [
            "-m",
            "gunicorn",
            "--workers",
            &workers.to_string(),
            // Threaded workers keep connections alive, as the load
            // generator's are; one thread each, like a sync worker.
            "--worker-class",
            "gthread",
            "--threads",
            "1",
            "svj_peer.wsgi:application",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for (name, value) in environment {
        command = command.env(name, value);
    }
    command.current_dir = Some(project);
    command.with_children = true;
    Ok(command)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::options::Options;

    #[test]
    fn run_md_shows_the_command_each_tower_sessions_peer_is_started_with() {
        let settings = Settings::from_options(&Options::try_parse_from(["bench"]).unwrap());
        let binaries = Binaries {
            server: PathBuf::from("sessions-vs-jwt"),
            bare: PathBuf::from("bare"),
            peer_tower_sessions: PathBuf::from("peer-tower-sessions"),
        };
        let workspace = Path::new("$WORKSPACE");
        for peer in [
            Peer::TowerSessionsMemory,
            Peer::TowerSessionsMemoryBytes,
            Peer::TowerSessionsSqlite,
        ] {
            let command = command(peer, &binaries, workspace, &settings).unwrap();
            let shown = server_args(peer);
            assert_eq!(shown[0], command.program.display().to_string(), "{peer:?}");
            assert_eq!(shown[1..], command.args, "{peer:?}");
        }
    }
}
