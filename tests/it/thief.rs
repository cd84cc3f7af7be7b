//! A victim and a thief act at random against the real binary, and after
//! every step the promises of docs/security.md are checked:
//!
//! - no request deletes or reveals a record that is not its own (a
//!   bystander's `/server` session, another login's refresh id, a `/token`
//!   revocation entry stay as they were, and no page shows the thief an id
//!   it was not given);
//! - once a `/hybrid` login has ended (a logout, a new login, a detected
//!   reuse), none of its refresh ids refreshes and no access token of it is
//!   issued again;
//! - a copied cookie works after its owner's logout no longer than its
//!   mechanism's bound (`/server` and revocable `/token`: not at all;
//!   `/hybrid`: an access token's life);
//! - an honest visitor is never logged out unless a thief used their
//!   cookie, or they lost a rotation's response and came back after the
//!   race window (the documented bound);
//! - a token minted by one mechanism opens no other.
//!
//! The browsers here drop a cookie at its Max-Age, as real ones do, so the
//! victim's short access token expires and its refresh id rotates on its
//! own. Each run is seeded; a failure prints the seed and every step, and
//! `SVJ_THIEF_SEED=N` replays one.

use crate::common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use common::{process::Instance, stores::TestStore, token_claims};
use cookie::Cookie;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use reqwest::header;
use sessions_vs_jwt::{
    hybrid_session::{ACCESS_COOKIE_NAME as ACCESS, REFRESH_COOKIE_NAME as REFRESH},
    routes::{Mount, Route},
    server_session::COOKIE_NAME as SESSIONID,
    token_session::{COOKIE_NAME as TOKEN, claims::LEEWAY_SECONDS},
};

/// Short enough that access tokens expire and race windows close many
/// times in one run.
const ACCESS_AGE: u64 = 2;
const RACE_WINDOW: u64 = 2;
/// How much sooner than the window a retry must come, as this test clocks
/// it, to be sure the server saw it within the window: the server counts
/// whole seconds, and requests take time on a loaded machine.
const RETRY_MARGIN: Duration = Duration::from_millis(1_000);
const STEPS: usize = 70;
const SEEDS: [u64; 3] = [1, 2, 3];

/// A browser: keeps the cookies it is given until their Max-Age, sends them
/// back, follows no redirect.
struct Browser {
    client: reqwest::Client,
    base: String,
    jar: BTreeMap<String, (String, Option<Instant>)>,
}

/// A response, read whole.
struct Reply {
    status: u16,
    body: String,
    set: Vec<Cookie<'static>>,
}

impl Reply {
    fn username(&self) -> Option<String> {
        common::heading(&self.body, "Username: ")
    }

    /// The value this response stores for `name` (not a removal).
    fn stores(&self, name: &str) -> Option<String> {
        self.set
            .iter()
            .find(|cookie| {
                cookie.name() == name && cookie.max_age() != Some(cookie::time::Duration::ZERO)
            })
            .map(|cookie| cookie.value().to_owned())
    }
}

impl Browser {
    fn new(base: &str) -> Self {
        Self {
            client: common::process::client(),
            base: base.to_owned(),
            jar: BTreeMap::new(),
        }
    }

    fn holding(base: &str, cookies: &[(&str, &str)]) -> Self {
        let mut browser = Self::new(base);
        for (name, value) in cookies {
            browser
                .jar
                .insert((*name).to_owned(), ((*value).to_owned(), None));
        }
        browser
    }

    fn cookie(&mut self, name: &str) -> Option<String> {
        let now = Instant::now();
        self.jar
            .retain(|_, (_, expires)| expires.is_none_or(|expires| expires > now));
        self.jar.get(name).map(|(value, _)| value.clone())
    }

    fn drop_cookie(&mut self, name: &str) {
        self.jar.remove(name);
    }

