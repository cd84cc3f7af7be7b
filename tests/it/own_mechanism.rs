//! A fifth mechanism, added as a user of the library adds one: this module
//! and one registration line (in [`start_serving_signed_cookies`]). It is
//! Django's `signed_cookies` session backend: the state itself in the
//! cookie, readable by anyone, signed with HMAC-SHA256, its expiry inside.
//! The shared scenarios run on it beside the app's four
//! (`scenarios::with_a_mechanism_of_a_tests_own`); the tests below check
//! what the site gives it without being told: its pages, its column on the
//! inspector, the replay experiment, its counters.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sessions_vs_jwt::{
    routes::{Mount, Route},
    session::{
        CookiePolicy, CookieVerdict, CookieWrites, Mechanism, Opened, Refusal, SentValues,
        SessionError, SessionPolicy, VisitorState,
    },
    web::inspector::{BrowserCookie, Contents, Holdings, Inspected, ServerHolds},
};
use sha2::Sha256;

use crate::common::{TestServer, stores::TestStore};

/// Its router; its cookie is named after it, as `common::cookie_name`
/// expects of a test's own mechanism.
pub const SIGNED: Mount = Mount::at("/signed");

/// A server of the app with this mechanism registered beside its own.
pub async fn start_serving_signed_cookies(store: TestStore, args: &[&str]) -> TestServer {
    TestServer::start_on_serving(store, args, |site, config| {
        site.serving(SIGNED, SignedCookies::new(config.session_policy()))
            .expect("/signed is a router of its own")
    })
    .await
}

#[derive(Debug)]
struct SignedCookies {
    key: [u8; 32],
    cookie: CookiePolicy,
    lifetime: u64,
}

/// What the signed value holds, readable by whoever holds the cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Signed {
    username: Option<String>,
    is_logged_in: Option<bool>,
    exp: u64,
}

#[derive(Debug, Default)]
struct SignedSession {
    /// The contents and the value that carries them.
    opened: Option<(Signed, String)>,
}

impl SignedCookies {
    fn new(policy: SessionPolicy) -> Self {
        Self {
            key: rand::random(),
            cookie: policy.cookie(SIGNED.name()),
            lifetime: policy.lifetime,
        }
    }

    fn tag(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac
    }

    fn read(&self, value: &str) -> Result<Signed, Refusal> {
        let tampered = |reason| Refusal::new(CookieVerdict::Tampered, reason);
        let (payload, tag) = value.split_once('.').ok_or(tampered("no signature"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| tampered("signature not base64"))?;
        self.tag(payload)
            .verify_slice(&tag)
            .map_err(|_| tampered("signature does not verify"))?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| tampered("payload not base64"))?;
        let signed: Signed =
            serde_json::from_slice(&json).map_err(|_| tampered("payload not the state"))?;
        if signed.exp <= now() {
            return Err(Refusal::new(
                CookieVerdict::Expired,
                "its expiry has passed",
            ));
        }
        Ok(signed)
    }
}

fn now() -> u64 {
    sessions_vs_jwt::token_session::claims::now()
}

impl Mechanism for SignedCookies {
    type Session = SignedSession;

    fn cookies(&self) -> &[CookiePolicy] {
        std::slice::from_ref(&self.cookie)
    }

    async fn open(&self, sent: SentValues<'_>) -> Result<Opened<SignedSession>, SessionError> {
        let value = sent.only();
        Ok(match self.read(value) {
            Ok(signed) => Opened::Valid {
                session: SignedSession {
                    opened: Some((signed, value.to_owned())),
                },
                renewed: CookieWrites::none(),
            },
            Err(refusal) => Opened::Refused(refusal),
        })
    }

    fn state(&self, session: &SignedSession) -> VisitorState {
        session
            .opened
            .as_ref()
            .map(|(signed, _)| VisitorState {
                username: signed.username.clone(),
                is_logged_in: signed.is_logged_in,
            })
            .unwrap_or_default()
    }

    async fn log_in(
        &self,
        session: &mut SignedSession,
        state: VisitorState,
    ) -> Result<CookieWrites, SessionError> {
        let signed = Signed {
            username: state.username,
            is_logged_in: state.is_logged_in,
            exp: now() + self.lifetime,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed).expect("plain data"));
        let tag = URL_SAFE_NO_PAD.encode(self.tag(&payload).finalize().into_bytes());
        let value = format!("{payload}.{tag}");
        let cookie = self.cookie.set(&value, self.lifetime)?;
        session.opened = Some((signed, value));
        Ok(cookie.into())
    }

    async fn log_out(&self, session: &mut SignedSession) -> Result<(), SessionError> {
        session.opened = None;
        Ok(())
    }
}

