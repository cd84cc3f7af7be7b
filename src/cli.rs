//! The command line and its environment variables: every option lives
//! here, and its doc comment is its `--help` text. Turning a `Config` into a
//! running site is `startup`'s job.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::{
    logging::LogFormat,
    session::{ExpiryPolicy, SessionPolicy},
    stores::StoreUrl,
    token_session::keys::KeyAlgorithm,
};

/// Serves the same two views under several state mechanisms (server-side
/// sessions at `/server/...`, signed tokens at `/token/...`, encrypted
/// cookies at `/cookie/...`, short-lived access tokens with a rotating
/// refresh session at `/hybrid/...`), so that they can be compared side by
/// side.
#[derive(Debug, Parser)]
#[command(
    name = "sessions-vs-jwt",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Without a command, the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Delete expired sessions from the store and print how many (Django's
    /// `clearsessions`).
    Clearsessions {
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[arg(
            long = "keys-dir",
            env = "SVJ_KEYS_DIR",
            default_value = "keys",
            global = true
        )]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key for the algorithm, and a cookie key, if the folder has
    /// none: what several instances must share before they first start.
    Generate {
        #[arg(long, env = "SVJ_JWT_ALGORITHM", default_value = "EdDSA")]
        jwt_algorithm: KeyAlgorithm,
    },
    /// Add a new key, which signs (or, with --cookie, seals) from the next
    /// start on; older keys still verify (or open).
    Rotate {
        #[arg(long, env = "SVJ_JWT_ALGORITHM", default_value = "EdDSA")]
        jwt_algorithm: KeyAlgorithm,
        /// Rotate the encrypted cookie's key (`/cookie`) instead of a token key.
        #[arg(long)]
        cookie: bool,
    },
    /// Delete a key, token or cookie: what it signed or sealed is refused
    /// from the next start on.
    Retire { kid: String },
    /// Show every key, its algorithm, and which signs and seals.
    List {
        #[arg(long, env = "SVJ_JWT_ALGORITHM", default_value = "EdDSA")]
        jwt_algorithm: KeyAlgorithm,
    },
}

impl Cli {
    /// The command line as `main` parses it, but blind to the environment:
    /// what tests parse with, so that a developer's exported `SVJ_*`
    /// variable does not change what they check.
    pub fn parse_ignoring_environment<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory as _, FromArgMatches as _};
        fn without_environment(command: clap::Command) -> clap::Command {
            command
                .mut_args(|arg| arg.env(None::<&'static str>))
                .mut_subcommands(without_environment)
        }
        let matches = without_environment(Self::command()).try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }
}

/// Everything the server needs to start; also what tests build their servers from.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "SVJ_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// How log lines are written to stderr: `text` (one readable line per
    /// event, coloured only on a terminal and never under NO_COLOR) or
    /// `json` (one JSON object per line, for log shippers). What is logged
    /// follows RUST_LOG (default `info,sqlx=warn`).
    #[arg(long, env = "SVJ_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Whether the server counts what it does (requests, cookie verdicts,
    /// store operations, signatures, logins, per mechanism), for the
    /// inspector and for --metrics-bind: `on`, or `off` to count nothing.
    #[arg(long, env = "SVJ_METRICS", value_enum, default_value_t = MetricsSwitch::On)]
    pub metrics: MetricsSwitch,

    /// Address and port of a listener of its own for `/metrics` (Prometheus)
    /// and `/store-operations`, apart from the site: they show when visitors
    /// log in and refresh, so the public site never serves them, and without
    /// this option nothing does. Bind it where only operators reach it.
    #[arg(long, env = "SVJ_METRICS_BIND", value_name = "ADDR")]
    pub metrics_bind: Option<SocketAddr>,

    #[command(flatten)]
    pub store: StoreOptions,

    #[command(flatten)]
    pub keys: KeyOptions,

    /// How long a login lasts, in seconds, on every side: the session record's
    /// expiry, the token's `exp`, and the cookies' Max-Age (Django's
    /// SESSION_COOKIE_AGE; the default is two weeks, the cap 400 days).
    #[arg(
        long,
        env = "SVJ_COOKIE_AGE",
        default_value_t = 1_209_600,
        value_parser = clap::value_parser!(u64).range(1..=MAX_COOKIE_AGE)
    )]
    pub cookie_age: u64,

    /// When a login ends, on every side alike: `absolute` (--cookie-age after
    /// the login, Django's default), `inactivity` (--cookie-age after its last
    /// use, Django's SESSION_SAVE_EVERY_REQUEST) or `browser-session` (cookies
    /// without Max-Age, dropped when the browser closes, and still ended after
    /// --cookie-age: Django's SESSION_EXPIRE_AT_BROWSER_CLOSE).
    #[arg(long, env = "SVJ_EXPIRY", value_enum, default_value_t = ExpiryPolicy::Absolute)]
    pub expiry: ExpiryPolicy,

    /// Seconds after a login at which it ends however active it is (OWASP's
    /// absolute timeout), on every side: under `--expiry inactivity` a login
    /// in use is extended, never past this, so a copied cookie used every
    /// day still dies. Default: 30 days, or --cookie-age if longer; never
    /// shorter than --cookie-age. The other expiry policies never extend a
    /// login, which ends --cookie-age after it began.
    #[arg(
        long,
        env = "SVJ_ABSOLUTE_TIMEOUT",
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub absolute_timeout: Option<u64>,

    /// Send cookies only over HTTPS (Django's SESSION_COOKIE_SECURE), with the
    /// `__Host-` name prefix. Off by default so that plain http://127.0.0.1 works.
    #[arg(long, env = "SVJ_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// How long a `/hybrid` access token lasts, in seconds: while it does,
    /// requests touch no store; after it, the next request uses the refresh
    /// id once (a store round trip) for a new token. It is also how long a
    /// copied access token still works after a logout. Never longer than
    /// --cookie-age: a token ends with its login.
    #[arg(
        long,
        env = "SVJ_ACCESS_TOKEN_AGE",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=MAX_COOKIE_AGE)
    )]
    pub access_token_age: u64,

    /// Seconds after a `/hybrid` refresh id is used during which presenting
    /// it again counts as a request that raced the refresh (a page's parallel
    /// requests, a retry after a lost response) and is answered with the
    /// same login, rather than as reuse, which ends the login. Within it a
    /// thief's replay goes undetected (docs/security.md), so keep it short
    /// (0 to 60 s, as AWS Cognito's retry grace period).
    #[arg(
        long,
        env = "SVJ_REFRESH_RACE_WINDOW",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(0..=60)
    )]
    pub refresh_race_window: u64,

    /// How many verified tokens to remember, so that a returning visitor's
    /// token is not verified again until it expires (0: verify every time).
    #[arg(long, env = "SVJ_TOKEN_CACHE", default_value_t = 10_000)]
    pub token_cache: u64,

    /// Make token logouts stick: a logout records the token's id (`jti`) in the
    /// session store until the token expires, and such tokens are Guests from
    /// then on. The token side is then no longer stateless.
    #[arg(long, env = "SVJ_TOKEN_REVOCATION")]
    pub token_revocation: bool,

    /// Seconds between two sweeps that delete expired sessions from the store
    /// (what `clearsessions` does once).
    #[arg(
        long,
        env = "SVJ_CLEANUP_INTERVAL",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub cleanup_interval: u64,

    /// Keep up to this many sessions in an in-process cache in front of the
    /// store (like Django's `cached_db`); 0 turns it off. A logout or login
    /// through this instance updates it at once; one through another
    /// instance is seen here after at most `--store-cache-ttl`.
    #[arg(
        long,
        env = "SVJ_STORE_CACHE",
        default_value_t = 0,
        value_name = "SIZE"
    )]
    pub store_cache: u64,

    /// Seconds a cached session is trusted before the store is asked again:
    /// the longest another instance's logout can go unseen here.
    #[arg(
        long,
        env = "SVJ_STORE_CACHE_TTL",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub store_cache_ttl: u64,
}

