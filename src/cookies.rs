//! The cookie policy both mechanisms share: which attributes a cookie gets,
//! how it is removed, and how it is found in a request.

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::ResponseParts,
};
use axum_extra::extract::cookie::{Cookie, SameSite};

/// One cookie's name and attributes: HttpOnly so page scripts cannot read it,
/// SameSite=Lax so other sites cannot post with it, Path=/ so both routers
/// see it, and Secure when the site is served over HTTPS.
#[derive(Clone, Debug)]
pub struct CookiePolicy {
    name: String,
    max_age_seconds: u64,
    secure: bool,
}

/// What a response does to the visitor's cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieUpdate {
    Set(String),
    Remove,
}

/// The cookie a request carried, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentCookie<'a> {
    Absent,
    Value(&'a str),
    /// Present but not text: it can only be garbage, and must still be removed.
    Unreadable,
}

impl CookiePolicy {
    pub fn new(name: &str, max_age_seconds: u64, secure: bool) -> Self {
        Self {
            name: name.to_owned(),
            max_age_seconds,
            secure,
        }
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

    /// The cookie that carries `update`. A removal keeps the Path, Secure and
    /// HttpOnly of the cookie it removes, or browsers ignore it.
    pub fn cookie(&self, update: &CookieUpdate) -> Cookie<'static> {
        match update {
            CookieUpdate::Set(value) => {
                let mut cookie = self.build(value.clone());
                cookie.set_max_age(time::Duration::seconds(
                    i64::try_from(self.max_age_seconds).unwrap_or(i64::MAX),
                ));
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

    #[test]
    fn finds_the_named_cookie_among_others() {
        let policy = CookiePolicy::new("sessionid", 60, false);
        let headers = headers(b"a=1; sessionid=abc; token=xyz");
        assert_eq!(policy.read(&headers), SentCookie::Value("abc"));
    }

    #[test]
    fn a_cookie_whose_name_only_starts_the_same_is_not_it() {
        let policy = CookiePolicy::new("token", 60, false);
        assert_eq!(
            policy.read(&headers(b"tokens=1; xtoken=2")),
            SentCookie::Absent
        );
    }

    #[test]
    fn a_non_utf8_value_is_seen_as_unreadable() {
        let policy = CookiePolicy::new("token", 60, false);
        assert_eq!(
            policy.read(&headers(b"token=\xff\xfe")),
            SentCookie::Unreadable
        );
    }

    #[test]
    fn a_set_cookie_carries_the_security_attributes() {
        let cookie = written(
            &CookiePolicy::new("sessionid", 1209600, false),
            CookieUpdate::Set("abc".into()),
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
    fn secure_is_added_only_when_configured() {
        let cookie = written(
            &CookiePolicy::new("token", 60, true),
            CookieUpdate::Set("v".into()),
        );
        assert!(cookie.contains("Secure"), "{cookie}");
    }

    #[test]
    fn a_removal_keeps_the_attributes_of_the_cookie_it_removes() {
        let cookie = written(&CookiePolicy::new("token", 60, true), CookieUpdate::Remove);
        for attribute in [
            "token=",
            "Max-Age=0",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
        ] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
    }
}
