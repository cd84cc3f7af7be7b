//! The three kinds of record `/hybrid` keeps in the session store, and how
//! each is written into a store record's data and read back.
//!
//! - A **family** per login, under the family id (which every access token of
//!   the login carries as its `jti`): while it exists, the login lives. A
//!   logout or a detected reuse deletes it, which ends every refresh id of
//!   the login at once.
//! - A **live refresh id**: the visitor's state and their family, until the
//!   login ends. Consuming it swaps it, in one compare-and-swap, for:
//! - a **consumed refresh id**: the same state and family, the id that
//!   replaced it and when. Kept until the login ends, so that a second use
//!   of it, after the race window, is recognised as reuse.
//!
//! Every record carries `/hybrid`'s [`Owner`] mark, so that no other
//! mechanism adopts it and `/hybrid` adopts nothing else, and its kind.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use crate::{
    server_session::{state_of, write_state},
    session::{VisitorState, fingerprint},
    stores::Owner,
};

const OWNER: Owner = Owner::named("hybrid");

/// The data key naming a record's kind, one of the three below.
const KIND: &str = "kind";

const FAMILY: &str = "family";
const REFRESH: &str = "refresh";
const CONSUMED: &str = "consumed";

/// The data keys besides the mark, the kind and the visitor's state.
const FAMILY_ID: &str = "family_id";
const SUCCESSOR: &str = "successor";
const CONSUMED_AT: &str = "consumed_at";
const LOGIN_AT: &str = "login_at";

/// What a record under a refresh id turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshEntry {
    Live(LiveRefresh),
    Consumed(ConsumedRefresh),
}

/// A refresh id that has not been used yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRefresh {
    pub family: Id,
    pub state: VisitorState,
    /// When the login began (Unix seconds): its absolute timeout counts
    /// from here, however often it is refreshed.
    pub login_at: u64,
}

/// A refresh id already used: what replaced it, and when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRefresh {
    pub family: Id,
    pub state: VisitorState,
    pub login_at: u64,
    pub successor: Id,
    pub consumed_at: u64,
}

/// Why a record under a refresh id cannot be used: it belongs to another
/// mechanism, or it was written by another version or damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnusableRecord {
    #[error("the id names a record that is not a /hybrid refresh id")]
    NotARefreshId,
    #[error("the refresh record lacks its {0}")]
    Incomplete(&'static str),
}

fn marked(kind: &str) -> HashMap<String, Value> {
    let mut data = OWNER.data();
    data.insert(KIND.to_owned(), Value::from(kind));
    data
}

/// The kind of a record `/hybrid` owns; `None` for anyone else's.
fn kind(record: &Record) -> Option<&str> {
    if !OWNER.owns(record) {
        return None;
    }
    record.data.get(KIND).and_then(Value::as_str)
}

fn seconds_field(data: &HashMap<String, Value>, key: &'static str) -> Result<u64, UnusableRecord> {
    data.get(key)
        .and_then(Value::as_u64)
        .ok_or(UnusableRecord::Incomplete(key))
}

fn id_field(data: &HashMap<String, Value>, key: &'static str) -> Result<Id, UnusableRecord> {
    data.get(key)
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .ok_or(UnusableRecord::Incomplete(key))
}

/// The family record of a login that ends at `expiry`.
pub fn family(id: Id, expiry: OffsetDateTime) -> Record {
    Record {
        id,
        data: marked(FAMILY),
        expiry_date: expiry,
    }
}

/// Whether `record` is a family record (and not, say, a session whose id
/// someone put in an access token's `jti`).
pub fn is_family(record: &Record) -> bool {
    kind(record) == Some(FAMILY)
}

impl LiveRefresh {
    /// The record of a new refresh id `id`, ending at `expiry`.
    pub fn record(&self, id: Id, expiry: OffsetDateTime) -> Record {
        let mut record = Record {
            id,
            data: marked(REFRESH),
            expiry_date: expiry,
        };
        record
            .data
            .insert(FAMILY_ID.to_owned(), Value::from(self.family.to_string()));
        record
            .data
            .insert(LOGIN_AT.to_owned(), Value::from(self.login_at));
        write_state(&mut record, &self.state);
        record
    }

