//! The inspector at `/`: for the visitor making the request, a grid with a
//! column per mechanism and a row per aspect (what the browser holds, what
//! the server holds, the verdict, the expiry, what this server has spent,
//! the last experiment), so that the mechanisms can be compared one aspect
//! at a time. Each column comes from its mechanism's [`Holdings`] and the
//! words of its template, with what its counters say this server has done
//! so far. Nothing here changes
//! state, except the replay experiment, which logs the visitor out on one
//! side or on all of them and reads their old cookies again (see
//! [`Replay`]).

mod cookie;
mod holdings;
mod hybrid;
mod server;
mod token;

use serde::Serialize;

pub use self::holdings::{
    BrowserCookie, Contents, Detail, DetailForm, Holdings, Inspected, Moment, ServerHolds,
    StoredEntry,
};
use super::templates;
use crate::{
    metrics::MechanismCounts,
    routes::Mount,
    session::{CookieVerdict, SessionError, VisitorState},
};

/// One side, as the page shows it.
#[derive(Debug, Serialize)]
pub struct Column {
    pub mount: &'static str,
    /// The template that holds this side's words: the column's head, and
    /// what each verdict means (`sides/{mount}.html`).
    pub prose: String,
    /// What the words about an expired cookie quote ([`Inspected::LEEWAY_SECONDS`]).
    pub leeway_seconds: u64,
    pub verdict: Verdict,
    /// What `get_session` would show; `None` when it could not be read.
    pub visitor: Option<Visitor>,
    /// The cookies the browser holds for this side after this page.
    pub browser: Vec<BrowserCookie>,
    /// What they add to every request, `name=value` each, together.
    pub browser_bytes: usize,
    /// `None` when the server could not be asked.
    pub server: Option<ServerHolds>,
    /// `None` under `--metrics off`.
    pub counters: Option<Counters>,
    /// The replay experiment's result on this side, when this request ran it.
    pub replay: Option<Replay>,
}

/// What this mechanism has cost the server since it started, in total and
/// per visit (a request that read the visitor through it: its pages and
/// this page).
#[derive(Debug, Serialize)]
pub struct Counters {
    pub visits: u64,
    pub store_operations: Tally,
    pub store_errors: u64,
    pub signatures_verified: Tally,
    pub signatures_made: Tally,
    pub cache_hits: Tally,
    pub logins: u64,
    pub logouts: u64,
}

#[derive(Debug, Serialize)]
pub struct Tally {
    pub total: u64,
    /// e.g. `0.50`; `-` before the first visit.
    pub per_visit: String,
}

impl Counters {
    pub fn new(counts: MechanismCounts) -> Self {
        let tally = |total: u64| Tally {
            total,
            per_visit: if counts.visits == 0 {
                "-".to_owned()
            } else {
                format!("{:.2}", total as f64 / counts.visits as f64)
            },
        };
        Self {
            visits: counts.visits,
            store_operations: tally(counts.store_operations),
            store_errors: counts.store_errors,
            signatures_verified: tally(counts.verified),
            signatures_made: tally(counts.signed),
            cache_hits: tally(counts.cache_hits),
            logins: counts.logins,
            logouts: counts.logouts,
        }
    }
}

/// The replay experiment on one side: the visitor is logged out through
/// the mechanism, then the cookie their browser sent (which a thief could
/// have copied) is read again the way any request reads it. Only what it
/// opened to is shown, never the cookie itself.
#[derive(Debug, Serialize)]
pub struct Replay {
    pub mount: &'static str,
    /// `guest`, `valid`, `expired`, `tampered` or `revoked`: the verdict on
    /// the old cookie after the logout.
    pub verdict: String,
    /// Whether the old cookie still logs its holder in.
    pub still_logged_in: bool,
    /// When the old cookie stops working, if it still works and says so.
    pub works_until: Option<Moment>,
    /// A few words for the grid: "Still opens", "Opens nothing",
    /// "Refused, revoked", "Nothing to replay", "Not run".
    pub headline: &'static str,
    pub summary: String,
}

