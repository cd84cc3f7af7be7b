//! The cookie policy every mechanism shares: which attributes a cookie gets,
//! how it is removed, and how it is found in a request.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, SameSite};

/// One cookie's name and attributes: HttpOnly so page scripts cannot read it,
/// SameSite=Lax so other sites cannot post with it, Path=/ so every router
/// sees it, and Secure when the site is served over HTTPS. Secure cookies also
/// take the `__Host-` prefix, which makes browsers refuse the cookie unless it
/// is Secure, host-only and Path=/ (no subdomain can plant or shadow it).
#[derive(Clone, Debug)]
pub struct CookiePolicy {
    name: String,
    secure: bool,
    /// `false` under `--expiry browser-session`: no Max-Age, so the browser
    /// drops the cookie when it closes.
    persistent: bool,
    /// The `Set-Cookie` that removes this cookie, formatted once.
    removal: SetCookie,
    /// A login's `Set-Cookie` around its value and Max-Age, formatted once.
    shape: SetCookieShape,
}

/// The text of a login's `Set-Cookie` before its value, between the value
/// and the Max-Age, and after: what the cookie crate writes, cut once, so
/// that each login only joins them (formatting the cookie was 2.8k
/// instructions a login, `--profile`).
#[derive(Clone, Debug)]
struct SetCookieShape {
    before_value: String,
    before_max_age: String,
    /// Empty for a cookie without Max-Age, whose text ends after the value's.
    after_max_age: Option<String>,
}

/// Stand-ins that the cookie crate writes as they are, where a login's
/// value and Max-Age go.
const VALUE_MARK: &str = "\u{1}";
const MAX_AGE_MARK: u64 = 987_654_321_987;

/// A `Set-Cookie` header value, formatted once when it is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie(HeaderValue);

impl SetCookie {
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// Browsers drop a cookie larger than this (RFC 6265 §6.1 counts name, value
/// and attributes), silently: a login that would not fit must be refused.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// A cookie that browsers would silently drop: the login must be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the cookie would be longer than {MAX_COOKIE_BYTES} bytes")]
pub struct CookieTooLarge;

/// The cookie a request carried, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentCookie<'a> {
    Absent,
    Value(&'a str),
    /// Present but not text, or present twice: it can only be garbage, or
    /// planted, and must still be removed.
    Unreadable,
}

/// The most cookies one mechanism may name: `/hybrid` needs two (an access
/// token and a refresh id), every other mechanism one. A fixed bound lets the
/// web layer read and write them on the stack, so that a mechanism with one
/// cookie pays nothing for the others' second.
pub const MAX_COOKIES: usize = 2;

/// Which of a mechanism's cookies a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentCookies<'a> {
    /// None of them: a new visitor, or one who logged out.
    Absent,
    /// At least one is not text: garbage, to be removed.
    Unreadable,
    /// At least one was sent, and every one sent is text.
    Text(SentValues<'a>),
}

/// The text values of a mechanism's cookies, in the order the mechanism
/// names them; `None` for one the request did not carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentValues<'a> {
    values: [Option<&'a str>; MAX_COOKIES],
}

impl<'a> SentValues<'a> {
    /// Finds each of `policies`' cookies in the request's `Cookie` headers.
    pub fn read(policies: &[CookiePolicy], headers: &'a HeaderMap) -> SentCookies<'a> {
        let mut values = [None; MAX_COOKIES];
        let mut any = false;
        for (slot, policy) in values.iter_mut().zip(policies) {
            match policy.read(headers) {
                SentCookie::Absent => {}
                SentCookie::Value(value) => {
                    *slot = Some(value);
                    any = true;
                }
                SentCookie::Unreadable => return SentCookies::Unreadable,
            }
        }
        if any {
            SentCookies::Text(SentValues { values })
        } else {
            SentCookies::Absent
        }
    }

    /// The values for a mechanism's cookies, as a test or a caller outside
    /// HTTP would give them.
    pub fn new(values: [Option<&'a str>; MAX_COOKIES]) -> Self {
        Self { values }
    }

    /// The value of the mechanism's cookie number `index`, if it was sent.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        self.values.get(index).copied().flatten()
    }

    /// The value of a one-cookie mechanism's cookie, which the web layer
    /// guarantees was sent; an empty value (refused as malformed by every
    /// mechanism) should that ever not hold.
    pub fn only(&self) -> &'a str {
        self.get(0).unwrap_or_default()
    }
}

/// The `Set-Cookie` headers one response carries for one mechanism: at most
/// one for each of its cookies, held inline rather than in a `Vec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieWrites {
    writes: [Option<SetCookie>; MAX_COOKIES],
}

