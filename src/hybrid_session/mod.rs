//! `/hybrid`: a short-lived access token and a rotating refresh session,
//! the design most teams deploy when they pick JWTs (OAuth 2.0 Security
//! BCP, RFC 9700 §4.14).
//!
//! The browser holds two cookies. `access` is a JWT with the same keys,
//! claims and verification as `/token`, but lasting `--access-token-age`
//! (300 s by default): while it is valid, a request touches no store.
//! `refresh` is an opaque random id whose record (the visitor's state and
//! their login's family) lives in the session store. A request whose access
//! token is missing or expired consumes its refresh id, in one
//! compare-and-swap, and gets a new access token and a new refresh id.
//!
//! - **Reuse.** A consumed id presented again after the race window
//!   (`--refresh-race-window`), or once the id that replaced it was used,
//!   revokes the whole login: its family record is deleted, so every
//!   refresh id of it is dead, and a warning is logged. A stolen refresh
//!   cookie is useful until the visitor's next refresh, and then logs the
//!   real visitor out as well, which tells them.
//! - **Races and lost responses.** The requests of one page load in
//!   parallel may all carry one expired access token and one refresh id,
//!   and a rotating response may never reach the browser. Exactly one
//!   request consumes the id; one that finds it consumed within the window,
//!   its successor still unused, gets a new access token of the same login
//!   and that successor again. Within the window, a thief holding a
//!   just-consumed id gets the same, and no alarm is raised.
//! - **Whose id.** A request with a valid access token reads no refresh
//!   record, so the refresh cookie beside it is only a claim: a login, a
//!   logout or the inspector loads it and uses it only if it is a refresh id
//!   of that token's own login.
//! - **Logout** deletes the family and the refresh id: a copied refresh
//!   cookie is worthless at once, a copied access token works until its own
//!   `exp` (at most `--access-token-age` and the leeway).
//! - **Outage.** A valid access token needs no store; a refresh that cannot
//!   reach it is a 503, never a logout.

mod records;

use std::sync::Arc;

use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

pub use self::records::{
    ConsumedRefresh, LiveRefresh, RefreshEntry, UnusableRecord, is_family, shown,
};
use crate::{
    metrics::MechanismMeter,
    session::{
        CookiePolicy, CookieVerdict, CookieWrites, ExpiryPolicy, Mechanism, Opened, Refusal,
        SentValues, SessionError, SessionPolicy, VisitorState, fingerprint,
    },
    stores::{SharedRecords, StoreError, StoreUrl},
    token_session::{
        VerifiedToken,
        claims::{self, Claims, TokenKind},
        keys::KeyRing,
        verified::VerifiedTokens,
    },
};

pub const ACCESS_COOKIE_NAME: &str = "access";
pub const REFRESH_COOKIE_NAME: &str = "refresh";

/// The positions of the two cookies in [`Mechanism::cookies`].
pub const ACCESS: usize = 0;
pub const REFRESH: usize = 1;

/// The default of `--refresh-race-window`: seconds after a refresh id is
/// consumed during which presenting it again is taken for a request that
/// raced the refresh (a page's parallel requests), not for reuse. Long
/// enough for the slowest of a page's requests; short, because within it a
/// thief's use is not detected.
pub const RACE_WINDOW_SECONDS: u64 = 10;

/// How long `/hybrid`'s two credentials work, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// How long an access token lasts (`--access-token-age`).
    pub access_age: u64,
    /// How long a consumed refresh id is taken for a racing request
    /// (`--refresh-race-window`).
    pub race_window: u64,
}

/// The `/hybrid` mechanism: the token keys, the store, and the two cookies.
#[derive(Debug)]
pub struct HybridMechanism {
    keys: KeyRing,
    verified: VerifiedTokens,
    records: SharedRecords,
    /// The kind of store, as a visitor may be told it (`sqlite`).
    store: &'static str,
    /// The access cookie, then the refresh cookie.
    cookies: [CookiePolicy; 2],
    policy: SessionPolicy,
    refresh_policy: RefreshPolicy,
    meter: MechanismMeter,
}

/// What one request knows of its visitor: their valid access token (the one
/// sent, or the one this response sets) and their refresh id.
#[derive(Debug, Default)]
pub struct HybridSession {
    access: Option<VerifiedToken>,
    refresh: Option<RefreshId>,
}

