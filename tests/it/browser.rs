//! The product in a real browser: headless Chromium, driven through WebDriver
//! by chromedriver, against a real server on a free port of 127.0.0.1.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `SVJ_CHROMIUM` and
//! `SVJ_CHROMEDRIVER` naming the programs): without them build.rs leaves
//! `cfg(svj_chromium)` unset and these tests are reported as ignored. CI
//! installs both, so there they always run.
//!
//! Screenshots of the inspector go to `target/screenshots/`; with
//! `SVJ_UPDATE_SCREENSHOTS=1` they also replace the ones in `docs/`, which
//! README and docs/inspector.md show.

use crate::common;

use std::{
    collections::HashSet,
    future::Future,
    net::{SocketAddr, TcpListener},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sessions_vs_jwt::routes::{Mount, Route};
use tempfile::TempDir;

/// What a page-filling window and a phone are, for the screenshots.
const DESKTOP_WIDTH: u32 = 1280;
const PHONE_WIDTH: u32 = 390;

/// chromedriver, started by this test, and the Chromium it starts; both are
/// killed when this is dropped, whatever the test did.
struct Driver {
    child: Child,
    address: SocketAddr,
}

impl Driver {
    /// chromedriver cannot choose a port itself (it refuses `--port=0`), so
    /// it is offered one. The test then talks to the port that
    /// chromedriver's own process is found listening on (in /proc), never
    /// to whatever answers on the offered port: a program that took that
    /// port meanwhile would be talked to as if it were chromedriver. If it
    /// did take it, chromedriver cannot bind and exits, and is offered
    /// another.
    fn start() -> Self {
        for _ in 0..10 {
            let offered = offer_port();
            let child = Command::new(env!("SVJ_CHROMEDRIVER_BIN"))
                .arg(format!("--port={offered}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so that Chromium dies with it.
                .process_group(0)
                .spawn()
                .expect("chromedriver starts");
            let mut driver = Self {
                child,
                address: SocketAddr::from(([127, 0, 0, 1], offered)),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if driver.child.try_wait().unwrap().is_some() {
                    break; // It could not bind the port: offer another.
                }
                if let Some(port) = listening_port(driver.child.id()) {
                    driver.address.set_port(port);
                    return driver;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("chromedriver did not listen on any of 10 ports offered");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago: only an offer, see [`Driver::start`].
fn offer_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The port on 127.0.0.1 that process `pid` itself listens on: the sockets
/// among its open files, looked up in the kernel's table of TCP sockets.
fn listening_port(pid: u32) -> Option<u16> {
    let sockets: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    // Columns: sl local_address rem_address st ... inode (the tenth).
    table.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        let (&local, &state, &inode) = (columns.get(1)?, columns.get(3)?, columns.get(9)?);
        let (ip, port) = local.split_once(':')?;
        // 0A is LISTEN; 0100007F is 127.0.0.1, as the kernel prints it.
        (state == "0A" && ip == "0100007F" && sockets.contains(inode))
            .then(|| u16::from_str_radix(port, 16).ok())
            .flatten()
    })
}

/// A fresh headless Chromium with its own empty profile.
struct Browser {
    client: Client,
    _profile: TempDir,
    _driver: Driver,
}

impl Browser {
    async fn start() -> Self {
        Self::start_with(true).await
    }

    /// With `javascript` false, pages run no script at all (the browser's own
    /// setting, as a visitor who turned it off has it).
    async fn start_with(javascript: bool) -> Self {
        let driver = Driver::start();
        let profile = tempfile::tempdir().unwrap();
        let javascript_setting = if javascript { 1 } else { 2 };
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": env!("SVJ_CHROMIUM_BIN"),
                "prefs": {
                    "profile.managed_default_content_settings.javascript": javascript_setting,
                },
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={DESKTOP_WIDTH},900"),
                ],
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://{}", driver.address))
            .await
            .expect("chromedriver opens a Chromium session");
        Self {
            client,
            _profile: profile,
            _driver: driver,
        }
    }

    async fn close(self) {
        self.client.clone().close().await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css}: {err}"))
            .text()
            .await
            .unwrap()
    }

    async fn body_text(&self) -> String {
        self.text("body").await
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css}: {err}"))
            .click()
            .await
            .unwrap();
    }

    async fn follow_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|err| panic!("no link {text:?}: {err}"))
            .click()
            .await
            .unwrap();
    }

    /// Types `username` into one side's form on the inspector and presses Set.
    async fn set_on_inspector(&self, server: &TestServer, mount: Mount, username: &str) {
        self.client.goto(&server.url("/")).await.unwrap();
        let input = self
            .client
            .find(Locator::Id(&format!("{}-username-input", mount.name())))
            .await
            .unwrap();
        input.send_keys(username).await.unwrap();
        self.click(&format!("#{} form.login button", mount.name()))
            .await;
    }

    /// Waits for the navigation a click started to land on `path`.
    async fn arrive_at(&self, path: &str) {
        let mut current = String::new();
        for _ in 0..200 {
            current = self.client.current_url().await.unwrap().path().to_owned();
            if current == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected to arrive at {path}, still at {current}");
    }

    async fn script(&self, source: &str) -> serde_json::Value {
        self.client.execute(source, Vec::new()).await.unwrap()
    }

    /// The whole page at `width`, as PNG bytes: the window is made as tall
    /// as the page (plus the window's own frame) first.
    async fn screenshot(&self, width: u32) -> Vec<u8> {
        self.client.set_window_size(width, 900).await.unwrap();
        let sizes = self
            .script(
                "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
            )
            .await;
        let height = sizes[0].as_u64().unwrap() + sizes[1].as_u64().unwrap();
        self.client
            .set_window_size(width, u32::try_from(height).unwrap())
            .await
            .unwrap();
        let png = self.client.screenshot().await.unwrap();
        self.client
            .set_window_size(DESKTOP_WIDTH, 900)
            .await
            .unwrap();
        png
    }
}

/// Fails the test instead of hanging it if the browser stops answering.
async fn within_two_minutes(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("the browser test finished within two minutes");
}

/// Writes a screenshot under target/screenshots/, and to docs/ when
/// `SVJ_UPDATE_SCREENSHOTS=1` asks for it.
fn save_screenshot(name: &str, png: &[u8]) -> PathBuf {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join(name);
    std::fs::write(&path, png).unwrap();
    if std::env::var("SVJ_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::write(docs.join(name), png).unwrap();
    }
    path
}

/// The cookies of every mechanism: `/hybrid` has two.
const EVERY_COOKIE: [&str; 5] = ["sessionid", "token", "session", "access", "refresh"];

needs!(
    chromium,
    #[tokio::test]
    async fn both_sides_log_in_show_their_data_and_log_out_in_a_real_browser() {
        within_two_minutes(async {
            let server = TestServer::start(&[]).await;
            let browser = Browser::start().await;

            browser.client.goto(&server.url("/")).await.unwrap();
            for mount in Mount::ALL {
                assert_eq!(
                    browser.text(&format!("#{}-username", mount.name())).await,
                    "Guest"
                );
            }

            for mount in Mount::ALL {
                browser.set_on_inspector(&server, mount, "alice").await;
                browser.arrive_at(&mount.url(Route::SetSession)).await;
                assert!(browser.body_text().await.contains("Session data set!"));
                browser.follow_link("View Session Data").await;
                browser.arrive_at(&mount.url(Route::GetSession)).await;
                let text = browser.body_text().await;
                assert!(text.contains("Username: alice"), "{mount:?}: {text}");
                assert!(text.contains("Logged In: True"), "{mount:?}: {text}");
            }

            let cookies = browser.client.get_all_cookies().await.unwrap();
            for name in EVERY_COOKIE {
                let cookie = cookies
                    .iter()
                    .find(|cookie| cookie.name() == name)
                    .unwrap_or_else(|| panic!("the browser holds {name}: {cookies:?}"));
                assert_eq!(cookie.http_only(), Some(true), "{name}");
                assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax), "{name}");
            }
            let visible = browser.script("return document.cookie").await;
            let visible = visible.as_str().unwrap();
            for name in EVERY_COOKIE {
                assert!(
                    !visible
                        .split("; ")
                        .any(|pair| pair.starts_with(&format!("{name}="))),
                    "HttpOnly cookies are hidden from page scripts: {name} in {visible:?}"
                );
            }

            browser.client.goto(&server.url("/")).await.unwrap();
            for mount in Mount::ALL {
                let side = mount.name();
                assert_eq!(browser.text(&format!("#{side}-username")).await, "alice");
                assert_eq!(browser.text(&format!("#{side}-logged-in")).await, "True");
                let verdict = browser.text(&format!("#{side}-verdict")).await;
                assert!(!verdict.contains("refused"), "{verdict}");
            }
            assert!(browser.text("#server-record").await.contains("\"alice\""));
            assert!(browser.text("#token-claims").await.contains("\"alice\""));
            save_screenshot("inspector.png", &browser.screenshot(DESKTOP_WIDTH).await);
            save_screenshot(
                "inspector-phone.png",
                &browser.screenshot(PHONE_WIDTH).await,
            );

            for mount in Mount::ALL {
                browser.client.goto(&server.url("/")).await.unwrap();
                browser
                    .click(&format!(
                        "form[action=\"{}\"] button",
                        mount.url(Route::Logout)
                    ))
                    .await;
                browser.arrive_at(&mount.url(Route::GetSession)).await;
                let text = browser.body_text().await;
                assert!(text.contains("Username: Guest"), "{mount:?}: {text}");
                assert!(text.contains("Logged In: False"), "{mount:?}: {text}");
            }
            let cookies = browser.client.get_all_cookies().await.unwrap();
            assert!(
                cookies
                    .iter()
                    .all(|cookie| !EVERY_COOKIE.contains(&cookie.name())),
                "logout removed every side's cookies: {cookies:?}"
            );
            browser.client.goto(&server.url("/")).await.unwrap();
            for mount in Mount::ALL {
                assert_eq!(
                    browser.text(&format!("#{}-username", mount.name())).await,
                    "Guest"
                );
            }
            assert_eq!(server.stored_sessions().await, 0);
            browser.close().await;
        })
        .await;
    }
);

