//! What a request's cookie turned out to be: the one word every layer uses
//! for it, from the mechanisms that decide it to the access log and the
//! counters that report it. It depends on nothing.

use std::fmt;

/// What the request's cookie turned out to be. The access log reports it, so
/// that a flood of tampered cookies is visible without logging any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieVerdict {
    /// No cookie: a new visitor, or one who logged out.
    Guest,
    Valid,
    /// Well-formed but over: expired, logged out elsewhere, or unknown to the store.
    Expired,
    /// Malformed, wrongly signed or sealed, oversized or undecodable.
    Tampered,
    /// A token whose id a logout recorded (`--token-revocation`).
    Revoked,
}

impl CookieVerdict {
    /// Every verdict, each at the position of its discriminant, so that a
    /// counter per verdict is an array indexed by it.
    pub const ALL: [CookieVerdict; 5] = [
        CookieVerdict::Guest,
        CookieVerdict::Valid,
        CookieVerdict::Expired,
        CookieVerdict::Tampered,
        CookieVerdict::Revoked,
    ];

    /// The verdict as the access log writes it.
    pub fn name(self) -> &'static str {
        match self {
            CookieVerdict::Guest => "guest",
            CookieVerdict::Valid => "valid",
            CookieVerdict::Expired => "expired",
            CookieVerdict::Tampered => "tampered",
            CookieVerdict::Revoked => "revoked",
        }
    }
}

impl fmt::Display for CookieVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_sits_at_its_own_position() {
        for (position, verdict) in CookieVerdict::ALL.into_iter().enumerate() {
            assert_eq!(verdict as usize, position);
        }
    }
}
