//! `/token` on the inspector: the signed token the browser holds, decoded,
//! and (with `--token-revocation`) the store where logouts are recorded.

use base64::Engine as _;
use serde_json::Value;

use super::holdings::{
    BrowserCookie, Contents, Detail, DetailForm, Holdings, Inspected, ServerHolds, pretty,
};
use crate::{
    session::{CookieVerdict, Mechanism as _},
    token_session::{TokenMechanism, TokenSession, claims},
};

impl Inspected for TokenMechanism {
    const LEEWAY_SECONDS: u64 = claims::LEEWAY_SECONDS;

    /// The token is decoded from its own text rather than taken from the
    /// verified claims: the page shows what the browser holds, extra fields
    /// included.
    async fn holdings(&self, session: &TokenSession, _: CookieVerdict, now: i64) -> Holdings {
        let browser = session.verified().map(|verified| {
            let mut parts = verified.token.split('.').map(decode_json);
            let header = parts.next().flatten().unwrap_or(Value::Null);
            let claims = parts.next().flatten().unwrap_or(Value::Null);
            let field = |name: &str| {
                header
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            };
            // The cookie's Max-Age was set when the token was signed, to its lifetime.
            BrowserCookie::new(
                &self.cookies()[0],
                Contents::Signed,
                verified.token.len(),
                self.policy().lifetime,
                i64::try_from(verified.claims.exp).unwrap_or(i64::MAX),
                now,
            )
            .with(Detail::new("Key id", "kid", DetailForm::Code, field("kid")))
            .with(Detail::new(
                "Algorithm",
                "algorithm",
                DetailForm::Code,
                field("alg"),
            ))
            .with(Detail::new(
                "Header",
                "header",
                DetailForm::Pre,
                pretty(&header),
            ))
            .with(Detail::new(
                "Claims",
                "claims",
                DetailForm::Pre,
                pretty(&claims),
            ))
        });
        Holdings {
            browser: browser.into_iter().collect(),
            server: server_holds(self.revocation_store()),
        }
    }
}

/// What the server keeps about a token: no entry, which is the point of
/// tokens; with `--token-revocation`, a revocation entry in the session
/// store once the token is logged out (and a valid token has none, or it
/// would have been refused).
fn server_holds(revocation_store: Option<&'static str>) -> ServerHolds {
    match revocation_store {
        None => ServerHolds::nothing(
            "Nothing stored for this visitor. Each request is checked by the token's signature \
             and expiry; a token already verified or signed here is remembered in memory \
             until it expires (--token-cache), so its signature is not checked again.",
        ),
        Some(store) => ServerHolds {
            store: Some(store),
            entry: None,
            nothing: "No revocation entry for this visitor's token. With \
                --token-revocation, a logout stores one under the token's jti until it \
                expires, and every request checks the store for it."
                .to_owned(),
        },
    }
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