needs!(
    chromium,
    #[tokio::test]
    async fn markup_typed_as_a_username_is_shown_as_text_in_a_real_browser() {
        within_two_minutes(async {
            let server = TestServer::start(&[]).await;
            let browser = Browser::start().await;
            let attempt = r#"<b id="injected">x</b><script>document.title="injected"</script>"#;

            for mount in Mount::ALL {
                browser.set_on_inspector(&server, mount, attempt).await;
                browser.arrive_at(&mount.url(Route::SetSession)).await;
                browser.follow_link("View Session Data").await;
                browser.arrive_at(&mount.url(Route::GetSession)).await;
                let heading = browser.text("h1").await;
                assert_eq!(heading, format!("Username: {attempt}"), "{mount:?}");
                assert!(
                    browser.client.find(Locator::Id("injected")).await.is_err(),
                    "no element was injected on {mount:?}"
                );
                assert_ne!(browser.client.title().await.unwrap(), "injected");
            }

            browser.client.goto(&server.url("/")).await.unwrap();
            for mount in Mount::ALL {
                assert_eq!(
                    browser.text(&format!("#{}-username", mount.name())).await,
                    attempt
                );
            }
            assert!(browser.client.find(Locator::Id("injected")).await.is_err());
            assert_ne!(browser.client.title().await.unwrap(), "injected");
            browser.close().await;
        })
        .await;
    }
);