impl Inspected for SignedCookies {
    async fn holdings(&self, session: &SignedSession, _: CookieVerdict, now: i64) -> Holdings {
        let browser = session.opened.as_ref().map(|(signed, value)| {
            BrowserCookie::new(
                &self.cookie,
                Contents::Signed,
                value.len(),
                self.lifetime,
                i64::try_from(signed.exp).unwrap_or(i64::MAX),
                now,
            )
        });
        Holdings {
            browser: browser.into_iter().collect(),
            server: ServerHolds::nothing("Nothing: the state is in the signed cookie."),
        }
    }
}

#[tokio::test]
async fn the_inspector_gives_it_a_column_with_plain_words_and_its_verdict() {
    let server = start_serving_signed_cookies(TestStore::Memory, &[]).await;
    let mut visitor = server.visitor();
    visitor.get(&SIGNED.url(Route::SetSession)).await;
    let page = visitor.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<section class="side" id="signed" data-verdict="valid""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Verdict on your cookie: valid."));
    assert!(page.body.contains(r#"id="signed-username">john_doe<"#));
}

#[tokio::test]
async fn the_replay_experiment_runs_on_it_by_its_routers_name() {
    let server = start_serving_signed_cookies(TestStore::Memory, &[]).await;
    let mut visitor = server.visitor();
    visitor.get(&SIGNED.url(Route::SetSession)).await;
    let page = visitor.post("/replay/", &[("router", "signed")]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(
            r#"id="signed-replay-result" data-verdict="valid" data-still-logged-in="True""#
        ),
        "a copied signed cookie outlives its logout, as /token's does: {}",
        page.body
    );
}

#[tokio::test]
async fn its_requests_and_verdicts_are_counted_under_its_name() {
    let server =
        start_serving_signed_cookies(TestStore::Memory, &["--metrics-bind", "127.0.0.1:0"]).await;
    let mut visitor = server.visitor();
    visitor.get(&SIGNED.url(Route::SetSession)).await;
    visitor.get(&SIGNED.url(Route::GetSession)).await;
    let metrics = reqwest::get(server.operations_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"svj_http_requests_total{router="signed",route="get_session",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"svj_cookie_verdicts_total{mechanism="signed",verdict="valid"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"svj_logins_total{mechanism="signed"} 1"#),
        "{metrics}"
    );
}

/// The app's site, assembled as `startup` assembles it, to register more on.
async fn the_apps_site() -> (tempfile::TempDir, sessions_vs_jwt::Site, SessionPolicy) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let cli = sessions_vs_jwt::Cli::parse_ignoring_environment([
        "sessions-vs-jwt",
        "--store",
        "memory",
        "--keys-dir",
        &keys,
    ])
    .unwrap();
    let site = cli.serve.open_site().await.unwrap();
    (dir, site, cli.serve.session_policy())
}

#[tokio::test]
async fn a_router_already_served_is_not_registered_again() {
    let (_dir, site, policy) = the_apps_site().await;
    let err = site
        .serving(Mount::TOKEN, SignedCookies::new(policy))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a mechanism is already registered for /token"
    );
}

#[tokio::test]
async fn a_router_whose_pages_would_hide_the_sites_own_is_refused() {
    let (_dir, site, policy) = the_apps_site().await;
    let err = site
        .serving(Mount::at("/reference"), SignedCookies::new(policy))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("would hide the site's own page at /reference/get_session/"),
        "{err}"
    );
}

#[tokio::test]
async fn a_site_serves_at_most_its_routers_tables_worth() {
    use sessions_vs_jwt::routes::MAX_MOUNTS;
    let (_dir, mut site, policy) = the_apps_site().await;
    let spare = ["/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h"];
    let mut served = site.mounts().len();
    for prefix in spare.into_iter().take(MAX_MOUNTS - served) {
        site = site
            .serving(Mount::at(prefix), SignedCookies::new(policy))
            .unwrap();
        served += 1;
    }
    assert_eq!(served, MAX_MOUNTS);
    let err = site
        .serving(Mount::at("/one"), SignedCookies::new(policy))
        .unwrap_err();
    assert!(err.to_string().contains("at most 8"), "{err}");
}
