//! The external stores: a private Redis database and a private PostgreSQL
//! database, prepared through their own command-line clients (`redis-cli`,
//! `psql`) and emptied or dropped when the guard is dropped, even on error.
//! Nothing else in those servers is touched.

use std::process::Command;

use anyhow::{Context as _, bail};

use crate::configurations::{POSTGRES_DATABASE, REDIS_DATABASE, Store};

/// Proof that a private database is ready; dropping it cleans up.
#[derive(Debug)]
pub struct PrivateDatabase {
    store: Store,
}

impl PrivateDatabase {
    /// Makes the store's private database ready and empty, or says why it
    /// cannot (service unreachable, client missing, database not ours).
    pub fn prepare(store: Store) -> anyhow::Result<Self> {
        match store {
            Store::Redis => {
                let keys = redis(&["dbsize"])?;
                if keys.trim() != "0" {
                    bail!(
                        "Redis database {REDIS_DATABASE} holds {} keys that may not be the \
                         harness's; empty it (`redis-cli -n {REDIS_DATABASE} flushdb`) to measure Redis",
                        keys.trim()
                    );
                }
            }
            Store::Postgres => {
                // A database of this name can only be left over from an
                // interrupted run of the harness.
                psql(&format!(
                    "drop database if exists {POSTGRES_DATABASE} with (force)"
                ))?;
                psql(&format!("create database {POSTGRES_DATABASE}"))?;
            }
            Store::Memory | Store::Sqlite => {}
        }
        Ok(Self { store })
    }

    /// Empties the database between two fillings.
    pub fn reset(&self) -> anyhow::Result<()> {
        match self.store {
            Store::Redis => redis(&["flushdb"]).map(drop),
            Store::Postgres => {
                psql(&format!(
                    "drop database if exists {POSTGRES_DATABASE} with (force)"
                ))?;
                psql(&format!("create database {POSTGRES_DATABASE}")).map(drop)
            }
            Store::Memory | Store::Sqlite => Ok(()),
        }
    }

    /// Records in the store, where a client can count them cheaply.
    pub fn count(&self) -> Option<u64> {
        match self.store {
            Store::Redis => redis(&["dbsize"]).ok()?.trim().parse().ok(),
            Store::Postgres | Store::Memory | Store::Sqlite => None,
        }
    }
}

impl Drop for PrivateDatabase {
    fn drop(&mut self) {
        let cleaned = match self.store {
            Store::Redis => redis(&["flushdb"]).map(drop),
            Store::Postgres => psql(&format!(
                "drop database if exists {POSTGRES_DATABASE} with (force)"
            ))
            .map(drop),
            Store::Memory | Store::Sqlite => Ok(()),
        };
        if let Err(err) = cleaned {
            eprintln!(
                "warning: could not clean up the {} database: {err:#}",
                self.store.name()
            );
        }
    }
}

fn redis(args: &[&str]) -> anyhow::Result<String> {
    let database = REDIS_DATABASE.to_string();
    let mut command = Command::new("redis-cli");
    command.args(["-h", "127.0.0.1", "-p", "6379", "-n", database.as_str()]);
    command.args(args);
    run(command, "redis-cli")
}

fn psql(sql: &str) -> anyhow::Result<String> {
    let mut command = Command::new("psql");
    command.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-c",
        sql,
    ]);
    run(command, "psql")
}

fn run(mut command: Command, name: &str) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {name} (is it installed?)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // redis-cli prints connection errors and exits 0 on some versions.
    if !output.status.success()
        || stdout.starts_with("Could not connect")
        || stdout.starts_with("ERR")
    {
        bail!("{name} failed: {}{}", stdout.trim(), stderr.trim());
    }
    Ok(stdout)
}
