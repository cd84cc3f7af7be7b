//! `/cookie`: the reference document's other alternative, the session in
//! the cookie itself. The browser holds `username`, `is_logged_in`, the
//! login time and the expiry, encrypted and authenticated with AES-256-GCM
//! (the cookie crate's private jar, the sealing behind axum-extra's
//! `PrivateCookieJar`); the server keeps nothing but its keys. This is what
//! Rails does by default and what Django's `signed_cookies` does without the
//! encryption.
//!
//! The jar authenticates only the cookie's name and value, so a client can
//! keep an expired cookie and send it back: the expiry lives inside the
//! sealed value and is checked on every read. The cookie's name is sealed
//! with it, so a value moved to another cookie name does not open. No jar
//! is kept: a jar holds one key, where rotation needs several (every key
//! kept is tried, newest first), and the shared flow writes the
//! `Set-Cookie` headers itself. The jar's code seals; a value is opened in
//! the jar's format with a cipher each key builds once (`opened`).

pub mod keys;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead as _, Payload},
};
use base64::{Engine as _, prelude::BASE64_STANDARD};
use cookie::{Cookie, CookieJar};
use serde::{Deserialize, Serialize};

use self::keys::CookieKeys;
use crate::{
    metrics::MechanismMeter,
    session::{
        CookiePolicy, CookieVerdict, CookieWrites, ExpiryPolicy, Mechanism, Opened, Refusal,
        SentValues, SessionError, SessionPolicy, SetCookie, VisitorState,
        cookies::MAX_COOKIE_BYTES,
    },
};

pub const COOKIE_NAME: &str = "session";

/// Clock difference tolerated between instances that share keys, as on
/// the token side: every second of it is a second an expired cookie works.
pub const LEEWAY_SECONDS: u64 = 2;

/// The `/cookie` mechanism: the keys and the cookie policy every request shares.
#[derive(Debug)]
pub struct CookieMechanism {
    keys: CookieKeys,
    cookie: CookiePolicy,
    policy: SessionPolicy,
    meter: MechanismMeter,
}

/// What the sealed value holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieContents {
    pub username: Option<String>,
    pub is_logged_in: Option<bool>,
    /// The login's time and end, in Unix seconds.
    pub iat: u64,
    pub exp: u64,
}

/// What one request knows of its visitor: the contents their cookie opened
/// to, and the sealed value's length (the inspector shows the bytes sent).
/// `None` for a Guest.
#[derive(Debug, Default)]
pub struct CookieSession {
    opened: Option<(CookieContents, usize)>,
}

impl CookieSession {
    pub fn contents(&self) -> Option<&CookieContents> {
        self.opened.as_ref().map(|(contents, _)| contents)
    }

    /// The contents, and the length of the sealed value that carries them.
    pub fn opened(&self) -> Option<(&CookieContents, usize)> {
        self.opened
            .as_ref()
            .map(|(contents, sealed_bytes)| (contents, *sealed_bytes))
    }
}

