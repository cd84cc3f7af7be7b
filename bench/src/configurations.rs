//! Every configuration the harness measures: which side, which store or
//! algorithm, and the exact server flags that make it.

use std::path::Path;

use crate::{
    app::{Mount, Route},
    applicable::Applicable,
    servers::ServerCommand,
};

/// Where `/server` keeps its records in a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memory,
    Sqlite,
    Redis,
    Postgres,
}

/// The Redis database the harness uses: its own, emptied at the end.
pub const REDIS_DATABASE: u32 = 15;
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/15";
/// The PostgreSQL database the harness creates for itself and drops at the end.
pub const POSTGRES_DATABASE: &str = "svj_bench";
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/svj_bench";

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Sqlite => "sqlite",
            Store::Redis => "redis",
            Store::Postgres => "postgres",
        }
    }

    /// The `--store` value, with SQLite files inside `workspace`.
    pub fn url(self, workspace: &Path) -> String {
        match self {
            Store::Memory => "memory".to_owned(),
            Store::Sqlite => format!("sqlite://{}", workspace.join("sessions.sqlite3").display()),
            Store::Redis => REDIS_URL.to_owned(),
            Store::Postgres => POSTGRES_URL.to_owned(),
        }
    }

    /// Stores that live outside the server process and must be reachable.
    pub fn is_service(self) -> bool {
        matches!(self, Store::Redis | Store::Postgres)
    }
}

#[derive(Debug, Clone)]
pub struct Configuration {
    /// Stable, used in file contents, `--only` and results.json.
    pub name: &'static str,
    /// Its mechanism, and what the harness knows of it.
    pub mechanism: Applicable,
    pub store: Store,
    pub algorithm: &'static str,
    /// Flags beyond `--store`, `--jwt-algorithm` and `--keys-dir`.
    pub extra_args: &'static [&'static str],
    /// `RUST_LOG=off` instead of the default log level: the access log's
    /// cost is its twin's CPU per request minus its own, in paired rounds.
    pub log_off: bool,
    pub description: &'static str,
}

impl Configuration {
    /// The server's arguments, `--bind` aside.
    pub fn server_args(&self, workspace: &Path, cookie_age: Option<u64>) -> Vec<String> {
        let mut args = vec![
            "--store".to_owned(),
            self.store.url(workspace),
            "--keys-dir".to_owned(),
            workspace.join("keys").display().to_string(),
            "--jwt-algorithm".to_owned(),
            self.algorithm.to_owned(),
        ];
        args.extend(self.extra_args.iter().map(|arg| (*arg).to_owned()));
        if let Some(age) = cookie_age {
            args.extend(["--cookie-age".to_owned(), age.to_string()]);
        }
        args
    }

    /// Whether its server keeps a cache in front of the store (`--store-cache`),
    /// whose hits are not store operations.
    pub fn has_store_cache(&self) -> bool {
        self.extra_args.contains(&"--store-cache")
    }

    /// How to start its server, `--bind` aside.
    pub fn command(
        &self,
        binary: &Path,
        workspace: &Path,
        cookie_age: Option<u64>,
    ) -> ServerCommand {
        let command =
            ServerCommand::new(binary, self.server_args(workspace, cookie_age)).with_operations();
        if self.log_off {
            command.env("RUST_LOG", "off")
        } else {
            command
        }
    }

    pub fn path(&self, route: Route) -> String {
        self.mount().url(route)
    }

    pub fn mount(&self) -> Mount {
        self.mechanism.mount
    }

    pub fn applies(&self) -> Applicable {
        self.mechanism
    }

