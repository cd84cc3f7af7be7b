//! `--store URL`: which session store the app uses, chosen by the URL's
//! scheme, parsed here and nowhere else.
//!
//! A URL may carry a password. It is kept for connecting, but every way a URL
//! is shown (logs, `/healthz`, start-up errors) goes through `Display`, which
//! prints `***` in its place.

use std::{fmt, path::PathBuf, str::FromStr};

use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

/// The Redis key prefix when the URL names none: session keys do not mix with
/// whatever else the same Redis database holds.
pub const DEFAULT_REDIS_PREFIX: &str = "svj:session:";

/// The PostgreSQL schema when the URL names none: the published
/// tower-sessions-sqlx-store's own default, so its tables are ours.
pub const DEFAULT_POSTGRES_SCHEMA: &str = "tower_sessions";

/// Where session records live, as `--store` names it. It may hold a
/// password, so it is only ever shown through `Display`, which hides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory[?capacity=N]`: at most `capacity` records in this process.
    Memory {
        capacity: usize,
    },
    Sqlite(PathBuf),
    Redis(ServiceUrl),
    /// `redis-cluster://`: a client of its own (see `stores::redis_cluster`).
    RedisCluster(ServiceUrl),
    Postgres(ServiceUrl),
}

/// A network store's address. `connect` is what the client library is given
/// (the URL without our own query parameter), kept as a secret because it
/// may carry a password; `namespace` is that parameter: the Redis key
/// prefix, or the PostgreSQL schema.
#[derive(Clone)]
pub struct ServiceUrl {
    connect: SecretString,
    pub namespace: String,
    shown: String,
}

impl ServiceUrl {
    /// The URL to hand to the client library, password and all.
    pub fn connect(&self) -> &str {
        self.connect.expose_secret()
    }
}

impl PartialEq for ServiceUrl {
    fn eq(&self, other: &Self) -> bool {
        self.connect() == other.connect() && self.namespace == other.namespace
    }
}

impl Eq for ServiceUrl {}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceUrl")
            .field("url", &self.shown)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// How many records the memory store keeps unless its URL says otherwise:
/// the server refuses new records past it (a 503) rather than grow until
/// the machine runs out of memory.
pub const DEFAULT_MEMORY_CAPACITY: usize = 1_000_000;

const EXPECTED: &str = "expected `memory[?capacity=N]`, `sqlite://PATH`, `redis://HOST:PORT[/DB]` or `postgres://USER@HOST/DB`";

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = url.strip_prefix("memory") {
            return match rest {
                "" => Ok(Self::memory()),
                _ => rest
                    .strip_prefix("?capacity=")
                    .and_then(|capacity| capacity.parse::<usize>().ok())
                    .filter(|capacity| *capacity > 0)
                    .map(|capacity| Self::Memory { capacity })
                    .ok_or_else(|| {
                        format!("invalid memory store `{url}`: expected `memory` or `memory?capacity=N` with N > 0")
                    }),
            };
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("unknown session store `{url}`: {EXPECTED}"));
        };
        match scheme {
            "sqlite" if rest.is_empty() => {
                Err("sqlite:// needs a file path, e.g. sqlite://data/sessions.sqlite3".into())
            }
            "sqlite" => Ok(Self::Sqlite(PathBuf::from(rest))),
            "redis" | "redis-sentinel" => {
                service_url(url, "prefix", DEFAULT_REDIS_PREFIX, is_redis_prefix).map(Self::Redis)
            }
            "redis-cluster" => service_url(url, "prefix", DEFAULT_REDIS_PREFIX, is_redis_prefix)
                .map(Self::RedisCluster),
            // Accepting these would connect in plain text: fred is built without TLS.
            "rediss" | "rediss-cluster" | "rediss-sentinel" => Err(format!(
                "{scheme}:// (Redis over TLS) is not supported by this build; use redis:// on a trusted network"
            )),
            "postgres" | "postgresql" => {
                service_url(url, "schema", DEFAULT_POSTGRES_SCHEMA, is_sql_identifier)
                    .map(Self::Postgres)
            }
            _ => Err(format!(
                "unknown session store `{}`: {EXPECTED}",
                redacted_text(url)
            )),
        }
    }
}

/// Splits our own query parameter `name` off `url` and remembers how the URL
/// is shown, password hidden.
fn service_url(
    url: &str,
    name: &str,
    default: &str,
    valid: fn(&str) -> bool,
) -> Result<ServiceUrl, String> {
    let mut parsed = Url::parse(url)
        .map_err(|err| format!("invalid session store URL `{}`: {err}", redacted_text(url)))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "session store URL `{}` names no host",
            redacted(&parsed)
        ));
    }
    let mut namespace = None;
    let others: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(key, value)| {
            let ours = key == name;
            if ours {
                namespace = Some(value.to_string());
            }
            !ours
        })
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let namespace = namespace.unwrap_or_else(|| default.to_owned());
    if !valid(&namespace) {
        return Err(format!(
            "invalid `{name}={namespace}` in the session store URL: use letters, digits and _ (a prefix may also use : . -)"
        ));
    }
    let shown = redacted(&parsed);
    if others.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(others);
    }
    Ok(ServiceUrl {
        connect: SecretString::from(String::from(parsed)),
        namespace,
        shown,
    })
}

fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        let _ = shown.set_password(Some("***"));
    }
    shown.into()
}