    async fn get(&mut self, path: &str) -> Reply {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request, true).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request, true).await
    }

    /// Sends `request` with the cookies held; `keep` false is a response
    /// lost on its way back (a dropped connection, an aborted page load).
    async fn send(&mut self, mut request: reqwest::RequestBuilder, keep: bool) -> Reply {
        let names: Vec<String> = self.jar.keys().cloned().collect();
        let cookies: Vec<String> = names
            .iter()
            .filter_map(|name| Some(format!("{name}={}", self.cookie(name)?)))
            .collect();
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let set: Vec<Cookie<'static>> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| Cookie::parse(value.to_str().unwrap().to_owned()).unwrap())
            .collect();
        let body = response.text().await.unwrap();
        if keep {
            for cookie in &set {
                match cookie.max_age() {
                    Some(age) if age.is_zero() => {
                        self.jar.remove(cookie.name());
                    }
                    age => {
                        let expires = age.map(|age| Instant::now() + age.unsigned_abs());
                        self.jar.insert(
                            cookie.name().to_owned(),
                            (cookie.value().to_owned(), expires),
                        );
                    }
                }
            }
        }
        Reply { status, body, set }
    }
}

fn page(mount: Mount, route: Route) -> String {
    mount.url(route)
}

/// The login (family) an access token belongs to: its `jti`.
fn family_of(access: &str) -> String {
    token_claims(access)["jti"].as_str().unwrap().to_owned()
}

/// A random step of the victim or the thief.
#[derive(Debug, Clone)]
enum Step {
    VictimVisits,
    /// A rotation whose response never reaches the browser; `retry_at_once`
    /// is a reload before the race window closes.
    VictimLosesARotation {
        retry_at_once: bool,
    },
    VictimLogsIn,
    VictimLogsOut,
    ThiefCopiesTheVictimsCookies,
    ThiefReplaysAStolenRefreshId,
    ThiefReplaysAStolenAccessToken,
    ThiefRefreshesWithWhatItWasGiven,
    /// With an access token of its own, names another's id as its refresh
    /// cookie: on a logout, a login, or the inspector.
    ThiefLogsOutNaming,
    ThiefLogsInNaming,
    ThiefInspectsNaming,
    ThiefReplaysTheVictimsServerSession,
    ThiefReplaysTheVictimsToken,
    ThiefPresentsAnAccessTokenToToken,
    Waits {
        millis: u64,
    },
}

impl Step {
    fn random(rng: &mut StdRng) -> Step {
        match rng.gen_range(0..100) {
            0..=17 => Step::VictimVisits,
            18..=23 => Step::VictimLosesARotation {
                retry_at_once: rng.gen_bool(0.5),
            },
            24..=27 => Step::VictimLogsIn,
            28..=30 => Step::VictimLogsOut,
            31..=38 => Step::ThiefCopiesTheVictimsCookies,
            39..=48 => Step::ThiefReplaysAStolenRefreshId,
            49..=52 => Step::ThiefReplaysAStolenAccessToken,
            53..=58 => Step::ThiefRefreshesWithWhatItWasGiven,
            59..=64 => Step::ThiefLogsOutNaming,
            65..=68 => Step::ThiefLogsInNaming,
            69..=74 => Step::ThiefInspectsNaming,
            75..=78 => Step::ThiefReplaysTheVictimsServerSession,
            79..=82 => Step::ThiefReplaysTheVictimsToken,
            83..=85 => Step::ThiefPresentsAnAccessTokenToToken,
            _ => Step::Waits {
                millis: rng.gen_range(200..2_600),
            },
        }
    }
}

/// What the model knows, and what it checks the server against.
struct World {
    base: String,
    rng: StdRng,
    victim: Browser,
    /// Whether the victim is logged in on `/hybrid`, by their own doing.
    victim_logged_in: bool,
    /// Cookie values copied from the victim, by name.
    stolen: Vec<(String, String)>,
    /// Refresh ids the server handed to the thief itself.
    given_to_thief: BTreeSet<String>,
    /// Every id of someone else's the thief must never be shown: the
    /// victim's and the bystanders' refresh and session ids.
    secrets: BTreeSet<String>,
    /// The login each refresh id was issued for.
    family_of_refresh: BTreeMap<String, String>,
    /// Logins that ended, and when.
    ended: BTreeMap<String, Instant>,
    /// Logins one of whose refresh ids the thief has presented: reuse
    /// detection may then end them, and the victim with them.
    thief_presented: BTreeSet<String>,
    /// When the victim lost a rotation's response, until their next visit.
    lost_at: Option<Instant>,
    /// The victim's current `/server` session and `/token` token.
    victim_server_session: Option<String>,
    victim_token: Option<String>,
    /// Copies of theirs that a logout (or, for a session id, a new login)
    /// made worthless.
    dead_copies: BTreeSet<String>,
    bystander_session: String,
    carol: Browser,
    revoked_token: String,
    revoked_jti: String,
    history: Vec<String>,
}

