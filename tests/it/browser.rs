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
use sessions_vs_jwt::routes::{Action, Mount, Route};
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

    /// The text of an element whether shown or not (inside a closed
    /// `<details>`, say), as its `textContent`.
    async fn text_content(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css}: {err}"))
            .prop("textContent")
            .await
            .unwrap()
            .unwrap_or_default()
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

    /// Types `username` into "Log in everywhere as" and presses its button;
    /// back on the inspector, every side shows it.
    async fn log_in_everywhere(&self, server: &TestServer, username: &str) {
        self.client.goto(&server.url("/")).await.unwrap();
        self.client
            .find(Locator::Id("everywhere-username-input"))
            .await
            .unwrap()
            .send_keys(username)
            .await
            .unwrap();
        self.click_to_a_new_page("#log-in-everywhere").await;
        self.arrive_at("/").await;
        for mount in Mount::BUILT_IN {
            let shown = self.text(&format!("#{}-username", mount.name())).await;
            assert_eq!(shown, username, "{mount:?}");
        }
    }

    /// Makes the page's viewport `width` × `height` CSS pixels, whatever
    /// the window's frame takes.
    async fn set_viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self
            .script("return [window.innerWidth, window.innerHeight]")
            .await;
        let frame = |index: usize, asked: u32| {
            asked.saturating_sub(u32::try_from(inner[index].as_u64().unwrap()).unwrap())
        };
        let (extra_width, extra_height) = (frame(0, width), frame(1, height));
        if extra_width > 0 || extra_height > 0 {
            self.client
                .set_window_size(width + extra_width, height + extra_height)
                .await
                .unwrap();
        }
    }

    /// Whether the page is wider than its window: `[scrollWidth, clientWidth]`.
    async fn widths(&self) -> (u64, u64) {
        let widths = self
            .script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            )
            .await;
        (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap())
    }

    /// Every number shown (`.num`, and a number with its unit, `.qty`) whose
    /// text runs over more than one line: the box of its text, measured by
    /// the browser, against the element's own line height. Gives how many
    /// were measured and a line for each that wraps.
    async fn wrapped_numbers(&self) -> (u64, Vec<String>) {
        let measured = self
            .script(
                r#"
                const wrapped = [];
                let measured = 0;
                for (const element of document.querySelectorAll('.num, .qty')) {
                    if (element.getClientRects().length === 0) continue; // not shown
                    const range = document.createRange();
                    range.selectNodeContents(element);
                    const boxes = [...range.getClientRects()].filter(box => box.width > 0);
                    if (boxes.length === 0) continue;
                    const top = Math.min(...boxes.map(box => box.top));
                    const bottom = Math.max(...boxes.map(box => box.bottom));
                    const line = parseFloat(getComputedStyle(element).lineHeight);
                    measured += 1;
                    if (bottom - top > 1.5 * line) {
                        wrapped.push(`${element.id || element.className} "${element.textContent}": ${bottom - top} px high, a line is ${line} px`);
                    }
                }
                return [measured, wrapped];
                "#,
            )
            .await;
        let wrapped = measured[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line.as_str().unwrap().to_owned())
            .collect();
        (measured[0].as_u64().unwrap(), wrapped)
    }

    /// Clicks `css` and waits until the page it was on is gone: for a form
    /// that comes back to the page it is on, where the path alone cannot
    /// tell the new page from the old.
    async fn click_to_a_new_page(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                return; // Stale: another page is loaded.
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} loaded no new page");
    }

    /// Whether the element with `id` is wholly within the window, as
    /// scrolled now.
    async fn in_view(&self, id: &str) -> bool {
        self.script(&format!(
            "const box = document.getElementById('{id}').getBoundingClientRect(); \
             return box.top >= 0 && box.bottom <= window.innerHeight"
        ))
        .await
        .as_bool()
        .unwrap()
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
            for mount in Mount::BUILT_IN {
                assert_eq!(
                    browser.text(&format!("#{}-username", mount.name())).await,
                    "Guest"
                );
            }

            for mount in Mount::BUILT_IN {
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
            for mount in Mount::BUILT_IN {
                let side = mount.name();
                assert_eq!(browser.text(&format!("#{side}-username")).await, "alice");
                assert_eq!(browser.text(&format!("#{side}-logged-in")).await, "True");
                let verdict = browser.text(&format!("#{side}-verdict")).await;
                assert!(!verdict.contains("refused"), "{verdict}");
            }
            // Behind "the record" and "attributes, value": in the page, not shown until opened.
            assert!(
                browser
                    .text_content("#server-record")
                    .await
                    .contains("\"alice\"")
            );
            assert!(
                browser
                    .text_content("#token-claims")
                    .await
                    .contains("\"alice\"")
            );
            browser.click("#server-server summary").await;
            assert!(browser.text("#server-record").await.contains("\"alice\""));
            save_screenshot("inspector.png", &browser.screenshot(DESKTOP_WIDTH).await);
            save_screenshot(
                "inspector-phone.png",
                &browser.screenshot(PHONE_WIDTH).await,
            );

            for mount in Mount::BUILT_IN {
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
            for mount in Mount::BUILT_IN {
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

            for mount in Mount::BUILT_IN {
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
            for mount in Mount::BUILT_IN {
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
            for mount in Mount::BUILT_IN {
                browser.set_on_inspector(&server, mount, "alice").await;
                browser.arrive_at(&mount.url(Route::SetSession)).await;
            }
            browser.client.goto(&server.url("/")).await.unwrap();
            browser.set_viewport(PHONE_WIDTH, 844).await;
            // The inspector as a Guest, logged in, and showing the replay row.
            for page in ["guest", "logged in", "replayed"] {
                match page {
                    "guest" => browser.client.goto(&server.url("/")).await.unwrap(),
                    "logged in" => browser.log_in_everywhere(&server, "alice").await,
                    _ => {
                        browser.click("#replay-everywhere").await;
                        browser.arrive_at(Action::ReplayEverywhere.path()).await;
                    }
                }
                let (scroll, client) = browser.widths().await;
                assert!(
                    client <= u64::from(PHONE_WIDTH),
                    "the window is narrow: {client}"
                );
                assert!(
                    scroll <= client,
                    "{page}: nothing sticks out sideways: page {scroll} px wide in {client} px"
                );
                // One mechanism at a time: each side's section takes the width
                // and starts below the one before it.
                let boxes = browser
                    .script(
                        "return [...document.querySelectorAll('section.side')].map(side => { \
                     const box = side.getBoundingClientRect(); \
                     return [box.left, box.right, box.top + scrollY, box.bottom + scrollY]; })",
                    )
                    .await;
                let boxes: Vec<Vec<f64>> = boxes
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|side| {
                        side.as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_f64().unwrap())
                            .collect()
                    })
                    .collect();
                assert_eq!(boxes.len(), Mount::BUILT_IN.len());
                for pair in boxes.windows(2) {
                    assert!(
                        pair[1][2] >= pair[0][3],
                        "{page}: stacked, not side by side: {boxes:?}"
                    );
                }
                for side in &boxes {
                    #[allow(clippy::cast_precision_loss)]
                    let full = client as f64 * 0.85;
                    assert!(
                        side[1] - side[0] >= full,
                        "{page}: a side takes the width: {boxes:?}"
                    );
                }
                let (measured, wrapped) = browser.wrapped_numbers().await;
                assert!(measured > 0);
                assert!(
                    wrapped.is_empty(),
                    "{page}: numbers broken over lines: {wrapped:#?}"
                );
            }
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
            for mount in Mount::BUILT_IN {
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

                browser.set_on_inspector(&server, mount, "carol").await;
                browser.arrive_at(&mount.url(Route::SetSession)).await;
                browser.client.goto(&server.url("/")).await.unwrap();
                browser.click(&format!("#{side}-replay")).await;
                browser.arrive_at(Action::Replay.path()).await;
                let result = browser
                    .client
                    .find(Locator::Id(&format!("{side}-replay-result")))
                    .await
                    .unwrap();
                let verdict = result.attr("data-verdict").await.unwrap();
                assert!(
                    matches!(verdict.as_deref(), Some("valid" | "expired")),
                    "{side}: {verdict:?}"
                );
                assert_eq!(browser.text(&format!("#{side}-username")).await, "Guest");
            }

            // The forms that act on every side at once.
            browser.log_in_everywhere(&server, "carol").await;
            browser.click_to_a_new_page("#log-out-everywhere").await;
            browser.arrive_at("/").await;
            for mount in Mount::BUILT_IN {
                let shown = browser.text(&format!("#{}-username", mount.name())).await;
                assert_eq!(shown, "Guest", "{mount:?}");
            }
            browser.log_in_everywhere(&server, "carol").await;
            browser.click("#replay-everywhere").await;
            browser.arrive_at(Action::ReplayEverywhere.path()).await;
            for mount in Mount::BUILT_IN {
                let side = mount.name();
                let result = browser
                    .client
                    .find(Locator::Id(&format!("{side}-replay-result")))
                    .await
                    .unwrap();
                assert!(
                    result.attr("data-verdict").await.unwrap().is_some(),
                    "{side}"
                );
                assert_eq!(browser.text(&format!("#{side}-username")).await, "Guest");
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
                (Mount::SERVER, "expired", "A Guest at once"),
                (Mount::TOKEN, "valid", "Still logged in as dave"),
                (Mount::COOKIE, "valid", "Still logged in as dave"),
                (Mount::HYBRID, "valid", "Still logged in as dave"),
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
                assert!(
                    browser.in_view(&format!("{side}-replay-result")).await,
                    "{side}: the page opens on the result"
                );
                // The other sides' cells of the row say they were not replayed.
                for other in Mount::BUILT_IN.into_iter().filter(|other| *other != mount) {
                    let cell = browser
                        .text(&format!("#{}-replay-result", other.name()))
                        .await;
                    assert_eq!(cell, "Not replayed on this side.", "{other:?}");
                }
            }
            browser.close().await;
        })
        .await;
    }
);