needs!(
    chromium,
    #[tokio::test]
    async fn the_inspector_fits_a_phone_screen_without_sideways_scrolling() {
        within_two_minutes(async {
        let server = TestServer::start(&[]).await;
        let browser = Browser::start().await;
        for mount in Mount::ALL {
            browser.set_on_inspector(&server, mount, "alice").await;
            browser.arrive_at(&mount.url(Route::SetSession)).await;
        }
        browser.client.goto(&server.url("/")).await.unwrap();
        browser.client.set_window_size(PHONE_WIDTH, 844).await.unwrap();
        let widths = browser
            .script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            )
            .await;
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(client <= u64::from(PHONE_WIDTH), "the window is narrow: {client}");
        assert!(
            scroll <= client,
            "nothing sticks out sideways: page {scroll} px wide in {client} px"
        );
        browser.close().await;
    })
    .await;
    }
);

needs!(
    chromium,
    #[tokio::test]
    async fn every_button_works_with_javascript_turned_off() {
        within_two_minutes(async {
            let server = TestServer::start(&[]).await;
            let browser = Browser::start_with(false).await;
            for mount in Mount::ALL {
                let side = mount.name();
                browser.set_on_inspector(&server, mount, "carol").await;
                browser.arrive_at(&mount.url(Route::SetSession)).await;
                browser.client.goto(&server.url("/")).await.unwrap();
                assert_eq!(browser.text(&format!("#{side}-username")).await, "carol");

                browser
                    .click(&format!("#{side} form[method=get] button"))
                    .await;
                browser.arrive_at(&mount.url(Route::GetSession)).await;
                assert!(browser.body_text().await.contains("Username: carol"));

                browser.client.goto(&server.url("/")).await.unwrap();
                browser
                    .click(&format!(
                        "#{side} form[action=\"{}\"] button",
                        mount.url(Route::Logout)
                    ))
                    .await;
                browser.arrive_at(&mount.url(Route::GetSession)).await;
                assert!(browser.body_text().await.contains("Username: Guest"));
            }
            browser
                .client
                .goto("data:text/html,<title>off</title><script>document.title='on'</script>")
                .await
                .unwrap();
            assert_eq!(
                browser.client.title().await.unwrap(),
                "off",
                "page scripts really are off in this browser"
            );
            browser.close().await;
        })
        .await;
    }
);

