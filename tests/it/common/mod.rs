//! What the integration tests share: a real server on an ephemeral port, and
//! a visitor (an HTTP client that keeps cookies like a browser and does not
//! follow redirects) that records a transcript of what it saw.

pub mod process;
pub mod proxy;
pub mod redis;
pub mod stores;

use std::{
    collections::BTreeMap,
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use cookie::Cookie;
use reqwest::{StatusCode, header};
use sessions_vs_jwt::{
    Cli, Config, Site,
    routes::{Mount, Route},
    token_session::keys::KeyRing,
};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

use self::stores::{FreshStore, TestStore};

/// Runs a suite's one scenario (a cluster, a failover, an overload) when a
/// test first asks, on a thread of its own so that its panic is kept as a
/// message: every test of the suite then checks one thing of the outcome.
pub fn run_once<T: Send + Sync + 'static>(
    outcome: &'static OnceLock<Result<T, String>>,
    scenario: fn() -> T,
) -> &'static T {
    outcome
        .get_or_init(|| {
            std::thread::spawn(scenario).join().map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default()
            })
        })
        .as_ref()
        .unwrap_or_else(|err| panic!("the scenario did not run through: {err}"))
}

/// The text of the `<h1>` in `body` that starts with `label`, as the
/// reference templates print `Username: …` and `Logged In: …`.
pub fn heading(body: &str, label: &str) -> Option<String> {
    body.split("<h1>").skip(1).find_map(|rest| {
        let text = rest.split("</h1>").next()?;
        text.strip_prefix(label).map(str::to_owned)
    })
}

/// One more mechanism registered on a test's server.
type Registration = Box<dyn FnOnce(Site, &Config) -> Site + Send>;

/// The app, started in this process on 127.0.0.1:0 and stopped on drop.
pub struct TestServer {
    pub address: SocketAddr,
    /// Where `/metrics` and `/store-operations` are served, when the test
    /// asked for them with `--metrics-bind 127.0.0.1:0`.
    pub operations_address: Option<SocketAddr>,
    pub site: Arc<Site>,
    pub config: Config,
    /// Keys (and SQLite files) live here unless the test chose folders.
    pub dir: TempDir,
    args: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// The store a test chose with `start_on`, removed after the server.
    pub store: Option<FreshStore>,
}