impl CookieMechanism {
    /// `keys` must hold at least one key (the newest seals).
    pub fn new(keys: CookieKeys, policy: SessionPolicy, meter: MechanismMeter) -> Self {
        Self {
            meter,
            keys,
            cookie: policy.cookie(COOKIE_NAME),
            policy,
        }
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Seals `contents` into the cookie that carries them, or refuses a
    /// login the browser would silently drop.
    fn seal(&self, contents: &CookieContents) -> Result<(SetCookie, usize), SessionError> {
        let key = self
            .keys
            .sealing()
            .ok_or_else(|| SessionError::Sealing("no cookie key is loaded".into()))?;
        let plain =
            serde_json::to_string(contents).map_err(|err| SessionError::Sealing(Box::new(err)))?;
        let mut jar = CookieJar::new();
        self.meter.signed();
        jar.private_mut(&key.key)
            .add(Cookie::new(self.cookie.name().to_owned(), plain));
        let sealed = jar
            .get(self.cookie.name())
            .map(|cookie| cookie.value().to_owned())
            .ok_or_else(|| SessionError::Sealing("the sealed cookie went missing".into()))?;
        let cookie = self
            .cookie
            .set(&sealed, contents.exp.saturating_sub(now()))?;
        Ok((cookie, sealed.len()))
    }

    /// The contents `value` opens to with one of the keys kept, or why not.
    fn unseal(&self, value: &str) -> Result<CookieContents, Refusal> {
        if value.len() > MAX_COOKIE_BYTES {
            return Err(Refusal::new(CookieVerdict::Tampered, "oversized cookie"));
        }
        let plain = self
            .keys
            .newest_first()
            .iter()
            .find_map(|key| {
                self.meter
                    .verified(opened(&key.cipher, self.cookie.name(), value))
            })
            .ok_or_else(|| {
                Refusal::new(
                    CookieVerdict::Tampered,
                    "the value does not open with any key",
                )
            })?;
        let contents: CookieContents = serde_json::from_str(&plain).map_err(|err| {
            Refusal::new(
                CookieVerdict::Tampered,
                format_args!("undecodable contents: {err}"),
            )
        })?;
        let now = now();
        if contents.exp.saturating_add(LEEWAY_SECONDS) < now {
            return Err(Refusal::new(
                CookieVerdict::Expired,
                "the login's expiry has passed",
            ));
        }
        if contents.exp
            > now
                .saturating_add(self.policy.lifetime)
                .saturating_add(LEEWAY_SECONDS)
        {
            return Err(Refusal::new(
                CookieVerdict::Tampered,
                "the expiry is further away than a login lasts",
            ));
        }
        if contents.exp
            > contents
                .iat
                .saturating_add(self.policy.login_cap())
                .saturating_add(LEEWAY_SECONDS)
        {
            return Err(Refusal::new(
                CookieVerdict::Tampered,
                "the expiry is further from the login than its absolute timeout",
            ));
        }
        Ok(contents)
    }
}

impl Mechanism for CookieMechanism {
    type Session = CookieSession;

    fn cookies(&self) -> &[CookiePolicy] {
        std::slice::from_ref(&self.cookie)
    }

    async fn open(&self, sent: SentValues<'_>) -> Result<Opened<CookieSession>, SessionError> {
        let value = sent.only();
        let contents = match self.unseal(value) {
            Ok(contents) => contents,
            Err(refusal) => return Ok(Opened::Refused(refusal)),
        };
        let now = now();
        let lifetime = self.policy.lifetime;
        // Under `--expiry inactivity`, a cookie used past half its life is
        // sealed again for a full one (the same login), never past the
        // login's absolute timeout.
        let extended = self.policy.extended_end(contents.iat, now);
        if self.policy.expiry == ExpiryPolicy::Inactivity
            && contents.exp.saturating_sub(now) <= lifetime / 2
            && extended > contents.exp
        {
            let renewed = CookieContents {
                exp: extended,
                ..contents
            };
            let (cookie, sealed_bytes) = self.seal(&renewed)?;
            return Ok(Opened::Valid {
                session: CookieSession {
                    opened: Some((renewed, sealed_bytes)),
                },
                renewed: cookie.into(),
            });
        }
        Ok(Opened::Valid {
            session: CookieSession {
                opened: Some((contents, value.len())),
            },
            renewed: CookieWrites::none(),
        })
    }

    fn state(&self, session: &CookieSession) -> VisitorState {
        session
            .contents()
            .map(|contents| VisitorState {
                username: contents.username.clone(),
                is_logged_in: contents.is_logged_in,
            })
            .unwrap_or_default()
    }

    async fn log_in(
        &self,
        session: &mut CookieSession,
        state: VisitorState,
    ) -> Result<CookieWrites, SessionError> {
        let now = now();
        let contents = CookieContents {
            username: state.username,
            is_logged_in: state.is_logged_in,
            iat: now,
            exp: now.saturating_add(self.policy.lifetime),
        };
        let (cookie, sealed_bytes) = self.seal(&contents)?;
        session.opened = Some((contents, sealed_bytes));
        Ok(cookie.into())
    }