    /// What replaces this id's record when it is consumed: kept until the
    /// login ends, one second later than the live record did, so that the
    /// expiry the compare-and-swap checks has changed.
    pub fn consumed(&self, id: Id, live_expiry: OffsetDateTime, successor: Id, now: u64) -> Record {
        let mut record = Record {
            id,
            data: marked(CONSUMED),
            expiry_date: live_expiry.saturating_add(time::Duration::SECOND),
        };
        record
            .data
            .insert(FAMILY_ID.to_owned(), Value::from(self.family.to_string()));
        record
            .data
            .insert(SUCCESSOR.to_owned(), Value::from(successor.to_string()));
        record.data.insert(CONSUMED_AT.to_owned(), Value::from(now));
        record
            .data
            .insert(LOGIN_AT.to_owned(), Value::from(self.login_at));
        write_state(&mut record, &self.state);
        record
    }
}

/// A refresh record's data as the inspector shows it to the login that owns
/// it: the id that replaced a consumed one only by its fingerprint, since
/// that id is a live credential.
pub fn shown(record: &Record) -> BTreeMap<&str, Value> {
    record
        .data
        .iter()
        .map(|(key, value)| match (key.as_str(), value.as_str()) {
            (SUCCESSOR, Some(successor)) => (key.as_str(), Value::from(fingerprint(successor))),
            _ => (key.as_str(), value.clone()),
        })
        .collect()
}

impl RefreshEntry {
    pub fn read(record: &Record) -> Result<Self, UnusableRecord> {
        let data = &record.data;
        match kind(record) {
            Some(REFRESH) => Ok(RefreshEntry::Live(LiveRefresh {
                family: id_field(data, FAMILY_ID)?,
                state: state_of(record),
                login_at: seconds_field(data, LOGIN_AT)?,
            })),
            Some(CONSUMED) => Ok(RefreshEntry::Consumed(ConsumedRefresh {
                family: id_field(data, FAMILY_ID)?,
                state: state_of(record),
                login_at: seconds_field(data, LOGIN_AT)?,
                successor: id_field(data, SUCCESSOR)?,
                consumed_at: seconds_field(data, CONSUMED_AT)?,
            })),
            _ => Err(UnusableRecord::NotARefreshId),
        }
    }

    pub fn family(&self) -> Id {
        match self {
            RefreshEntry::Live(live) => live.family,
            RefreshEntry::Consumed(consumed) => consumed.family,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::username::Username;

    fn live() -> LiveRefresh {
        LiveRefresh {
            family: Id::default(),
            state: VisitorState::logged_in(Username::seed()),
            login_at: 500,
        }
    }

    #[test]
    fn a_live_refresh_id_reads_back_as_written() {
        let live = live();
        let record = live.record(Id::default(), OffsetDateTime::now_utc());
        assert_eq!(RefreshEntry::read(&record), Ok(RefreshEntry::Live(live)));
    }

    #[test]
    fn a_consumed_refresh_id_names_its_successor_and_outlives_the_live_one() {
        let live = live();
        let (id, successor) = (Id::default(), Id::default());
        let expiry = OffsetDateTime::now_utc();
        let record = live.consumed(id, expiry, successor, 1_000);
        assert!(record.expiry_date > expiry);
        assert_eq!(
            RefreshEntry::read(&record),
            Ok(RefreshEntry::Consumed(ConsumedRefresh {
                family: live.family,
                state: live.state,
                login_at: 500,
                successor,
                consumed_at: 1_000,
            }))
        );
    }

    #[test]
    fn a_consumed_record_is_shown_without_its_successor() {
        let successor = Id::default();
        let record = live().consumed(Id::default(), OffsetDateTime::now_utc(), successor, 1);
        let shown = serde_json::to_string(&shown(&record)).unwrap();
        assert!(!shown.contains(&successor.to_string()), "{shown}");
        assert!(
            shown.contains(&fingerprint(&successor.to_string())),
            "{shown}"
        );
    }

    #[test]
    fn a_session_or_a_family_is_not_a_refresh_id() {
        let session = Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc(),
        };
        assert_eq!(
            RefreshEntry::read(&session),
            Err(UnusableRecord::NotARefreshId)
        );
        let family = family(Id::default(), OffsetDateTime::now_utc());
        assert!(is_family(&family));
        assert_eq!(
            RefreshEntry::read(&family),
            Err(UnusableRecord::NotARefreshId)
        );
    }
}
