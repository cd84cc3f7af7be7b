//! Every figure a run produces, as written to results.json. The tables and
//! charts are made from this and nothing else, so that `--render` can make
//! them again from a results.json without measuring.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::machine::Machine;

/// Bumped when a field is added, changes meaning or goes away (4: the
/// server's defaults; 5: the access log's cost and the app against stock
/// tower-sessions in paired rounds, the unpaired `access_log_us` gone; a
/// reader of older files treats what they lack as absent).
pub const SCHEMA_VERSION: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    /// RFC 3339, UTC, when the run started.
    pub date: String,
    /// The command that produced these results, to run again.
    pub command: String,
    pub machine: Machine,
    pub settings: RunSettings,
    pub configurations: Vec<ConfigurationRecord>,
    pub throughput: Vec<ScenarioResult>,
    /// The peers' returning visitors, against the bare server.
    pub peers: Vec<ScenarioResult>,
    /// What the app costs beyond the bare server, and what its access log costs.
    pub fixed_cost: FixedCost,
    /// `server-memory` against stock tower-sessions, in paired rounds
    /// (absent from results of schema 4 and earlier).
    #[serde(default)]
    pub paired_with_peers: Vec<PeerComparison>,
    pub cookie_bytes: Vec<CookieBytes>,
    pub memory: Vec<MemoryPerSession>,
    pub disk: Vec<DiskPerSession>,
    pub scaling: Vec<ScalingPoint>,
    pub logout: Vec<LogoutEffect>,
    pub flood: Vec<FloodCheck>,
    /// How often each scenario touches the session store.
    pub store_operations: Vec<StoreOperations>,
    pub checks: Checks,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSettings {
    pub quick: bool,
    #[serde(deserialize_with = "float_or_nan")]
    pub round_seconds: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub warmup_seconds: f64,
    pub rounds: usize,
    pub connections: usize,
    pub client_threads: usize,
    pub only: Vec<String>,
    pub session_counts: Vec<u64>,
    pub memory_logins: u64,
    pub flood_requests: u64,
    pub returning_visitors: usize,
    /// Logged-in visitors of the population scenario (more than the caches hold).
    pub population: u64,
    pub logout_cookie_age_seconds: u64,
    #[serde(deserialize_with = "float_or_nan")]
    pub total_seconds: f64,
    /// The server's defaults that the measured servers ran with and the
    /// tables quote (absent from results of schema 3 and earlier).
    #[serde(default)]
    pub server_defaults: Option<ServerDefaults>,
}

/// Server options the harness leaves at their defaults and whose values
/// the text explains figures with: recorded, so that the tables never
/// quote a default the measured server did not have.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerDefaults {
    /// `--token-cache`: verified tokens remembered.
    pub token_cache: u64,
    /// `--store-cache-ttl`.
    pub store_cache_ttl_seconds: u64,
    /// `--access-token-age` (`/hybrid`).
    pub access_token_age_seconds: u64,
    /// `--cookie-age`, where the harness does not shorten it.
    pub cookie_age_seconds: u64,
}

