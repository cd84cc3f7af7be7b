//! A bounded memory of tokens already verified, so that a returning visitor
//! costs a map lookup instead of a signature check (an Ed25519 verification
//! takes about as long as the rest of the request).
//!
//! Entries are keyed by the exact token text, so only a byte-identical token
//! can hit, and end when the token expires. Keys are loaded at start, so a
//! retired key's tokens leave with the restart that retires it. Revocation
//! is not cached: with `--token-revocation` every request still asks the
//! store, and a logout here forgets the token at once. Failures are never
//! cached.
//!
//! The bound is kept with two generations: lookups search the young one, then
//! the old one (moving a hit back to the young); when the young one is full it
//! becomes the old one, and the previous old one is dropped. Recently used
//! tokens stay; at most twice the capacity is ever held.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use super::claims::{Claims, LEEWAY_SECONDS};

#[derive(Debug)]
pub struct VerifiedTokens {
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Box<str>, Arc<Claims>>,
    old: HashMap<Box<str>, Arc<Claims>>,
}

impl VerifiedTokens {
    /// Remembers up to `capacity` recently used tokens (0: remembers none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            generations: Mutex::default(),
        }
    }

    fn generations(&self) -> MutexGuard<'_, Generations> {
        // No code holding this lock can panic half-way through a change.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The claims of `token` if it was verified before and has not expired.
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Claims>> {
        if self.capacity == 0 {
            return None;
        }
        let mut generations = self.generations();
        let claims = match generations.young.get(token) {
            Some(claims) => Arc::clone(claims),
            None => {
                let (token, claims) = generations.old.remove_entry(token)?;
                generations.insert(token, Arc::clone(&claims), self.capacity);
                claims
            }
        };
        if claims.exp.saturating_add(LEEWAY_SECONDS) < now {
            generations.young.remove(token);
            return None;
        }
        Some(claims)
    }

    pub fn insert(&self, token: &str, claims: Arc<Claims>) {
        if self.capacity > 0 {
            self.generations()
                .insert(token.into(), claims, self.capacity);
        }
    }

    pub fn forget(&self, token: &str) {
        let mut generations = self.generations();
        generations.young.remove(token);
        generations.old.remove(token);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self.generations();
        generations.young.len() + generations.old.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Generations {
    fn insert(&mut self, token: Box<str>, claims: Arc<Claims>, capacity: usize) {
        if self.young.len() >= capacity {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(token, claims);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{username::Username, visitor::VisitorState};

    fn claims(exp: u64) -> Arc<Claims> {
        let mut claims = Claims::new(&VisitorState::logged_in(Username::seed()), 0, 0);
        claims.exp = exp;
        Arc::new(claims)
    }

    #[test]
    fn a_remembered_token_is_found_by_its_exact_text_only() {
        let cache = VerifiedTokens::new(10);
        cache.insert("a.b.c", claims(100));
        assert!(cache.get("a.b.c", 50).is_some());
        assert!(cache.get("a.b.d", 50).is_none());
        assert!(cache.get("a.b.c ", 50).is_none());
    }

    #[test]
    fn an_expired_token_is_forgotten() {
        let cache = VerifiedTokens::new(10);
        cache.insert("t", claims(100));
        assert!(cache.get("t", 100 + LEEWAY_SECONDS).is_some());
        assert!(cache.get("t", 101 + LEEWAY_SECONDS).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn it_never_holds_more_than_twice_its_capacity() {
        let cache = VerifiedTokens::new(100);
        for n in 0..1000 {
            cache.insert(&format!("token-{n}"), claims(100));
        }
        assert!(cache.len() <= 200, "{}", cache.len());
        assert!(cache.get("token-999", 0).is_some(), "the newest are kept");
        assert!(cache.get("token-0", 0).is_none(), "the oldest are dropped");
    }

    #[test]
    fn a_token_in_use_survives_generations() {
        let cache = VerifiedTokens::new(10);
        cache.insert("busy", claims(100));
        for n in 0..100 {
            cache.insert(&format!("other-{n}"), claims(100));
            assert!(cache.get("busy", 0).is_some(), "lost after {n} others");
        }
    }

    #[test]
    fn a_forgotten_token_is_gone() {
        let cache = VerifiedTokens::new(10);
        cache.insert("t", claims(100));
        cache.forget("t");
        assert!(cache.get("t", 0).is_none());
    }

    #[test]
    fn a_zero_capacity_remembers_nothing() {
        let cache = VerifiedTokens::new(0);
        cache.insert("t", claims(100));
        assert!(cache.get("t", 0).is_none());
    }
}