/// Whether the server counts what it does (`--metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsSwitch {
    On,
    Off,
}

/// Which session store the app uses; shared by the server and `clearsessions`.
#[derive(Debug, Clone, Args)]
pub struct StoreOptions {
    /// Where `/server` keeps its sessions: `memory[?capacity=N]` (in this
    /// process, lost on exit; at most N records, 1000000 by default, past
    /// which new logins get a 503), `sqlite://PATH` (a file, created with its folder on first run),
    /// `redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=KEYPREFIX]` (also
    /// `redis-cluster://` and `redis-sentinel://`), or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=SCHEMA]`. Several
    /// instances share sessions through one Redis, PostgreSQL or SQLite file.
    #[arg(
        long = "store",
        env = "SVJ_STORE",
        default_value = "sqlite://data/sessions.sqlite3"
    )]
    pub url: StoreUrl,
}

/// The token side's keys.
#[derive(Debug, Clone, Args)]
pub struct KeyOptions {
    /// Folder of the token signing keys and the cookie encryption keys. A key
    /// of each is generated there on first run and reused afterwards, so
    /// logins survive restarts.
    #[arg(long = "keys-dir", env = "SVJ_KEYS_DIR", default_value = "keys")]
    pub dir: PathBuf,

    /// The algorithm new tokens are signed with. The newest key made for it
    /// signs (one is generated if there is none); keys of every algorithm
    /// present still verify the tokens that name them.
    #[arg(
        long = "jwt-algorithm",
        env = "SVJ_JWT_ALGORITHM",
        default_value = "EdDSA"
    )]
    pub algorithm: KeyAlgorithm,
}

