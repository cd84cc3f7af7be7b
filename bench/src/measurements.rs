//! The measurements besides throughput: logged-in visitors to replay, bytes
//! on the wire, memory per stored session, memory under a flood of
//! strangers, and how long a copied cookie outlives a logout.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use tower_sessions::session::Id;

use crate::{
    app::{Mount, Route},
    configurations::Configuration,
    load::{self, Cookies, Limits, Load},
    options::Settings,
    results::{
        CookieBytes, FLAT_LIMIT_BYTES, FloodCheck, LogoutEffect, MemoryPerSession, StoreOperations,
    },
    servers::ServerProcess,
    services::PrivateDatabase,
    wire::{self, Request},
};

/// Logs in `count` new visitors through `set_session` with the load
/// generator and returns their cookies (`name=value`). With `minimum`, fails
/// unless at least that many came back.
pub async fn log_in_many(
    server: &ServerProcess,
    configuration: &Configuration,
    settings: &Settings,
    limits: Limits,
    minimum: usize,
) -> anyhow::Result<Vec<String>> {
    log_in_many_keeping(
        server,
        configuration,
        settings,
        limits,
        minimum,
        configuration.cookie_name(),
    )
    .await
}

/// The logged-in visitors a returning-visitor scenario cycles through:
/// `settings.returning_visitors` of them, every one required.
pub async fn log_in_returning_visitors(
    server: &ServerProcess,
    configuration: &Configuration,
    settings: &Settings,
) -> anyhow::Result<Vec<String>> {
    log_in_many(
        server,
        configuration,
        settings,
        Limits::count(settings.returning_visitors as u64),
        settings.returning_visitors,
    )
    .await
}

/// Like [`log_in_many`], keeping the cookie called `cookie` of each login:
/// `/hybrid`'s refresh ids, for requests that must refresh.
pub async fn log_in_many_keeping(
    server: &ServerProcess,
    configuration: &Configuration,
    settings: &Settings,
    limits: Limits,
    minimum: usize,
    cookie: &'static str,
) -> anyhow::Result<Vec<String>> {
    let load = Load {
        collect_cookie: Some(cookie),
        ..Load::get(&configuration.path(Route::SetSession), Cookies::None)
    };
    let outcome = load::run(server.address, &load, settings.connections, limits).await;
    if outcome.collected.len() < minimum {
        bail!(
            "logins gave {} cookies, fewer than {minimum} ({} error responses, {} transport errors)",
            outcome.collected.len(),
            outcome.error_responses,
            outcome.transport_errors
        );
    }
    Ok(outcome.collected)
}

/// What is stored, from the seed's 8 characters to the largest username
/// the form accepts in bytes: 150 characters of 4 bytes each.
const STORED: [(&str, &str, usize); 4] = [
    ("username of 8 characters", "j", 8),
    ("username of 64 characters", "u", 64),
    ("username of 150 characters", "u", 150),
    ("150 four-byte characters (600 bytes)", "\u{1F600}", 150),
];

/// Bytes on the wire for a visitor of `configuration` as the stored data grows.
pub async fn cookie_bytes(
    server: &ServerProcess,
    configuration: &Configuration,
) -> anyhow::Result<Vec<CookieBytes>> {
    let mut rows = Vec::new();
    for (stored, unit, chars) in STORED {
        let username = if chars == 8 {
            "john_doe".to_owned()
        } else {
            unit.repeat(chars)
        };
        let (mut cookie, login) = wire::log_in(
            server.address,
            &configuration.path(Route::SetSession),
            configuration.cookie_name(),
            Some(&username),
        )
        .await?;
        let mut value = cookie.split_once('=').map_or(0, |(_, value)| value.len());
        let mut set_cookie_header_bytes = login
            .set_cookie_line(configuration.cookie_name())
            .map_or(0, |line| line.len());
        // A browser holding two cookies sends both.
        if let Some(second) = configuration.applies().refresh_cookie {
            let value_of_second = login
                .set_cookie(second)
                .with_context(|| format!("login set no {second} cookie"))?;
            value += value_of_second.len();
            cookie = format!("{cookie}; {second}={value_of_second}");
            set_cookie_header_bytes += login.set_cookie_line(second).map_or(0, |line| line.len());
        }
        let page = wire::exchange(
            server.address,
            Request::get(&configuration.path(Route::GetSession)).with_cookie(Some(cookie.clone())),
        )
        .await?;
        if page.username() != Some(username.as_str()) {
            bail!(
                "after logging in as a {stored}, get_session showed {:?}",
                page.username()
            );
        }
        rows.push(CookieBytes {
            configuration: configuration.name.to_owned(),
            stored: stored.to_owned(),
            username_chars: chars,
            username_bytes: username.len(),
            cookie_value_bytes: value,
            cookie_header_bytes: format!("cookie: {cookie}\r\n").len(),
            set_cookie_header_bytes,
            get_session_request_bytes: page.request_bytes,
            get_session_response_bytes: page.response_bytes,
        });
    }
    Ok(rows)
}

