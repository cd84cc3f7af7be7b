//! A bounded memory of tokens already verified, so that a returning visitor
//! costs a map lookup instead of a signature check (an Ed25519 verification
//! takes about as long as the rest of the request).
//!
//! Entries are keyed by the exact token text, so only a byte-identical token
//! can hit, and every hit checks the token's expiry: an expired token is
//! forgotten when it is next presented, and one never presented again
//! takes room until the bound evicts it. moka's own per-entry expiry cost
//! every hit ~480 instructions (clock reads and timer upkeep, `--profile`)
//! to free that room sooner. Keys are loaded at start, so a
//! retired key's tokens leave with the restart that retires it. Revocation
//! is not cached: with `--token-revocation` every request still asks the
//! store, and a logout here forgets the token at once. Failures are never
//! cached. The bound is moka's (TinyLFU: a token in use is kept over one
//! seen once).

use std::sync::Arc;

use foldhash::fast::RandomState;
use moka::sync::Cache;

use super::claims::{Claims, LEEWAY_SECONDS};

#[derive(Debug)]
pub struct VerifiedTokens {
    /// `None` when the capacity is 0: every token is verified every time.
    /// Hashed with foldhash, seeded at random per cache: SipHash cost about
    /// 1k instructions per 400-byte token (`--profile`). A client chooses
    /// its username, but every token stored was signed with a key kept here
    /// and ends in that signature, so no client can make tokens that
    /// collide under a seed it never sees.
    cache: Option<Cache<Box<str>, Arc<Claims>, RandomState>>,
}

impl VerifiedTokens {
    /// Remembers up to `capacity` tokens (0: remembers none).
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: (capacity > 0).then(|| {
                Cache::builder()
                    .max_capacity(capacity)
                    .build_with_hasher(RandomState::default())
            }),
        }
    }

    /// The claims of `token` if it was verified before and has not expired
    /// by `now` (Unix seconds).
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Claims>> {
        let cache = self.cache.as_ref()?;
        let claims = cache.get(token)?;
        if claims.exp.saturating_add(LEEWAY_SECONDS) < now {
            cache.invalidate(token);
            return None;
        }
        Some(claims)
    }

    pub fn insert(&self, token: &str, claims: Arc<Claims>) {
        if let Some(cache) = &self.cache {
            cache.insert(token.into(), claims);
        }
    }

    pub fn forget(&self, token: &str) {
        if let Some(cache) = &self.cache {
            cache.invalidate(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{session::VisitorState, token_session::claims, username::Username};

    /// Claims that expire `seconds` from now.
    fn claims(seconds: u64) -> Arc<Claims> {
        Arc::new(Claims::new(
            claims::TokenKind::Session,
            &VisitorState::logged_in(Username::seed()),
            claims::now(),
            seconds,
        ))
    }

    fn held(tokens: &VerifiedTokens) -> u64 {
        let cache = tokens.cache.as_ref().unwrap();
        cache.run_pending_tasks();
        cache.entry_count()
    }

    #[test]
    fn a_remembered_token_is_found_by_its_exact_text_only() {
        let cache = VerifiedTokens::new(10);
        cache.insert("a.b.c", claims(100));
        let now = claims::now();
        assert!(cache.get("a.b.c", now).is_some());
        assert!(cache.get("a.b.d", now).is_none());
        assert!(cache.get("a.b.c ", now).is_none());
    }

    #[test]
    fn an_expired_token_is_forgotten() {
        let cache = VerifiedTokens::new(10);
        let claims = claims(100);
        cache.insert("t", Arc::clone(&claims));
        assert!(cache.get("t", claims.exp + LEEWAY_SECONDS).is_some());
        assert!(cache.get("t", claims.exp + LEEWAY_SECONDS + 1).is_none());
        assert_eq!(held(&cache), 0);
    }

    #[test]
    fn a_token_remembered_after_it_expired_is_never_found() {
        let cache = VerifiedTokens::new(10);
        let mut expired = Claims::clone(&claims(0));
        expired.exp = claims::now().saturating_sub(LEEWAY_SECONDS + 1);
        cache.insert("t", Arc::new(expired));
        assert!(cache.get("t", claims::now()).is_none());
        assert_eq!(held(&cache), 0);
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = VerifiedTokens::new(100);
        for n in 0..1000 {
            cache.insert(&format!("token-{n}"), claims(100));
        }
        assert!(held(&cache) <= 100, "{}", held(&cache));
    }

    #[test]
    fn a_token_in_use_survives_a_flood_of_others() {
        let cache = VerifiedTokens::new(10);
        cache.insert("busy", claims(100));
        for n in 0..100 {
            cache.insert(&format!("other-{n}"), claims(100));
            assert!(
                cache.get("busy", claims::now()).is_some(),
                "lost after {n} others"
            );
        }
    }

    #[test]
    fn a_forgotten_token_is_gone() {
        let cache = VerifiedTokens::new(10);
        cache.insert("t", claims(100));
        cache.forget("t");
        assert!(cache.get("t", claims::now()).is_none());
    }

    #[test]
    fn a_zero_capacity_remembers_nothing() {
        let cache = VerifiedTokens::new(0);
        cache.insert("t", claims(100));
        assert!(cache.get("t", claims::now()).is_none());
    }
}