/// The visitor's refresh id, and its record when this request read or
/// wrote it (a request with a valid access token reads none).
#[derive(Debug)]
pub struct RefreshId {
    pub id: Id,
    pub record: Option<Arc<Record>>,
}

impl HybridSession {
    pub fn access(&self) -> Option<&VerifiedToken> {
        self.access.as_ref()
    }

    pub fn refresh(&self) -> Option<&RefreshId> {
        self.refresh.as_ref()
    }

    /// The login's family: the access token's `jti`, or the refresh record's.
    pub fn family(&self) -> Option<Id> {
        let from_access = self
            .access
            .as_ref()
            .and_then(|access| access.claims.jti.parse().ok());
        from_access.or_else(|| {
            let record = self.refresh.as_ref()?.record.as_deref()?;
            RefreshEntry::read(record).ok().map(|entry| entry.family())
        })
    }
}

/// What the store holds of one visitor's login.
#[derive(Debug)]
pub struct StoredLogin {
    /// The visitor's refresh record, when the id they sent is their login's.
    pub refresh: Option<Arc<Record>>,
    /// Their login's family id, and its record while the login lives.
    pub family: Option<(Id, Option<Arc<Record>>)>,
}

/// A login's end as a store expiry, in whole seconds: the compare-and-swap
/// compares expiries, and whole seconds survive every store's precision.
fn moment(unix_seconds: u64) -> OffsetDateTime {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

fn unix_seconds(moment: OffsetDateTime) -> u64 {
    u64::try_from(moment.unix_timestamp()).unwrap_or_default()
}

impl HybridMechanism {
    /// `token_cache` is how many verified access tokens to remember (0: none).
    pub fn new(
        keys: KeyRing,
        token_cache: u64,
        records: SharedRecords,
        store: &StoreUrl,
        policy: SessionPolicy,
        refresh_policy: RefreshPolicy,
        meter: MechanismMeter,
    ) -> Self {
        Self {
            meter,
            keys,
            verified: VerifiedTokens::new(token_cache),
            records,
            store: store.name(),
            cookies: [
                policy.cookie(ACCESS_COOKIE_NAME),
                policy.cookie(REFRESH_COOKIE_NAME),
            ],
            policy,
            refresh_policy,
        }
    }

    /// The kind of store, as a visitor may be told it (`sqlite`).
    pub fn store_name(&self) -> &'static str {
        self.store
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    pub fn refresh_policy(&self) -> &RefreshPolicy {
        &self.refresh_policy
    }

    /// What the store holds of this visitor's login, read where this
    /// request did not (a valid access token needs neither record): their
    /// refresh record, if it is their own, and their login's family record.
    pub async fn stored_login(&self, session: &HybridSession) -> Result<StoredLogin, StoreError> {
        let refresh = self.own_refresh(session).await?;
        let family = match session.family() {
            Some(id) => Some((id, self.records.load(&id).await?)),
            None => None,
        };
        Ok(StoredLogin { refresh, family })
    }

    fn unavailable(&self, source: StoreError) -> SessionError {
        SessionError::StoreUnavailable {
            store: self.store,
            source,
        }
    }

    /// The claims of a valid access token, verified as `/token` verifies,
    /// except that it may not last longer than an access token does.
    fn verify(&self, token: &str) -> Result<Arc<Claims>, claims::Rejection> {
        let now = claims::now();
        if let Some(claims) = self.verified.get(token, now) {
            self.meter.cache_hit();
            return Ok(claims);
        }
        let claims = Arc::new(self.meter.verified(Claims::verify(
            token,
            &self.keys,
            TokenKind::Access,
            self.refresh_policy.access_age,
        ))?);
        self.verified.insert(token, Arc::clone(&claims));
        Ok(claims)
    }

    /// A new access token for `family`'s login, which ends at `login_ends`:
    /// it lasts `--access-token-age`, or what is left of the login if less.
    fn issue_access(
        &self,
        family: Id,
        state: &VisitorState,
        login_ends: u64,
        now: u64,
    ) -> Result<(VerifiedToken, CookieWrites), SessionError> {
        let lifetime = self
            .refresh_policy
            .access_age
            .min(login_ends.saturating_sub(now))
            .max(1);
        let claims = Claims {
            jti: family.to_string(),
            ..Claims::new(TokenKind::Access, state, now, lifetime)
        };
        let token = claims
            .sign(&self.keys, TokenKind::Access)
            .map_err(|err| SessionError::Sealing(Box::new(err)))?;
        self.meter.signed();
        let cookie = self.cookies[ACCESS].set(&token, lifetime)?;
        let claims = Arc::new(claims);
        self.verified.insert(&token, Arc::clone(&claims));
        Ok((VerifiedToken { token, claims }, cookie.into()))
    }

    /// The refresh cookie for `record`, for as long as the login lasts.
    fn refresh_cookie(
        &self,
        record: &Record,
        now: u64,
    ) -> Result<crate::session::SetCookie, SessionError> {
        let left = unix_seconds(record.expiry_date).saturating_sub(now).max(1);
        Ok(self.cookies[REFRESH].set(&record.id.to_string(), left)?)
    }

    /// When the login of a refresh id created now ends.
    fn login_end_from(&self, now: u64) -> u64 {
        now.saturating_add(self.policy.lifetime)
    }

    /// Whether `family`'s login still lives; under `--expiry inactivity`,
    /// also extends it to `extend_to` (one write instead of a read).
    async fn family_lives(&self, family: Id, extend_to: Option<u64>) -> Result<bool, SessionError> {
        let lives = match extend_to {
            Some(end) => self
                .records
                .update(&records::family(family, moment(end)))
                .await
                .map_err(|err| self.unavailable(err))?,
            None => self
                .records
                .load(&family)
                .await
                .map_err(|err| self.unavailable(err))?
                .is_some_and(|record| records::is_family(&record)),
        };
        Ok(lives)
    }

    /// Consumes refresh id `id` and rotates it, or tells why it cannot be.
    async fn refresh(&self, id: Id) -> Result<Opened<HybridSession>, SessionError> {
        let record = match self.records.load(&id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Ok(refused(
                    CookieVerdict::Expired,
                    "no live refresh record under this id",
                ));
            }
            Err(StoreError::Corrupt(reason)) => {
                if let Err(err) = self.records.delete(&id).await {
                    tracing::warn!(router = "hybrid", %err, "could not delete the undecodable record");
                }
                return Ok(refused(
                    CookieVerdict::Tampered,
                    format_args!("undecodable refresh record, deleted: {reason}"),
                ));
            }
            Err(err) => return Err(self.unavailable(err)),
        };
        match RefreshEntry::read(&record) {
            Ok(RefreshEntry::Live(live)) => self.rotate(&record, live).await,
            Ok(RefreshEntry::Consumed(consumed)) => self.replayed(id, consumed).await,
            Err(unusable) => Ok(refused(CookieVerdict::Tampered, unusable)),
        }
    }

    /// The winner's path: the successor is created first, then the old id
    /// swapped for its consumed record; a request that loses the swap
    /// deletes its unused successor and takes the race path.
    async fn rotate(
        &self,
        record: &Record,
        live: LiveRefresh,
    ) -> Result<Opened<HybridSession>, SessionError> {
        let now = claims::now();
        let login_ends = match self.policy.expiry {
            ExpiryPolicy::Inactivity => self.policy.extended_end(live.login_at, now),
            ExpiryPolicy::Absolute | ExpiryPolicy::BrowserSession => {
                unix_seconds(record.expiry_date)
            }
        };
        if login_ends <= now {
            return Ok(refused(
                CookieVerdict::Expired,
                "the login reached its absolute timeout",
            ));
        }
        let extend = (self.policy.expiry == ExpiryPolicy::Inactivity).then_some(login_ends);
        if !self.family_lives(live.family, extend).await? {
            return Ok(refused(
                CookieVerdict::Revoked,
                "the login of this refresh id was ended (a logout, or a reuse)",
            ));
        }
        let mut successor = live.record(Id::default(), moment(login_ends));
        self.records
            .create(&mut successor)
            .await
            .map_err(|err| self.unavailable(err))?;
        let consumed = live.consumed(record.id, record.expiry_date, successor.id, now);
        let swapped = self
            .records
            .compare_and_swap(&consumed, record.expiry_date)
            .await
            .map_err(|err| self.unavailable(err))?;
        if !swapped {
            if let Err(err) = self.records.delete(&successor.id).await {
                tracing::warn!(router = "hybrid", %err, "could not delete an unused refresh id");
            }
            return match self.records.load(&record.id).await {
                Ok(Some(now_stored)) => match RefreshEntry::read(&now_stored) {
                    Ok(RefreshEntry::Consumed(consumed)) => {
                        self.replayed(record.id, consumed).await
                    }
                    _ => Ok(refused(
                        CookieVerdict::Expired,
                        "the refresh id changed while it was being rotated",
                    )),
                },
                Ok(None) => Ok(refused(
                    CookieVerdict::Expired,
                    "the refresh id ended while it was being rotated",
                )),
                Err(err) => Err(self.unavailable(err)),
            };
        }
        let (access, access_cookie) =
            self.issue_access(live.family, &live.state, login_ends, now)?;
        let renewed = access_cookie.with(self.refresh_cookie(&successor, now)?);
        Ok(Opened::Valid {
            session: HybridSession {
                access: Some(access),
                refresh: Some(RefreshId {
                    id: successor.id,
                    record: Some(Arc::new(successor)),
                }),
            },
            renewed,
        })
    }

    /// A refresh id presented after it was consumed. Within the race window,
    /// and only while the id that replaced it is still unused, it is a
    /// request of the same page load, or the browser's retry after the
    /// rotating response was lost: it gets a new access token and that
    /// successor again, so that a lost response costs no login (AWS
    /// Cognito's retry grace period, django-oauth-toolkit issue 702). After
    /// the window, or once the successor was itself used (the grace covers
    /// the latest id only, django-oauth-toolkit issue 1617), it is reuse,
    /// which ends the login.
    async fn replayed(
        &self,
        id: Id,
        consumed: ConsumedRefresh,
    ) -> Result<Opened<HybridSession>, SessionError> {
        let now = claims::now();
        let successor = if now
            > consumed
                .consumed_at
                .saturating_add(self.refresh_policy.race_window)
        {
            None
        } else {
            self.records
                .load(&consumed.successor)
                .await
                .map_err(|err| self.unavailable(err))?
                .filter(|record| {
                    matches!(RefreshEntry::read(record),
                        Ok(RefreshEntry::Live(live)) if live.family == consumed.family)
                })
        };
        let Some(successor) = successor else {
            return self.reused(&consumed).await;
        };
        let family = self
            .records
            .load(&consumed.family)
            .await
            .map_err(|err| self.unavailable(err))?;
        let Some(family) = family.filter(|record| records::is_family(record)) else {
            return Ok(refused(
                CookieVerdict::Revoked,
                "the login of this refresh id was ended (a logout, or a reuse)",
            ));
        };
        let login_ends = unix_seconds(family.expiry_date);
        let (access, access_cookie) =
            self.issue_access(consumed.family, &consumed.state, login_ends, now)?;
        let renewed = access_cookie.with(self.refresh_cookie(&successor, now)?);
        tracing::debug!(
            router = "hybrid",
            refresh = %fingerprint(&id.to_string()),
            "served a request that raced the refresh of its id, with its successor"
        );
        Ok(Opened::Valid {
            session: HybridSession {
                access: Some(access),
                refresh: Some(RefreshId {
                    id: successor.id,
                    record: Some(successor),
                }),
            },
            renewed,
        })
    }

    /// A consumed refresh id used again: the whole login ends.
    async fn reused(
        &self,
        consumed: &ConsumedRefresh,
    ) -> Result<Opened<HybridSession>, SessionError> {
        tracing::warn!(
            router = "hybrid",
            family = %fingerprint(&consumed.family.to_string()),
            "a consumed refresh id was presented again: revoking its whole login"
        );
        self.records
            .delete(&consumed.family)
            .await
            .map_err(|err| self.unavailable(err))?;
        Ok(refused(
            CookieVerdict::Revoked,
            "refresh id reused after it was rotated; its login is revoked",
        ))
    }

    /// The refresh id the visitor sent, if it is one of their own login's.
    /// A request with a valid access token reads no refresh record, so its
    /// refresh cookie is only a claim until this checks whose it is: what a
    /// login or a logout deletes, and what the inspector shows, must be the
    /// visitor's own, or any record could be deleted or read by naming its id.
    async fn own_refresh(
        &self,
        session: &HybridSession,
    ) -> Result<Option<Arc<Record>>, StoreError> {
        let Some(refresh) = &session.refresh else {
            return Ok(None);
        };
        if let Some(record) = &refresh.record {
            return Ok(Some(Arc::clone(record)));
        }
        let record = match self.records.load(&refresh.id).await {
            Ok(record) => record,
            Err(StoreError::Corrupt(_)) => None,
            Err(err) => return Err(err),
        };
        let family = session.family();
        Ok(record.filter(|record| {
            RefreshEntry::read(record).is_ok_and(|entry| Some(entry.family()) == family)
        }))
    }

    /// Deletes the record under `id`, reporting a store that fails.
    async fn delete(&self, id: &Id) -> Result<(), SessionError> {
        self.records
            .delete(id)
            .await
            .map(|_| ())
            .map_err(|err| self.unavailable(err))
    }
}

