//! The inspector at `/`: for the visitor making the request, what the browser
//! holds and what the server holds on each side, so that the two mechanisms
//! can be watched side by side. It reads the two extractors and changes
//! nothing. A refused cookie is named by its verdict and never echoed; a
//! session id is shown only as a fingerprint; no key material is shown.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{
    cookies::{CookiePolicy, CookieUpdate},
    error::AppError,
    routes::Mount,
    server_session::ServerSession,
    token_session::{TokenSession, VerifiedToken, claims::LEEWAY_SECONDS},
    visitor::{CookieVerdict, VisitorSession},
};

/// Both columns of the page.
#[derive(Debug, Serialize)]
pub struct Inspection {
    pub server: Column,
    pub token: Column,
}

/// One side, as the page shows it.
#[derive(Debug, Serialize)]
pub struct Column {
    pub mount: &'static str,
    pub verdict: Verdict,
    /// What `get_session` would show; `None` when it could not be read.
    pub visitor: Option<Visitor>,
    /// `None` when the browser holds no cookie for this side after this page.
    pub browser: Option<BrowserCookie>,
    /// `None` when the server could not be asked.
    pub server: Option<ServerHolds>,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    /// `guest`, `valid`, `expired`, `tampered`, `revoked`, or `unavailable`
    /// (store down).
    pub name: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Visitor {
    pub username: String,
    pub is_logged_in: bool,
}

/// The cookie the browser holds for one side.
#[derive(Debug, Serialize)]
pub struct BrowserCookie {
    pub name: String,
    /// `name=value` as the browser sends it with every request.
    pub bytes: usize,
    pub attributes: Vec<String>,
    /// `None` under `--expiry browser-session`: the browser drops the cookie
    /// when it closes.
    pub expires: Option<Moment>,
    /// `/server`: a short fingerprint of the session id, never the id.
    pub fingerprint: Option<String>,
    /// `/token`: what the token says, decoded.
    pub token: Option<TokenContents>,
}

#[derive(Debug, Serialize)]
pub struct TokenContents {
    /// The decoded header and claims, as JSON.
    pub header: String,
    pub claims: String,
    /// The key that signed it: its id and algorithm, nothing of the key itself.
    pub kid: String,
    pub algorithm: String,
}

/// What the server keeps for this visitor on one side.
#[derive(Debug, Serialize)]
pub struct ServerHolds {
    /// The kind of store (`memory`, `sqlite`), when this side uses one.
    pub store: Option<&'static str>,
    pub entry: Option<StoredEntry>,
    /// What the page says when there is no entry.
    pub nothing: String,
}

/// The session record the store holds for this visitor.
#[derive(Debug, Serialize)]
pub struct StoredEntry {
    /// Its data, as JSON.
    pub data: String,
    pub expires: Moment,
}

/// A point in time, in UTC and relative to the page.
#[derive(Debug, Serialize)]
pub struct Moment {
    pub utc: String,
    pub from_now: String,
}

impl Inspection {
    /// A side is an error when its store did not answer: its column says
    /// so, and the other column is shown all the same.
    pub fn of(
        server: Result<&ServerSession, &AppError>,
        token: Result<&TokenSession, &AppError>,
    ) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            server: match server {
                Ok(session) => server_column(session, now),
                Err(err) => unavailable_column(Mount::Server, err),
            },
            token: match token {
                Ok(session) => token_column(session, now),
                Err(err) => unavailable_column(Mount::Token, err),
            },
        }
    }
}

fn server_column(session: &ServerSession, now: i64) -> Column {
    let verdict = session.verdict();
    let policy = session.cookie_policy();
    let record = session.record();
    let browser = record
        .zip(session.sent_cookie_bytes())
        .map(|(record, value_bytes)| BrowserCookie {
            name: policy.name().to_owned(),
            bytes: cookie_bytes(policy, value_bytes),
            attributes: attributes(policy, session.cookie_age()),
            // The cookie's Max-Age and the record's expiry start at the same login.
            expires: policy
                .persistent()
                .then(|| Moment::at(record.expiry_date.unix_timestamp(), now)),
            fingerprint: Some(fingerprint(&record.id.to_string())),
            token: None,
        });
    let store = session.store_kind().name();
    let entry = record.map(|record| StoredEntry {
        data: pretty(&record.data.iter().collect::<BTreeMap<_, _>>()),
        expires: Moment::at(record.expiry_date.unix_timestamp(), now),
    });
    let nothing = match verdict {
        CookieVerdict::Expired => "No live record for the id the browser sent.",
        _ => "No record for this visitor.",
    };
    Column {
        mount: Mount::Server.name(),
        verdict: Verdict::new(Mount::Server, verdict),
        visitor: Some(Visitor::of(session)),
        browser,
        server: Some(ServerHolds {
            store: Some(store),
            entry,
            nothing: nothing.to_owned(),
        }),
    }
}

