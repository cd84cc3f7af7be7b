//! `--check-docs`, and the test that runs it on the committed docs: a
//! measured figure quoted in README.md or a page of docs/ outside a
//! generated block must be one the cited results.json holds, so that no
//! typed number outlives the run it came from. A figure with a unit must
//! match a field of that kind (µs a `*_us*` field, req/s a `*rps*` one,
//! bytes a `*bytes*` one), rounded as it is written; a ratio or multiple may
//! match any number. That is loose (a typed figure that happens to equal
//! another field's passes), but it catches a figure from another run.
//!
//! What counts as a measured figure: a decimal number (`61.4`, `0.22`), or
//! a number with a unit that only measurements have (µs, ns, req/s,
//! requests/s, ×, times, instructions, %, bytes, B, KiB, MiB). Whole
//! numbers without such a unit (`32 connections`, `--cookie-age 1209600`,
//! `RFC 9700`) and durations in seconds (configuration defaults: `5 s`,
//! `300 s`) are not, nor is anything in code (fenced or `inline`), a link
//! target, an HTML comment or a section number (`§4.14`). The few fixed
//! sizes the text explains (a browser's cookie limit, AES-GCM's nonce and
//! tag) are listed in [`CONSTANTS`] with where they come from.

use std::{fmt, fs, path::Path};

use anyhow::Context as _;
use serde_json::Value;

/// The pages checked, relative to the project's root: README.md and every
/// page of docs/ (the results folder is written by the harness itself).
pub fn pages(root: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut pages = vec![root.join("README.md")];
    let docs = root.join("docs");
    let mut found: Vec<_> = fs::read_dir(&docs)
        .with_context(|| format!("cannot list {}", docs.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    found.sort();
    pages.extend(found);
    Ok(pages)
}

/// Fixed sizes that are not measurements, as (number, unit): each is a
/// standard's or a primitive's, not a run's.
const CONSTANTS: [(&str, &str); 15] = [
    // RFC 6265 §6.1: browsers keep cookies of at least 4096 bytes, and refuse larger.
    ("4096", "bytes"),
    // AES-256-GCM: a 12-byte nonce and a 16-byte tag, 28 bytes in all.
    ("12", "byte"),
    ("16", "byte"),
    ("28", "bytes"),
    // The cookie key's length (the cookie crate's private jar).
    ("64", "byte"),
    ("64", "bytes"),
    // RFC 7518 §3.2: an HS256 secret of at least 32 bytes.
    ("32", "bytes"),
    // The access log's writer flushes at this size (src/logging.rs).
    ("256", "KiB"),
    // The access log's writer makes requests wait past this (src/logging.rs);
    // the flood check's limit of growth (bench/src/results.rs).
    ("4", "MiB"),
    // The largest username the form takes: 150 four-byte characters.
    ("600", "bytes"),
    // The load generator's latency histogram starts at 1 µs (bench/src/load.rs).
    ("1", "µs"),
    // The busy mark: a 1-minute load average above 0.5 per core (bench/src/machine.rs).
    ("0.5", "per"),
    // The ratios' meaning: 1.00 is as cheap as the reference.
    ("1.00", "means"),
    // The bounds of the store-latency histogram of /metrics (src/metrics.rs).
    ("50", "µs"),
    ("2.5", "s"),
];

/// Units that only a measurement has. Longer spellings first, so that
/// `bytes` is not read as `B`.
const UNITS: [&str; 15] = [
    "requests/s",
    "req/s",
    "instructions",
    "times",
    "bytes",
    "byte",
    "KiB",
    "MiB",
    "GiB",
    "µs",
    "ns",
    "×",
    "%",
    "k instructions",
    "B",
];

/// A figure typed in a page that the results do not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub page: String,
    pub line: usize,
    pub figure: String,
}

impl fmt::Display for Stray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.page, self.line, self.figure)
    }
}

/// Every stray figure of the pages under `root`.
pub fn check_pages(root: &Path, results: &Value) -> anyhow::Result<Vec<Stray>> {
    let known = numbers_of(results);
    let mut strays = Vec::new();
    for page in pages(root)? {
        let text =
            fs::read_to_string(&page).with_context(|| format!("cannot read {}", page.display()))?;
        let name = page
            .strip_prefix(root)
            .unwrap_or(&page)
            .display()
            .to_string();
        for (line, figure) in figures(&text) {
            if !is_known(&figure, &known) {
                strays.push(Stray {
                    page: name.clone(),
                    line,
                    figure,
                });
            }
        }
    }
    Ok(strays)
}

