//! Which measurements apply to each mechanism, beyond those every one gets
//! (a returning visitor, a login, the bytes on the wire, a flood of bad
//! cookies, logout-to-effect). One exhaustive match: a mechanism added to
//! the app's route table does not build here until it says which apply,
//! rather than getting none of them without a word.

use crate::app::{Mount, REFRESH_COOKIE_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applicable {
    /// Its cookie is verified on sight, so a process that never saw it pays
    /// a full verification: measured on a new process with the same keys.
    /// (`/hybrid`'s access tokens are too, but its first sight of a visitor
    /// is a refresh, measured as such.)
    pub first_sight: bool,
    /// The cookie of its refresh id, if it renews a short-lived access
    /// token from one: a second cookie its browser holds and sends with
    /// every request, whose refresh its store counts, and which outlives
    /// the access token's age.
    pub refresh_cookie: Option<&'static str>,
    /// Its logins are records the harness can write into a store before the
    /// server starts, to measure cost against the number of stored sessions.
    pub seeded_sessions: bool,
}

impl Applicable {
    pub fn to(mount: Mount) -> Self {
        let none = Applicable {
            first_sight: false,
            refresh_cookie: None,
            seeded_sessions: false,
        };
        match mount {
            Mount::Server => Applicable {
                seeded_sessions: true,
                ..none
            },
            Mount::Token => Applicable {
                first_sight: true,
                ..none
            },
            Mount::Cookie => none,
            Mount::Hybrid => Applicable {
                refresh_cookie: Some(REFRESH_COOKIE_NAME),
                ..none
            },
        }
    }
}
