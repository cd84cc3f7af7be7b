//! The decision at a glance (`glance.md`) and the short answer of
//! docs/comparison.md, both made from the run's figures and the facts of
//! `facts.rs`, so that the page's answer cannot drift from what was measured.

use std::fmt::Write as _;

use crate::{
    facts::{self, CopyBound, Facts},
    results::{ConfigurationRecord, Results, ScenarioResult},
    tables::{Table, duration_words, thousands},
};

/// The configurations the glance shows, one per mechanism and, where it
/// matters, per store: the token side with its default algorithm, with and
/// without revocation; every store of `/server`.
pub const ROWS: [&str; 10] = [
    "server-memory",
    "server-sqlite",
    "server-sqlite-cache",
    "server-redis",
    "server-postgres",
    "token-eddsa",
    "token-eddsa-revocation",
    "cookie-aes256gcm",
    "hybrid-sqlite",
    "hybrid-redis",
];

pub const RETURNING: &str = "get_session_returning";
pub const POPULATION: &str = "get_session_population";
pub const LOGIN: &str = "set_session";
pub const REFRESH: &str = "get_session_refresh";
/// A returning visitor counted after the store cache's entries expired.
pub const RETURNING_AFTER_THE_CACHE: &str = "get_session_returning_after_ttl";

/// What a cell or a sentence says where the run has no figure.
pub const NOT_MEASURED: &str = "not measured in this run";

/// The seed's username, whose cookie the glance shows: what the two views
/// of the reference document store.
const SEED_USERNAME_CHARS: usize = 8;

pub fn scenario<'a>(
    results: &'a Results,
    configuration: &str,
    scenario: &str,
) -> Option<&'a ScenarioResult> {
    results
        .throughput
        .iter()
        .find(|result| result.configuration == configuration && result.scenario == scenario)
}

/// Median server CPU per request of a scenario, in µs.
pub fn cpu(results: &Results, configuration: &str, id: &str) -> Option<f64> {
    scenario(results, configuration, id)
        .map(|result| result.median_cpu_us_per_request)
        .filter(|value| value.is_finite())
}

fn record<'a>(results: &'a Results, configuration: &str) -> Option<&'a ConfigurationRecord> {
    results
        .configurations
        .iter()
        .find(|record| record.name == configuration)
}

fn facts_of(record: &ConfigurationRecord) -> Option<Facts> {
    let revocation = record
        .server_args
        .iter()
        .any(|arg| arg == "--token-revocation");
    facts::of(&record.side, revocation)
}

/// The `cookie:` header a returning `john_doe` sends with every request.
pub fn cookie_header_bytes(results: &Results, configuration: &str) -> Option<usize> {
    results
        .cookie_bytes
        .iter()
        .find(|row| row.configuration == configuration && row.username_chars == SEED_USERNAME_CHARS)
        .map(|row| row.cookie_header_bytes)
}

pub fn store_operations(results: &Results, configuration: &str, id: &str) -> Option<f64> {
    results
        .store_operations
        .iter()
        .find(|row| row.configuration == configuration && row.scenario == id)
        .map(|row| row.per_thousand_requests)
}

fn copied_cookie_seconds(results: &Results, configuration: &str) -> Option<(f64, bool, u64)> {
    results
        .logout
        .iter()
        .find(|row| row.configuration == configuration)
        .map(|row| {
            (
                row.copied_cookie_worked_seconds,
                row.still_working_at_end,
                row.cookie_age_seconds,
            )
        })
}

/// `61.4`, or the absence said in words.
pub fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| NOT_MEASURED.to_owned(), |value| format!("{value:.1}"))
}

/// `61.4 µs`, or the absence said in words.
pub fn micros_unit(value: Option<f64>) -> String {
    value.map_or_else(|| NOT_MEASURED.to_owned(), |value| format!("{value:.1} µs"))
}

fn count(value: Option<f64>) -> String {
    value.map_or_else(
        || NOT_MEASURED.to_owned(),
        |value| thousands(value.round().max(0.0) as u64),
    )
}

/// How long a copied cookie works after logout: the fact, how long that
/// is by default, and what the run measured with its short cookie age.
fn copied_cookie(results: &Results, configuration: &str, facts: &Facts) -> String {
    let defaults = results.settings.server_defaults.as_ref();
    let default = match facts.copy_bounded_by {
        CopyBound::Logout => None,
        CopyBound::CookieAge => defaults.map(|d| duration_words(d.cookie_age_seconds)),
        CopyBound::AccessTokenAge => defaults.map(|d| duration_words(d.access_token_age_seconds)),
    };
    let mut cell = facts.copied_cookie_after_logout.to_owned();
    if let Some(default) = default {
        let _ = write!(cell, " ({default} by default)");
    }
    match copied_cookie_seconds(results, configuration) {
        Some((seconds, still, age)) => {
            let more = if still { "more than " } else { "" };
            let _ = write!(
                cell,
                "; measured: {more}{seconds:.1} s with a cookie age of {age} s"
            );
        }
        None => {
            let _ = write!(cell, "; {NOT_MEASURED}");
        }
    }
    cell
}