impl ServerDefaults {
    /// The defaults of the app's command line, as the server parses it
    /// with no option given.
    pub fn of_the_app() -> Option<Self> {
        let cli = crate::app::Cli::parse_ignoring_environment(["sessions-vs-jwt"]).ok()?;
        Some(Self {
            token_cache: cli.serve.token_cache,
            store_cache_ttl_seconds: cli.serve.store_cache_ttl,
            access_token_age_seconds: cli.serve.access_token_age,
            cookie_age_seconds: cli.serve.cookie_age,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Measured,
    Skipped,
    NotSelected,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigurationRecord {
    pub name: String,
    /// `server` or `token`.
    pub side: String,
    pub store: String,
    pub algorithm: String,
    pub description: String,
    /// The server's flags, temporary paths shown as `$WORKSPACE`.
    pub server_args: Vec<String>,
    pub status: Status,
    /// Why it was skipped, in the words of whatever refused.
    pub reason: Option<String>,
    /// Measurements of this configuration that failed while others succeeded.
    pub problems: Vec<String>,
    /// Lines its server wrote to its log file (stderr) by the end of the
    /// throughput scenarios: one access line per request at the default
    /// log level, none with logging off.
    pub server_log_lines: Option<u64>,
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    #[serde(deserialize_with = "float_or_nan")]
    pub mean_us: f64,
    pub samples: u64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
            samples: histogram.len(),
        }
    }
}

/// One round: the configuration, the reference and the bare server, back
/// to back, in an order that rotates from round to round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    #[serde(deserialize_with = "float_or_nan")]
    pub rps: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub reference_rps: f64,
    /// `rps / reference_rps`.
    #[serde(deserialize_with = "float_or_nan")]
    pub ratio: f64,
    /// Server CPU time (user + system) per response, in microseconds.
    #[serde(deserialize_with = "float_or_nan")]
    pub cpu_us_per_request: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub reference_cpu_us_per_request: f64,
    /// `reference_cpu_us_per_request / cpu_us_per_request`: like `ratio`,
    /// 1.0 means as cheap as the reference, but counted in the server's CPU
    /// time alone, so the load generator's share of the machine drops out.
    #[serde(deserialize_with = "float_or_nan")]
    pub cpu_ratio: f64,
    /// The load generator's own CPU time per response (this program's).
    #[serde(deserialize_with = "float_or_nan")]
    pub client_cpu_us_per_request: f64,
    /// The bare server (the reference page's bytes from memory) in this round.
    #[serde(deserialize_with = "float_or_nan")]
    pub bare_rps: f64,
    /// `rps / bare_rps`: 1.0 would be the machine's limit for this page.
    #[serde(deserialize_with = "float_or_nan")]
    pub bare_ratio: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub bare_cpu_us_per_request: f64,
    /// `bare_cpu_us_per_request / cpu_us_per_request`.
    #[serde(deserialize_with = "float_or_nan")]
    pub bare_cpu_ratio: f64,
    pub responses: u64,
    /// 0 for a peer, which has no reference page: its reference figures are `null`.
    pub reference_responses: u64,
    pub bare_responses: u64,
    #[serde(deserialize_with = "float_or_nan")]
    pub seconds: f64,
    /// Whether the configuration ran first in this round.
    pub configuration_first: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub configuration: String,
    /// Stable: `get_session_returning`, `get_session_new_visitor`,
    /// `set_session`, `get_session_first_sight`.
    pub scenario: String,
    pub label: String,
    pub path: String,
    /// Distinct visitors whose cookies the scenario sent (0: no cookie).
    pub visitors: usize,
    pub rounds: Vec<Round>,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_rps: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_reference_rps: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_ratio: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub min_ratio: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub max_ratio: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_cpu_us_per_request: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_reference_cpu_us_per_request: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_cpu_ratio: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_client_cpu_us_per_request: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_bare_rps: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_bare_ratio: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_bare_cpu_us_per_request: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub median_bare_cpu_ratio: f64,
    /// Median over the rounds of reference CPU minus bare CPU per request:
    /// what the app's outer layers and rendering cost on its cheapest page.
    #[serde(deserialize_with = "float_or_nan")]
    pub median_fixed_cost_us: f64,
    /// Over all rounds.
    pub latency: Latency,
    pub reference_latency: Latency,
    pub responses: u64,
    /// Responses other than 2xx/3xx, in the configuration's and the reference's rounds.
    pub error_responses: u64,
    /// Requests that got no response at all.
    pub transport_errors: u64,
    pub statuses: BTreeMap<String, u64>,
}

/// The app's cost beyond the bare server on its cheapest page, as users
/// run it (access log on, to a file) and with logging off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FixedCost {
    /// From the A/A check's rounds: reference CPU minus bare CPU per request.
    pub fixed_cost_us: Option<f64>,
    /// The same on `server-memory-log-off`'s rounds (`RUST_LOG=off`).
    pub fixed_cost_log_off_us: Option<f64>,
    /// `server-memory`'s returning visitor minus its log-off twin's, in
    /// paired rounds: what the access log costs a request (absent from
    /// results of schema 4 and earlier, which derived it from two separate
    /// measurements).
    #[serde(default)]
    pub access_log: Option<PairedDifference>,
    /// `server-memory`'s returning visitor minus its metrics-off twin's, in
    /// paired rounds: what counting for `/metrics` and the inspector costs a
    /// request that reads a session.
    pub metrics: Option<PairedDifference>,
}

/// One server's CPU per request minus another's, from rounds that each
/// measured both, one right after the other, while both were running.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairedDifference {
    #[serde(deserialize_with = "float_or_nan")]
    pub median_us: f64,
    /// A quarter of the rounds measured less than this, a quarter more
    /// than the third quartile.
    #[serde(deserialize_with = "float_or_nan")]
    pub first_quartile_us: f64,
    #[serde(deserialize_with = "float_or_nan")]
    pub third_quartile_us: f64,
    pub rounds: usize,
}

