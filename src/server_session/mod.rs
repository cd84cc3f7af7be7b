//! `/server`: server-side sessions. The browser holds an opaque id in the
//! `sessionid` cookie; the data lives in a session store (`crate::stores`).
//!
//! tower-sessions' `SessionManagerLayer` is not used: it turns a failed save
//! into an empty-bodied 500 after the handler has returned, saves a second time
//! when a handler saves explicitly, and removes cookies without their Secure
//! attribute (which browsers ignore for `__Host-` cookies). This module does the
//! same job in the open: opening a cookie loads the record it names, a login
//! creates a record under a fresh id, a logout deletes it, and every store
//! failure becomes a 503 page.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::Value;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use crate::{
    session::{
        CookiePolicy, CookieVerdict, CookieWrites, ExpiryPolicy, Mechanism, Opened, Refusal,
        SentValues, SessionError, SessionPolicy, SetCookie, VisitorState,
    },
    stores::{Owner, SharedRecords, StoreError, StoreUrl},
};

pub const COOKIE_NAME: &str = "sessionid";

/// The keys a record's data uses, as Django's `request.session[...]`.
pub const USERNAME: &str = "username";
pub const IS_LOGGED_IN: &str = "is_logged_in";

/// When the login began, in Unix seconds, under `--expiry inactivity` only:
/// what its absolute timeout counts from. Under the other policies a
/// record's expiry never moves, so it is not needed.
pub const LOGIN_AT: &str = "_login_at";

/// The mark on every record this mechanism writes: it adopts no other.
const OWNER: Owner = Owner::named("server");

/// The `/server` mechanism: the store and the cookie policy every request shares.
#[derive(Debug)]
pub struct ServerMechanism {
    records: SharedRecords,
    /// The kind of store, as a visitor may be told it (`sqlite`).
    store: &'static str,
    cookie: CookiePolicy,
    policy: SessionPolicy,
    /// How many logins on this instance have replaced each recent session
    /// id: a login that finds its session already gone was beaten by a
    /// logout, unless another login of the same id (a double click) got there.
    replacing: moka::sync::Cache<Id, Arc<AtomicUsize>>,
}

/// What one request knows of its visitor: the live record their cookie
/// named, or the one a login just created. `None` for a Guest.
#[derive(Debug, Default)]
pub struct ServerSession {
    record: Option<Arc<Record>>,
}

impl ServerSession {
    pub fn record(&self) -> Option<&Record> {
        self.record.as_deref()
    }
}

impl ServerMechanism {
    /// `records` are the store as this mechanism's meter counts it
    /// (`stores::instrumented`).
    pub fn new(records: SharedRecords, store: &StoreUrl, policy: SessionPolicy) -> Self {
        Self {
            records,
            store: store.name(),
            cookie: policy.cookie(COOKIE_NAME),
            policy,
            replacing: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// The kind of store, as a visitor may be told it (`sqlite`).
    pub fn store_name(&self) -> &'static str {
        self.store
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    fn unavailable(&self, source: StoreError) -> SessionError {
        SessionError::StoreUnavailable {
            store: self.store,
            source,
        }
    }

    fn expiry_from_now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().saturating_add(time::Duration::seconds(self.lifetime_seconds()))
    }

    /// The expiry a use extends `record` to under `--expiry inactivity`:
    /// `--cookie-age` from now, never past the login's absolute timeout; a
    /// record that does not say when its login began is not extended.
    fn extended_expiry(&self, record: &Record) -> Option<OffsetDateTime> {
        let login_at = record.data.get(LOGIN_AT).and_then(Value::as_u64)?;
        let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).ok()?;
        let end = self.policy.extended_end(login_at, now);
        let end = OffsetDateTime::from_unix_timestamp(i64::try_from(end).ok()?).ok()?;
        (end > record.expiry_date).then_some(end)
    }

    fn lifetime_seconds(&self) -> i64 {
        i64::try_from(self.policy.lifetime).unwrap_or(i64::MAX)
    }

    /// The cookie that carries `record`, for as long as the record lives.
    fn cookie_for(&self, record: &Record) -> Result<SetCookie, SessionError> {
        // Rounded up: a Max-Age of 0 would delete the cookie at once.
        let left = (record.expiry_date - OffsetDateTime::now_utc())
            .as_seconds_f64()
            .ceil();
        let max_age = if left >= 1.0 { left as u64 } else { 1 };
        Ok(self.cookie.set(&record.id.to_string(), max_age)?)
    }
}

impl Mechanism for ServerMechanism {
    type Session = ServerSession;

    fn cookies(&self) -> &[CookiePolicy] {
        std::slice::from_ref(&self.cookie)
    }