/// For text that is not even a valid URL: hides everything between `://`
/// and the last `@`, where a password would be.
fn redacted_text(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}://***{}", &url[..start], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Key prefixes go into `SCAN MATCH prefix*`, so no glob characters.
fn is_redis_prefix(prefix: &str) -> bool {
    prefix.len() <= 100
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'))
}

/// Schema names are quoted into SQL, so only plain identifiers.
fn is_sql_identifier(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl StoreUrl {
    /// The memory store with its default capacity.
    pub fn memory() -> Self {
        Self::Memory {
            capacity: DEFAULT_MEMORY_CAPACITY,
        }
    }

    /// The kind alone, without path or address: what a visitor may be told.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory { .. } => "memory",
            Self::Sqlite(_) => "sqlite",
            Self::Redis(_) | Self::RedisCluster(_) => "redis",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The URL as given, with any password shown as `***`.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory { capacity } if *capacity == DEFAULT_MEMORY_CAPACITY => {
                f.write_str("memory")
            }
            Self::Memory { capacity } => write!(f, "memory?capacity={capacity}"),
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Redis(url) | Self::RedisCluster(url) | Self::Postgres(url) => url.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> StoreUrl {
        url.parse().unwrap()
    }

    #[test]
    fn store_urls_are_chosen_by_scheme() {
        assert_eq!(parse("memory"), StoreUrl::memory());
        assert_eq!(
            parse("memory?capacity=10"),
            StoreUrl::Memory { capacity: 10 }
        );
        for bad in [
            "memory?capacity=0",
            "memory?capacity=x",
            "memory?size=1",
            "memoryx",
        ] {
            assert!(bad.parse::<StoreUrl>().is_err(), "{bad}");
        }
        assert_eq!(
            parse("sqlite:///var/lib/s.db"),
            StoreUrl::Sqlite("/var/lib/s.db".into())
        );
        for (url, name) in [
            ("redis://127.0.0.1:6379", "redis"),
            ("redis://cache.internal:6380/3", "redis"),
            ("redis-cluster://a:30001?node=b:30002", "redis"),
            ("redis-sentinel://s:26379/0?sentinelServiceName=m", "redis"),
            ("postgres://postgres@127.0.0.1:5432/test", "postgres"),
            ("postgresql://app@db/sessions", "postgres"),
        ] {
            assert_eq!(parse(url).name(), name, "{url}");
        }
    }

    #[test]
    fn unknown_or_incomplete_urls_are_refused() {
        for url in [
            "sqlite://",
            "mongodb://localhost",
            "memcached",
            "redis://",
            "postgres:///test",
        ] {
            assert!(url.parse::<StoreUrl>().is_err(), "{url}");
        }
    }

    #[test]
    fn redis_over_tls_is_refused_rather_than_sent_in_plain_text() {
        let err = "rediss://cache:6380".parse::<StoreUrl>().unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn store_kinds_print_back_as_their_url() {
        for url in [
            "memory",
            "sqlite://data/x.db",
            "redis://127.0.0.1:6379/2",
            "redis://127.0.0.1:6379/2?prefix=app:s:",
            "postgres://postgres@127.0.0.1:5432/test?schema=sessions",
        ] {
            assert_eq!(parse(url).to_string(), url);
        }
    }

    #[test]
    fn passwords_are_never_shown() {
        for url in [
            "redis://:hunter2@127.0.0.1:6379/0",
            "redis://user:hunter2@127.0.0.1:6379/0?prefix=p:",
            "postgres://app:hunter2@db:5432/sessions",
        ] {
            let kind = parse(url);
            assert!(!kind.to_string().contains("hunter2"), "{kind}");
            assert!(kind.to_string().contains(":***@"), "{kind}");
            assert!(!format!("{kind:?}").contains("hunter2"), "{kind:?}");
        }
        let err = "ftp://u:hunter2@h".parse::<StoreUrl>().unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_password_still_reaches_the_client() {
        let StoreUrl::Redis(url) = parse("redis://:hunter2@127.0.0.1:6379/0") else {
            panic!("a redis URL");
        };
        assert!(url.connect().contains("hunter2"));
    }

    #[test]
    fn our_own_parameter_is_taken_off_what_the_client_sees() {
        let StoreUrl::Redis(url) = parse("redis://h:1/0?prefix=t1:&node=x:2") else {
            panic!("a redis URL");
        };
        assert_eq!(url.namespace, "t1:");
        assert_eq!(url.connect(), "redis://h:1/0?node=x%3A2");
        let StoreUrl::Postgres(url) = parse("postgres://u@h/db?schema=s1") else {
            panic!("a postgres URL");
        };
        assert_eq!(
            (url.connect(), url.namespace.as_str()),
            ("postgres://u@h/db", "s1")
        );
        let StoreUrl::Postgres(url) = parse("postgres://u@h/db") else {
            panic!("a postgres URL");
        };
        assert_eq!(url.namespace, DEFAULT_POSTGRES_SCHEMA);
    }

    #[test]
    fn namespaces_that_could_inject_are_refused() {
        for url in [
            "redis://h/0?prefix=a*",
            "redis://h/0?prefix=a%20b",
            "postgres://u@h/db?schema=x\";drop",
            "postgres://u@h/db?schema=Upper",
        ] {
            assert!(url.parse::<StoreUrl>().is_err(), "{url}");
        }
    }
}
