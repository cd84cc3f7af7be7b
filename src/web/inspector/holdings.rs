//! What the inspector at `/` shows of a mechanism for one visitor: what the
//! browser holds and what the server holds. The mechanism itself knows
//! nothing of the page: each side's [`Inspected`] (one module per
//! mechanism beside this one) reads it through its public methods, and its
//! words (the column's head, what each verdict means) are in the template
//! `sides/{router}.html`. Nothing here may carry a secret: a refused cookie
//! is named by its verdict and never echoed, a session id is shown only as
//! a fingerprint, and no key material is shown.

use std::future::Future;

use serde::Serialize;

pub use crate::session::fingerprint;
use crate::session::{CookiePolicy, CookieVerdict, Mechanism};

/// What the inspector shows of a mechanism, beside its session logic.
pub trait Inspected: Mechanism {
    /// Seconds a cookie of this side is still accepted past its expiry,
    /// which the page's words about an expired cookie quote.
    const LEEWAY_SECONDS: u64 = 0;

    /// What the browser and the server hold for this visitor; `now` is
    /// Unix seconds. Asynchronous, so that a side may read from its store
    /// what a request did not need (`/hybrid`'s refresh record); only the
    /// inspector's page calls it.
    fn holdings(
        &self,
        session: &Self::Session,
        verdict: CookieVerdict,
        now: i64,
    ) -> impl Future<Output = Holdings> + Send;
}

/// One mechanism's view of one visitor.
#[derive(Debug, Serialize)]
pub struct Holdings {
    /// The cookies the browser holds for this side after this page, in the
    /// order the mechanism names them: none, one, or (`/hybrid`) two.
    pub browser: Vec<BrowserCookie>,
    pub server: ServerHolds,
}

/// The cookie the browser holds for one side.
#[derive(Debug, Serialize)]
pub struct BrowserCookie {
    pub name: String,
    /// What its value tells whoever holds it.
    pub contents: Contents,
    /// `name=value` as the browser sends it with every request.
    pub bytes: usize,
    pub attributes: Vec<String>,
    /// `None` under `--expiry browser-session`: the browser drops the cookie
    /// when it closes.
    pub expires: Option<Moment>,
    /// What this side can say about the value: a fingerprint, a decoded token.
    pub details: Vec<Detail>,
}

/// What a cookie's value tells whoever holds it: the browser, its scripts
/// were it not `HttpOnly`, or a thief with a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Contents {
    /// A random id: nothing to read, only a key to a record in the store.
    OpaqueId,
    /// The data itself, signed: anyone holding it can read it (it is only
    /// base64), no one can change it.
    Signed,
    /// The data itself, encrypted and authenticated: no one without the
    /// server's key can read or change it.
    Sealed,
}

impl BrowserCookie {
    /// The cookie `policy` names, holding `contents`, whose value is
    /// `value_bytes` long, as a login with `max_age` seconds sets it, ending
    /// at `expires` (Unix seconds).
    pub fn new(
        policy: &CookiePolicy,
        contents: Contents,
        value_bytes: usize,
        max_age: u64,
        expires: i64,
        now: i64,
    ) -> Self {
        Self {
            name: policy.name().to_owned(),
            contents,
            bytes: policy.sent_bytes(value_bytes),
            attributes: policy.attributes(max_age),
            expires: policy.persistent().then(|| Moment::at(expires, now)),
            details: Vec::new(),
        }
    }

    pub fn with(mut self, detail: Detail) -> Self {
        self.details.push(detail);
        self
    }
}

/// One labelled line about a cookie's value. `id` names it on the page
/// (`{mount}-{id}`), so that tests and readers can find it.
#[derive(Debug, Serialize)]
pub struct Detail {
    pub label: &'static str,
    pub id: &'static str,
    pub text: String,
    pub form: DetailForm,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DetailForm {
    /// Plain words.
    Text,
    /// A short machine value: an id, a fingerprint.
    Code,
    /// Pretty-printed JSON.
    Pre,
}

impl Detail {
    pub fn new(
        label: &'static str,
        id: &'static str,
        form: DetailForm,
        text: impl Into<String>,
    ) -> Self {
        Self {
            label,
            id,
            text: text.into(),
            form,
        }
    }
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

impl ServerHolds {
    /// A side that keeps nothing on the server, and says why.
    pub fn nothing(reason: impl Into<String>) -> Self {
        Self {
            store: None,
            entry: None,
            nothing: reason.into(),
        }
    }
}

/// The record the store holds for this visitor.
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

impl Moment {
    pub fn at(unix_seconds: i64, now: i64) -> Self {
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

pub fn pretty(value: &impl Serialize) -> String {
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
}
