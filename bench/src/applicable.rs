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
    /// It renews a short-lived access token from a refresh id, which its
    /// store counts and which outlives the access token's age.
    pub refresh: bool,
    /// A second cookie its browser holds and sends with every request.
    pub second_cookie: Option<&'static str>,
    /// Its logins are records the harness can write into a store before the
    /// server starts, to measure cost against the number of stored sessions.
    pub seeded_sessions: bool,
}

impl Applicable {
    pub fn to(mount: Mount) -> Self {
        let none = Applicable {
            first_sight: false,
            refresh: false,
            second_cookie: None,
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
                refresh: true,
                second_cookie: Some(REFRESH_COOKIE_NAME),
                ..none
            },
        }
    }
}