    /// Nothing to forget on the server: the shared flow removes the cookie,
    /// and a copy of it still opens until its expiry.
    async fn log_out(&self, session: &mut CookieSession) -> Result<(), SessionError> {
        session.opened = None;
        Ok(())
    }
}

/// The nonce that starts a sealed value, in the cookie crate's format.
const NONCE_BYTES: usize = 12;

/// What `value`, sealed by the cookie crate's private jar for the cookie
/// `name`, opens to with `cipher`: the jar's format (base64 of the nonce, the
/// ciphertext and the tag, with the name as associated data), opened with
/// a cipher built once per key rather than once per cookie. The jar still
/// seals; a test holds the two to each other.
fn opened(cipher: &Aes256Gcm, name: &str, value: &str) -> Option<String> {
    let sealed = BASE64_STANDARD.decode(value).ok()?;
    let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_BYTES>()?;
    let payload = Payload {
        msg: ciphertext,
        aad: name.as_bytes(),
    };
    let plain = cipher.decrypt(&Nonce::from(*nonce), payload).ok()?;
    String::from_utf8(plain).ok()
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    crate::session::unix_seconds()
}

#[cfg(test)]
mod tests {
    use aes_gcm::KeyInit as _;

    use super::*;
    use crate::username::Username;

    fn cookie_sessions(expiry: ExpiryPolicy) -> (tempfile::TempDir, CookieMechanism) {
        let dir = tempfile::tempdir().unwrap();
        let keys = CookieKeys::load_or_generate(dir.path()).unwrap();
        let policy = SessionPolicy {
            lifetime: 1_209_600,
            expiry,
            secure_cookies: false,
            absolute_timeout: 2_592_000,
        };
        (
            dir,
            CookieMechanism::new(keys, policy, MechanismMeter::off()),
        )
    }

    fn sealed_value(cookie: &SetCookie) -> String {
        let text = cookie.header_value().to_str().unwrap();
        Cookie::parse(text.to_owned()).unwrap().value().to_owned()
    }

    #[tokio::test]
    async fn a_sealed_login_opens_to_the_same_state() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let mut session = CookieSession::default();
        let state = VisitorState::logged_in(Username::seed());
        let cookie = sessions.log_in(&mut session, state.clone()).await.unwrap();
        let cookie = cookie.iter().next().cloned().unwrap();
        let Opened::Valid { session, renewed } = sessions
            .open(SentValues::new([
                Some(sealed_value(&cookie).as_str()),
                None,
            ]))
            .await
            .unwrap()
        else {
            panic!("the login's own cookie opens");
        };
        assert_eq!(sessions.state(&session), state);
        assert!(renewed.is_empty());
    }