/// Where the mechanism keeps its records, as the glance names it.
fn store_cell(record: &ConfigurationRecord, facts: &Facts) -> String {
    let stateless = facts.store_outage.starts_with("nothing");
    if stateless {
        "none".to_owned()
    } else if record.server_args.iter().any(|arg| arg == "--store-cache") {
        format!("{}, cache in front", record.store)
    } else {
        record.store.clone()
    }
}

pub fn glance(results: &Results) -> Table {
    let rows: Vec<Vec<String>> = ROWS
        .iter()
        .filter_map(|name| {
            let record = record(results, name)?;
            scenario(results, name, RETURNING)?;
            let facts = facts_of(record)?;
            let mut operations = count(store_operations(results, name, RETURNING));
            if let Some(after) = store_operations(results, name, RETURNING_AFTER_THE_CACHE) {
                let _ = write!(
                    operations,
                    "; back after the cache's TTL: {}",
                    count(Some(after))
                );
            }
            if let Some(refresh) = store_operations(results, name, REFRESH) {
                let _ = write!(operations, "; a refresh: {}", count(Some(refresh)));
            }
            Some(vec![
                format!("`/{}` (`{name}`)", record.side),
                store_cell(record, &facts),
                format!("**{}**", micros(cpu(results, name, POPULATION))),
                micros(cpu(results, name, RETURNING)),
                micros(cpu(results, name, LOGIN)),
                cookie_header_bytes(results, name)
                    .map_or_else(|| NOT_MEASURED.to_owned(), |bytes| bytes.to_string()),
                operations,
                copied_cookie(results, name, &facts),
                facts.store_outage.to_owned(),
                facts.browser_reads_the_data.to_owned(),
                facts.another_service_needs.to_owned(),
            ])
        })
        .collect();
    let population = thousands(results.settings.population);
    let mut body = format!(
        "What decides between the mechanisms, one row per mechanism and store. *CPU per returning visitor* is \
         the server's CPU time per `get_session` of a logged-in visitor among a population of up to {population} \
         (more than the caches hold, each returning seconds apart: [population.md](population.md)); *hot loop* is \
         the same request when {} visitors cycle through the caches ([throughput.md](throughput.md)), the best \
         case. *per login* is a `set_session`. *cookie bytes* is the `cookie:` header a browser sends with every \
         request for the seed's `john_doe` ([cookie_bytes.md](cookie_bytes.md)); *store operations* are per \
         1,000 returning visitors' requests, each back moments after the last, and behind a cache also after its \
         entries have expired, counted by the server ([store_operations.md](store_operations.md)). \
         A copied cookie after logout is measured with a short cookie age ([logout.md](logout.md)); the last \
         three columns are properties of the design, each held by a test of the app. CPU in µs, medians of \
         the run's rounds.\n\n",
        thousands(results.settings.returning_visitors as u64)
    );
    if rows.is_empty() {
        body.push_str("Not measured in this run: none of the mechanisms' configurations.\n");
    } else {
        body.push_str(&crate::tables::grid(
            &[
                "mechanism",
                "store",
                "CPU per returning visitor",
                "hot loop",
                "per login",
                "cookie bytes",
                "store operations",
                "a copied cookie after logout",
                "a store outage",
                "the browser reads the data",
                "another service needs",
            ],
            &rows,
        ));
    }
    body.push_str(
        "\n![Server CPU per returning visitor, hot loop beside population](cpu_per_request.svg)\n",
    );
    Table::of_file("glance", "The decision at a glance", body)
}

/// `61.4 µs`, or a dash that says the run has no such figure, so that a
/// sentence still reads.
fn in_a_sentence(value: Option<f64>) -> String {
    value.map_or_else(
        || format!("— ({NOT_MEASURED})"),
        |value| format!("{value:.1} µs"),
    )
}

/// "less than", "about the same as" or "more than", within a tenth.
fn compared(value: f64, other: f64) -> &'static str {
    if value < other * 0.9 {
        "less than"
    } else if value > other * 1.1 {
        "more than"
    } else {
        "about the same as"
    }
}