/// Every number in the results with the name of the field that holds it:
/// JSON numbers, and numbers inside strings (the load averages, the
/// command), so that a figure's unit can be matched to its kind of field.
fn numbers_of(value: &Value) -> Vec<(String, f64)> {
    let mut numbers = Vec::new();
    let mut stack = vec![(String::new(), value)];
    while let Some((key, value)) = stack.pop() {
        match value {
            Value::Number(number) => numbers.extend(number.as_f64().map(|n| (key, n))),
            Value::String(text) => numbers.extend(
                text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .filter_map(|token| token.trim_matches('.').parse::<f64>().ok())
                    .map(|n| (key.clone(), n)),
            ),
            Value::Array(items) => stack.extend(items.iter().map(|item| (key.clone(), item))),
            Value::Object(fields) => {
                stack.extend(fields.iter().map(|(name, field)| (name.clone(), field)));
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
    numbers
}

/// The fields a figure with this unit may come from, and the factor from
/// the field's value to the figure: microseconds from `*_us*` fields,
/// requests per second from `*rps*`, sizes from `*bytes*`. Figures without
/// a unit of their own kind (ratios, multiples, percentages) may come from
/// any field.
fn field_for(unit: &str) -> Option<(&'static str, f64)> {
    match unit {
        "µs" => Some(("_us", 1.0)),
        "req/s" | "requests/s" => Some(("rps", 1.0)),
        "bytes" | "byte" | "B" => Some(("bytes", 1.0)),
        "KiB" => Some(("bytes", 1.0 / 1024.0)),
        "MiB" => Some(("bytes", 1.0 / 1_048_576.0)),
        "GiB" => Some(("bytes", 1.0 / 1_073_741_824.0)),
        _ => None,
    }
}

/// Whether `figure` (`61.4 µs`, `47,236 req/s`, `0.22`) is a number of the
/// results, in a field of its unit's kind, rounded as the figure is written.
fn is_known(figure: &str, known: &[(String, f64)]) -> bool {
    let (written, unit) = figure.split_once(' ').unwrap_or((figure, ""));
    let number: String = written.chars().filter(|c| *c != ',').collect();
    let Ok(value) = number.parse::<f64>() else {
        return false;
    };
    let field = field_for(unit);
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    let half = 0.5 * 10f64.powi(-i32::try_from(decimals).unwrap_or(0));
    known.iter().any(|(key, known)| {
        let (matches, scale) =
            field.map_or((true, 1.0), |(part, scale)| (key.contains(part), scale));
        matches && (known * scale - value).abs() <= half + 1e-9
    })
}

/// The prose of a page, line by line, with everything that is not prose
/// blanked: generated blocks, fenced code, inline code, HTML comments and
/// link targets.
fn prose_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut generated = false;
    let mut fenced = false;
    let mut comment = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("<!-- /bench:") {
            generated = false;
            lines.push(String::new());
            continue;
        }
        if trimmed.starts_with("<!-- bench:") {
            generated = true;
            lines.push(String::new());
            continue;
        }
        if trimmed.starts_with("```") {
            fenced = !fenced;
            lines.push(String::new());
            continue;
        }
        if generated || fenced {
            lines.push(String::new());
            continue;
        }
        let mut prose = String::new();
        let mut rest = line;
        while !rest.is_empty() {
            if comment {
                match rest.find("-->") {
                    Some(end) => {
                        comment = false;
                        rest = &rest[end + 3..];
                    }
                    None => rest = "",
                }
                continue;
            }
            let next_comment = rest.find("<!--");
            let next_code = rest.find('`');
            let next_link = rest.find("](");
            let next = [next_comment, next_code, next_link]
                .into_iter()
                .flatten()
                .min();
            let Some(at) = next else {
                prose.push_str(rest);
                break;
            };
            prose.push_str(&rest[..at]);
            prose.push(' ');
            let tail = &rest[at..];
            if Some(at) == next_comment {
                comment = true;
                rest = &tail[4..];
            } else if Some(at) == next_code {
                let ticks = tail.chars().take_while(|c| *c == '`').count();
                let fence = &tail[..ticks];
                rest = tail[ticks..]
                    .find(fence)
                    .map_or("", |end| &tail[ticks + end + ticks..]);
            } else {
                rest = tail.find(')').map_or("", |end| &tail[end + 1..]);
            }
        }
        lines.push(prose);
    }
    lines
}

/// The measured figures of a page's prose, with their 1-based lines.
fn figures(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let lines = prose_lines(text);
    for (index, line) in lines.iter().enumerate() {
        // A version may follow its name across a line break.
        let previous = index
            .checked_sub(1)
            .and_then(|previous| lines.get(previous))
            .map_or("", String::as_str);
        let chars: Vec<char> = line.chars().collect();
        let mut at = 0;
        while at < chars.len() {
            if chars[at] == '§' {
                // A section number, all of it: `§4.1.11`.
                at += 1;
                while chars
                    .get(at)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    at += 1;
                }
                continue;
            }
            let starts_number =
                chars[at].is_ascii_digit() && (at == 0 || !is_word_part(chars[at - 1]));
            if !starts_number {
                at += 1;
                continue;
            }
            let mut end = at;
            while end < chars.len()
                && (chars[end].is_ascii_digit()
                    || (matches!(chars[end], '.' | ',')
                        && chars.get(end + 1).is_some_and(char::is_ascii_digit)))
            {
                end += 1;
            }
            let number: String = chars[at..end].iter().collect();
            let dots = number.matches('.').count();
            let followed_by_word = chars.get(end).is_some_and(|c| is_word_part(*c));
            at = end;
            // A version (`1.95.0`) or part of a name (`mp4`, `0x1F`).
            if dots > 1 || (followed_by_word && unit_at(&chars[end..]).is_none()) {
                continue;
            }
            let unit = unit_at(&chars[end..]);
            if let Some(unit) = unit {
                if CONSTANTS.contains(&(number.as_str(), unit)) {
                    continue;
                }
                found.push((index + 1, format!("{number} {unit}")));
            } else if dots == 1
                && !is_version(previous, line, at - number.chars().count())
                && !CONSTANTS.contains(&(number.as_str(), next_word(&chars[end..]).as_str()))
            {
                found.push((index + 1, number));
            }
        }
    }
    found
}