impl CookieWrites {
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds `cookie`; past [`MAX_COOKIES`], the last one is replaced (a
    /// mechanism never writes more cookies than it names).
    pub fn with(mut self, cookie: SetCookie) -> Self {
        match self.writes.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(cookie),
            None => self.writes[MAX_COOKIES - 1] = Some(cookie),
        }
        self
    }

    /// The removal of every cookie of `policies` for which `sent` is true.
    pub fn removals(policies: &[CookiePolicy], sent: impl Fn(usize) -> bool) -> Self {
        policies
            .iter()
            .enumerate()
            .filter(|(index, _)| sent(*index))
            .fold(Self::none(), |writes, (_, policy)| {
                writes.with(policy.removal())
            })
    }

    pub fn is_empty(&self) -> bool {
        self.writes.iter().all(Option::is_none)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SetCookie> {
        self.writes.iter().flatten()
    }
}

impl From<SetCookie> for CookieWrites {
    fn from(cookie: SetCookie) -> Self {
        Self::none().with(cookie)
    }
}

impl From<Option<SetCookie>> for CookieWrites {
    fn from(cookie: Option<SetCookie>) -> Self {
        cookie.map_or_else(Self::none, Self::from)
    }
}

impl CookiePolicy {
    pub fn new(name: &str, secure: bool, persistent: bool) -> Self {
        let name = if secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        };
        let mut removal = build(&name, String::new(), secure);
        removal.set_max_age(time::Duration::ZERO);
        removal.set_expires(time::OffsetDateTime::UNIX_EPOCH);
        let removal = SetCookie(header_value(&removal));
        let shape = SetCookieShape::of(
            &login_cookie(
                &name,
                secure,
                persistent,
                VALUE_MARK.to_owned(),
                MAX_AGE_MARK,
            )
            .to_string(),
        );
        Self {
            name,
            secure,
            persistent,
            removal,
            shape,
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
    /// Sent twice, it is unreadable too: the second was set by someone else
    /// (a sibling subdomain without the `__Host-` prefix, with a longer
    /// Path that browsers send first), and neither can be trusted to be ours.
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> SentCookie<'a> {
        let name = self.name.as_bytes();
        let mut found = SentCookie::Absent;
        for header in headers.get_all(header::COOKIE) {
            for pair in cookie_pairs(header.as_bytes()) {
                let pair = pair.trim_ascii();
                let Some(value) = pair
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(b"="))
                else {
                    continue;
                };
                if found != SentCookie::Absent {
                    return SentCookie::Unreadable;
                }
                // SIMD: a token is 400 bytes, which std checks at ~0.7
                // instructions a byte (`--profile`).
                found = match simdutf8::basic::from_utf8(value) {
                    Ok(value) => SentCookie::Value(value),
                    Err(_) => SentCookie::Unreadable,
                };
            }
        }
        found
    }

    /// The cookie that stores `value` for `max_age` seconds (what is left of
    /// the login it carries), or an error if browsers would drop it.
    pub fn set(&self, value: &str, max_age: u64) -> Result<SetCookie, CookieTooLarge> {
        let shape = &self.shape;
        let mut text = String::with_capacity(
            shape.before_value.len() + value.len() + shape.before_max_age.len() + 24,
        );
        text.push_str(&shape.before_value);
        text.push_str(value);
        text.push_str(&shape.before_max_age);
        if let Some(after_max_age) = &shape.after_max_age {
            text.push_str(itoa::Buffer::new().format(max_age.min(i64::MAX as u64)));
            text.push_str(after_max_age);
        }
        if text.len() > MAX_COOKIE_BYTES {
            return Err(CookieTooLarge);
        }
        // Cookie values the mechanisms make are base64 or ids: always valid.
        HeaderValue::try_from(text)
            .map(SetCookie)
            .map_err(|_| CookieTooLarge)
    }

    /// The cookie that removes this one. It keeps the Path, Secure and
    /// HttpOnly of the cookie it removes, or browsers ignore it.
    pub fn removal(&self) -> SetCookie {
        self.removal.clone()
    }

    /// The attributes a login's cookie is set with (`HttpOnly`, `Max-Age=…`),
    /// as the inspector lists them.
    pub fn attributes(&self, max_age: u64) -> Vec<String> {
        self.cookie(String::new(), max_age)
            .to_string()
            .split("; ")
            .skip(1)
            .map(str::to_owned)
            .collect()
    }

    /// The bytes a browser sends back for a cookie whose value has `value_bytes`.
    pub fn sent_bytes(&self, value_bytes: usize) -> usize {
        self.name.len() + 1 + value_bytes
    }

    fn cookie(&self, value: String, max_age: u64) -> Cookie<'static> {
        login_cookie(&self.name, self.secure, self.persistent, value, max_age)
    }
}

