//! What the harness must know of each mechanism to measure it, beyond what
//! every one gets (a returning visitor, a login, the bytes on the wire, a
//! flood of bad cookies, logout-to-effect): its cookie, and which of the
//! other measurements apply. A configuration is made from one of these, so
//! none can name a mechanism the harness does not know; and a test fails,
//! saying where to teach it, when the app serves a router none of these
//! names, rather than the run leaving that mechanism out without a word.

use crate::app::{
    Mount, REFRESH_COOKIE_NAME, cookie_session, hybrid_session, server_session, token_session,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applicable {
    /// The mechanism's router.
    pub mount: Mount,
    /// The cookie that carries a visitor's state (for `/hybrid`, the
    /// access token).
    pub cookie: &'static str,
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
    pub const SERVER: Applicable = Applicable {
        mount: Mount::SERVER,
        cookie: server_session::COOKIE_NAME,
        first_sight: false,
        refresh_cookie: None,
        seeded_sessions: true,
    };
    pub const TOKEN: Applicable = Applicable {
        mount: Mount::TOKEN,
        cookie: token_session::COOKIE_NAME,
        first_sight: true,
        refresh_cookie: None,
        seeded_sessions: false,
    };
    pub const COOKIE: Applicable = Applicable {
        mount: Mount::COOKIE,
        cookie: cookie_session::COOKIE_NAME,
        first_sight: false,
        refresh_cookie: None,
        seeded_sessions: false,
    };
    pub const HYBRID: Applicable = Applicable {
        mount: Mount::HYBRID,
        cookie: hybrid_session::ACCESS_COOKIE_NAME,
        first_sight: false,
        refresh_cookie: Some(REFRESH_COOKIE_NAME),
        seeded_sessions: false,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{app::Cli, configurations};

    /// Every mechanism the harness knows how to measure.
    const KNOWN: [Applicable; 4] = [
        Applicable::SERVER,
        Applicable::TOKEN,
        Applicable::COOKIE,
        Applicable::HYBRID,
    ];

    fn known(mount: Mount) -> Option<Applicable> {
        KNOWN.into_iter().find(|known| known.mount == mount)
    }

    #[tokio::test]
    async fn every_router_the_app_serves_is_known_and_has_a_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let cli = Cli::parse_ignoring_environment([
            "sessions-vs-jwt",
            "--store",
            "memory",
            "--keys-dir",
            &keys.display().to_string(),
        ])
        .unwrap();
        let site = cli.serve.open_site().await.unwrap();
        let configurations = configurations::all();
        assert!(!site.mounts().is_empty());
        for mount in site.mounts() {
            assert!(
                known(mount).is_some(),
                "the app serves /{}, which the benchmark does not know how to measure: say in \
                 bench/src/applicable.rs which cookie carries its state and which measurements \
                 apply, and give it a configuration in bench/src/configurations.rs",
                mount.name()
            );
            assert!(
                configurations.iter().any(|c| c.mount() == mount),
                "no configuration in bench/src/configurations.rs measures /{}",
                mount.name()
            );
        }
    }
}