impl TestServer {
    /// Starts a server with `args` on top of test defaults: the memory store
    /// and a fresh keys folder. `{dir}` in an argument is the test's own
    /// temporary folder.
    pub async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = dir.path().display().to_string();
        let mut full: Vec<String> = args
            .iter()
            .map(|arg| arg.replace("{dir}", &dir_path))
            .collect();
        if !args.contains(&"--store") {
            full.extend(["--store".into(), "memory".into()]);
        }
        if !args.contains(&"--keys-dir") {
            full.extend([
                "--keys-dir".into(),
                dir.path().join("keys").display().to_string(),
            ]);
        }
        Self::start_with(full, dir, None).await
    }

    /// Like `start`, on a fresh store of the kind given, private to this server.
    pub async fn start_on(store: TestStore, args: &[&str]) -> Self {
        Self::start_fresh(store, args, None).await
    }

    /// Like `start_on`, with one more mechanism registered beside the
    /// app's own, as `startup` registers them: `register` is that one line.
    pub async fn start_on_serving(
        store: TestStore,
        args: &[&str],
        register: impl FnOnce(Site, &Config) -> Site + Send + 'static,
    ) -> Self {
        Self::start_fresh(store, args, Some(Box::new(register))).await
    }

    async fn start_fresh(store: TestStore, args: &[&str], register: Option<Registration>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fresh = store.fresh(dir.path());
        let mut full = fresh.args();
        full.extend(args.iter().map(|arg| (*arg).to_owned()));
        full.extend([
            "--keys-dir".into(),
            dir.path().join("keys").display().to_string(),
        ]);
        let mut server = Self::start_with(full, dir, register).await;
        server.store = Some(fresh);
        server
    }

    async fn start_with(args: Vec<String>, dir: TempDir, register: Option<Registration>) -> Self {
        let cli = Cli::parse_ignoring_environment(
            ["sessions-vs-jwt", "--bind", "127.0.0.1:0"]
                .into_iter()
                .map(str::to_owned)
                .chain(args.iter().cloned()),
        )
        .expect("test arguments parse");
        let site = cli.serve.open_site().await.expect("the app starts");
        let site = match register {
            Some(register) => register(site, &cli.serve),
            None => site,
        };
        let site = Arc::new(site);
        let listener = sessions_vs_jwt::listen(cli.serve.bind).unwrap();
        let address = listener.local_addr().unwrap();
        let operations = cli
            .serve
            .metrics_bind
            .map(|bind| sessions_vs_jwt::listen(bind).unwrap());
        let operations_address = operations
            .as_ref()
            .map(|listener| listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let site = Arc::clone(&site);
            async move {
                sessions_vs_jwt::serve(listener, operations, site, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            }
        });
        Self {
            address,
            operations_address,
            site,
            config: cli.serve,
            dir,
            args,
            stop: Some(stop),
            task: Some(task),
            store: None,
        }
    }

    /// Stops this server and starts another with the same arguments and
    /// folders, as a redeploy would.
    pub async fn restart(mut self) -> Self {
        self.shut_down().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let args = std::mem::take(&mut self.args);
        let store = self.store.take();
        let mut server = Self::start_with(args, dir, None).await;
        server.store = store;
        server
    }

    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `path` on the operators' listener (`--metrics-bind`).
    pub fn operations_url(&self, path: &str) -> String {
        let address = self
            .operations_address
            .expect("the test started the server with --metrics-bind");
        format!("http://{address}{path}")
    }

    pub fn visitor(&self) -> Visitor {
        Visitor::new(self.url(""))
    }

    /// `mount`'s cookie as a thief copied it from a logged-in browser that
    /// has logged out since. Fails the test unless the copy opened the login
    /// before the logout (the control for any test that finds it closed
    /// after) and the logout made the browser a Guest.
    pub async fn copied_cookie_after_logout(&self, mount: Mount) -> String {
        let mut visitor = self.visitor();
        visitor.log_in_on(mount).await;
        let copy = visitor
            .cookie(cookie_name(mount))
            .unwrap_or_else(|| panic!("the login on {mount:?} set no cookie"));
        let mut before_logout = self.visitor().holding(cookie_name(mount), &copy);
        assert_eq!(
            before_logout.username_on(mount).await,
            "john_doe",
            "the copy on {mount:?} opens the login before the logout"
        );
        visitor.log_out_on(mount).await;
        assert_eq!(visitor.username_on(mount).await, "Guest", "{mount:?}");
        copy
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    /// How many records the session store holds.
    pub async fn stored_sessions(&self) -> u64 {
        self.site.records().count().await.unwrap()
    }

    /// The token keys this server loaded: the same files, the same signing key.
    pub fn token_keys(&self) -> KeyRing {
        KeyRing::load_or_generate(&self.config.keys.dir, self.config.keys.algorithm).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A browser stand-in: keeps the cookies it is given, sends them back, and
/// records every exchange so two runs can be compared.
pub struct Visitor {
    client: reqwest::Client,
    base: String,
    jar: BTreeMap<String, String>,
    set_cookies: BTreeMap<String, Cookie<'static>>,
    pub transcript: Vec<Step>,
}

/// One exchange, with the router prefix replaced by `/{router}` so that the
/// same scenario on both routers gives equal transcripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub request: String,
    pub status: u16,
    pub location: Option<String>,
    pub cookie: CookieChange,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieChange {
    Unchanged,
    Set,
    Removed,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Visitor {
    pub fn new(base: String) -> Self {
        Self::with_timeout(base, Duration::from_secs(10))
    }

    /// A visitor that fails its test if an answer takes longer than `timeout`.
    pub fn with_timeout(base: String, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .unwrap();
        Self {
            client,
            base,
            jar: BTreeMap::new(),
            set_cookies: BTreeMap::new(),
            transcript: Vec::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(format!("GET {path}"), request).await
    }

    /// Who `mount`'s `get_session` page says this visitor is.
    pub async fn username_on(&mut self, mount: Mount) -> String {
        self.get(&mount.url(Route::GetSession)).await.username()
    }

    /// This visitor, holding `value` as cookie `name`: what a thief holds
    /// after copying a cookie, or a client that forged one.
    pub fn holding(mut self, name: &str, value: &str) -> Self {
        self.set_cookie(name, value);
        self
    }

    /// Logs in on `mount` as the reference's link does: `set_session` by GET,
    /// as `john_doe`. The page is returned unchecked, for tests of failures.
    pub async fn log_in_on(&mut self, mount: Mount) -> Page {
        self.get(&mount.url(Route::SetSession)).await
    }

    /// Logs in on `mount` as `username`, through the form.
    pub async fn log_in_as(&mut self, mount: Mount, username: &str) -> Page {
        self.post(&mount.url(Route::SetSession), &[("username", username)])
            .await
    }

    /// Posts `mount`'s logout form.
    pub async fn log_out_on(&mut self, mount: Mount) -> Page {
        self.post(&mount.url(Route::Logout), &[]).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(format!("POST {path}"), request).await
    }

    /// A request to `path` on this visitor's server, to add headers to before
    /// passing it to `send`.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Sends a request as built, with this visitor's cookies.
    pub async fn send(&mut self, label: String, mut request: reqwest::RequestBuilder) -> Page {
        if let Some(cookies) = self.cookie_header() {
            request = request.header(header::COOKIE, cookies);
        }
        let response = request.send().await.expect("the server answers");
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        let change = self.keep_cookies(&page);
        self.transcript.push(Step {
            request: normalise(&label),
            status: page.status.as_u16(),
            location: page.location().map(|location| normalise(&location)),
            cookie: change,
            body: normalise(&page.body),
        });
        page
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.jar.is_empty()).then(|| {
            self.jar
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Like a browser: a Max-Age of 0 deletes, anything else stores. Expiry
    /// by time is left to the server, which is what the tests check.
    fn keep_cookies(&mut self, page: &Page) -> CookieChange {
        let mut change = CookieChange::Unchanged;
        for cookie in page.set_cookies() {
            self.set_cookies
                .insert(cookie.name().to_owned(), cookie.clone());
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.jar.remove(cookie.name());
                change = CookieChange::Removed;
            } else {
                self.jar
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
                change = CookieChange::Set;
            }
        }
        change
    }

    /// The same browser, cookies and all, pointed at another server (or the
    /// same one after a restart, which gets a new port).
    pub fn on(mut self, server: &TestServer) -> Self {
        self.base = server.url("");
        self
    }

    /// The same browser pointed at another address, as behind a load balancer.
    pub fn at(mut self, base: &str) -> Self {
        base.clone_into(&mut self.base);
        self
    }

    /// The value of a cookie this visitor holds.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.get(name).cloned()
    }

    /// The last `Set-Cookie` received for `name`, with its attributes.
    pub fn last_set_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.set_cookies.get(name).cloned()
    }

    /// Plants a cookie, as an attacker or a stale browser would.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_owned(), value.to_owned());
    }

    pub fn forget_cookies(&mut self) {
        self.jar.clear();
    }
}

impl Page {
    pub fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| Cookie::parse(value.to_str().unwrap().to_owned()).unwrap())
            .collect()
    }

    pub fn set_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.set_cookies()
            .into_iter()
            .find(|cookie| cookie.name() == name)
    }

    pub fn location(&self) -> Option<String> {
        self.headers
            .get(header::LOCATION)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    /// See [`heading`].
    pub fn heading(&self, label: &str) -> Option<String> {
        heading(&self.body, label)
    }

    pub fn username(&self) -> String {
        self.heading("Username: ").expect("a get_session page")
    }

    pub fn logged_in(&self) -> String {
        self.heading("Logged In: ").expect("a get_session page")
    }

    /// The `href` of the link whose text is `text`.
    pub fn link(&self, text: &str) -> Option<String> {
        let end = self.body.find(&format!(">{text}</a>"))?;
        let start = self.body[..end].rfind("href=\"")? + "href=\"".len();
        Some(self.body[start..end].trim_end_matches('"').to_owned())
    }
}