    /// Under `--expiry inactivity` this use extends the session.
    async fn open(&self, sent: SentValues<'_>) -> Result<Opened<ServerSession>, SessionError> {
        let value = sent.only();
        let Ok(id) = value.parse::<Id>() else {
            return Ok(Opened::Refused(Refusal::new(
                CookieVerdict::Tampered,
                "malformed session id",
            )));
        };
        let mut record = match self.records.load(&id).await {
            Ok(Some(record)) if OWNER.owns(&record) => record,
            Ok(Some(_)) => {
                return Ok(Opened::Refused(Refusal::new(
                    CookieVerdict::Tampered,
                    "the id names another mechanism's record, not a session",
                )));
            }
            Ok(None) => {
                return Ok(Opened::Refused(Refusal::new(
                    CookieVerdict::Expired,
                    "no live session under this id",
                )));
            }
            Err(StoreError::Corrupt(reason)) => {
                if let Err(err) = self.records.delete(&id).await {
                    tracing::warn!(router = "server", %err, "could not delete the undecodable record");
                }
                return Ok(Opened::Refused(Refusal::new(
                    CookieVerdict::Tampered,
                    format_args!("undecodable session record, deleted: {reason}"),
                )));
            }
            Err(err) => return Err(self.unavailable(err)),
        };
        let mut renewed = None;
        if self.policy.expiry == ExpiryPolicy::Inactivity
            && let Some(expiry) = self.extended_expiry(&record)
        {
            let mut extended = Arc::unwrap_or_clone(record);
            extended.expiry_date = expiry;
            // Never an upsert: a session deleted meanwhile stays deleted.
            if !self
                .records
                .update(&extended)
                .await
                .map_err(|err| self.unavailable(err))?
            {
                return Ok(Opened::Refused(Refusal::new(
                    CookieVerdict::Expired,
                    "the session ended while it was being extended",
                )));
            }
            renewed = Some(self.cookie_for(&extended)?);
            record = Arc::new(extended);
        }
        Ok(Opened::Valid {
            session: ServerSession {
                record: Some(record),
            },
            renewed: renewed.into(),
        })
    }

    /// Reads the two keys back with no defaults: the view applies Django's.
    fn state(&self, session: &ServerSession) -> VisitorState {
        session.record.as_deref().map(state_of).unwrap_or_default()
    }

    /// Also gives the session a new id, so that an id known before login is
    /// worthless after (session fixation).
    async fn log_in(
        &self,
        session: &mut ServerSession,
        state: VisitorState,
    ) -> Result<CookieWrites, SessionError> {
        let mut data = OWNER.data();
        if let Some(old) = &session.record {
            let logins = self
                .replacing
                .get_with(old.id, || Arc::new(AtomicUsize::new(0)));
            logins.fetch_add(1, Ordering::SeqCst);
            // The old id dies here. If it was already gone and no other login
            // replaced it, a logout won the race.
            let deleted = self
                .records
                .delete(&old.id)
                .await
                .map_err(|err| self.unavailable(err))?;
            if !deleted && logins.load(Ordering::SeqCst) < 2 {
                return Err(SessionError::Interrupted);
            }
            data = old.data.clone();
            data.remove(LOGIN_AT);
        }
        let mut record = Record {
            id: Id::default(),
            data,
            expiry_date: self.expiry_from_now(),
        };
        write_state(&mut record, &state);
        if self.policy.expiry == ExpiryPolicy::Inactivity {
            record.data.insert(
                LOGIN_AT.into(),
                Value::from(OffsetDateTime::now_utc().unix_timestamp()),
            );
        }
        let record = self
            .records
            .create_shared(record)
            .await
            .map_err(|err| self.unavailable(err))?;
        // Made just now: it lives the whole lifetime, with no clock to read.
        let cookie = self
            .cookie
            .set(&record.id.to_string(), self.policy.lifetime)?;
        session.record = Some(record);
        Ok(cookie.into())
    }

    async fn log_out(&self, session: &mut ServerSession) -> Result<(), SessionError> {
        if let Some(record) = &session.record {
            self.records
                .delete(&record.id)
                .await
                .map_err(|err| self.unavailable(err))?;
        }
        session.record = None;
        Ok(())
    }
}

/// A session record holding `state`, as a login writes one: what the
/// benchmark seeds stores with.
pub fn session_record(state: &VisitorState, expiry_date: OffsetDateTime) -> Record {
    let mut record = Record {
        id: Id::default(),
        data: OWNER.data(),
        expiry_date,
    };
    write_state(&mut record, state);
    record
}

/// Writes `state` into a record's data under Django's keys.
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
/// One pass over the record's few keys rather than a lookup of each, which
/// hashes the name with SipHash (~250 instructions a request, `--profile`).
pub fn state_of(record: &Record) -> VisitorState {
    let mut state = VisitorState::default();
    for (key, value) in &record.data {
        match key.as_str() {
            USERNAME => state.username = value.as_str().map(str::to_owned),
            IS_LOGGED_IN => state.is_logged_in = value.as_bool(),
            _ => {}
        }
    }
    state
}