/// `--absolute-timeout` unless given: 30 days.
const DEFAULT_ABSOLUTE_TIMEOUT: u64 = 30 * 24 * 60 * 60;

/// Browsers cap a cookie's lifetime at 400 days (RFC 6265bis), so a longer
/// login could never be kept by them.
const MAX_COOKIE_AGE: u64 = 400 * 24 * 60 * 60;

impl Config {
    /// The login policy every mechanism follows.
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            lifetime: self.cookie_age,
            expiry: self.expiry,
            secure_cookies: self.secure_cookies,
            absolute_timeout: self
                .absolute_timeout
                .unwrap_or(DEFAULT_ABSOLUTE_TIMEOUT.max(self.cookie_age)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<const N: usize>(args: [&str; N]) -> Result<Cli, clap::Error> {
        Cli::parse_ignoring_environment(args)
    }

    #[test]
    fn no_arguments_means_the_embedded_defaults() {
        let cli = parse(["sessions-vs-jwt"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.bind, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            cli.serve.store.url,
            StoreUrl::Sqlite("data/sessions.sqlite3".into())
        );
        assert_eq!(cli.serve.keys.dir, PathBuf::from("keys"));
        assert_eq!(cli.serve.keys.algorithm, KeyAlgorithm::EdDsa);
        assert_eq!(cli.serve.cookie_age, 1_209_600);
        assert!(!cli.serve.secure_cookies);
        assert_eq!(cli.serve.access_token_age, 300);
        assert_eq!(cli.serve.refresh_race_window, 10);
    }

    #[test]
    fn an_unknown_store_scheme_is_a_usage_error() {
        let err = parse(["sessions-vs-jwt", "--store", "mongodb://x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("unknown session store"), "{err}");
    }

    #[test]
    fn a_zero_cookie_age_is_refused() {
        assert!(parse(["sessions-vs-jwt", "--cookie-age", "0"]).is_err());
    }

    #[test]
    fn commands_take_their_own_options() {
        let cli = parse(["sessions-vs-jwt", "clearsessions", "--store", "memory"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Clearsessions { store }) if store.url == StoreUrl::memory())
        );
        let cli = parse([
            "sessions-vs-jwt",
            "keys",
            "retire",
            "k1",
            "--keys-dir",
            "/tmp/k",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Some(Command::Keys { action: KeysAction::Retire { kid }, dir }) if kid == "k1" && dir == std::path::Path::new("/tmp/k"))
        );
    }

    #[test]
    fn server_options_do_not_mix_with_commands() {
        assert!(parse(["sessions-vs-jwt", "--bind", "127.0.0.1:1", "clearsessions"]).is_err());
    }

    #[test]
    fn the_signing_algorithm_is_chosen_by_its_jwt_name() {
        let cli = parse(["sessions-vs-jwt", "--jwt-algorithm", "ES256"]).unwrap();
        assert_eq!(cli.serve.keys.algorithm, KeyAlgorithm::Es256);
        assert!(parse(["sessions-vs-jwt", "--jwt-algorithm", "none"]).is_err());
    }
}