/// The word after a number and one space: `s` in `2.5 s`.
fn next_word(after: &[char]) -> String {
    after
        .iter()
        .skip(1)
        .take_while(|c| c.is_alphanumeric())
        .collect()
}

fn is_word_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The unit right after a number, with one space, a non-breaking space or
/// a hyphen between them (`22 µs`, `12-byte`, `20×`).
fn unit_at(after: &[char]) -> Option<&'static str> {
    let skip = usize::from(matches!(after.first(), Some(' ' | '\u{a0}' | '-')));
    let text: String = after[skip.min(after.len())..].iter().take(16).collect();
    UNITS.into_iter().find(|unit| {
        text.starts_with(unit)
            && !text[unit.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() && *unit != "%")
    })
}

/// Whether the decimal at char `start` of `line` names a version: right
/// after a crate or program's name (`tower-sessions 0.14`, `axum 0.8`),
/// which may end the `previous` line.
fn is_version(previous: &str, line: &str, start: usize) -> bool {
    let mut before: String = line.chars().take(start).collect();
    if before.trim().is_empty() {
        before = previous.to_owned();
    }
    let word = before
        .trim_end()
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    VERSIONED.contains(&word.trim_matches(|c: char| c == '`' || c == '*'))
}

/// Names a version follows in the docs: crates and programs.
const VERSIONED: [&str; 10] = [
    "fred",
    "redis-rs",
    "tower-sessions",
    "tower-sessions-sqlx-store",
    "axum",
    "rustc",
    "Python",
    "jsonwebtoken",
    "hyper",
    "TLS",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Value {
        serde_json::json!({
            "throughput": [{"median_cpu_us_per_request": 61.43, "median_rps": 47236.2, "ratio": 0.2219}],
            "cookie_bytes": [{"cookie_header_bytes": 392}],
            "machine": {"load_average": "0.97 1.55 1.98"},
        })
    }

    fn strays(text: &str) -> Vec<String> {
        let known = numbers_of(&results());
        figures(text)
            .into_iter()
            .filter(|(_, figure)| !is_known(figure, &known))
            .map(|(_, figure)| figure)
            .collect()
    }

    #[test]
    fn a_figure_the_results_hold_passes_as_it_is_rounded() {
        let page = "it cost 61.4 µs, 47,236 req/s, a ratio of 0.22, load 1.55, a 392-byte header";
        assert!(strays(page).is_empty(), "{:?}", strays(page));
    }

    #[test]
    fn a_figure_must_come_from_a_field_of_its_units_kind() {
        assert_eq!(
            strays("392 µs, 61.4 req/s, 0.22 bytes, 1,550 req/s"),
            ["392 µs", "61.4 req/s", "0.22 bytes", "1,550 req/s"]
        );
    }

    #[test]
    fn a_typed_figure_the_results_do_not_hold_is_a_stray() {
        assert_eq!(
            strays("it cost 16.1 µs, 20× Django, 5.6 µs and 0.57 against 64,856 req/s"),
            ["16.1 µs", "20 ×", "5.6 µs", "0.57", "64,856 req/s"]
        );
    }

    #[test]
    fn defaults_standards_versions_and_code_are_not_figures() {
        let page = "32 connections, `--cookie-age 1209600`, 5 s, RFC 9700 §4.14, RFC 7515 §4.1.11, \
                    tower-sessions 0.14, rustc 1.95.0, redis-rs\n1.8's client, a 4096 bytes limit, a 12-byte nonce, \
                    `61.9 µs`, [link](results/0.5.md) <!-- 7.7 µs -->";
        assert!(strays(page).is_empty(), "{:?}", strays(page));
    }

    #[test]
    fn generated_blocks_and_fenced_code_are_skipped() {
        let page =
            "a\n<!-- bench:run -->\n7.7 µs\n<!-- /bench:run -->\n```\n9.9 µs\n```\nb 8.8 µs\n";
        assert_eq!(figures(page), [(8, "8.8 µs".to_owned())]);
    }

    #[test]
    fn the_committed_docs_quote_no_figure_their_results_do_not_hold() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = fs::read_to_string(root.join("docs/results/results.json")).unwrap();
        let results: Value = serde_json::from_str(&text).unwrap();
        let strays = check_pages(&root, &results).unwrap();
        assert!(
            strays.is_empty(),
            "figures typed in the docs that docs/results/results.json does not hold \
             (generate them, or remove them):\n  {}",
            strays
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}