/// The short answer: where the realistic figure stands, then the hot loop,
/// then each choice with the figures it rests on.
pub fn short_answer(results: &Results) -> Table {
    let pop = |name: &str| in_a_sentence(cpu(results, name, POPULATION));
    let hot = |name: &str| in_a_sentence(cpu(results, name, RETURNING));
    let login = |name: &str| in_a_sentence(cpu(results, name, LOGIN));
    let bytes = |name: &str| {
        cookie_header_bytes(results, name)
            .map_or_else(|| NOT_MEASURED.to_owned(), |bytes| format!("{bytes} bytes"))
    };
    let operations = |name: &str, id: &str| count(store_operations(results, name, id));
    let copy = |name: &str| {
        copied_cookie_seconds(results, name).map_or_else(
            || NOT_MEASURED.to_owned(),
            |(seconds, still, age)| {
                let more = if still { "more than " } else { "" };
                format!("{more}{seconds:.1} s after logout (at a cookie age of {age} s)")
            },
        )
    };
    let reference = results
        .throughput
        .iter()
        .find(|result| result.scenario == "reference_a_a")
        .map(|result| result.median_reference_cpu_us_per_request);
    let mut text = format!(
        "From the table above ([glance.md](glance.md)). **With visitors as they come**, a population of up to {} \
         logged-in visitors, more than the caches hold, a returning visitor cost the server {} of CPU per request \
         on `/server` with the memory store and {} with SQLite, {} on `/token` (Ed25519: a visitor the server has \
         not verified lately pays a signature check), {} on `/cookie` and {} on `/hybrid`; the stateless \
         reference page cost {}. **In the hot loop**, {} visitors cycling through the caches, the same requests \
         cost {}, {}, {}, {} and {}: the best case, not the usual one.\n\n",
        thousands(results.settings.population),
        pop("server-memory"),
        pop("server-sqlite"),
        pop("token-eddsa"),
        pop("cookie-aes256gcm"),
        pop("hybrid-sqlite"),
        micros_unit(reference),
        thousands(results.settings.returning_visitors as u64),
        hot("server-memory"),
        hot("server-sqlite"),
        hot("token-eddsa"),
        hot("cookie-aes256gcm"),
        hot("hybrid-sqlite"),
    );
    let _ = writeln!(
        text,
        "- **Choose server-side sessions** when a logout, a password change or an administrator must end a login \
         *now*, when the session holds more than a few small values, or when its contents must stay secret. A \
         copied cookie worked {}; a returning visitor costs a store read ({} store operations per \
         1,000 requests) and {} among the population on the memory store, {} on Redis, {} on PostgreSQL; the \
         cookie header is {} whatever the session holds. You pay that read and a store to run.",
        copy("server-memory"),
        operations("server-memory", RETURNING),
        pop("server-memory"),
        pop("server-redis"),
        pop("server-postgres"),
        bytes("server-memory"),
    );
    if let (Some(cached_hot), Some(plain_hot)) = (
        cpu(results, "server-sqlite-cache", RETURNING),
        cpu(results, "server-sqlite", RETURNING),
    ) {
        let population = match (
            cpu(results, "server-sqlite-cache", POPULATION),
            cpu(results, "server-sqlite", POPULATION),
        ) {
            (Some(cached), Some(plain)) => format!(
                ", and {cached:.1} µs, {} plain SQLite's {plain:.1}, among the population",
                compared(cached, plain)
            ),
            _ => format!("; among the population, {NOT_MEASURED}"),
        };
        let ttl = results.settings.server_defaults.as_ref().map_or_else(
            || "its TTL".to_owned(),
            |defaults| format!("its TTL ({} s)", defaults.store_cache_ttl_seconds),
        );
        let _ = writeln!(
            text,
            "- **An in-process cache in front of the store** (`--store-cache`) cost a returning visitor {cached_hot:.1} \
             µs in the hot loop, {} plain SQLite's {plain_hot:.1}{population}. It spares the store a visitor who \
             comes back within {ttl}: {} store operations per 1,000 such requests, against {} for one who comes back \
             later; and another instance's logout goes unseen until that TTL has passed.",
            compared(cached_hot, plain_hot),
            operations("server-sqlite-cache", RETURNING),
            operations("server-sqlite-cache", RETURNING_AFTER_THE_CACHE),
        );
    }
    let signature = match (
        cpu(results, "token-eddsa", LOGIN),
        cpu(results, "token-hs256", LOGIN),
    ) {
        (Some(eddsa), Some(hmac)) => {
            format!(" (its Ed25519 signature about {:.1} µs)", eddsa - hmac)
        }
        _ => String::new(),
    };
    let _ = writeln!(
        text,
        "- **Choose signed tokens** when several services or instances must accept a login without sharing a \
         store, when a store outage must not log anyone out, or when no per-visitor state may live on the server. \
         A returning visitor touches no store ({} store operations per 1,000 requests) and costs {} among the \
         population against {} in the hot loop, where the cache of verified tokens spares the signature check; a \
         login costs {}{signature}; the cookie header is {} for `john_doe` and grows with the data; and a copy \
         worked {}: until its `exp`, unless `--token-revocation` (a store again) is on.",
        operations("token-eddsa", RETURNING),
        pop("token-eddsa"),
        hot("token-eddsa"),
        login("token-eddsa"),
        bytes("token-eddsa"),
        copy("token-eddsa"),
    );
    let _ = writeln!(
        text,
        "- **Choose the encrypted cookie** when the state is small and you want what tokens give (no store, no \
         outage to fear) without showing the data to the browser, and when no other service needs to verify it \
         (its key is symmetric). A returning visitor costs {} among the population and {} in the hot loop, a \
         login {}, with {} store operations; the cookie header is {} for `john_doe`; a copy worked {}: until \
         the expiry sealed in it.",
        pop("cookie-aes256gcm"),
        hot("cookie-aes256gcm"),
        login("cookie-aes256gcm"),
        operations("cookie-aes256gcm", RETURNING),
        bytes("cookie-aes256gcm"),
        copy("cookie-aes256gcm"),
    );
    let _ = writeln!(
        text,
        "- **Choose the hybrid** (a short-lived access token and a rotating refresh id) when you want the token's \
         store-free requests *and* a logout that ends the login within the access token's age. A returning \
         visitor costs {} in the hot loop with {} store operations, but a refresh costs {} and {} store \
         operations per 1,000 refreshes, and a login {}; the two cookies' header is {}; a copied access token \
         worked {}. Keys and a store to run: the most moving parts of the four \
         ([when it is worth it](#when-the-hybrid-is-worth-its-complexity)).",
        hot("hybrid-sqlite"),
        operations("hybrid-sqlite", RETURNING),
        in_a_sentence(cpu(results, "hybrid-sqlite", REFRESH)),
        operations("hybrid-sqlite", REFRESH),
        login("hybrid-sqlite"),
        bytes("hybrid-sqlite"),
        copy("hybrid-sqlite"),
    );
    Table::text("short_answer", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published run, as committed.
    fn published() -> Results {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results/results.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_figure_the_run_lacks_is_said_in_words_not_left_blank() {
        let mut results = published();
        results.throughput.retain(|result| {
            !(result.configuration == "cookie-aes256gcm" && result.scenario == POPULATION)
        });
        let table = glance(&results).body;
        let row = table
            .lines()
            .find(|line| line.contains("(`cookie-aes256gcm`)"))
            .unwrap();
        assert!(row.contains(NOT_MEASURED), "{row}");
        let answer = short_answer(&results).body;
        assert!(answer.contains(&format!("— ({NOT_MEASURED})")), "{answer}");
    }

    #[test]
    fn the_short_answer_gives_the_population_first_and_the_hot_loop_second() {
        let results = published();
        let answer = short_answer(&results).body;
        let population = answer.find("With visitors as they come").unwrap();
        let hot_loop = answer.find("In the hot loop").unwrap();
        assert!(population < hot_loop, "{answer}");
        let token = micros_unit(cpu(&results, "token-eddsa", POPULATION));
        assert!(answer[population..hot_loop].contains(&token), "{answer}");
    }

    #[test]
    fn every_choice_cites_the_figures_it_rests_on() {
        let answer = short_answer(&published()).body;
        for choice in answer.lines().filter(|line| line.starts_with("- **Choose")) {
            assert!(choice.contains(" µs"), "{choice}");
            assert!(choice.contains("store operations"), "{choice}");
        }
    }

    #[test]
    fn behind_a_cache_the_store_operations_of_a_visitor_back_after_its_ttl_are_given_too() {
        let mut results = published();
        results
            .store_operations
            .retain(|row| row.scenario != RETURNING_AFTER_THE_CACHE);
        results
            .store_operations
            .push(crate::results::StoreOperations {
                configuration: "server-sqlite-cache".to_owned(),
                scenario: RETURNING_AFTER_THE_CACHE.to_owned(),
                label: "after the TTL".to_owned(),
                requests: 1000,
                operations: 987,
                per_thousand_requests: 987.0,
            });
        let table = glance(&results).body;
        let row = table
            .lines()
            .find(|line| line.contains("(`server-sqlite-cache`)"))
            .unwrap();
        assert!(row.contains("back after the cache's TTL: 987"), "{row}");
        let plain = table
            .lines()
            .find(|line| line.contains("(`server-sqlite`)"))
            .unwrap();
        assert!(!plain.contains("after the cache"), "{plain}");
        let answer = short_answer(&results).body;
        assert!(
            answer.contains("against 987 for one who comes back later"),
            "{answer}"
        );
    }

    #[test]
    fn comparisons_allow_a_tenth_either_way() {
        assert_eq!(compared(24.2, 22.4), "about the same as");
        assert_eq!(compared(10.0, 22.4), "less than");
        assert_eq!(compared(30.0, 22.4), "more than");
    }
}
