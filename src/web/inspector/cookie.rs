//! `/cookie` on the inspector: the sealed cookie, and what the server
//! opened it to.

use super::holdings::{
    BrowserCookie, Contents, Detail, DetailForm, Holdings, Inspected, ServerHolds, pretty,
};
use crate::{
    cookie_session::{self, CookieMechanism, CookieSession},
    session::{CookieVerdict, Mechanism as _},
};

impl Inspected for CookieMechanism {
    const LEEWAY_SECONDS: u64 = cookie_session::LEEWAY_SECONDS;

    /// The ciphertext means nothing to anyone without the key, so the page
    /// says so, and shows what the server decrypted from the visitor's own
    /// cookie.
    async fn holdings(&self, session: &CookieSession, _: CookieVerdict, now: i64) -> Holdings {
        let browser = session.opened().map(|(contents, sealed_bytes)| {
            BrowserCookie::new(
                &self.cookies()[0],
                Contents::Sealed,
                sealed_bytes,
                self.policy().lifetime,
                i64::try_from(contents.exp).unwrap_or(i64::MAX),
                now,
            )
            .with(Detail::new(
                "Value",
                "value",
                DetailForm::Text,
                "ciphertext (AES-256-GCM): opaque to the browser and to anyone without the \
                 server's key",
            ))
            .with(Detail::new(
                "Decrypted",
                "decrypted",
                DetailForm::Pre,
                pretty(contents),
            ))
        });
        Holdings {
            browser: browser.into_iter().collect(),
            server: ServerHolds::nothing(
                "Nothing for this visitor: each request is read from the cookie alone, opened \
                 with the server's keys.",
            ),
        }
    }
}
