//! The cookie policy both mechanisms share: which attributes a cookie gets,
//! how it is removed, and how it is found in a request.

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::ResponseParts,
};
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::config::{Config, ExpiryPolicy};

/// One cookie's name and attributes: HttpOnly so page scripts cannot read it,
/// SameSite=Lax so other sites cannot post with it, Path=/ so both routers
/// see it, and Secure when the site is served over HTTPS. Secure cookies also
/// take the `__Host-` prefix, which makes browsers refuse the cookie unless it
/// is Secure, host-only and Path=/ (no subdomain can plant or shadow it).
#[derive(Clone, Debug)]
pub struct CookiePolicy {
    name: String,
    secure: bool,
    /// `false` under `--expiry browser-session`: no Max-Age, so the browser
    /// drops the cookie when it closes.
    persistent: bool,
}

/// What a response does to the visitor's cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieUpdate {
    /// Stores `value` for `max_age` seconds: what is left of the login it carries.
    Set {
        value: String,
        max_age: u64,
    },
    Remove,
}

/// Browsers drop a cookie larger than this (RFC 6265 §6.1 counts name, value
/// and attributes), silently: a login that would not fit must be refused.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// The cookie a request carried, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentCookie<'a> {
    Absent,
    Value(&'a str),
    /// Present but not text: it can only be garbage, and must still be removed.
    Unreadable,
}

impl CookiePolicy {
    /// The policy `--secure-cookies` and `--expiry` ask of both sides' cookies.
    pub fn configured(name: &str, config: &Config) -> Self {
        Self::new(
            name,
            config.secure_cookies,
            config.expiry != ExpiryPolicy::BrowserSession,
        )
    }

    pub fn new(name: &str, secure: bool, persistent: bool) -> Self {
        let name = if secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        };
        Self {
            name,
            secure,
            persistent,
        }
    }

    /// Whether cookies outlive the browser (a Max-Age), or end when it closes.
    pub fn persistent(&self) -> bool {
        self.persistent
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Finds this cookie in the request's `Cookie` headers, reading raw bytes
    /// so that a cookie with non-UTF-8 bytes is still seen (and removed).
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> SentCookie<'a> {
        let name = self.name.as_bytes();
        for header in headers.get_all(header::COOKIE) {
            for pair in header.as_bytes().split(|&byte| byte == b';') {
                let pair = pair.trim_ascii();
                let Some(value) = pair
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(b"="))
                else {
                    continue;
                };
                return match std::str::from_utf8(value) {
                    Ok(value) => SentCookie::Value(value),
                    Err(_) => SentCookie::Unreadable,
                };
            }
        }
        SentCookie::Absent
    }

    /// Appends the `Set-Cookie` header for `update`.
    pub fn write(&self, update: &CookieUpdate, parts: &mut ResponseParts) {
        match HeaderValue::try_from(self.cookie(update).to_string()) {
            Ok(value) => {
                parts.headers_mut().append(header::SET_COOKIE, value);
            }
            Err(err) => {
                tracing::error!(cookie = %self.name, %err, "cookie value is not a valid header")
            }
        }
    }

    /// Whether a browser would keep the cookie that carries `update`.
    pub fn fits(&self, update: &CookieUpdate) -> bool {
        self.cookie(update).to_string().len() <= MAX_COOKIE_BYTES
    }

    /// The cookie that carries `update`. A removal keeps the Path, Secure and
    /// HttpOnly of the cookie it removes, or browsers ignore it.
    pub fn cookie(&self, update: &CookieUpdate) -> Cookie<'static> {
        match update {
            CookieUpdate::Set { value, max_age } => {
                let mut cookie = self.build(value.clone());
                if self.persistent {
                    cookie.set_max_age(time::Duration::seconds(
                        i64::try_from(*max_age).unwrap_or(i64::MAX),
                    ));
                }
                cookie
            }
            CookieUpdate::Remove => {
                let mut cookie = self.build(String::new());
                cookie.set_max_age(time::Duration::ZERO);
                cookie.set_expires(time::OffsetDateTime::UNIX_EPOCH);
                cookie
            }
        }
    }

    fn build(&self, value: String) -> Cookie<'static> {
        Cookie::build((self.name.clone(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_bytes(cookie).unwrap());
        headers
    }

    fn written(policy: &CookiePolicy, update: CookieUpdate) -> String {
        policy.cookie(&update).to_string()
    }

    fn set(value: &str, max_age: u64) -> CookieUpdate {
        CookieUpdate::Set {
            value: value.into(),
            max_age,
        }
    }

    #[test]
    fn finds_the_named_cookie_among_others() {
        let policy = CookiePolicy::new("sessionid", false, true);
        let headers = headers(b"a=1; sessionid=abc; token=xyz");
        assert_eq!(policy.read(&headers), SentCookie::Value("abc"));
    }

    #[test]
    fn a_cookie_whose_name_only_starts_the_same_is_not_it() {
        let policy = CookiePolicy::new("token", false, true);
        assert_eq!(
            policy.read(&headers(b"tokens=1; xtoken=2")),
            SentCookie::Absent
        );
    }

    #[test]
    fn a_non_utf8_value_is_seen_as_unreadable() {
        let policy = CookiePolicy::new("token", false, true);
        assert_eq!(
            policy.read(&headers(b"token=\xff\xfe")),
            SentCookie::Unreadable
        );
    }

    #[test]
    fn a_set_cookie_carries_the_security_attributes() {
        let cookie = written(
            &CookiePolicy::new("sessionid", false, true),
            set("abc", 1209600),
        );
        for attribute in [
            "sessionid=abc",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=1209600",
        ] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Secure"), "{cookie}");
    }

    #[test]
    fn secure_cookies_are_secure_and_host_prefixed() {
        let policy = CookiePolicy::new("token", true, true);
        assert_eq!(policy.name(), "__Host-token");
        let cookie = written(&policy, set("v", 60));
        assert!(cookie.starts_with("__Host-token=v;"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
    }

    #[test]
    fn a_browser_session_cookie_has_no_max_age() {
        let cookie = written(&CookiePolicy::new("token", false, false), set("v", 60));
        assert!(!cookie.contains("Max-Age"), "{cookie}");
        assert!(!cookie.contains("Expires"), "{cookie}");
    }

    #[test]
    fn a_removal_keeps_the_attributes_of_the_cookie_it_removes() {
        let cookie = written(
            &CookiePolicy::new("token", true, true),
            CookieUpdate::Remove,
        );
        for attribute in [
            "__Host-token=",
            "Max-Age=0",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
        ] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
    }

    #[test]
    fn a_cookie_over_4096_bytes_does_not_fit() {
        let policy = CookiePolicy::new("token", false, true);
        assert!(policy.fits(&set(&"a".repeat(3900), 60)));
        assert!(!policy.fits(&set(&"a".repeat(4096), 60)));
    }
}