needs!(
    chromium,
    #[tokio::test]
    async fn on_a_laptop_screen_the_four_column_heads_and_first_rows_show_and_no_number_wraps() {
        within_two_minutes(async {
            let server = TestServer::start(&[]).await;
            let browser = Browser::start().await;
            browser.client.goto(&server.url("/")).await.unwrap();
            browser.set_viewport(DESKTOP_WIDTH, 800).await;
            browser.log_in_everywhere(&server, "alice").await;
            // Some traffic, so that the counters have several digits to wrap.
            for _ in 0..3 {
                browser.client.goto(&server.url("/")).await.unwrap();
            }
            for page in ["logged in", "replayed"] {
                if page == "replayed" {
                    browser.click("#replay-everywhere").await;
                    browser.arrive_at(Action::ReplayEverywhere.path()).await;
                }
                browser.script("window.scrollTo(0, 0)").await;
                let screen = browser
                    .script("return [window.innerWidth, window.innerHeight]")
                    .await;
                let (width, height) = (screen[0].as_f64().unwrap(), screen[1].as_f64().unwrap());
                assert!(height <= 800.0 && width <= f64::from(DESKTOP_WIDTH), "{screen}");
                let (scroll, client) = browser.widths().await;
                assert!(scroll <= client, "{page}: no sideways scrolling: {scroll} px in {client} px");
                for mount in Mount::BUILT_IN {
                    let side = mount.name();
                    // The head, and the first row (what the browser holds).
                    for css in [format!("#{side} > .head"), format!("#{side} > .cell:nth-child(2)")] {
                        let boxed = browser
                            .script(&format!(
                                "const box = document.querySelector('{css}').getBoundingClientRect(); \
                                 return [box.left, box.top, box.right, box.bottom]"
                            ))
                            .await;
                        let edge = |index: usize| boxed[index].as_f64().unwrap();
                        assert!(
                            edge(0) >= 0.0 && edge(1) >= 0.0 && edge(2) <= width && edge(3) <= height,
                            "{page}: {css} is within the first screen ({width}×{height}): {boxed}"
                        );
                    }
                }
                let (measured, wrapped) = browser.wrapped_numbers().await;
                // Per side: the bytes of each cookie, when each expires, and
                // the counters (visits, 4 × total and per visit, logins, logouts).
                assert!(measured >= 4 * 11, "{page}: only {measured} numbers measured");
                assert!(wrapped.is_empty(), "{page}: numbers broken over lines: {wrapped:#?}");
            }
            browser.close().await;
        })
        .await;
    }
);