    pub fn cookie_name(&self) -> &'static str {
        self.mechanism.cookie
    }

    /// Whether the server's memory holds all the state, so that its RSS
    /// shows what a stored session costs (or that a token or an encrypted
    /// cookie costs nothing).
    pub fn measures_memory_per_session(&self) -> bool {
        matches!(
            self.name,
            "server-memory" | "token-eddsa" | "cookie-aes256gcm"
        )
    }

    /// Whether only the throughput scenarios are measured: the log-off and
    /// metrics-off twins differ from `server-memory` in nothing else.
    pub fn throughput_only(&self) -> bool {
        self.log_off || self.name == METRICS_OFF
    }

    /// Whether the population scenario is measured: where a cache stands
    /// between a returning visitor and the work (the verified-token memory,
    /// the store cache) or the store's size matters, and logins are cheap
    /// enough to log in the whole population; and once per mechanism, so
    /// that the decision at a glance has every mechanism's realistic figure
    /// (`/cookie` opens each cookie, `/hybrid` verifies each access token).
    pub fn measures_population(&self) -> bool {
        !self.log_off
            && matches!(
                self.name,
                "token-eddsa"
                    | "token-hs256"
                    | "cookie-aes256gcm"
                    | "hybrid-sqlite"
                    | "server-memory"
                    | "server-sqlite"
                    | "server-sqlite-cache"
                    | "server-redis"
                    | "server-postgres"
            )
    }

    /// Whether stored sessions can be seeded before the server starts, for
    /// the measurement of cost against the number of stored sessions.
    pub fn measures_scaling(&self) -> bool {
        !self.log_off
            && self.applies().seeded_sessions
            && self.extra_args.is_empty()
            && matches!(self.store, Store::Sqlite | Store::Redis | Store::Postgres)
    }
}

/// The configuration whose counting [`METRICS_OFF`] turns off.
pub const METRICS_ON: &str = "server-memory";

/// `server-memory`'s twin that counts nothing: the metrics' cost is the
/// difference between the two.
pub const METRICS_OFF: &str = "server-memory-metrics-off";

/// `server-memory`'s twin with logging off: the access log's cost is the
/// difference between the two.
pub const LOG_OFF: &str = "server-memory-log-off";

/// Every configuration, in the order they are measured and reported.
pub fn all() -> Vec<Configuration> {
    let token = |name, algorithm, description| Configuration {
        name,
        mechanism: Applicable::TOKEN,
        store: Store::Memory,
        algorithm,
        extra_args: &[],
        log_off: false,
        description,
    };
    let server = |name, store, extra_args, description| Configuration {
        name,
        mechanism: Applicable::SERVER,
        store,
        algorithm: "EdDSA",
        extra_args,
        log_off: false,
        description,
    };
    vec![
        token("token-eddsa", "EdDSA", "/token, Ed25519 signatures"),
        token("token-es256", "ES256", "/token, ECDSA P-256 signatures"),
        token("token-rs256", "RS256", "/token, RSA 2048 signatures"),
        token(
            "token-hs256",
            "HS256",
            "/token, HMAC-SHA256 (shared secret)",
        ),
        Configuration {
            name: "token-eddsa-revocation",
            mechanism: Applicable::TOKEN,
            store: Store::Sqlite,
            algorithm: "EdDSA",
            extra_args: &["--token-revocation"],
            log_off: false,
            description: "/token, Ed25519, logout records the token's jti in the SQLite store",
        },
        Configuration {
            name: "cookie-aes256gcm",
            mechanism: Applicable::COOKIE,
            store: Store::Memory,
            algorithm: "EdDSA",
            extra_args: &[],
            log_off: false,
            description: "/cookie, the state in the cookie, AES-256-GCM (the cookie crate's private jar)",
        },
        Configuration {
            name: "hybrid-sqlite",
            mechanism: Applicable::HYBRID,
            store: Store::Sqlite,
            algorithm: "EdDSA",
            extra_args: &[],
            log_off: false,
            description: "/hybrid, Ed25519 access tokens of 300 s, rotating refresh ids in the SQLite store",
        },
        Configuration {
            name: "hybrid-redis",
            mechanism: Applicable::HYBRID,
            store: Store::Redis,
            algorithm: "EdDSA",
            extra_args: &[],
            log_off: false,
            description: "/hybrid, Ed25519 access tokens of 300 s, rotating refresh ids in Redis, database 15",
        },
        server(
            "server-memory",
            Store::Memory,
            &[],
            "/server, in-process memory store",
        ),
        server("server-sqlite", Store::Sqlite, &[], "/server, SQLite file"),
        Configuration {
            name: METRICS_OFF,
            extra_args: &["--metrics", "off"],
            description: "/server, in-process memory store, nothing counted (--metrics off)",
            ..server("", Store::Memory, &[], "")
        },
        Configuration {
            name: LOG_OFF,
            log_off: true,
            description: "/server, in-process memory store, logging off (RUST_LOG=off)",
            ..server("", Store::Memory, &[], "")
        },
        server(
            "server-sqlite-cache",
            Store::Sqlite,
            &["--store-cache", "100000"],
            "/server, SQLite with a 100000-entry cache in front",
        ),
        server(
            "server-redis",
            Store::Redis,
            &[],
            "/server, Redis on 127.0.0.1:6379, database 15",
        ),
        server(
            "server-postgres",
            Store::Postgres,
            &[],
            "/server, PostgreSQL on 127.0.0.1:5432, database svj_bench",
        ),
    ]
}