/// Replaces the router of every page path (`/server/get_session/`,
/// `/signed/logout`) with `/{router}`, whichever router serves it.
pub fn normalise(text: &str) -> String {
    Route::ALL.into_iter().fold(text.to_owned(), |text, route| {
        let page = route.path().trim_end_matches('/');
        let mut normalised = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(page) {
            let before = &rest[..at];
            let name = before
                .bytes()
                .rposition(|byte| !(byte.is_ascii_lowercase() || byte.is_ascii_digit()))
                .map_or(0, |end| end + 1);
            if name > 0 && name < at && before.as_bytes()[name - 1] == b'/' {
                normalised.push_str(&before[..name - 1]);
                normalised.push_str("/{router}");
            } else {
                normalised.push_str(before);
            }
            normalised.push_str(page);
            rest = &rest[at + page.len()..];
        }
        normalised.push_str(rest);
        normalised
    })
}

/// The claims of a token, read without verifying it (tests only).
pub fn token_claims(token: &str) -> serde_json::Value {
    jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token).unwrap()
}

/// The header of a token, read without verifying it (tests only).
pub fn token_header(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).unwrap()
}

/// The cookie each router keeps its state in; a mechanism a test
/// registers of its own names its cookie after its router.
pub fn cookie_name(mount: Mount) -> &'static str {
    match mount {
        Mount::SERVER => sessions_vs_jwt::server_session::COOKIE_NAME,
        Mount::TOKEN => sessions_vs_jwt::token_session::COOKIE_NAME,
        Mount::COOKIE => sessions_vs_jwt::cookie_session::COOKIE_NAME,
        Mount::HYBRID => sessions_vs_jwt::hybrid_session::ACCESS_COOKIE_NAME,
        own => own.name(),
    }
}

/// Waits until `condition` holds, checking every 50 ms, and fails the test
/// if it still does not after 30 s: for what takes real time (an expiry, a
/// sweep, a reconnection), so that a test waits as long as that takes on a
/// busy machine and never asserts how long it was.
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(Instant::now() < deadline, "still not {what} after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the clock, in the whole seconds JWT claims count, reads at
/// least `seconds` since the Unix epoch.
pub async fn wait_until_unix_time(seconds: u64) {
    wait_until(&format!("{seconds} s since the epoch"), || async {
        sessions_vs_jwt::token_session::claims::now() >= seconds
    })
    .await;
}