needs!(
    chromium,
    #[tokio::test]
    async fn the_replay_experiment_shows_which_old_cookies_still_work_in_a_real_browser() {
        within_two_minutes(async {
            let server = TestServer::start(&[]).await;
            let browser = Browser::start().await;
            let expected = [
                (Mount::Server, "expired", "A Guest at once"),
                (Mount::Token, "valid", "Still logged in as dave"),
                (Mount::Cookie, "valid", "Still logged in as dave"),
                (Mount::Hybrid, "valid", "Still logged in as dave"),
            ];
            for (mount, verdict, summary) in expected {
                let side = mount.name();
                browser.set_on_inspector(&server, mount, "dave").await;
                browser.arrive_at(&mount.url(Route::SetSession)).await;
                browser.client.goto(&server.url("/")).await.unwrap();
                browser.click(&format!("#{side}-replay")).await;
                browser.arrive_at("/replay/").await;
                let result = browser
                    .client
                    .find(Locator::Id(&format!("{side}-replay-result")))
                    .await
                    .unwrap_or_else(|err| panic!("{side}: no replay result: {err}"));
                assert_eq!(
                    result.attr("data-verdict").await.unwrap().as_deref(),
                    Some(verdict),
                    "{side}"
                );
                let text = browser.text(&format!("#{side}-replay-summary")).await;
                assert!(text.starts_with(summary), "{side}: {text}");
                // The logout stands: the browser dropped this side's cookie.
                assert_eq!(browser.text(&format!("#{side}-username")).await, "Guest");
                if mount == Mount::Token {
                    save_screenshot("replay.png", &browser.screenshot(1400).await);
                }
            }
            browser.close().await;
        })
        .await;
    }
);