/// What a Rust user, or the reference document's own framework, would run
/// instead of this app: measured in the same run against the same bare
/// server, returning visitors only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    TowerSessionsMemory,
    /// The same, with the page made by concatenation: no template engine.
    TowerSessionsMemoryBytes,
    TowerSessionsSqlite,
    DjangoDatabase,
    DjangoSignedCookies,
}

impl Peer {
    pub const ALL: [Peer; 5] = [
        Peer::TowerSessionsMemory,
        Peer::TowerSessionsMemoryBytes,
        Peer::TowerSessionsSqlite,
        Peer::DjangoDatabase,
        Peer::DjangoSignedCookies,
    ];

    /// Stable, used like a configuration's name (`--only peer-*`).
    pub fn name(self) -> &'static str {
        match self {
            Peer::TowerSessionsMemory => "peer-tower-sessions-memory",
            Peer::TowerSessionsMemoryBytes => "peer-tower-sessions-memory-bytes",
            Peer::TowerSessionsSqlite => "peer-tower-sessions-sqlite",
            Peer::DjangoDatabase => "peer-django-db",
            Peer::DjangoSignedCookies => "peer-django-signed-cookies",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Peer::TowerSessionsMemory => {
                "stock tower-sessions 0.14: SessionManagerLayer with its MemoryStore, no access log"
            }
            Peer::TowerSessionsMemoryBytes => {
                "stock tower-sessions 0.14 with its MemoryStore, the page's bytes concatenated around the escaped username (no template engine), no access log"
            }
            Peer::TowerSessionsSqlite => {
                "stock tower-sessions 0.14 on tower-sessions-sqlx-store's SqliteStore, no access log"
            }
            Peer::DjangoDatabase => {
                "Django, database sessions on SQLite, gunicorn with one worker per core"
            }
            Peer::DjangoSignedCookies => {
                "Django, signed_cookies sessions, gunicorn with one worker per core"
            }
        }
    }

    pub fn store(self) -> &'static str {
        match self {
            Peer::TowerSessionsMemory | Peer::TowerSessionsMemoryBytes => "memory",
            Peer::TowerSessionsSqlite | Peer::DjangoDatabase => "sqlite",
            Peer::DjangoSignedCookies => "cookie",
        }
    }
}

/// The Django project of the peers (bench/django), where this crate was built.
pub const DJANGO_PROJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/django");

/// Both views of every peer live at the app's `/server` paths, so that the
/// pages' links are the app's.
pub const PEER_SET_SESSION: &str = "/server/set_session/";
pub const PEER_GET_SESSION: &str = "/server/get_session/";
/// Django's and the tower-sessions peer's session cookie.
pub const PEER_COOKIE: &str = "sessionid";
