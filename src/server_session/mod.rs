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
    store::{STORE_TIMEOUT, SessionRecords, SharedRecords, StoreError, cached, open},
    store_url::{ServiceUrl, SessionStoreKind},
};
use crate::{
    app::AppState,
    cookies::{CookiePolicy, CookieUpdate, SentCookie},
    error::AppError,
    routes::Mount,
    visitor::{CookieVerdict, SessionOutcome, VisitorSession, VisitorState},
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
}

impl ServerSessions {
    pub fn new(
        records: SharedRecords,
        kind: SessionStoreKind,
        cookie_age: u64,
        secure_cookies: bool,
    ) -> Self {
        Self {
            records,
            kind,
            cookie: CookiePolicy::new(COOKIE_NAME, cookie_age, secure_cookies),
            lifetime: time::Duration::seconds(i64::try_from(cookie_age).unwrap_or(i64::MAX)),
        }
    }

    pub fn records(&self) -> &SharedRecords {
        &self.records
    }

    pub fn store_kind(&self) -> &SessionStoreKind {
        &self.kind
    }

    /// Whether the store answers: `/healthz` asks this.
    pub async fn ping(&self) -> Result<(), AppError> {
        self.records
            .load(&Id::default())
            .await
            .map_err(|err| self.unavailable(err))?;
        Ok(())
    }

    fn unavailable(&self, source: StoreError) -> AppError {
        AppError::StoreUnavailable {
            store: self.kind.name(),
            source,
        }
    }

    /// The live record that a cookie value names, and what the cookie was.
    async fn find(&self, cookie: &str) -> Result<(Option<Record>, CookieVerdict), AppError> {
        let Ok(id) = cookie.parse::<Id>() else {
            tracing::warn!(router = "server", "malformed session id in cookie");
            return Ok((None, CookieVerdict::Tampered));
        };
        match self.records.load(&id).await {
            Ok(Some(record)) => Ok((Some(record), CookieVerdict::Valid)),
            Ok(None) => Ok((None, CookieVerdict::Expired)),
            Err(StoreError::Corrupt(reason)) => {
                tracing::warn!(router = "server", %reason, "undecodable session record; treating the visitor as a Guest");
                if let Err(err) = self.records.delete(&id).await {
                    tracing::warn!(router = "server", %err, "could not delete the undecodable record");
                }
                Ok((None, CookieVerdict::Tampered))
            }
            Err(err) => Err(self.unavailable(err)),
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
    record: Option<Record>,
    state: VisitorState,
    verdict: CookieVerdict,
    update: Option<CookieUpdate>,
}

impl FromRequestParts<AppState> for ServerSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sessions = Arc::clone(&app.server);
        let (record, verdict) = match sessions.cookie.read(&parts.headers) {
            SentCookie::Absent => (None, CookieVerdict::Guest),
            SentCookie::Unreadable => (None, CookieVerdict::Tampered),
            SentCookie::Value(value) => sessions.find(value).await?,
        };
        let cookie_sent = verdict != CookieVerdict::Guest;
        Ok(Self {
            state: record.as_ref().map(state_of).unwrap_or_default(),
            update: (cookie_sent && record.is_none()).then_some(CookieUpdate::Remove),
            sessions,
            cookie_sent,
            record,
            verdict,
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
            data = old.data;
        }
        let mut record = Record {
            id: Id::default(),
            data,
            expiry_date: OffsetDateTime::now_utc().saturating_add(sessions.lifetime),
        };
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
        sessions
            .records
            .create(&mut record)
            .await
            .map_err(|err| sessions.unavailable(err))?;
        self.update = Some(CookieUpdate::Set(record.id.to_string()));
        self.state = state_of(&record);
        self.record = Some(record);
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
        parts.extensions_mut().insert(SessionOutcome {
            mount: Mount::Server,
            verdict: self.verdict,
        });
        Ok(parts)
    }
}

/// Reads the two keys back with no defaults: the view applies Django's.
fn state_of(record: &Record) -> VisitorState {
    VisitorState {
        username: record
            .data
            .get(USERNAME)
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_logged_in: record.data.get(IS_LOGGED_IN).and_then(Value::as_bool),
    }
}
