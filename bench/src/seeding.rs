//! Stored sessions made before a server starts, for the measurement of cost
//! against the number of stored sessions: a million logins over HTTP would
//! take longer than the whole rest of the run.
//!
//! SQLite is filled by the app's own store in large transactions
//! (`SqliteRecords::insert_many`), and a sample is read back through the
//! store the server uses to prove it. Other stores are filled through the
//! app's own `SessionRecords::create`.

use std::{
    path::Path,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use crate::app::{
    SharedRecords, SqliteRecords, StoreUrl, Username, VisitorState, server_session, stores,
};

const ROWS_PER_TRANSACTION: u64 = 50_000;
/// Cookies kept for the returning visitors: spread over the whole store, so
/// that lookups land all over the index, not on a few hot pages.
const SAMPLE: u64 = 10_000;

#[derive(Debug)]
pub struct Seeded {
    /// `sessionid=...` header values of seeded sessions.
    pub cookies: Vec<String>,
    pub elapsed: Duration,
}

/// The state of a visitor logged in as the seed's `john_doe`.
fn logged_in() -> VisitorState {
    VisitorState::logged_in(Username::seed())
}

/// A logged-in `john_doe`, as `/server/set_session/` stores one.
fn record() -> Record {
    server_session::session_record(
        &logged_in(),
        OffsetDateTime::now_utc() + time::Duration::days(14),
    )
}

/// The `Cookie` header value that names the session `id`.
fn cookie(id: Id) -> String {
    format!("{}={id}", server_session::COOKIE_NAME)
}

fn keep(index: u64, count: u64) -> bool {
    index.is_multiple_of(count.div_ceil(SAMPLE).max(1))
}

/// Fills a new SQLite file at `path` with `count` sessions, then
/// checkpoints the WAL so that the file's size is the store's size.
pub async fn sqlite(path: &Path, count: u64) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let kind = StoreUrl::Sqlite(path.to_owned());
    let store = Arc::new(
        SqliteRecords::open(path)
            .await
            .context("the app could not create the SQLite store")?,
    );
    let mut cookies = Vec::new();
    let mut written = 0;
    while written < count {
        let batch_end = (written + ROWS_PER_TRANSACTION).min(count);
        let records: Vec<Record> = (written..batch_end)
            .map(|index| {
                let record = record();
                if keep(index, count) {
                    cookies.push(cookie(record.id));
                }
                record
            })
            .collect();
        let filling = Arc::clone(&store);
        tokio::task::spawn_blocking(move || filling.insert_many(&records)).await??;
        written = batch_end;
    }
    drop(store);
    let connection = rusqlite::Connection::open(path)?;
    connection.execute_batch("pragma wal_checkpoint(truncate)")?;
    drop(connection);
    check_readable(&kind, &cookies).await?;
    Ok(Seeded {
        cookies,
        elapsed: started.elapsed(),
    })
}

/// Fills the store at `url` through the app's own store code, with
/// `parallel` logins in flight at a time.
pub async fn through_the_app(url: &str, count: u64, parallel: u64) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let kind = StoreUrl::from_str(url)
        .map_err(|reason| anyhow::anyhow!("this build cannot open {url}: {reason}"))?;
    let records = stores::open(&kind).await?;
    let workers: Vec<_> = (0..parallel)
        .map(|worker| {
            let records: SharedRecords = Arc::clone(&records);
            tokio::spawn(async move {
                let mut cookies = Vec::new();
                let mut index = worker;
                while index < count {
                    let mut record = record();
                    records.create(&mut record).await?;
                    if keep(index, count) {
                        cookies.push(cookie(record.id));
                    }
                    index += parallel;
                }
                anyhow::Ok(cookies)
            })
        })
        .collect();
    let mut cookies = Vec::new();
    for worker in workers {
        cookies.extend(worker.await??);
    }
    check_readable(&kind, &cookies).await?;
    Ok(Seeded {
        cookies,
        elapsed: started.elapsed(),
    })
}

/// Reads one seeded session back through the app's store.
async fn check_readable(kind: &StoreUrl, cookies: &[String]) -> anyhow::Result<()> {
    let Some(cookie) = cookies.first() else {
        return Ok(());
    };
    let id: Id = cookie
        .trim_start_matches(&cookie_prefix())
        .parse()
        .context("a seeded id does not parse")?;
    let records = stores::open(kind).await?;
    match records.load(&id).await? {
        Some(record) if server_session::state_of(&record) == logged_in() => Ok(()),
        other => bail!("a seeded session reads back wrong through the app's store: {other:?}"),
    }
}

fn cookie_prefix() -> String {
    format!("{}=", server_session::COOKIE_NAME)
}

/// Bytes a SQLite store takes on disk: the file and what is left in its WAL.
pub fn sqlite_bytes(path: &Path) -> u64 {
    let size = |path: &Path| std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stored(path: &Path) -> u64 {
        let kind = StoreUrl::Sqlite(path.to_owned());
        stores::open(&kind).await.unwrap().count().await.unwrap()
    }

    #[tokio::test]
    async fn a_filled_sqlite_store_holds_every_session_in_the_apps_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.sqlite3");
        let seeded = sqlite(&path, 1234).await.unwrap();
        assert_eq!(stored(&path).await, 1234);
        assert_eq!(seeded.cookies.len(), 1234);
        let records = stores::open(&StoreUrl::Sqlite(path.clone())).await.unwrap();
        for cookie in seeded.cookies.iter().step_by(100) {
            let id: Id = cookie
                .strip_prefix(&cookie_prefix())
                .unwrap()
                .parse()
                .unwrap();
            let record = records.load(&id).await.unwrap().expect("a live session");
            assert_eq!(server_session::state_of(&record), logged_in());
        }
        assert!(sqlite_bytes(&path) > 0);
    }

    #[tokio::test]
    async fn a_large_store_keeps_a_bounded_sample_of_cookies_spread_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.sqlite3");
        let seeded = sqlite(&path, 3 * SAMPLE + 7).await.unwrap();
        let kept = seeded.cookies.len() as u64;
        assert!(kept <= SAMPLE, "{kept}");
        assert!(kept >= SAMPLE * 3 / 4, "{kept}");
    }

    #[tokio::test]
    async fn filling_through_the_app_uses_the_apps_own_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.sqlite3");
        let url = format!("sqlite://{}", path.display());
        let seeded = through_the_app(&url, 300, 8).await.unwrap();
        assert_eq!(seeded.cookies.len(), 300);
        assert_eq!(stored(&path).await, 300);
    }

    #[tokio::test]
    async fn a_store_this_build_cannot_open_is_an_error_that_says_so() {
        let err = through_the_app("mongodb://127.0.0.1/x", 1, 1)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot open"), "{err}");
    }
}