/// Growth of the server's resident memory over `settings.memory_logins`
/// logins of new visitors, after a warm-up that creates no session.
pub async fn memory_per_session(
    server: &ServerProcess,
    configuration: &Configuration,
    settings: &Settings,
) -> anyhow::Result<MemoryPerSession> {
    let new_visitor = Load::get(&configuration.path(Route::GetSession), Cookies::None);
    let warmup = Limits::count(settings.memory_logins.min(5_000));
    load::run(server.address, &new_visitor, settings.connections, warmup).await;
    settle().await;
    let before = server.rss_bytes()?;
    let logins = Load::get(&configuration.path(Route::SetSession), Cookies::None);
    let outcome = load::run(
        server.address,
        &logins,
        settings.connections,
        Limits::count(settings.memory_logins),
    )
    .await;
    if outcome.error_responses + outcome.transport_errors > 0 {
        bail!(
            "{} of the logins failed ({:?})",
            outcome.error_responses + outcome.transport_errors,
            outcome.statuses
        );
    }
    settle().await;
    let after = server.rss_bytes()?;
    Ok(MemoryPerSession {
        configuration: configuration.name.to_owned(),
        logins: outcome.responses,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_login: (after as f64 - before as f64) / outcome.responses.max(1) as f64,
    })
}

/// Lets in-flight work and freed buffers settle before reading RSS.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Cookies no server ever issued: for `/server`, well-formed random ids
/// (so that each is looked up in the store) and garbage; for `/token` (and
/// `/hybrid`'s access token), random three-part strings shaped like a JWT;
/// for `/cookie` (and any other), random bytes in base64, shaped like a
/// sealed value.
pub fn random_cookies(configuration: &Configuration, count: u64) -> Vec<String> {
    let mut random = rand::thread_rng();
    let name = configuration.cookie_name();
    (0..count)
        .map(|index| {
            let value = match configuration.mount() {
                Mount::SERVER if index % 2 == 0 => Id::default().to_string(),
                Mount::SERVER => {
                    let mut bytes = [0_u8; 24];
                    random.fill_bytes(&mut bytes);
                    URL_SAFE_NO_PAD.encode(bytes)
                }
                Mount::TOKEN | Mount::HYBRID => {
                    let mut part = |length: usize| {
                        let mut bytes = vec![0_u8; length];
                        random.fill_bytes(&mut bytes);
                        URL_SAFE_NO_PAD.encode(bytes)
                    };
                    format!("eyJ{}.{}.{}", part(24), part(80), part(64))
                }
                // `/cookie`'s shape, and random bytes for any other.
                _ => {
                    let mut bytes = [0_u8; 120];
                    random.fill_bytes(&mut bytes);
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                }
            };
            format!("{name}={value}")
        })
        .collect()
}

/// A flood of new visitors with random cookies at `get_session`: no error
/// responses, no record stored, and memory that stays flat. A first flood
/// of the same size fills what the server rightly keeps (SQLite's page cache
/// on each pooled connection, allocator arenas, connection buffers), so that
/// only growth that goes on with the number of strangers is counted.
pub async fn flood(
    server: &ServerProcess,
    configuration: &Configuration,
    settings: &Settings,
    records: &RecordCounter<'_>,
) -> anyhow::Result<FloodCheck> {
    let path = configuration.path(Route::GetSession);
    let flood = |cookies| Load::get(&path, Cookies::once(cookies));
    let run = |load: Load| async move {
        let outcome = load::run(
            server.address,
            &load,
            settings.connections,
            Limits::count(u64::MAX),
        )
        .await;
        settle().await;
        outcome
    };
    let first_cookies = random_cookies(configuration, settings.flood_requests);
    let second_cookies = random_cookies(configuration, settings.flood_requests);
    let rss_at_start = server.rss_bytes()?;
    let records_before = records.count().await;
    let first = run(flood(first_cookies)).await;
    let rss_before = server.rss_bytes()?;
    let second = run(flood(second_cookies)).await;
    let rss_after = server.rss_bytes()?;
    let records_after = records.count().await;
    let growth = rss_after as i64 - rss_before as i64;
    Ok(FloodCheck {
        configuration: configuration.name.to_owned(),
        requests: second.responses,
        error_responses: first.error_responses + second.error_responses,
        transport_errors: first.transport_errors + second.transport_errors,
        first_flood_growth_bytes: rss_before as i64 - rss_at_start as i64,
        rss_before_bytes: rss_before,
        rss_after_bytes: rss_after,
        rss_growth_bytes: growth,
        records_before,
        records_after,
        memory_flat: growth < FLAT_LIMIT_BYTES,
        records_created: records_before
            .zip(records_after)
            .map(|(before, after)| after > before),
        path,
    })
}

/// How to count the records a store holds, where that is cheap.
#[derive(Debug)]
pub enum RecordCounter<'a> {
    Uncountable,
    Sqlite(PathBuf),
    Service(&'a PrivateDatabase),
}

