//! Headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs). Each test starts its own
//! chromedriver on a free loopback port and a fresh browser profile, and
//! stops both when it ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::common::{free_port, target_dir};

/// Every wait for the page is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    pub base: String,
}

fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

impl Browser {
    /// A 1280×800 headless browser for the daemon at `base`; `script` false
    /// turns JavaScript off (every form must still work).
    pub async fn start(base: &str, script: bool) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (install Debian's chromium-driver; .ci/run does)",
                    chromedriver()
                )
            });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut options = serde_json::json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--hide-scrollbars", "--no-first-run",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if let Ok(binary) = std::env::var("CHROMIUM") {
            options["binary"] = binary.into();
        } else if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = "/usr/bin/chromium".into();
        }
        if !script {
            options["prefs"] =
                serde_json::json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let mut client = None;
        let mut last_error = String::new();
        // chromedriver may listen a moment before it takes sessions.
        while client.is_none() && Instant::now() < deadline {
            match ClientBuilder::rustls()
                .expect("tls")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => client = Some(c),
                Err(e) => {
                    last_error = e.to_string();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let client = client.unwrap_or_else(|| panic!("no browser session: {last_error}"));
        // The window's size includes what the browser draws around the
        // page; make the page itself 1280×800.
        client
            .set_window_size(1280, 800)
            .await
            .expect("window size");
        let inner = client
            .execute("return window.innerHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(800);
        let height = 800 + 800u32.saturating_sub(u32::try_from(inner).unwrap_or(800));
        client
            .set_window_size(1280, height)
            .await
            .expect("window size");
        Browser {
            client,
            driver,
            _profile: profile,
            base: base.to_string(),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the page's path starts with `prefix` (a click that
    /// submits a form returns before the next page has loaded).
    pub async fn wait_path(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "never reached {prefix}; at {path}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element.
    pub async fn find(&self, locator: Locator<'_>) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.client.find(locator).await {
                Ok(e) => return e,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "not found: {locator:?}: {e} on {}",
                        self.path().await
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The form field whose `<label>` reads `label` (UI.md: tests find
    /// fields by their visible label).
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        let l = self.find(Locator::XPath(&xpath)).await;
        let id = l
            .attr("for")
            .await
            .expect("attr")
            .unwrap_or_else(|| panic!("label {label:?} has no for"));
        self.find(Locator::Id(&id)).await
    }

    pub async fn fill(&self, label: &str, text: &str) {
        let f = self.field(label).await;
        f.clear().await.expect("clear");
        f.send_keys(text).await.expect("type");
    }

    pub async fn choose(&self, label: &str, option: &str) {
        self.field(label)
            .await
            .select_by_label(option)
            .await
            .expect("select");
    }

    /// Clicks the button or link whose text is `text`.
    pub async fn click(&self, text: &str) {
        let t = xpath_literal(text);
        let xpath = format!("(//button[normalize-space(.)={t}] | //a[normalize-space(.)={t}])[1]");
        self.find(Locator::XPath(&xpath))
            .await
            .click()
            .await
            .expect("click");
    }

    /// Waits until the element at `css` has text containing `wanted`.
    pub async fn wait_text(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never held {wanted:?}; last {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// True when no `alert`/`confirm` dialog is open: nothing injected ran.
    pub async fn no_dialog(&self) -> bool {
        self.client.get_alert_text().await.is_err()
    }

    /// Writes a 1280×800 screenshot to `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let _ = self.client.execute("window.scrollTo(0, 0);", vec![]).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir: PathBuf = target_dir().join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Like [`Browser::screenshot`], with the element at `css` scrolled to
    /// the top of the window (for the lower parts of a long form).
    pub async fn screenshot_at(&self, name: &str, css: &str) {
        let script = format!(
            "const e = document.querySelector({}); if (e) {{ e.scrollIntoView(true); window.scrollBy(0, -24); }}",
            serde_json::Value::String(css.to_string())
        );
        let _ = self.client.execute(&script, vec![]).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir: PathBuf = target_dir().join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn sign_in(&self, token: &str) {
        self.goto("/ui/").await;
        assert!(
            self.path().await.starts_with("/ui/login"),
            "{}",
            self.path().await
        );
        self.fill("Admin token", token).await;
        self.click("Log in").await;
        self.wait_text("h1", "Overview").await;
    }
}

/// `text` as an XPath string literal.
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Runs an async browser test on its own runtime.
pub fn run<F: std::future::Future<Output = ()>>(test: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test);
}

/// Runs a blocking call (the harness's HTTP client, which may not run on
/// an async runtime's thread) on a thread of its own and waits for it.
pub fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("blocking call"))
}
