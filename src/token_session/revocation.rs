//! `--token-revocation`: a logout writes the token's `jti` into the session
//! store, as a record under that id that lives until the token would have
//! expired, and every token is checked against it. This buys server-side
//! logout for tokens at the price of a store read on every request: the token
//! side is no longer stateless.

use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::claims::{Claims, LEEWAY_SECONDS};
use crate::{
    session::SessionError,
    stores::{Owner, SharedRecords, StoreError, StoreUrl},
};

/// The mark on every revocation entry: an id that names anything else is
/// not revoked.
const OWNER: Owner = Owner::named("token-revocation");

#[derive(Debug)]
pub struct Revocations {
    records: SharedRecords,
    /// The kind of store the entries live in, as errors and the inspector name it.
    store: &'static str,
}

impl Revocations {
    pub fn new(records: SharedRecords, store: &StoreUrl) -> Self {
        Self {
            records,
            store: store.name(),
        }
    }

    pub fn store_name(&self) -> &'static str {
        self.store
    }

    pub async fn is_revoked(&self, claims: &Claims) -> Result<bool, SessionError> {
        let Some(id) = entry_id(claims) else {
            return Ok(false);
        };
        match self.records.load(&id).await {
            Ok(entry) => Ok(entry.is_some_and(|entry| OWNER.owns(&entry))),
            Err(err) => Err(self.unavailable(err)),
        }
    }

    /// Records the revocation until no token of the login would verify
    /// anyway: not only the one presented, which ends at its `exp`, but any
    /// renewed copy of it (`--expiry inactivity`), which ends by the login's
    /// absolute timeout, `login_cap` seconds after it began. A token is
    /// accepted through the whole second `exp` + leeway.
    pub async fn revoke(&self, claims: &Claims, login_cap: u64) -> Result<(), SessionError> {
        let Some(id) = entry_id(claims) else {
            return Ok(());
        };
        let until = claims
            .login_at()
            .saturating_add(login_cap)
            .max(claims.exp)
            .saturating_add(LEEWAY_SECONDS)
            .saturating_add(1);
        let mut entry = Record {
            id,
            data: OWNER.data(),
            expiry_date: OffsetDateTime::from_unix_timestamp(
                i64::try_from(until).unwrap_or(i64::MAX),
            )
            .unwrap_or(OffsetDateTime::now_utc()),
        };
        self.records
            .create(&mut entry)
            .await
            .map_err(|err| self.unavailable(err))?;
        if entry.id != id {
            // The id was taken: by an earlier revocation of this same token.
            self.records
                .delete(&entry.id)
                .await
                .map_err(|err| self.unavailable(err))?;
        }
        Ok(())
    }

    fn unavailable(&self, source: StoreError) -> SessionError {
        SessionError::StoreUnavailable {
            store: self.store,
            source,
        }
    }
}

/// Our tokens' `jti` is a session-store id, so the entry lives under it.
fn entry_id(claims: &Claims) -> Option<Id> {
    claims.jti.parse().ok()
}
