//! `/server` on the inspector: the opaque id the browser holds, and the
//! record it names in the store.

use std::collections::BTreeMap;

use super::holdings::{
    BrowserCookie, Contents, Detail, DetailForm, Holdings, Inspected, Moment, ServerHolds,
    StoredEntry, fingerprint, pretty,
};
use crate::{
    server_session::{ServerMechanism, ServerSession},
    session::{CookieVerdict, Mechanism as _},
};

impl Inspected for ServerMechanism {
    async fn holdings(
        &self,
        session: &ServerSession,
        verdict: CookieVerdict,
        now: i64,
    ) -> Holdings {
        let record = session.record();
        let browser = record.map(|record| {
            let id = record.id.to_string();
            // The cookie's Max-Age and the record's expiry start at the same login.
            BrowserCookie::new(
                &self.cookies()[0],
                Contents::OpaqueId,
                id.len(),
                self.policy().lifetime,
                record.expiry_date.unix_timestamp(),
                now,
            )
            .with(Detail::new(
                "Value",
                "value",
                DetailForm::Text,
                "a random id, meaningless without the store",
            ))
            .with(Detail::new(
                "Fingerprint",
                "fingerprint",
                DetailForm::Code,
                fingerprint(&id),
            ))
        });
        let entry = record.map(|record| StoredEntry {
            data: pretty(&record.data.iter().collect::<BTreeMap<_, _>>()),
            expires: Moment::at(record.expiry_date.unix_timestamp(), now),
        });
        let nothing = match verdict {
            CookieVerdict::Expired => "No live record for the id the browser sent.",
            _ => "No record for this visitor.",
        };
        Holdings {
            browser: browser.into_iter().collect(),
            server: ServerHolds {
                store: Some(self.store_name()),
                entry,
                nothing: nothing.to_owned(),
            },
        }
    }
}
