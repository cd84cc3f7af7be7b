//! What each mechanism is, stated once: the qualitative columns of the
//! decision at a glance (`glance.md`). They are properties of the design,
//! each held by a test of the app (named here), not figures of a run, so
//! they live in one place keyed by mechanism rather than in the prose of
//! every page that needs them.

/// The qualitative facts of one mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// How long a copy of the cookie, taken before logout, still logs in.
    pub copied_cookie_after_logout: &'static str,
    /// What visitors see while the store is down.
    pub store_outage: &'static str,
    /// Whether the browser, or anyone holding the cookie, can read the data.
    pub browser_reads_the_data: &'static str,
    /// What another service needs in order to accept the cookie.
    pub another_service_needs: &'static str,
    /// Which server setting bounds how long a copied cookie works.
    pub copy_bounded_by: CopyBound,
}

/// What ends a copied cookie's life after logout, when the logout does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyBound {
    /// The logout itself.
    Logout,
    /// `--cookie-age`.
    CookieAge,
    /// `--access-token-age`.
    AccessTokenAge,
}

/// The facts of the mechanism a configuration runs: `side` is its router
/// (`server`, `token`, `cookie`, `hybrid`, as results.json names it), and
/// `revocation` whether `/token` runs with `--token-revocation`. `None` for
/// a side this module does not know (a peer), so that a new mechanism
/// shows as missing rather than borrowing another's facts.
pub fn of(side: &str, revocation: bool) -> Option<Facts> {
    Some(match (side, revocation) {
        // tests/differences.rs: after_logout_a_copied_session_cookie_is_worthless_but_a_copied_token_still_works;
        // tests/store_faults.rs: a_redis_outage_gives_503s_on_server_only_and_the_server_recovers_by_itself.
        ("server", _) => Facts {
            copied_cookie_after_logout: "no time: the record is deleted at logout",
            store_outage: "every page that reads a session answers 503",
            browser_reads_the_data: "no: a random id",
            another_service_needs: "the same store",
            copy_bounded_by: CopyBound::Logout,
        },
        // tests/security.rs: with_token_revocation_a_copied_token_is_a_guest_after_logout.
        ("token", true) => Facts {
            copied_cookie_after_logout: "no time: its `jti` is recorded in the store at logout",
            store_outage: "every `/token` page answers 503",
            browser_reads_the_data: "yes: base64, signed, not encrypted",
            another_service_needs: "the public key (JWKS) and the same store",
            copy_bounded_by: CopyBound::Logout,
        },
        // tests/differences.rs (as above); tests/store_faults.rs: /token unaffected.
        ("token", false) => Facts {
            copied_cookie_after_logout: "until its `exp`: the cookie age",
            store_outage: "nothing: no store is read",
            browser_reads_the_data: "yes: base64, signed, not encrypted",
            another_service_needs: "the public key (`/.well-known/jwks.json`)",
            copy_bounded_by: CopyBound::CookieAge,
        },
        // tests/cookie_session.rs: a_copied_cookie_still_logs_in_after_logout_until_it_expires,
        // the_cookie_hides_the_username_that_the_token_only_signs.
        ("cookie", _) => Facts {
            copied_cookie_after_logout: "until the expiry sealed in it: the cookie age",
            store_outage: "nothing: no store is read",
            browser_reads_the_data: "no: AES-256-GCM sealed",
            another_service_needs: "the secret key, which also lets it forge cookies",
            copy_bounded_by: CopyBound::CookieAge,
        },
        // tests/hybrid_session.rs: logout_kills_a_copied_refresh_cookie_at_once,
        // a_copied_access_token_works_after_logout_until_its_exp_and_no_longer,
        // in_a_store_outage_*.
        ("hybrid", _) => Facts {
            copied_cookie_after_logout: "the refresh id: no time; the access token: until its `exp`, the access-token age",
            store_outage: "pages work until the access token expires; a refresh answers 503",
            browser_reads_the_data: "the access token: yes, as `/token`'s; the refresh id: no",
            another_service_needs: "the public key for access tokens; the store to refresh",
            copy_bounded_by: CopyBound::AccessTokenAge,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mechanism_of_the_app_has_its_facts_and_a_peer_has_none() {
        for mount in crate::app::Mount::BUILT_IN {
            assert!(of(mount.name(), false).is_some(), "{}", mount.name());
        }
        assert_eq!(of("peer", false), None);
    }

    #[test]
    fn revocation_changes_what_a_copied_token_can_do() {
        assert_ne!(of("token", true), of("token", false));
    }
}
