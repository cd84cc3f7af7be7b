//! `/hybrid` on the inspector: the access token and the refresh id the
//! browser holds, and the refresh and family records of the login.

use super::holdings::{
    BrowserCookie, Contents, Detail, DetailForm, Holdings, Inspected, Moment, ServerHolds,
    StoredEntry, fingerprint, pretty,
};
use crate::{
    hybrid_session::{self, ACCESS, HybridMechanism, HybridSession, REFRESH, StoredLogin},
    session::{CookieVerdict, Mechanism as _},
    token_session::claims,
};

impl Inspected for HybridMechanism {
    const LEEWAY_SECONDS: u64 = claims::LEEWAY_SECONDS;

    /// Reads the refresh record and its family from the store when this
    /// request did not: only the inspector's page pays for the reads.
    async fn holdings(
        &self,
        session: &HybridSession,
        verdict: CookieVerdict,
        now: i64,
    ) -> Holdings {
        let mut browser = Vec::new();
        if let Some(access) = session.access() {
            let exp = i64::try_from(access.claims.exp).unwrap_or(i64::MAX);
            let refresh_at = Moment::at(
                exp.saturating_add(i64::try_from(claims::LEEWAY_SECONDS).unwrap_or_default()),
                now,
            );
            browser.push(
                BrowserCookie::new(
                    &self.cookies()[ACCESS],
                    Contents::Signed,
                    access.token.len(),
                    self.refresh_policy().access_age,
                    exp,
                    now,
                )
                .with(Detail::new(
                    "Time left",
                    "access-time-left",
                    DetailForm::Text,
                    format!("valid until {}", Moment::at(exp, now).from_now),
                ))
                .with(Detail::new(
                    "Claims",
                    "claims",
                    DetailForm::Pre,
                    pretty(&*access.claims),
                ))
                .with(Detail::new(
                    "Next refresh",
                    "next-refresh",
                    DetailForm::Text,
                    format!(
                        "the first request after {} ({}) uses the refresh id once and gets \
                         new cookies; until then no request touches the store",
                        refresh_at.utc, refresh_at.from_now
                    ),
                )),
            );
        }
        let stored = self.stored_login(session).await;
        let (refresh, family) = match &stored {
            Ok(StoredLogin { refresh, family }) => (refresh.as_deref(), family.as_ref()),
            Err(_) => (None, None),
        };
        if let Some(sent) = session.refresh() {
            let id = sent.id.to_string();
            let expires = refresh.map_or(now, |record| record.expiry_date.unix_timestamp());
            browser.push(
                BrowserCookie::new(
                    &self.cookies()[REFRESH],
                    Contents::OpaqueId,
                    id.len(),
                    self.policy().lifetime,
                    expires,
                    now,
                )
                .with(Detail::new(
                    "Value",
                    "refresh-value",
                    DetailForm::Text,
                    "a random id, meaningless without the store, good for one refresh",
                ))
                .with(Detail::new(
                    "Fingerprint",
                    "refresh-fingerprint",
                    DetailForm::Code,
                    fingerprint(&id),
                )),
            );
        }
        let entry = refresh.map(|record| {
            let family = family.map(|(id, family)| {
                serde_json::json!({
                    "id": fingerprint(&id.to_string()),
                    "live": family.as_deref().is_some_and(hybrid_session::is_family),
                    "ends": family.as_deref().map(|family| Moment::at(family.expiry_date.unix_timestamp(), now).utc),
                })
            });
            StoredEntry {
                data: pretty(&serde_json::json!({
                    "refresh record": hybrid_session::shown(record),
                    "family": family,
                })),
                expires: Moment::at(record.expiry_date.unix_timestamp(), now),
            }
        });
        let nothing = match (&stored, verdict) {
            (Err(err), _) => format!("The store could not be read ({}).", err.category()),
            (Ok(_), CookieVerdict::Expired) => {
                "No live refresh record for the id the browser sent.".to_owned()
            }
            (Ok(_), _) if session.refresh().is_some() => {
                "The refresh id the browser sent is not one of this login's.".to_owned()
            }
            (Ok(_), _) => "No refresh record for this visitor.".to_owned(),
        };
        Holdings {
            browser,
            server: ServerHolds {
                store: Some(self.store_name()),
                entry,
                nothing,
            },
        }
    }
}