/// The app against a peer on a returning visitor's `get_session`, the
/// same page on both, in paired rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerComparison {
    /// The app's configuration, as users run it: `server-memory`.
    pub configuration: String,
    pub peer: String,
    pub description: String,
    /// The app's CPU per request minus the peer's: below zero where the
    /// app needs less.
    pub difference: PairedDifference,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CookieBytes {
    pub configuration: String,
    /// What was stored, e.g. `username of 64 characters`.
    pub stored: String,
    pub username_chars: usize,
    pub username_bytes: usize,
    /// The cookie's value alone.
    pub cookie_value_bytes: usize,
    /// `cookie: name=value\r\n`, sent with every request.
    pub cookie_header_bytes: usize,
    /// The `set-cookie` header line of the login response.
    pub set_cookie_header_bytes: usize,
    /// A returning visitor's `GET get_session`, as the harness sends it.
    pub get_session_request_bytes: usize,
    pub get_session_response_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryPerSession {
    pub configuration: String,
    pub logins: u64,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    /// `(after - before) / logins`; may be negative when the allocator gives memory back.
    #[serde(deserialize_with = "float_or_nan")]
    pub bytes_per_login: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiskPerSession {
    pub configuration: String,
    pub sessions: u64,
    pub bytes: u64,
    #[serde(deserialize_with = "float_or_nan")]
    pub bytes_per_session: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingPoint {
    pub configuration: String,
    pub sessions: u64,
    #[serde(deserialize_with = "float_or_nan")]
    pub seed_seconds: f64,
    /// This size's `median_ratio` over the smallest size's: 1.0 means no slower.
    #[serde(deserialize_with = "float_or_nan")]
    pub ratio_to_smallest: f64,
    pub measurement: ScenarioResult,
}

/// Store operations a scenario made, read from the server's own counters
/// in the store layer (`GET /store-operations`) before and after a fixed
/// number of requests: measured, not derived from the design.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreOperations {
    pub configuration: String,
    pub scenario: String,
    pub label: String,
    pub requests: u64,
    pub operations: u64,
    #[serde(deserialize_with = "float_or_nan")]
    pub per_thousand_requests: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutEffect {
    pub configuration: String,
    pub cookie_age_seconds: u64,
    /// For how long a copy of the cookie taken before logout still showed
    /// the logged-in page after it (0 when the first try was a Guest).
    #[serde(deserialize_with = "float_or_nan")]
    pub copied_cookie_worked_seconds: f64,
    /// Whether it still worked when the harness stopped looking.
    pub still_working_at_end: bool,
    pub tries: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloodCheck {
    pub configuration: String,
    pub path: String,
    /// Requests of each of the two floods.
    pub requests: u64,
    /// In both floods.
    pub error_responses: u64,
    pub transport_errors: u64,
    /// Growth during the first flood, which fills the server's caches.
    pub first_flood_growth_bytes: i64,
    /// Between the two floods.
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    /// Growth during the second, measured flood.
    pub rss_growth_bytes: i64,
    /// Stored records before the first flood and after the second, where
    /// the store can be counted.
    pub records_before: Option<u64>,
    pub records_after: Option<u64>,
    /// The second flood's growth under [`FLAT_LIMIT_BYTES`]; the first,
    /// which fills caches, is not judged.
    pub memory_flat: bool,
    /// Whether the floods created a record; `None` where the store was not
    /// counted.
    pub records_created: Option<bool>,
}

/// Growth of the server's memory that a flood may cause without being
/// called a leak: allocator arenas and connection buffers settle within it.
pub const FLAT_LIMIT_BYTES: i64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checks {
    /// Responses other than 2xx/3xx in every throughput measurement.
    pub error_responses: u64,
    pub transport_errors: u64,
    /// Whether every second flood left memory flat and no counted store
    /// gained a record.
    pub flood_flat: bool,
    /// Everything that went wrong, one line each.
    pub problems: Vec<String>,
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// serde_json writes a NaN (a ratio whose reference was not measured, as a
/// peer's) as `null`; reading it back gives the NaN again.
fn float_or_nan<'de, D>(deserializer: D) -> Result<f64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}