impl Replay {
    /// `before` is the verdict on the cookie before the logout; `after`
    /// what reading it again gave, with its holdings.
    pub fn new(
        mount: Mount,
        before: CookieVerdict,
        after: CookieVerdict,
        state: &VisitorState,
        holdings: Holdings,
    ) -> Self {
        let visitor = Visitor::of(state);
        let works_until = holdings
            .browser
            .into_iter()
            .next()
            .and_then(|cookie| cookie.expires)
            .filter(|_| visitor.is_logged_in);
        let (headline, summary) = if before != CookieVerdict::Valid {
            (
                "Nothing to replay",
                "You were not logged in on this side: log in here first, then try again."
                    .to_owned(),
            )
        } else if visitor.is_logged_in {
            let until = works_until.as_ref().map_or_else(
                || " until it expires".to_owned(),
                |moment| format!(" until it expires, {}", moment.from_now),
            );
            (
                "Still opens",
                format!(
                    "Still logged in as {}: the logout did not stop the old cookie, which works{until}.",
                    visitor.username
                ),
            )
        } else if after == CookieVerdict::Revoked {
            (
                "Refused, revoked",
                "Refused, revoked: the logout recorded the token's id, and every request checks it."
                    .to_owned(),
            )
        } else {
            (
                "Opens nothing",
                "A Guest at once: the logout ended the session on the server, so the old cookie opens nothing."
                    .to_owned(),
            )
        };
        Self {
            mount: mount.name(),
            verdict: after.to_string(),
            still_logged_in: visitor.is_logged_in,
            works_until,
            headline,
            summary,
        }
    }

    /// The experiment could not run on this side: its store did not answer.
    pub fn unavailable(mount: Mount, err: &SessionError) -> Self {
        Self {
            mount: mount.name(),
            verdict: "unavailable".to_owned(),
            still_logged_in: false,
            works_until: None,
            headline: "Not run",
            summary: format!("Not run on this side: {err}"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    /// `guest`, `valid`, `expired`, `tampered`, `revoked`, or `unavailable`
    /// (store down).
    pub name: String,
    /// What went wrong, when the side is `unavailable`; the other verdicts'
    /// words are in the side's template.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Visitor {
    pub username: String,
    pub is_logged_in: bool,
}

impl Column {
    pub fn new<M: Inspected>(
        mount: Mount,
        verdict: CookieVerdict,
        state: &VisitorState,
        holdings: Holdings,
        counts: Option<MechanismCounts>,
    ) -> Self {
        Self {
            visitor: Some(Visitor::of(state)),
            browser_bytes: holdings.browser.iter().map(|cookie| cookie.bytes).sum(),
            browser: holdings.browser,
            server: Some(holdings.server),
            ..Self::head::<M>(mount, verdict.to_string(), None, counts)
        }
    }

    /// A side whose store did not answer: it says so, and the other columns
    /// are shown all the same.
    pub fn unavailable<M: Inspected>(
        mount: Mount,
        err: &SessionError,
        counts: Option<MechanismCounts>,
    ) -> Self {
        Self::head::<M>(
            mount,
            "unavailable".to_owned(),
            Some(err.to_string()),
            counts,
        )
    }

    /// A column that knows nothing of the visitor yet.
    fn head<M: Inspected>(
        mount: Mount,
        verdict: String,
        problem: Option<String>,
        counts: Option<MechanismCounts>,
    ) -> Self {
        Self {
            mount: mount.name(),
            prose: templates::side_prose(mount),
            leeway_seconds: M::LEEWAY_SECONDS,
            verdict: Verdict {
                name: verdict,
                problem,
            },
            visitor: None,
            browser: Vec::new(),
            browser_bytes: 0,
            server: None,
            counters: counts.map(Counters::new),
            replay: None,
        }
    }

    /// This column with the replay experiment's result on its side.
    pub fn with_replay(mut self, replay: Replay) -> Self {
        self.replay = Some(replay);
        self
    }
}

impl Visitor {
    /// With the defaults of the reference `get_session_data`.
    fn of(state: &VisitorState) -> Self {
        Self {
            username: state.username.clone().unwrap_or_else(|| "Guest".to_owned()),
            is_logged_in: state.is_logged_in.unwrap_or(false),
        }
    }
}