fn token_column(session: &TokenSession, now: i64) -> Column {
    let policy = session.cookie_policy();
    let browser = session.verified().map(|verified| BrowserCookie {
        name: policy.name().to_owned(),
        bytes: cookie_bytes(policy, verified.token.len()),
        attributes: attributes(policy, session.cookie_age()),
        // The cookie's Max-Age was set when the token was signed, to its lifetime.
        expires: policy
            .persistent()
            .then(|| Moment::at(i64::try_from(verified.claims.exp).unwrap_or(i64::MAX), now)),
        fingerprint: None,
        token: Some(TokenContents::of(verified)),
    });
    Column {
        mount: Mount::Token.name(),
        verdict: Verdict::new(Mount::Token, session.verdict()),
        visitor: Some(Visitor::of(session)),
        browser,
        server: Some(token_server_side(session)),
    }
}

/// What the server keeps about a token: nothing, which is the point of
/// tokens; with `--token-revocation`, a revocation entry in the session store
/// once the token is logged out (and a valid token has none, or it would
/// have been refused).
fn token_server_side(session: &TokenSession) -> ServerHolds {
    match session.revocations() {
        None => ServerHolds {
            store: None,
            entry: None,
            nothing: "Nothing. Each request is checked by the token's signature and expiry alone."
                .to_owned(),
        },
        Some(revocations) => ServerHolds {
            store: Some(revocations.store_name()),
            entry: None,
            nothing: "No revocation entry for this visitor's token. With --token-revocation, a \
                logout stores one under the token's jti until it expires, and every request \
                checks the store for it."
                .to_owned(),
        },
    }
}

fn unavailable_column(mount: Mount, err: &AppError) -> Column {
    Column {
        mount: mount.name(),
        verdict: Verdict {
            name: "unavailable".to_owned(),
            message: err.to_string(),
        },
        visitor: None,
        browser: None,
        server: None,
    }
}

impl Verdict {
    fn new(mount: Mount, verdict: CookieVerdict) -> Self {
        let message = match (mount, verdict) {
            (Mount::Server, CookieVerdict::Guest) => {
                "No session cookie: you are a Guest on this side.".to_owned()
            }
            (Mount::Server, CookieVerdict::Valid) => {
                "Your session id names a live record in the store.".to_owned()
            }
            (Mount::Server, CookieVerdict::Expired) => "Your session id was refused: expired. \
                The store has no live record for it (it ran out, was logged out, or was never \
                issued). It has been cleared."
                .to_owned(),
            (Mount::Server, CookieVerdict::Tampered) => "Your session id was refused: tampered. \
                It is not an id this server could have issued. It has been cleared."
                .to_owned(),
            (Mount::Token, CookieVerdict::Guest) => {
                "No token cookie: you are a Guest on this side.".to_owned()
            }
            (Mount::Token, CookieVerdict::Valid) => {
                "Your token's signature verifies and it has not expired.".to_owned()
            }
            (Mount::Token, CookieVerdict::Expired) => format!(
                "Your token was refused: expired. Its `exp` has passed (with \
                 {LEEWAY_SECONDS} s of leeway). It has been cleared."
            ),
            (Mount::Token, CookieVerdict::Tampered) => "Your token was refused: tampered. It is \
                malformed, or its signature does not verify. It has been cleared."
                .to_owned(),
            (_, CookieVerdict::Revoked) => "Your token was refused: revoked. Its signature \
                verifies and it has not expired, but a logout recorded its id in the store. It \
                has been cleared."
                .to_owned(),
        };
        Self {
            name: verdict.to_string(),
            message,
        }
    }
}