needs!(
    chromium,
    #[tokio::test]
    async fn the_all_sides_actions_and_the_replay_row_in_a_real_browser() {
        within_two_minutes(async {
            let server = TestServer::start(&["--cookie-age", "3600", "--access-token-age", "600"]).await;
            let browser = Browser::start().await;
            browser.log_in_everywhere(&server, "dave").await;
            let cookies = browser.client.get_all_cookies().await.unwrap();
            for name in EVERY_COOKIE {
                let cookie = cookies
                    .iter()
                    .find(|cookie| cookie.name() == name)
                    .unwrap_or_else(|| panic!("the browser holds {name}: {cookies:?}"));
                assert_eq!(cookie.http_only(), Some(true), "{name}");
                assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax), "{name}");
            }
            let values: Vec<String> = cookies
                .iter()
                .filter(|cookie| EVERY_COOKIE.contains(&cookie.name()))
                .map(|cookie| cookie.value().to_owned())
                .collect();

            browser.click("#replay-everywhere").await;
            browser.arrive_at(Action::ReplayEverywhere.path()).await;
            let expected = [
                (Mount::SERVER, "expired", "Opens nothing", None),
                (Mount::TOKEN, "valid", "Still opens", Some("in 60 minutes")),
                (Mount::COOKIE, "valid", "Still opens", Some("in 60 minutes")),
                (Mount::HYBRID, "valid", "Still opens", Some("in 10 minutes")),
            ];
            let mut row_tops = Vec::new();
            for (mount, verdict, headline, expires) in expected {
                let side = mount.name();
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
                assert_eq!(browser.text(&format!("#{side}-replay-headline")).await, headline);
                if let Some(expires) = expires {
                    assert_eq!(browser.text(&format!("#{side}-replay-expires")).await, expires);
                }
                assert_eq!(browser.text(&format!("#{side}-username")).await, "Guest");
                let top = browser
                    .script(&format!(
                        "return document.getElementById('{side}-replay-result').getBoundingClientRect().top"
                    ))
                    .await;
                row_tops.push(top.as_f64().unwrap());
            }
            assert!(
                row_tops.iter().all(|top| (top - row_tops[0]).abs() < 1.0),
                "the results are one row, side by side: {row_tops:?}"
            );
            for mount in Mount::BUILT_IN {
                let result = format!("{}-replay-result", mount.name());
                assert!(browser.in_view(&result).await, "the page opens on the row: {result}");
            }
            let body = browser.client.source().await.unwrap();
            for value in &values {
                assert!(!body.contains(value.as_str()), "an old cookie is never shown");
            }
            let cookies = browser.client.get_all_cookies().await.unwrap();
            assert!(
                cookies.iter().all(|cookie| !EVERY_COOKIE.contains(&cookie.name())),
                "the logouts removed every side's cookies: {cookies:?}"
            );
            save_screenshot("replay.png", &browser.screenshot(DESKTOP_WIDTH).await);

            browser.log_in_everywhere(&server, "dave").await;
            browser.click_to_a_new_page("#log-out-everywhere").await;
            browser.arrive_at("/").await;
            for mount in Mount::BUILT_IN {
                let shown = browser.text(&format!("#{}-username", mount.name())).await;
                assert_eq!(shown, "Guest", "{mount:?}");
            }
            assert_eq!(server.stored_sessions().await, 0);
            browser.close().await;
        })
        .await;
    }
);