impl RecordCounter<'_> {
    pub async fn count(&self) -> Option<u64> {
        match self {
            RecordCounter::Uncountable => None,
            RecordCounter::Service(database) => database.count(),
            RecordCounter::Sqlite(path) => {
                let connection = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .ok()?;
                let count: i64 = connection
                    .query_row("select count(*) from tower_sessions", [], |row| row.get(0))
                    .ok()?;
                u64::try_from(count).ok()
            }
        }
    }
}

/// Logs in, copies the cookie, logs out, and replays the copy until the
/// server stops honouring it: 0 for a server-side session, until `exp`
/// How often a copied cookie is replayed after logout: the resolution of
/// the logout-to-effect figure.
pub const REPLAY_INTERVAL_MS: u64 = 50;

/// for a plain token. `server` must run with `--cookie-age cookie_age`.
pub async fn logout_effect(
    server: &ServerProcess,
    configuration: &Configuration,
    cookie_age: u64,
) -> anyhow::Result<LogoutEffect> {
    let address = server.address;
    let get_session = configuration.path(Route::GetSession);
    let (copy, _) = wire::log_in(
        address,
        &configuration.path(Route::SetSession),
        configuration.cookie_name(),
        None,
    )
    .await?;
    let logged_in = |response: &wire::Response| response.username() == Some("john_doe");
    let before = wire::exchange(
        address,
        Request::get(&get_session).with_cookie(Some(copy.clone())),
    )
    .await?;
    if !logged_in(&before) {
        bail!("the fresh login did not show john_doe");
    }
    let logout = wire::exchange(
        address,
        Request::post(&configuration.path(Route::Logout), &[]).with_cookie(Some(copy.clone())),
    )
    .await?;
    if logout.status != 303 {
        bail!("logout answered {} instead of 303", logout.status);
    }
    let logged_out = Instant::now();
    // Past `exp` plus the token's clock leeway, with a margin.
    let give_up = Duration::from_secs(cookie_age + 5);
    let mut tries = 0;
    let mut worked_until = None;
    loop {
        let tried = Instant::now();
        let page = wire::exchange(
            address,
            Request::get(&get_session).with_cookie(Some(copy.clone())),
        )
        .await
        .context("replaying the copied cookie")?;
        tries += 1;
        if !logged_in(&page) {
            break;
        }
        worked_until = Some(tried.duration_since(logged_out));
        if logged_out.elapsed() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(REPLAY_INTERVAL_MS)).await;
    }
    let still_working_at_end = worked_until.is_some_and(|_| logged_out.elapsed() > give_up);
    Ok(LogoutEffect {
        configuration: configuration.name.to_owned(),
        cookie_age_seconds: cookie_age,
        copied_cookie_worked_seconds: worked_until.map_or(0.0, |worked| worked.as_secs_f64()),
        still_working_at_end,
        tries,
    })
}

/// What the server's store counters say page requests have cost so far.
async fn store_operations_so_far(server: &ServerProcess) -> anyhow::Result<u64> {
    let operations = server
        .operations
        .context("the server was started without its operators' listener (--metrics-bind)")?;
    let page = wire::exchange(operations, wire::Request::get(STORE_OPERATIONS)).await?;
    if page.status != 200 {
        bail!("{STORE_OPERATIONS} answered {}", page.status);
    }
    let counts: serde_json::Value = serde_json::from_str(&page.body)?;
    counts["by_requests"]
        .as_u64()
        .with_context(|| format!("{STORE_OPERATIONS} gave no by_requests: {}", page.body))
}

/// The server's own count of store operations, by kind.
pub const STORE_OPERATIONS: &str = "/store-operations";

/// Store operations per 1,000 requests of `load`: the server's counters
/// read before and after `requests` requests on one connection, so that
/// nothing else runs between the two readings. With `after_a_first_pass`,
/// the same requests are sent once uncounted first, and counted after that
/// pause: what a visitor who comes back that much later costs.
pub async fn store_operations(
    server: &ServerProcess,
    configuration: &Configuration,
    (scenario, label): (&str, &str),
    load: &Load,
    requests: u64,
    after_a_first_pass: Option<Duration>,
) -> anyhow::Result<StoreOperations> {
    if let Some(pause) = after_a_first_pass {
        let first = load::run(server.address, load, 1, Limits::count(requests)).await;
        if first.responses == 0 {
            bail!("no response to the first pass of {scenario}");
        }
        tokio::time::sleep(pause).await;
    }
    let before = store_operations_so_far(server).await?;
    let outcome = load::run(server.address, load, 1, Limits::count(requests)).await;
    let after = store_operations_so_far(server).await?;
    if outcome.responses == 0 {
        bail!("no response to {scenario}");
    }
    let operations = after.saturating_sub(before);
    Ok(StoreOperations {
        configuration: configuration.name.to_owned(),
        scenario: scenario.to_owned(),
        label: label.to_owned(),
        requests: outcome.responses,
        operations,
        per_thousand_requests: operations as f64 * 1000.0 / outcome.responses as f64,
    })
}