impl Visitor {
    /// With the defaults of the reference `get_session_data`.
    fn of(session: &impl VisitorSession) -> Self {
        let state = session.state();
        Self {
            username: state.username.clone().unwrap_or_else(|| "Guest".to_owned()),
            is_logged_in: state.is_logged_in.unwrap_or(false),
        }
    }
}

impl TokenContents {
    /// The token passed verification, so its parts decode; anything else is
    /// shown as undecodable rather than trusted.
    fn of(verified: &VerifiedToken) -> Self {
        let mut parts = verified.token.split('.').map(decode_json);
        let header = parts.next().flatten().unwrap_or(Value::Null);
        let claims = parts.next().flatten().unwrap_or(Value::Null);
        let field = |name: &str| {
            header
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        Self {
            kid: field("kid"),
            algorithm: field("alg"),
            header: pretty(&header),
            claims: pretty(&claims),
        }
    }
}

impl Moment {
    fn at(unix_seconds: i64, now: i64) -> Self {
        let utc = chrono::DateTime::from_timestamp(unix_seconds, 0).map_or_else(
            || "far in the future".to_owned(),
            |moment| moment.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        Self {
            utc,
            from_now: from_now(unix_seconds.saturating_sub(now)),
        }
    }
}

/// "in 14 days", "in 59 seconds", "3 seconds ago": to the nearest whole unit,
/// so that a two-week login read a second later is still "in 14 days".
fn from_now(seconds: i64) -> String {
    let amount = seconds.unsigned_abs();
    let nearest = |unit: u64| (amount + unit / 2) / unit;
    let (count, unit) = match amount {
        0..120 => (amount, "second"),
        120..7_200 => (nearest(60), "minute"),
        7_200..172_800 => (nearest(3_600), "hour"),
        _ => (nearest(86_400), "day"),
    };
    let span = format!("{count} {unit}{}", if count == 1 { "" } else { "s" });
    if seconds < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// The attributes a login's cookie is set with on this side, from the cookie
/// policy (no Max-Age under `--expiry browser-session`).
fn attributes(policy: &CookiePolicy, max_age: u64) -> Vec<String> {
    let login = CookieUpdate::Set {
        value: String::new(),
        max_age,
    };
    policy
        .cookie(&login)
        .to_string()
        .split("; ")
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn cookie_bytes(policy: &CookiePolicy, value_bytes: usize) -> usize {
    policy.name().len() + 1 + value_bytes
}

/// Enough to tell two ids apart (and see the id change at login), useless
/// for taking over the session.
fn fingerprint(session_id: &str) -> String {
    let digest = Sha256::digest(session_id.as_bytes());
    let hex: String = digest[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|err| format!("(cannot show: {err})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_said_in_the_largest_whole_unit() {
        assert_eq!(from_now(1), "in 1 second");
        assert_eq!(from_now(59), "in 59 seconds");
        assert_eq!(from_now(-3), "3 seconds ago");
        assert_eq!(from_now(600), "in 10 minutes");
        assert_eq!(from_now(3 * 3_600), "in 3 hours");
        assert_eq!(from_now(1_209_600), "in 14 days");
        assert_eq!(from_now(1_209_600 - 1), "in 14 days");
        assert_eq!(from_now(3_599), "in 60 minutes");
    }

    #[test]
    fn a_fingerprint_is_short_and_does_not_contain_the_id() {
        let id = "q7mX0b5n1Fh2kzJ9bQWc2w";
        let print = fingerprint(id);
        assert_eq!(print.len(), "sha256:".len() + 8);
        assert!(!print.contains(id));
        assert_eq!(print, fingerprint(id), "the same id, the same fingerprint");
        assert_ne!(print, fingerprint("q7mX0b5n1Fh2kzJ9bQWc2x"));
    }

    #[test]
    fn attributes_come_from_the_cookie_policy() {
        let attributes = attributes(&CookiePolicy::new("token", true, true), 60);
        for expected in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=60"] {
            assert!(
                attributes.iter().any(|attribute| attribute == expected),
                "{attributes:?} lacks {expected}"
            );
        }
        assert!(
            !attributes
                .iter()
                .any(|attribute| attribute.starts_with("token=")),
            "the name=value pair is not an attribute: {attributes:?}"
        );
    }
}