    /// `text` sealed by the cookie crate's private jar as the cookie `name`.
    fn sealed_by_the_jar(key: &keys::CookieKey, name: &str, text: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&key.key)
            .add(Cookie::new(name.to_owned(), text.to_owned()));
        jar.get(name).unwrap().value().to_owned()
    }

    #[test]
    fn what_the_jar_seals_opens_with_the_cipher_built_once() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let key = sessions.keys.sealing().unwrap();
        let sealed = sealed_by_the_jar(key, COOKIE_NAME, "{\"a\":1}");
        assert_eq!(
            opened(&key.cipher, COOKIE_NAME, &sealed).as_deref(),
            Some("{\"a\":1}")
        );
    }

    #[test]
    fn a_sealed_value_does_not_open_under_another_name_another_key_or_changed() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let key = sessions.keys.sealing().unwrap();
        let sealed = sealed_by_the_jar(key, COOKIE_NAME, "text");
        assert_eq!(opened(&key.cipher, "other", &sealed), None);
        let other_key = Aes256Gcm::new_from_slice(&[7; 32]).unwrap();
        assert_eq!(opened(&other_key, COOKIE_NAME, &sealed), None);
        let mut changed = sealed.into_bytes();
        changed[20] = if changed[20] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        assert_eq!(opened(&key.cipher, COOKIE_NAME, &changed), None);
        for garbage in ["", "AAAA", "not base64!", &"A".repeat(16)] {
            assert_eq!(opened(&key.cipher, COOKIE_NAME, garbage), None);
        }
    }

    #[tokio::test]
    async fn the_sealed_value_does_not_show_the_username() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let cookie = sessions
            .log_in(
                &mut CookieSession::default(),
                VisitorState::logged_in(Username::parse("alice").unwrap()),
            )
            .await
            .unwrap();
        let cookie = cookie.iter().next().cloned().unwrap();
        let text = cookie.header_value().to_str().unwrap();
        assert!(!text.contains("alice"), "{text}");
    }

    #[test]
    fn a_login_too_big_for_a_cookie_is_refused_not_dropped() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let now = now();
        let contents = |username: String| CookieContents {
            username: Some(username),
            is_logged_in: Some(true),
            iat: now,
            exp: now + 60,
        };
        assert!(sessions.seal(&contents("x".repeat(100))).is_ok());
        assert!(matches!(
            sessions.seal(&contents("x".repeat(4000))),
            Err(SessionError::TooLargeForCookie)
        ));
    }

    #[tokio::test]
    async fn an_expired_login_is_refused_as_expired_even_though_it_opens() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let long_ago = now() - 1000;
        let (cookie, _) = sessions
            .seal(&CookieContents {
                username: Some("john_doe".into()),
                is_logged_in: Some(true),
                iat: long_ago,
                exp: long_ago + 10,
            })
            .unwrap();
        let Opened::Refused(refusal) = sessions
            .open(SentValues::new([
                Some(sealed_value(&cookie).as_str()),
                None,
            ]))
            .await
            .unwrap()
        else {
            panic!("an expired login is refused");
        };
        assert_eq!(refusal.verdict, CookieVerdict::Expired);
    }

    #[tokio::test]
    async fn a_value_sealed_under_another_cookie_name_does_not_open() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let key = &sessions.keys.sealing().unwrap().key;
        let mut jar = CookieJar::new();
        let contents = CookieContents {
            username: Some("mallory".into()),
            is_logged_in: Some(true),
            iat: now(),
            exp: now() + 60,
        };
        jar.private_mut(key).add(Cookie::new(
            "token",
            serde_json::to_string(&contents).unwrap(),
        ));
        let value = jar.get("token").unwrap().value().to_owned();
        let Opened::Refused(refusal) = sessions
            .open(SentValues::new([Some(value.as_str()), None]))
            .await
            .unwrap()
        else {
            panic!("a value sealed for another name is refused");
        };
        assert_eq!(refusal.verdict, CookieVerdict::Tampered);
    }

    #[tokio::test]
    async fn a_cookie_sealed_with_an_older_key_still_opens_after_a_rotation() {
        let (dir, sessions) = cookie_sessions(ExpiryPolicy::Absolute);
        let cookie = sessions
            .log_in(
                &mut CookieSession::default(),
                VisitorState::logged_in(Username::seed()),
            )
            .await
            .unwrap();
        let cookie = cookie.iter().next().cloned().unwrap();
        keys::generate(dir.path()).unwrap();
        let rotated = CookieMechanism::new(
            CookieKeys::load(dir.path()).unwrap(),
            sessions.policy,
            MechanismMeter::off(),
        );
        assert!(matches!(
            rotated
                .open(SentValues::new([
                    Some(sealed_value(&cookie).as_str()),
                    None
                ]))
                .await
                .unwrap(),
            Opened::Valid { .. }
        ));
    }

    #[tokio::test]
    async fn a_cookie_used_past_half_its_life_is_resealed_under_inactivity_expiry() {
        let (_dir, sessions) = cookie_sessions(ExpiryPolicy::Inactivity);
        let now = now();
        let (cookie, _) = sessions
            .seal(&CookieContents {
                username: Some("john_doe".into()),
                is_logged_in: Some(true),
                iat: now - 1_000_000,
                exp: now + 100,
            })
            .unwrap();
        let Opened::Valid { session, renewed } = sessions
            .open(SentValues::new([
                Some(sealed_value(&cookie).as_str()),
                None,
            ]))
            .await
            .unwrap()
        else {
            panic!("a live login opens");
        };
        assert!(!renewed.is_empty(), "a new cookie is set");
        assert!(session.contents().unwrap().exp >= now + 1_209_600);
    }
}
