//! The inspector at `/`: for the visitor making the request, one column per
//! mechanism saying what the browser holds and what the server holds, so
//! that the mechanisms can be watched side by side. Each column comes from
//! its mechanism's [`Holdings`]; nothing here changes state.

use serde::Serialize;

use crate::{
    routes::Mount,
    session::{
        CookieVerdict, Description, SessionError, VisitorState,
        inspection::{BrowserCookie, Holdings, ServerHolds},
    },
};

/// One side, as the page shows it.
#[derive(Debug, Serialize)]
pub struct Column {
    pub mount: &'static str,
    pub title: &'static str,
    pub about: &'static str,
    pub verdict: Verdict,
    /// What `get_session` would show; `None` when it could not be read.
    pub visitor: Option<Visitor>,
    /// The cookies the browser holds for this side after this page.
    pub browser: Vec<BrowserCookie>,
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

impl Column {
    pub fn new(
        mount: Mount,
        description: Description,
        verdict: CookieVerdict,
        state: &VisitorState,
        holdings: Holdings,
    ) -> Self {
        Self {
            mount: mount.name(),
            title: description.title,
            about: description.about,
            verdict: Verdict {
                name: verdict.to_string(),
                message: holdings.verdict_message,
            },
            visitor: Some(Visitor::of(state)),
            browser: holdings.browser,
            server: Some(holdings.server),
        }
    }

    /// A side whose store did not answer: it says so, and the other columns
    /// are shown all the same.
    pub fn unavailable(mount: Mount, description: Description, err: &SessionError) -> Self {
        Self {
            mount: mount.name(),
            title: description.title,
            about: description.about,
            verdict: Verdict {
                name: "unavailable".to_owned(),
                message: err.to_string(),
            },
            visitor: None,
            browser: Vec::new(),
            server: None,
        }
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