impl World {
    async fn new(base: &str, seed: u64) -> Self {
        let mut bystander = Browser::new(base);
        bystander
            .post(
                &page(Mount::SERVER, Route::SetSession),
                &[("username", "bystander")],
            )
            .await;
        let bystander_session = bystander.cookie(SESSIONID).unwrap();
        let mut carol = Browser::new(base);
        carol
            .post(
                &page(Mount::HYBRID, Route::SetSession),
                &[("username", "carol")],
            )
            .await;
        let mut revoked = Browser::new(base);
        revoked.get(&page(Mount::TOKEN, Route::SetSession)).await;
        let revoked_token = revoked.cookie(TOKEN).unwrap();
        revoked.post(&page(Mount::TOKEN, Route::Logout), &[]).await;
        let revoked_jti = token_claims(&revoked_token)["jti"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut world = Self {
            base: base.to_owned(),
            rng: StdRng::seed_from_u64(seed),
            victim: Browser::new(base),
            victim_logged_in: false,
            stolen: Vec::new(),
            given_to_thief: BTreeSet::new(),
            secrets: BTreeSet::new(),
            family_of_refresh: BTreeMap::new(),
            ended: BTreeMap::new(),
            thief_presented: BTreeSet::new(),
            lost_at: None,
            victim_server_session: None,
            victim_token: None,
            dead_copies: BTreeSet::new(),
            bystander_session,
            carol,
            revoked_token,
            revoked_jti,
            history: Vec::new(),
        };
        world.secrets.insert(world.bystander_session.clone());
        let carols = world.carol.cookie(REFRESH).unwrap();
        world.secrets.insert(carols);
        world.victim_logs_in().await;
        world
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\nsteps so far:\n  {}", self.history.join("\n  "))
    }

    fn note(&mut self, line: String) {
        self.history.push(line);
    }

    /// Learns what a response handed out, checking that no ended login
    /// gets a new access token.
    fn learn(&mut self, reply: &Reply, to_thief: bool) {
        let access = reply.stores(ACCESS);
        if let Some(access) = &access {
            let family = family_of(access);
            if self.ended.contains_key(&family) {
                self.fail(&format!(
                    "an access token was issued for login {family}, which had ended"
                ));
            }
        }
        if let Some(refresh) = reply.stores(REFRESH) {
            if let Some(access) = &access {
                self.family_of_refresh
                    .insert(refresh.clone(), family_of(access));
            }
            if to_thief {
                self.given_to_thief.insert(refresh);
            } else {
                self.secrets.insert(refresh);
            }
        }
    }

    fn end(&mut self, family: &str) {
        self.ended
            .entry(family.to_owned())
            .or_insert_with(Instant::now);
    }

    fn victim_family(&mut self) -> Option<String> {
        let refresh = self.victim.cookie(REFRESH)?;
        self.family_of_refresh.get(&refresh).cloned()
    }

    /// Everything the thief holds or was given: these it may see.
    fn thief_knows(&self, value: &str) -> bool {
        self.given_to_thief.contains(value) || self.stolen.iter().any(|(_, v)| v == value)
    }

    fn check_reveals_nothing(&self, reply: &Reply, what: &str) {
        for secret in &self.secrets {
            if !self.thief_knows(secret) && reply.body.contains(secret.as_str()) {
                self.fail(&format!("{what} showed the thief an id it was never given"));
            }
        }
    }

    /// A browser of the thief's with an access token of its own, which
    /// anyone gets from a cookieless login.
    async fn thief_with_own_access(&mut self) -> Browser {
        let mut thief = Browser::new(&self.base);
        let reply = thief.get(&page(Mount::HYBRID, Route::SetSession)).await;
        self.learn(&reply, true);
        thief.drop_cookie(REFRESH);
        thief
    }

    /// An id of someone else's, chosen at random: a stolen refresh id, a
    /// bystander's session or refresh id, a revocation entry's id.
    fn someone_elses_id(&mut self) -> String {
        let mut candidates: Vec<String> = self
            .stolen
            .iter()
            .filter(|(name, _)| name == REFRESH)
            .map(|(_, value)| value.clone())
            .collect();
        candidates.push(self.bystander_session.clone());
        candidates.push(self.revoked_jti.clone());
        if let Some(carols) = self.carol.cookie(REFRESH) {
            candidates.push(carols);
        }
        candidates.choose(&mut self.rng).unwrap().clone()
    }

    async fn victim_logs_in(&mut self) {
        if let Some(old) = self.victim_family() {
            self.end(&old);
        }
        let reply = self
            .victim
            .post(
                &page(Mount::HYBRID, Route::SetSession),
                &[("username", "alice")],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        self.learn(&reply, false);
        self.victim_logged_in = true;
        self.lost_at = None;
        for mount in [Mount::SERVER, Mount::TOKEN] {
            self.victim
                .post(&page(mount, Route::SetSession), &[("username", "alice")])
                .await;
        }
        // A login gives /server a new id; the old one must be worthless.
        self.dead_copies.extend(self.victim_server_session.take());
        self.victim_server_session = self.victim.cookie(SESSIONID);
        self.victim_token = self.victim.cookie(TOKEN);
        if let Some(session) = &self.victim_server_session {
            self.secrets.insert(session.clone());
        }
    }

    async fn victim_visits(&mut self, lose_response: bool) {
        let family = self.victim_family();
        let carried_refresh_only = self.victim.cookie(ACCESS).is_none();
        let request = self.victim.client.get(format!(
            "{}{}",
            self.base,
            page(Mount::HYBRID, Route::GetSession)
        ));
        let reply = self.victim.send(request, !lose_response).await;
        self.learn(&reply, false);
        if lose_response {
            self.lost_at = Some(Instant::now());
            return;
        }
        let lost = self.lost_at.take();
        let name = reply.username().unwrap_or_default();
        match (self.victim_logged_in, name.as_str()) {
            (true, "alice") => {
                if carried_refresh_only
                    && let Some(family) = &family
                    && self.ended.contains_key(family)
                {
                    self.fail(&format!("a refresh id of ended login {family} refreshed"));
                }
            }
            (true, _) => {
                let robbed = family
                    .as_ref()
                    .is_some_and(|family| self.thief_presented.contains(family));
                let came_back_late = lost.is_some_and(|lost| {
                    lost.elapsed() + RETRY_MARGIN >= Duration::from_secs(RACE_WINDOW)
                });
                if !robbed && !came_back_late {
                    self.fail(
                        "the honest victim was logged out: no thief had used their cookie, and \
                         no response of theirs was lost without a retry within the race window",
                    );
                }
                self.victim_logged_in = false;
                if let Some(family) = family {
                    self.end(&family);
                    self.check_no_refresh_of(&family).await;
                }
            }
            (false, name) if name != "Guest" => {
                self.fail(&format!("a victim who was logged out is shown as {name}"));
            }
            (false, _) => {}
        }
    }

    /// Every refresh id of `family` the thief holds must now be refused.
    async fn check_no_refresh_of(&mut self, family: &str) {
        let held: Vec<String> = self
            .stolen
            .iter()
            .filter(|(name, _)| name == REFRESH)
            .map(|(_, value)| value.clone())
            .chain(self.given_to_thief.iter().cloned())
            .filter(|refresh| {
                self.family_of_refresh.get(refresh).map(String::as_str) == Some(family)
            })
            .collect();
        for refresh in held {
            let mut thief = Browser::holding(&self.base, &[(REFRESH, &refresh)]);
            let reply = thief.get(&page(Mount::HYBRID, Route::GetSession)).await;
            if reply.username().as_deref() != Some("Guest") {
                self.fail(&format!(
                    "login {family} ended, yet a refresh id of it the thief holds still refreshes"
                ));
            }
        }
    }

    async fn victim_logs_out(&mut self) {
        let family = self.victim_family();
        for mount in [Mount::HYBRID, Mount::SERVER, Mount::TOKEN] {
            self.victim.post(&page(mount, Route::Logout), &[]).await;
        }
        self.victim_logged_in = false;
        self.lost_at = None;
        if let Some(family) = family {
            self.end(&family);
            self.check_no_refresh_of(&family).await;
        }
        self.dead_copies.extend(self.victim_server_session.take());
        self.dead_copies.extend(self.victim_token.take());
    }

    async fn thief_refreshes_with(&mut self, refresh: String) {
        let family = self.family_of_refresh.get(&refresh).cloned();
        if let Some(family) = &family {
            self.thief_presented.insert(family.clone());
        }
        let mut thief = Browser::holding(&self.base, &[(REFRESH, &refresh)]);
        let reply = thief.get(&page(Mount::HYBRID, Route::GetSession)).await;
        self.learn(&reply, true);
        self.check_reveals_nothing(&reply, "a refresh");
        let Some(family) = family else { return };
        let worked = reply.username().is_some_and(|name| name != "Guest");
        if worked && self.ended.contains_key(&family) {
            self.fail(&format!(
                "a refresh id of ended login {family} refreshed for the thief"
            ));
        }
        if !worked && !self.ended.contains_key(&family) {
            // Refused while the login lived: reuse was detected, which ends it.
            self.end(&family);
            self.check_no_refresh_of(&family).await;
        }
    }

    async fn run(&mut self, step: &Step) {
        match step {
            Step::VictimVisits => self.victim_visits(false).await,
            Step::VictimLosesARotation { retry_at_once } => {
                if !self.victim_logged_in {
                    return;
                }
                self.victim.drop_cookie(ACCESS);
                self.victim_visits(true).await;
                if *retry_at_once {
                    self.victim_visits(false).await;
                }
            }
            Step::VictimLogsIn => self.victim_logs_in().await,
            Step::VictimLogsOut => self.victim_logs_out().await,
            Step::ThiefCopiesTheVictimsCookies => {
                for name in [ACCESS, REFRESH, SESSIONID, TOKEN] {
                    if let Some(value) = self.victim.cookie(name) {
                        self.stolen.push((name.to_owned(), value));
                    }
                }
            }
            Step::ThiefReplaysAStolenRefreshId => {
                let refreshes: Vec<String> = self
                    .stolen
                    .iter()
                    .filter(|(name, _)| name == REFRESH)
                    .map(|(_, value)| value.clone())
                    .collect();
                if let Some(refresh) = refreshes.choose(&mut self.rng).cloned() {
                    self.thief_refreshes_with(refresh).await;
                }
            }
            Step::ThiefRefreshesWithWhatItWasGiven => {
                let given: Vec<String> = self.given_to_thief.iter().cloned().collect();
                if let Some(refresh) = given.choose(&mut self.rng).cloned() {
                    self.thief_refreshes_with(refresh).await;
                }
            }
            Step::ThiefReplaysAStolenAccessToken => {
                let accesses: Vec<String> = self
                    .stolen
                    .iter()
                    .filter(|(name, _)| name == ACCESS)
                    .map(|(_, value)| value.clone())
                    .collect();
                let Some(access) = accesses.choose(&mut self.rng).cloned() else {
                    return;
                };
                let family = family_of(&access);
                let reply = Browser::holding(&self.base, &[(ACCESS, &access)])
                    .get(&page(Mount::HYBRID, Route::GetSession))
                    .await;
                let worked = reply.username().is_some_and(|name| name != "Guest");
                // A second for the whole-second clock, and one for the requests' own time.
                let bound = Duration::from_secs(ACCESS_AGE + LEEWAY_SECONDS + 2);
                if worked
                    && let Some(ended) = self.ended.get(&family)
                    && ended.elapsed() > bound
                {
                    self.fail(&format!(
                        "a stolen access token of login {family} worked {:?} after it ended",
                        ended.elapsed()
                    ));
                }
            }
            Step::ThiefLogsOutNaming | Step::ThiefLogsInNaming | Step::ThiefInspectsNaming => {
                let named = self.someone_elses_id();
                let mut thief = self.thief_with_own_access().await;
                thief.jar.insert(REFRESH.to_owned(), (named, None));
                let reply = match step {
                    Step::ThiefLogsOutNaming => {
                        thief.post(&page(Mount::HYBRID, Route::Logout), &[]).await
                    }
                    Step::ThiefLogsInNaming => {
                        thief
                            .post(
                                &page(Mount::HYBRID, Route::SetSession),
                                &[("username", "mallory")],
                            )
                            .await
                    }
                    _ => thief.get("/").await,
                };
                self.learn(&reply, true);
                self.check_reveals_nothing(&reply, "a page the thief asked for");
            }
            Step::ThiefReplaysTheVictimsServerSession | Step::ThiefReplaysTheVictimsToken => {
                let (name, mount) = match step {
                    Step::ThiefReplaysTheVictimsServerSession => (SESSIONID, Mount::SERVER),
                    _ => (TOKEN, Mount::TOKEN),
                };
                let copies: Vec<String> = self
                    .stolen
                    .iter()
                    .filter(|(stolen, _)| stolen == name)
                    .map(|(_, value)| value.clone())
                    .collect();
                let Some(copy) = copies.choose(&mut self.rng).cloned() else {
                    return;
                };
                let reply = Browser::holding(&self.base, &[(name, &copy)])
                    .get(&page(mount, Route::GetSession))
                    .await;
                let worked = reply.username().is_some_and(|name| name != "Guest");
                if worked && self.dead_copies.contains(&copy) {
                    self.fail(&format!("a copied {name} worked after its logout"));
                }
            }
            Step::ThiefPresentsAnAccessTokenToToken => {
                let mut thief = self.thief_with_own_access().await;
                let access = thief.cookie(ACCESS).unwrap();
                let reply = Browser::holding(&self.base, &[(TOKEN, &access)])
                    .get(&page(Mount::TOKEN, Route::GetSession))
                    .await;
                if reply.username().as_deref() != Some("Guest") {
                    self.fail("a /hybrid access token opened /token");
                }
            }
            Step::Waits { millis } => tokio::time::sleep(Duration::from_millis(*millis)).await,
        }
    }

    /// What must hold after every step, whatever happened.
    async fn check_bystanders(&mut self) {
        let reply = Browser::holding(&self.base, &[(SESSIONID, &self.bystander_session)])
            .get(&page(Mount::SERVER, Route::GetSession))
            .await;
        if reply.username().as_deref() != Some("bystander") {
            self.fail("a bystander's /server session was deleted");
        }
        let reply = Browser::holding(&self.base, &[(TOKEN, &self.revoked_token)])
            .get(&page(Mount::TOKEN, Route::GetSession))
            .await;
        if reply.username().as_deref() != Some("Guest") {
            self.fail("a revoked /token token works again: its revocation entry was deleted");
        }
        self.carol.drop_cookie(ACCESS);
        let reply = self
            .carol
            .get(&page(Mount::HYBRID, Route::GetSession))
            .await;
        self.learn(&reply, false);
        if reply.username().as_deref() != Some("carol") {
            self.fail("a bystander's /hybrid login was ended by someone else's request");
        }
    }
}

async fn a_thief_stays_within_the_documented_bounds(store: TestStore) {
    let seeds: Vec<u64> = match std::env::var("SVJ_THIEF_SEED") {
        Ok(seed) => vec![seed.parse().expect("SVJ_THIEF_SEED is a number")],
        Err(_) => SEEDS.to_vec(),
    };
    for seed in seeds {
        let dir = tempfile::tempdir().unwrap();
        let fresh = store.fresh(dir.path());
        let keys = dir.path().join("keys");
        let access_age = ACCESS_AGE.to_string();
        let race_window = RACE_WINDOW.to_string();
        let mut args = fresh.args();
        args.extend(
            [
                "--keys-dir",
                keys.to_str().unwrap(),
                "--token-revocation",
                "--access-token-age",
                &access_age,
                "--refresh-race-window",
                &race_window,
            ]
            .map(str::to_owned),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Instance::start(&args);
        let mut world = World::new(&server.url(""), seed).await;
        world.note(format!("seed {seed} on {store:?}"));
        for _ in 0..STEPS {
            let step = Step::random(&mut world.rng);
            world.note(format!("{step:?}"));
            world.run(&step).await;
            world.check_bystanders().await;
        }
        drop(fresh);
    }
}

on_store!(
    on_memory: Memory,
    on_sqlite: Sqlite,
    on_redis: Redis,
    on_postgres: Postgres,
    => [a_thief_stays_within_the_documented_bounds]
);
