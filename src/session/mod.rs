//! The one abstraction every state mechanism implements, and what they
//! share: the visitor's state, the login policy, the cookie policy, the
//! error type.
//!
//! A mechanism only says how to read a visitor from the cookie they sent,
//! how to log them in and out, and what it holds; the web layer runs the
//! same flow around every mechanism (read the cookie, give a verdict, clear a
//! refused cookie, write back what changed), so that the views are written
//! once and never see a cookie, a store or a key.

pub mod cookies;
pub mod key_files;

use std::{
    fmt,
    future::Future,
    time::{SystemTime, UNIX_EPOCH},
};

pub use crate::verdict::CookieVerdict;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

pub use self::cookies::{
    CookiePolicy, CookieTooLarge, CookieWrites, MAX_COOKIES, SentCookie, SentValues, SetCookie,
};
use crate::{stores::StoreError, username::Username};

/// What a visitor's session holds, key by key, like Django's `request.session`:
/// a key never set is `None`, and the view picks the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VisitorState {
    pub username: Option<String>,
    pub is_logged_in: Option<bool>,
}

impl VisitorState {
    pub fn logged_in(username: Username) -> Self {
        Self {
            username: Some(username.into_string()),
            is_logged_in: Some(true),
        }
    }
}

/// When a login ends; every mechanism follows the same policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpiryPolicy {
    Absolute,
    Inactivity,
    BrowserSession,
}

/// How long a login lasts and how its cookies are marked: the same for
/// every mechanism, so that they can be compared like for like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Seconds a login lasts (Django's SESSION_COOKIE_AGE); under
    /// `inactivity`, seconds since its last use.
    pub lifetime: u64,
    pub expiry: ExpiryPolicy,
    /// Seconds after the login at which it ends however active it is
    /// (OWASP's absolute timeout); at least `lifetime`.
    pub absolute_timeout: u64,
    /// Cookies marked Secure and named with the `__Host-` prefix.
    pub secure_cookies: bool,
}

impl SessionPolicy {
    /// Seconds after the login at which it ends at the latest: only an
    /// `inactivity` login is ever extended, and never past its absolute
    /// timeout; any other ends `lifetime` after it began.
    pub fn login_cap(&self) -> u64 {
        match self.expiry {
            ExpiryPolicy::Inactivity => self.absolute_timeout.max(self.lifetime),
            ExpiryPolicy::Absolute | ExpiryPolicy::BrowserSession => self.lifetime,
        }
    }

    /// When a login that began at `login_at` and is used at `now` (Unix
    /// seconds) ends, if this use extends it.
    pub fn extended_end(&self, login_at: u64, now: u64) -> u64 {
        now.saturating_add(self.lifetime)
            .min(login_at.saturating_add(self.login_cap()))
    }

    /// The cookie called `name` under this policy.
    pub fn cookie(&self, name: &str) -> CookiePolicy {
        CookiePolicy::new(
            name,
            self.secure_cookies,
            self.expiry != ExpiryPolicy::BrowserSession,
        )
    }
}

/// Why a mechanism could not do what a request asked. Each variant is a
/// different page for the visitor: the web layer picks the status.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "This login would make a cookie larger than browsers keep (4096 bytes); use a shorter username."
    )]
    TooLargeForCookie,

    /// A login raced a logout of the same session and lost, as Django's
    /// `SessionInterrupted`: the logout stands and nothing is written back.
    #[error(
        "This session ended (probably a logout in another tab) while the request was on its way. Nothing was changed; log in again."
    )]
    Interrupted,

    #[error("The session store ({store}) is unavailable. Try again in a moment.")]
    StoreUnavailable {
        store: &'static str,
        #[source]
        source: StoreError,
    },

    /// Signing a token or sealing a cookie failed: a fault of the server's
    /// keys, never of the visitor's input.
    #[error("The session could not be sealed.")]
    Sealing(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<CookieTooLarge> for SessionError {
    fn from(_: CookieTooLarge) -> Self {
        SessionError::TooLargeForCookie
    }
}

/// What a cookie turned out to hold.
#[derive(Debug)]
pub enum Opened<S> {
    /// A live login. `renewed` holds new cookies for it, when the expiry
    /// policy extends a login on use or a credential was rotated.
    Valid { session: S, renewed: CookieWrites },
    /// Not a login this server will honour: the visitor is a Guest and the
    /// cookie is cleared.
    Refused(Refusal),
}

/// Why a cookie was refused: the verdict, and a reason for the log (never
/// the cookie's value).
#[derive(Debug)]
pub struct Refusal {
    pub verdict: CookieVerdict,
    pub reason: String,
}

impl Refusal {
    pub fn new(verdict: CookieVerdict, reason: impl fmt::Display) -> Self {
        Self {
            verdict,
            reason: reason.to_string(),
        }
    }
}

/// A state mechanism: one way of remembering a visitor between requests,
/// and nothing else: the web layer gives it a router and counts what it
/// sees, and the inspector's words about it live in the web layer.
///
/// Its `Session` is what one request learned from the visitor's cookie; a
/// Guest's session is `Default`. What it counts of itself (signatures) it
/// counts into the meter it is built with.
pub trait Mechanism: fmt::Debug + Send + Sync + 'static {
    type Session: Default + fmt::Debug + Send + Sync + 'static;

    /// The cookies that carry the visitor's state (or the keys to it), at
    /// least one and at most [`MAX_COOKIES`]; most mechanisms need one
    /// (`std::slice::from_ref(&self.cookie)`).
    fn cookies(&self) -> &[CookiePolicy];

    /// Reads the visitor from the text values of their cookies, in the order
    /// of [`Mechanism::cookies`]. The web layer calls it only when at least
    /// one of them was sent and every one sent is text, so a mechanism with
    /// one cookie reads it with [`SentValues::only`].
    fn open(
        &self,
        sent: SentValues<'_>,
    ) -> impl Future<Output = Result<Opened<Self::Session>, SessionError>> + Send;

    fn state(&self, session: &Self::Session) -> VisitorState;

    /// Stores `state` as a fresh login and gives the cookies that carry it.
    /// A login replaces whatever the session held, and must leave it as it
    /// was when it fails.
    fn log_in(
        &self,
        session: &mut Self::Session,
        state: VisitorState,
    ) -> impl Future<Output = Result<CookieWrites, SessionError>> + Send;

    /// Forgets the visitor (Django's `flush()`), wherever the state lives.
    fn log_out(
        &self,
        session: &mut Self::Session,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;
}

/// Enough to tell two secrets apart (and see one change at login), useless
/// for taking over the session: how a session or refresh id appears in a
/// log line or on the inspector.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Seconds since the Unix epoch, as tokens and sealed cookies count time:
/// read from the system clock, where chrono's `Utc::now()` built a calendar
/// date first (~200 instructions a call, `--profile`).
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_short_and_does_not_contain_the_secret() {
        let id = "q7mX0b5n1Fh2kzJ9bQWc2w";
        let print = fingerprint(id);
        assert_eq!(print.len(), "sha256:".len() + 8);
        assert!(!print.contains(id));
        assert_eq!(print, fingerprint(id), "the same id, the same fingerprint");
        assert_ne!(print, fingerprint("q7mX0b5n1Fh2kzJ9bQWc2x"));
    }
}
