//! `/server`: server-side sessions. The browser holds an opaque id in the
//! `sessionid` cookie; the data lives in a tower-sessions store.
//!
//! tower-sessions' `SessionManagerLayer` is not used: it turns a failed save
//! into an empty-bodied 500 after the handler has returned, saves a second time
//! when a handler saves explicitly, and removes cookies without their Secure
//! attribute (which browsers ignore for `__Host-` cookies). This module does the
//! same job in the open: the extractor loads the record the cookie names, a
//! login creates a record under a fresh id, a logout deletes it, and every store
//! failure becomes a 503 page.

mod cache;
mod memory;
mod postgres;
mod redis;
mod sqlite;
mod store;
mod store_url;

use std::{convert::Infallible, sync::Arc};

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponseParts, ResponseParts},
};
use serde_json::Value;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

pub use self::{
    sqlite::SqliteRecords,
    store::{STORE_TIMEOUT, SessionRecords, SharedRecords, StoreError, cached, open},
    store_url::{ServiceUrl, SessionStoreKind},
};
use crate::{
    app::AppState,
    config::{Config, ExpiryPolicy},
    cookies::{CookiePolicy, CookieUpdate, SentCookie},
    error::AppError,
    routes::Mount,
    visitor::{CookieVerdict, SessionOutcomes, VisitorSession, VisitorState},
};

pub const COOKIE_NAME: &str = "sessionid";

/// The keys a record's data uses, as Django's `request.session[...]`.
const USERNAME: &str = "username";
const IS_LOGGED_IN: &str = "is_logged_in";

/// What every `/server` request shares: the store and the cookie policy.
#[derive(Debug)]
pub struct ServerSessions {
    records: SharedRecords,
    kind: SessionStoreKind,
    cookie: CookiePolicy,
    lifetime: time::Duration,
    expiry: ExpiryPolicy,
}

impl ServerSessions {
    pub fn new(records: SharedRecords, config: &Config) -> Self {
        Self {
            records,
            kind: config.store.url.clone(),
            cookie: CookiePolicy::configured(COOKIE_NAME, config),
            lifetime: time::Duration::seconds(i64::try_from(config.cookie_age).unwrap_or(i64::MAX)),
            expiry: config.expiry,
        }
    }

    pub fn records(&self) -> &SharedRecords {
        &self.records
    }

    pub fn store_kind(&self) -> &SessionStoreKind {
        &self.kind
    }

    /// Whether the store answers: `/healthz` asks this.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.records.load(&Id::default()).await.map(|_| ())
    }

    pub(crate) fn unavailable(&self, source: StoreError) -> AppError {
        AppError::StoreUnavailable {
            store: self.kind.name(),
            source,
        }
    }

    /// The live session that a cookie value names, and what the cookie was.
    /// Under `--expiry inactivity` this use extends the session.
    async fn find(&self, cookie: &str) -> Result<(Option<Arc<Record>>, CookieVerdict), AppError> {
        let Ok(id) = cookie.parse::<Id>() else {
            tracing::warn!(router = "server", "malformed session id in cookie");
            return Ok((None, CookieVerdict::Tampered));
        };
        let mut record = match self.records.load(&id).await {
            Ok(Some(record)) if is_session(&record) => record,
            Ok(Some(_)) => {
                tracing::warn!(
                    router = "server",
                    "cookie names a token revocation entry, not a session"
                );
                return Ok((None, CookieVerdict::Tampered));
            }
            Ok(None) => return Ok((None, CookieVerdict::Expired)),
            Err(StoreError::Corrupt(reason)) => {
                tracing::warn!(router = "server", %reason, "undecodable session record; treating the visitor as a Guest");
                if let Err(err) = self.records.delete(&id).await {
                    tracing::warn!(router = "server", %err, "could not delete the undecodable record");
                }
                return Ok((None, CookieVerdict::Tampered));
            }
            Err(err) => return Err(self.unavailable(err)),
        };
        if self.expiry == ExpiryPolicy::Inactivity {
            let mut extended = Arc::unwrap_or_clone(record);
            extended.expiry_date = self.expiry_from_now();
            // Never an upsert: a session deleted meanwhile stays deleted.
            if !self
                .records
                .update(&extended)
                .await
                .map_err(|err| self.unavailable(err))?
            {
                return Ok((None, CookieVerdict::Expired));
            }
            record = Arc::new(extended);
        }
        Ok((Some(record), CookieVerdict::Valid))
    }

    fn expiry_from_now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().saturating_add(self.lifetime)
    }

    /// The cookie that carries `record`, for as long as the record lives.
    fn cookie_for(&self, record: &Record) -> CookieUpdate {
        // Rounded up: a Max-Age of 0 would delete the cookie at once.
        let left = (record.expiry_date - OffsetDateTime::now_utc())
            .as_seconds_f64()
            .ceil();
        CookieUpdate::Set {
            value: record.id.to_string(),
            max_age: if left >= 1.0 { left as u64 } else { 1 },
        }
    }
}

