//! How `/server`'s cost grows with the number of stored sessions: for each
//! size, a store is filled before its server starts, and returning visitors
//! (cookies spread over the whole store) are measured against the reference.
//! Also what a stored session takes on disk, for SQLite.

use std::path::Path;

use crate::{
    app::Route,
    configurations::{Configuration, Store},
    load::{Cookies, Load},
    options::Settings,
    progress,
    results::{DiskPerSession, ScalingPoint},
    seeding::{self, Seeded},
    servers::ServerProcess,
    services::PrivateDatabase,
    throughput::{self, Scenario, Yardsticks},
};

/// Logins in flight at once when a store is filled through the app.
const SEEDING_PARALLELISM: u64 = 64;

#[derive(Debug, Default)]
pub struct Scaling {
    pub points: Vec<ScalingPoint>,
    pub disk: Vec<DiskPerSession>,
    pub problems: Vec<String>,
}

pub async fn measure(
    binary: &Path,
    configuration: &Configuration,
    workspace: &Path,
    database: Option<&PrivateDatabase>,
    settings: &Settings,
    bare: &ServerProcess,
) -> Scaling {
    let mut scaling = Scaling::default();
    let mut sizes = settings.session_counts.clone();
    sizes.sort_unstable();
    for sessions in sizes {
        let folder = workspace.join(format!("scale-{sessions}"));
        let measured = measure_size(
            binary,
            configuration,
            &folder,
            database,
            settings,
            sessions,
            bare,
        );
        match measured.await {
            Ok((point, disk)) => {
                scaling.points.push(point);
                scaling.disk.extend(disk);
            }
            Err(err) => scaling.problems.push(format!(
                "{} with {sessions} stored sessions: {err:#}",
                configuration.name
            )),
        }
        // The files of one size are not needed once it is measured.
        let _ = std::fs::remove_dir_all(&folder);
    }
    let smallest = scaling
        .points
        .first()
        .map(|point| point.measurement.median_ratio);
    for point in &mut scaling.points {
        point.ratio_to_smallest =
            smallest.map_or(f64::NAN, |ratio| point.measurement.median_ratio / ratio);
    }
    scaling
}

async fn measure_size(
    binary: &Path,
    configuration: &Configuration,
    folder: &Path,
    database: Option<&PrivateDatabase>,
    settings: &Settings,
    sessions: u64,
    bare: &ServerProcess,
) -> anyhow::Result<(ScalingPoint, Option<DiskPerSession>)> {
    std::fs::create_dir_all(folder)?;
    progress::measuring(&format!(
        "[{}] filling the store with {sessions} sessions",
        configuration.name
    ));
    let (seeded, disk) = match configuration.store {
        Store::Sqlite => {
            let path = folder.join("sessions.sqlite3");
            let seeded = seeding::sqlite(&path, sessions).await?;
            let bytes = seeding::sqlite_bytes(&path);
            let disk = DiskPerSession {
                configuration: configuration.name.to_owned(),
                sessions,
                bytes,
                bytes_per_session: bytes as f64 / sessions.max(1) as f64,
            };
            (seeded, Some(disk))
        }
        store => {
            if let Some(database) = database {
                database.reset()?;
            }
            let seeded: Seeded =
                seeding::through_the_app(&store.url(folder), sessions, SEEDING_PARALLELISM).await?;
            (seeded, None)
        }
    };
    let server = ServerProcess::start(
        binary,
        &configuration.server_args(folder, None),
        &folder.join("server.log"),
    )
    .await?;
    progress::measuring(&format!(
        "[{}] measuring with {sessions} stored sessions",
        configuration.name
    ));
    let scenario = Scenario {
        id: "get_session_returning",
        label: "get_session, returning visitor",
        load: Load::get(
            &configuration.path(Route::GetSession),
            Cookies::cycle(seeded.cookies),
        ),
    };
    let yardsticks = Yardsticks {
        reference: true,
        bare,
    };
    let measurement =
        throughput::interleaved(&server, configuration.name, &scenario, settings, yardsticks)
            .await?;
    Ok((
        ScalingPoint {
            configuration: configuration.name.to_owned(),
            sessions,
            seed_seconds: seeded.elapsed.as_secs_f64(),
            ratio_to_smallest: f64::NAN,
            measurement,
        },
        disk,
    ))
}