impl SetCookieShape {
    /// Cut from the text of a login's cookie made with the stand-ins.
    fn of(text: &str) -> SetCookieShape {
        let (before_value, after_value) = text.split_once(VALUE_MARK).unwrap_or((text, ""));
        let mark = MAX_AGE_MARK.to_string();
        let (before_max_age, after_max_age) = match after_value.split_once(&mark) {
            Some((before, after)) => (before, Some(after.to_owned())),
            None => (after_value, None),
        };
        SetCookieShape {
            before_value: before_value.to_owned(),
            before_max_age: before_max_age.to_owned(),
            after_max_age,
        }
    }
}

fn login_cookie(
    name: &str,
    secure: bool,
    persistent: bool,
    value: String,
    max_age: u64,
) -> Cookie<'static> {
    let mut cookie = build(name, value, secure);
    if persistent {
        cookie.set_max_age(time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ));
    }
    cookie
}

fn build(name: &str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name.to_owned(), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::try_from(cookie.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The `name=value` pairs of a `Cookie` header: split at each `;` found by
/// memchr, where a split byte by byte cost about 5 instructions a byte, and
/// a token's cookie is 400 bytes (`--profile`).
fn cookie_pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b';', header)
        .chain(std::iter::once(header.len()))
        .map(move |end| {
            let pair = &header[start..end];
            start = end + 1;
            pair
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_bytes(cookie).unwrap());
        headers
    }

    fn written(cookie: SetCookie) -> String {
        cookie.header_value().to_str().unwrap().to_owned()
    }

    #[test]
    fn a_logins_cookie_is_the_text_the_cookie_crate_writes() {
        for (secure, persistent) in [(false, true), (true, true), (false, false), (true, false)] {
            let policy = CookiePolicy::new("sessionid", secure, persistent);
            for (value, max_age) in [("abc", 1_209_600), ("x-Y_z.1", 0), ("v", u64::MAX)] {
                let expected = policy.cookie(value.to_owned(), max_age).to_string();
                assert_eq!(written(policy.set(value, max_age).unwrap()), expected);
            }
        }
    }

    #[test]
    fn finds_the_named_cookie_among_others() {
        let policy = CookiePolicy::new("sessionid", false, true);
        let headers = headers(b"a=1; sessionid=abc; token=xyz");
        assert_eq!(policy.read(&headers), SentCookie::Value("abc"));
    }

    #[test]
    fn finds_the_named_cookie_first_last_alone_or_beside_empty_pairs() {
        let policy = CookiePolicy::new("sessionid", false, true);
        for sent in [
            &b"sessionid=abc"[..],
            b"sessionid=abc; a=1",
            b"a=1;sessionid=abc",
            b";; sessionid=abc ;",
        ] {
            assert_eq!(policy.read(&headers(sent)), SentCookie::Value("abc"));
        }
        assert_eq!(policy.read(&headers(b";;")), SentCookie::Absent);
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
    fn a_cookie_sent_twice_is_unreadable_whichever_comes_first() {
        let policy = CookiePolicy::new("refresh", false, true);
        for sent in [
            &b"refresh=planted; refresh=ours"[..],
            b"refresh=ours; a=1; refresh=ours",
        ] {
            assert_eq!(policy.read(&headers(sent)), SentCookie::Unreadable);
        }
        let mut two_headers = headers(b"refresh=planted");
        two_headers.append(header::COOKIE, HeaderValue::from_static("refresh=ours"));
        assert_eq!(policy.read(&two_headers), SentCookie::Unreadable);
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
            CookiePolicy::new("sessionid", false, true)
                .set("abc", 1209600)
                .unwrap(),
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
        let cookie = written(policy.set("v", 60).unwrap());
        assert!(cookie.starts_with("__Host-token=v;"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
    }

    #[test]
    fn a_browser_session_cookie_has_no_max_age() {
        let cookie = written(
            CookiePolicy::new("token", false, false)
                .set("v", 60)
                .unwrap(),
        );
        assert!(!cookie.contains("Max-Age"), "{cookie}");
        assert!(!cookie.contains("Expires"), "{cookie}");
    }

    #[test]
    fn a_removal_keeps_the_attributes_of_the_cookie_it_removes() {
        let cookie = written(CookiePolicy::new("token", true, true).removal());
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
        assert!(policy.set(&"a".repeat(3900), 60).is_ok());
        assert_eq!(policy.set(&"a".repeat(4096), 60), Err(CookieTooLarge));
    }

    #[test]
    fn attributes_are_those_a_login_cookie_is_set_with() {
        let attributes = CookiePolicy::new("token", true, true).attributes(60);
        for expected in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=60"] {
            assert!(
                attributes.iter().any(|attribute| attribute == expected),
                "{attributes:?} lacks {expected}"
            );
        }
        assert!(
            !attributes
                .iter()
                .any(|attribute| attribute.starts_with("__Host-token=")),
            "the name=value pair is not an attribute: {attributes:?}"
        );
    }
}
