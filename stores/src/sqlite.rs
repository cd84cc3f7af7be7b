//! The embedded default: a SQLite file in WAL mode, so that reads never wait
//! for writes and concurrent first visits do not fail with "database is
//! locked".
//!
//! This replaces the published `tower-sessions-sqlx-store`, which falls short
//! of the cost the benchmark asks of a session read (docs/performance.md):
//! sqlx runs each SQLite connection on a thread of its own, so every query is
//! a round trip through channels between threads, about 50 µs of CPU on a
//! two-core machine for a lookup SQLite answers in a few. Here SQLite runs in
//! the calling thread (rusqlite): a lookup by primary key, which takes
//! microseconds and never waits for a lock in WAL mode, runs inline; writes,
//! which may wait for another process's lock (up to the busy timeout), run on
//! tokio's blocking threads. Records are encoded as the published store
//! encodes them (MessagePack), in a table keyed by the session id alone
//! (`without rowid`: one B-tree search per lookup instead of two); the expiry
//! column holds Unix milliseconds, indexed for the sweeps. Nothing here
//! upserts.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension as _, params};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{BACKEND_TIMEOUT, SessionRecords, StoreError, decode, encode, unix_millis};

const SCHEMA: &str = "
    create table if not exists tower_sessions (
        id text primary key not null,
        data blob not null,
        expiry_date integer not null
    ) without rowid;
    create index if not exists tower_sessions_expiry on tower_sessions (expiry_date);
";

#[derive(Debug)]
pub struct SqliteRecords {
    connections: Arc<Connections>,
    next_reader: AtomicUsize,
}

/// One connection per thread that may read at once, and one for writing:
/// a connection serves one caller at a time.
#[derive(Debug)]
struct Connections {
    readers: Vec<Mutex<Connection>>,
    writer: Mutex<Connection>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::client(err)
    }
}

impl SqliteRecords {
    /// Opens the file, creating it and its folder when missing, and applies
    /// the schema (idempotent, and safe with two processes starting at once).
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let connections = tokio::task::spawn_blocking(move || Connections::open(&path))
            .await
            .map_err(StoreError::client)??;
        Ok(Self {
            connections: Arc::new(connections),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on a free reader connection, inline.
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let readers = &self.connections.readers;
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let free = (0..readers.len())
            .find_map(|offset| readers[(first + offset) % readers.len()].try_lock());
        let connection = match free {
            Some(connection) => connection,
            None => readers[first % readers.len()].lock(),
        };
        Ok(read(&connection)?)
    }

    /// Runs `write` on the writer connection, on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connections = Arc::clone(&self.connections);
        tokio::task::spawn_blocking(move || write(&connections.writer.lock()))
            .await
            .map_err(StoreError::client)?
    }

    /// Stores many new records in one transaction: what filling a store for
    /// a benchmark needs. Ids must be free.
    pub fn insert_many(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut connection = self.connections.writer.lock();
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(INSERT)?;
            for record in records {
                insert.execute(params![
                    record.id.to_string(),
                    encode(record)?,
                    unix_millis(record.expiry_date)
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
}

/// The most of the file read through a memory map; the rest is read as usual.
const MMAP_BYTES: i64 = 1 << 30;

const INSERT: &str = "insert into tower_sessions (id, data, expiry_date) values (?1, ?2, ?3)";

impl Connections {
    /// Opens the file. Processes opening a new file at once (a deploy's
    /// replicas) collide while one switches it to WAL or creates the
    /// schema, and SQLite answers "database is locked" there without
    /// waiting for the busy timeout: so the open is tried again, with a
    /// short pause, until it succeeds or [`BACKEND_TIMEOUT`] has passed.
    fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|err| {
                StoreError::Failed(format!("cannot create {}: {err}", folder.display()))
            })?;
        }
        let started = std::time::Instant::now();
        loop {
            match Self::open_once(path) {
                Err(err) if is_busy(&err) && started.elapsed() < BACKEND_TIMEOUT => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                opened => return opened.map_err(StoreError::from),
            }
        }
    }

    fn open_once(path: &Path) -> rusqlite::Result<Self> {
        let writer = connect(path)?;
        writer.execute_batch(SCHEMA)?;
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let readers = (0..threads)
            .map(|_| connect(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            readers,
            writer: Mutex::new(writer),
        })
    }
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BACKEND_TIMEOUT)?;
    connection.pragma_update(None, "journal_mode", "wal")?;
    // In WAL mode a commit survives a crash of the process, though not of
    // the machine; sessions are worth that trade, as most stores make it.
    connection.pragma_update(None, "synchronous", "normal")?;
    // Reading pages through a memory map instead of a `pread` per page that
    // misses SQLite's small page cache keeps a lookup in a million sessions
    // as cheap as in a thousand (docs/performance.md).
    connection.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    connection.set_prepared_statement_cache_capacity(16);
    Ok(connection)
}

#[async_trait]
impl SessionRecords for SqliteRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let data: Option<Vec<u8>> = self.read(|connection| {
            connection
                .prepare_cached(
                    "select data from tower_sessions where id = ?1 and expiry_date > ?2",
                )?
                .query_row(params![id.to_string(), unix_millis(now)], |row| row.get(0))
                .optional()
        })?;
        data.map(|data| decode(&data).map(Arc::new)).transpose()
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        let mut new = record.clone();
        let created = self
            .write(move |connection| {
                let mut insert = connection.prepare_cached(INSERT)?;
                loop {
                    match insert.execute(params![
                        new.id.to_string(),
                        encode(&new)?,
                        unix_millis(new.expiry_date)
                    ]) {
                        Ok(_) => return Ok(new),
                        Err(err)
                            if err.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) =>
                        {
                            new.id = Id::default();
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
            })
            .await?;
        *record = created;
        Ok(())
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let (id, data, expiry) = (
            record.id.to_string(),
            encode(record)?,
            unix_millis(record.expiry_date),
        );
        self.write(move |connection| {
            let updated = connection
                .prepare_cached(
                    "update tower_sessions set data = ?1, expiry_date = ?2 where id = ?3 and expiry_date > ?4",
                )?
                .execute(params![data, expiry, id, unix_millis(OffsetDateTime::now_utc())])?;
            Ok(updated > 0)
        })
        .await
    }

    /// One `update` whose `where` names the expected expiry: SQLite runs
    /// it under the write lock, so two swaps cannot both match.
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, data, expiry, expected) = (
            record.id.to_string(),
            encode(record)?,
            unix_millis(record.expiry_date),
            unix_millis(expected_expiry),
        );
        self.write(move |connection| {
            let swapped = connection
                .prepare_cached(
                    "update tower_sessions set data = ?1, expiry_date = ?2 \
                     where id = ?3 and expiry_date = ?4 and expiry_date > ?5",
                )?
                .execute(params![
                    data,
                    expiry,
                    id,
                    expected,
                    unix_millis(OffsetDateTime::now_utc())
                ])?;
            Ok(swapped > 0)
        })
        .await
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("delete from tower_sessions where id = ?1")?
                .execute(params![id])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.write(|connection| {
            let deleted = connection
                .prepare_cached("delete from tower_sessions where expiry_date <= ?1")?
                .execute(params![unix_millis(OffsetDateTime::now_utc())])?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.write(|connection| {
            let count: i64 =
                connection
                    .query_row("select count(*) from tower_sessions", [], |row| row.get(0))?;
            Ok(u64::try_from(count).unwrap_or_default())
        })
        .await
    }
}