/// Deletes expired records every `period` (tower-sessions' `ExpiredDeletion`
/// task, for any store) until `stop` is dropped; a sweep under way finishes.
pub async fn delete_expired_periodically(
    records: SharedRecords,
    period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<()>,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => match records.delete_expired().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted expired sessions"),
                Err(err) => tracing::warn!(%err, "could not delete expired sessions"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// A visitor's server-side session, loaded when the request arrives.
#[derive(Debug)]
pub struct ServerSession {
    sessions: Arc<ServerSessions>,
    cookie_sent: bool,
    /// The live record the cookie named when the request arrived.
    record: Option<Arc<Record>>,
    state: VisitorState,
    verdict: CookieVerdict,
    update: Option<CookieUpdate>,
    /// Length of the cookie's value as sent, if it was text.
    sent_bytes: Option<usize>,
}

/// What the inspector (`src/inspector.rs`) shows; nothing here changes state.
impl ServerSession {
    pub fn verdict(&self) -> CookieVerdict {
        self.verdict
    }

    /// The live record: the one the cookie named, or the one a login just created.
    pub fn record(&self) -> Option<&Record> {
        self.record.as_deref()
    }

    pub fn store_kind(&self) -> &SessionStoreKind {
        &self.sessions.kind
    }

    pub fn cookie_policy(&self) -> &CookiePolicy {
        &self.sessions.cookie
    }

    /// The Max-Age a login's cookie is given, in seconds.
    pub fn cookie_age(&self) -> u64 {
        u64::try_from(self.sessions.lifetime.whole_seconds()).unwrap_or_default()
    }

    pub fn sent_cookie_bytes(&self) -> Option<usize> {
        self.sent_bytes
    }
}

impl FromRequestParts<AppState> for ServerSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sessions = Arc::clone(&app.server);
        let sent = sessions.cookie.read(&parts.headers);
        let (record, verdict) = match sent {
            SentCookie::Absent => (None, CookieVerdict::Guest),
            SentCookie::Unreadable => (None, CookieVerdict::Tampered),
            SentCookie::Value(value) => sessions.find(value).await?,
        };
        let sent_bytes = match sent {
            SentCookie::Value(value) => Some(value.len()),
            SentCookie::Absent | SentCookie::Unreadable => None,
        };
        let cookie_sent = verdict != CookieVerdict::Guest;
        let update = match &record {
            None if cookie_sent => Some(CookieUpdate::Remove),
            Some(record) if sessions.expiry == ExpiryPolicy::Inactivity => {
                Some(sessions.cookie_for(record))
            }
            _ => None,
        };
        Ok(Self {
            state: record.as_deref().map(state_of).unwrap_or_default(),
            update,
            sessions,
            cookie_sent,
            record,
            verdict,
            sent_bytes,
        })
    }
}

impl VisitorSession for ServerSession {
    const MOUNT: Mount = Mount::Server;

    fn state(&self) -> &VisitorState {
        &self.state
    }

    async fn log_in(&mut self, state: VisitorState) -> Result<(), AppError> {
        let sessions = Arc::clone(&self.sessions);
        let mut data = Default::default();
        if let Some(old) = self.record.take() {
            // The old id dies here. If it was already gone, a logout won the race.
            if !sessions
                .records
                .delete(&old.id)
                .await
                .map_err(|err| sessions.unavailable(err))?
            {
                return Err(AppError::SessionInterrupted);
            }
            data = Arc::unwrap_or_clone(old).data;
        }
        let mut record = Record {
            id: Id::default(),
            data,
            expiry_date: sessions.expiry_from_now(),
        };
        write_state(&mut record, &state);
        sessions
            .records
            .create(&mut record)
            .await
            .map_err(|err| sessions.unavailable(err))?;
        self.update = Some(sessions.cookie_for(&record));
        self.state = state_of(&record);
        self.record = Some(Arc::new(record));
        Ok(())
    }

    async fn log_out(&mut self) -> Result<(), AppError> {
        if let Some(record) = self.record.take() {
            let sessions = &self.sessions;
            sessions
                .records
                .delete(&record.id)
                .await
                .map_err(|err| sessions.unavailable(err))?;
        }
        self.state = VisitorState::default();
        if self.cookie_sent {
            self.update = Some(CookieUpdate::Remove);
        }
        Ok(())
    }
}

impl IntoResponseParts for ServerSession {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(update) = &self.update {
            self.sessions.cookie.write(update, &mut parts);
        }
        SessionOutcomes::report(&mut parts, Mount::Server, self.verdict);
        Ok(parts)
    }
}

/// Token revocation entries share the store (`--token-revocation`) but are
/// not sessions: a cookie naming one must not adopt it.
fn is_session(record: &Record) -> bool {
    !record.data.contains_key(crate::token_session::REVOKED_JTI)
}

/// Puts the keys `state` sets into `record`, as a login stores them (public
/// so that the benchmark seeds stores in exactly this format).
pub fn write_state(record: &mut Record, state: &VisitorState) {
    if let Some(username) = &state.username {
        record
            .data
            .insert(USERNAME.into(), Value::from(username.as_str()));
    }
    if let Some(is_logged_in) = state.is_logged_in {
        record
            .data
            .insert(IS_LOGGED_IN.into(), Value::from(is_logged_in));
    }
}

/// Reads the two keys back with no defaults: the view applies Django's.
pub fn state_of(record: &Record) -> VisitorState {
    VisitorState {
        username: record
            .data
            .get(USERNAME)
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_logged_in: record.data.get(IS_LOGGED_IN).and_then(Value::as_bool),
    }
}