fn refused(verdict: CookieVerdict, reason: impl std::fmt::Display) -> Opened<HybridSession> {
    Opened::Refused(Refusal::new(verdict, reason))
}

impl Mechanism for HybridMechanism {
    type Session = HybridSession;

    fn cookies(&self) -> &[CookiePolicy] {
        &self.cookies
    }

    async fn open(&self, sent: SentValues<'_>) -> Result<Opened<HybridSession>, SessionError> {
        let refresh = match sent.get(REFRESH).map(str::parse::<Id>) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return Ok(refused(CookieVerdict::Tampered, "malformed refresh id")),
        };
        if let Some(token) = sent.get(ACCESS) {
            match self.verify(token) {
                Ok(claims) => {
                    return Ok(Opened::Valid {
                        session: HybridSession {
                            access: Some(VerifiedToken {
                                token: token.to_owned(),
                                claims,
                            }),
                            refresh: refresh.map(|id| RefreshId { id, record: None }),
                        },
                        renewed: CookieWrites::none(),
                    });
                }
                Err(rejection) if rejection.is_expiry() && refresh.is_some() => {}
                Err(rejection) if rejection.is_expiry() => {
                    return Ok(refused(CookieVerdict::Expired, rejection));
                }
                Err(rejection) => return Ok(refused(CookieVerdict::Tampered, rejection)),
            }
        }
        match refresh {
            Some(id) => self.refresh(id).await,
            None => Ok(refused(
                CookieVerdict::Expired,
                "no access token and no refresh id",
            )),
        }
    }

    fn state(&self, session: &HybridSession) -> VisitorState {
        session
            .access
            .as_ref()
            .map(|access| access.claims.state())
            .unwrap_or_default()
    }

    /// A new login is a new family: the one the visitor held (if any) ends,
    /// so that nothing known before the login works after it.
    async fn log_in(
        &self,
        session: &mut HybridSession,
        state: VisitorState,
    ) -> Result<CookieWrites, SessionError> {
        let old_refresh = self
            .own_refresh(session)
            .await
            .map_err(|err| self.unavailable(err))?;
        if let Some(old_family) = session.family() {
            self.delete(&old_family).await?;
        }
        if let Some(old_refresh) = old_refresh {
            self.delete(&old_refresh.id).await?;
        }
        let now = claims::now();
        let login_ends = self.login_end_from(now);
        let mut family = records::family(Id::default(), moment(login_ends));
        self.records
            .create(&mut family)
            .await
            .map_err(|err| self.unavailable(err))?;
        let live = LiveRefresh {
            family: family.id,
            state,
            login_at: now,
        };
        let mut refresh = live.record(Id::default(), moment(login_ends));
        self.records
            .create(&mut refresh)
            .await
            .map_err(|err| self.unavailable(err))?;
        let (access, access_cookie) = self.issue_access(family.id, &live.state, login_ends, now)?;
        let cookies = access_cookie.with(self.refresh_cookie(&refresh, now)?);
        *session = HybridSession {
            access: Some(access),
            refresh: Some(RefreshId {
                id: refresh.id,
                record: Some(Arc::new(refresh)),
            }),
        };
        Ok(cookies)
    }

    /// Deletes the login's family, which ends every refresh id of it, and
    /// the visitor's refresh id itself. Access tokens already issued are
    /// not in the store, and last until their `exp`.
    async fn log_out(&self, session: &mut HybridSession) -> Result<(), SessionError> {
        let refresh = self
            .own_refresh(session)
            .await
            .map_err(|err| self.unavailable(err))?;
        if let Some(family) = session.family() {
            self.delete(&family).await?;
        }
        if let Some(refresh) = refresh {
            self.delete(&refresh.id).await?;
        }
        if let Some(access) = &session.access {
            self.verified.forget(&access.token);
        }
        *session = HybridSession::default();
        Ok(())
    }
}
