//! The admin screens' safety rules (UI.md, Access and safety) over plain
//! HTTP: sign-in, throttling, sessions, form tokens, the origin check, the
//! security headers, and that nothing typed or answered is shown unescaped.
//! What needs a real browser (no script runs, the walk through the screens)
//! is in `browser.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver, Reply};
use crate::common::{Daemon, ADMIN};

/// A browser-like client without a browser: keeps cookies, never follows
/// redirects, sends `Origin` like a browser's form post.
pub struct UiClient {
    base: String,
    http: reqwest::blocking::Client,
    cookies: BTreeMap<String, String>,
    /// `Origin` sent with every POST; `None` sends none.
    pub origin: Option<String>,
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        self.text
            .split_once(marker)
            .and_then(|(_, rest)| rest.split('"').next())
            .unwrap_or("")
            .to_string()
    }
}

impl UiClient {
    pub fn new(d: &Daemon) -> UiClient {
        UiClient {
            base: d.base.clone(),
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            origin: Some(d.base.clone()),
        }
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let text = v.to_str().unwrap_or("");
            let pair = text.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn send(&mut self, req: reqwest::blocking::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let resp = req.send().expect("the daemon answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.keep_cookies(&headers);
        Page {
            status,
            headers,
            text: resp.text().unwrap_or_default(),
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).expect("form");
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = &self.origin {
            req = req.header("origin", o);
        }
        self.send(req)
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Signs in; returns the answer to the sign-in POST.
    pub fn sign_in(&mut self, token: &str, next: &str) -> Page {
        let form = self.get("/ui/login");
        let csrf = form.csrf();
        self.post(
            "/ui/login",
            &[("csrf", &csrf), ("next", next), ("token", token)],
        )
    }

    /// Signs in with the right token and returns a page's form token.
    pub fn signed_in(d: &Daemon) -> (UiClient, String) {
        let mut c = UiClient::new(d);
        let answer = c.sign_in(ADMIN, "/ui/");
        assert_eq!(answer.status, 303, "{}", answer.text);
        let csrf = c.get("/ui/webhooks/new").csrf();
        assert!(!csrf.is_empty());
        (c, csrf)
    }
}

#[test]
fn a_wrong_token_is_401_and_eleven_in_a_minute_are_429_even_for_the_right_one() {
    let (_dir, d) = Daemon::start();
    let mut c = UiClient::new(&d);
    let wrong = c.sign_in("nope", "/ui/");
    assert_eq!(wrong.status, 401);
    assert!(wrong.text.contains("Wrong token"), "{}", wrong.text);
    assert!(c.cookie("hookline_session").is_none());
    for _ in 0..9 {
        assert_eq!(c.sign_in("nope", "/ui/").status, 401);
    }
    assert_eq!(c.sign_in("nope", "/ui/").status, 429, "the 11th failure");
    let right = c.sign_in(ADMIN, "/ui/");
    assert_eq!(
        right.status, 429,
        "refused for the minute, right token or not"
    );
    assert!(c.cookie("hookline_session").is_none());
}

#[test]
fn a_session_cookie_has_the_flags_and_only_local_paths_are_followed() {
    let (_dir, d) = Daemon::start();
    let mut c = UiClient::new(&d);
    let answer = c.sign_in(ADMIN, "//evil.example/ui/");
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/ui/");
    let set = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hookline_session="))
        .expect("session cookie")
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "ui_secure_cookies is off by default"
    );
    let value = c.cookie("hookline_session").expect("kept").to_string();
    assert!(value.len() >= 22, "at least 128 bits: {value}");
    let mut c2 = UiClient::new(&d);
    assert_eq!(
        c2.sign_in(ADMIN, "/ui/schemas?x=1").location(),
        "/ui/schemas?x=1"
    );
}

#[test]
fn secure_cookies_when_configured_and_no_ui_when_disabled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\nui_secure_cookies = true"),
    );
    let mut c = UiClient::new(&d);
    let answer = c.sign_in(ADMIN, "/ui/");
    let secure = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("hookline_session=") && v.contains("Secure"));
    assert!(secure);
    d.stop();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\nui_enabled = false"),
    );
    assert_eq!(UiClient::new(&d).get("/ui/login").status, 404);
}

#[test]
fn without_a_session_pages_go_to_sign_in_and_the_bearer_token_works_for_scripts() {
    let (_dir, d) = Daemon::start();
    let mut c = UiClient::new(&d);
    let page = c.get("/ui/webhooks?x=1");
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/ui/login?next=%2Fui%2Fwebhooks%3Fx%3D1");
    let scripted = reqwest::blocking::Client::new()
        .get(format!("{}/ui/webhooks", d.base))
        .bearer_auth(ADMIN)
        .send()
        .expect("answer");
    assert_eq!(scripted.status().as_u16(), 200);
}

#[test]
fn a_session_ends_after_its_idle_time_and_on_log_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\nui_session_idle = \"2s\""),
    );
    let (mut c, csrf) = UiClient::signed_in(&d);
    assert_eq!(c.get("/ui/").status, 200);
    let cookie = c.cookie("hookline_session").expect("cookie").to_string();
    // Unused for longer than its idle time, the session is gone. This
    // waits on purpose: what is tested is time passing without a request
    // (a polling request would itself keep the session alive).
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(c.get("/ui/").status, 303);
    let (mut c, csrf2) = UiClient::signed_in(&d);
    assert_ne!(csrf, csrf2, "a new session has a new form token");
    assert_ne!(c.cookie("hookline_session"), Some(cookie.as_str()));
    let out = c.post("/ui/logout", &[("csrf", &csrf2)]);
    assert_eq!(out.status, 200);
    assert!(
        c.cookie("hookline_session").is_none(),
        "the cookie is removed"
    );
    // The old session id does not work any more either.
    c.cookies.insert("hookline_session".into(), cookie);
    assert_eq!(c.get("/ui/").status, 303);
}

/// Every POST route of the screens, with an id that exists where one is needed.
fn post_routes(d: &Daemon) -> Vec<String> {
    let webhook = d.webhook("W");
    let schema = d.schema("S");
    vec![
        "/ui/webhooks/new".into(),
        format!("/ui/webhooks/{webhook}"),
        format!("/ui/webhooks/{webhook}/delete"),
        format!("/ui/webhooks/{webhook}/test"),
        "/ui/schemas/new".into(),
        "/ui/schemas/preview".into(),
        format!("/ui/schemas/{schema}"),
        format!("/ui/schemas/{schema}/delete"),
        "/ui/language".into(),
        "/ui/logout".into(),
    ]
}

#[test]
fn every_post_without_the_form_token_or_from_another_origin_is_403() {
    let (_dir, d) = Daemon::start();
    let (mut c, csrf) = UiClient::signed_in(&d);
    let routes = post_routes(&d);
    for route in &routes {
        let form = [("name", "x"), ("url", "http://127.0.0.1:1/")];
        assert_eq!(c.post(route, &form).status, 403, "no token: {route}");
        let wrong = [("csrf", "forged"), ("name", "x")];
        assert_eq!(c.post(route, &wrong).status, 403, "wrong token: {route}");
        c.origin = Some("http://evil.example".into());
        assert_eq!(
            c.post(route, &[("csrf", &csrf)]).status,
            403,
            "other origin: {route}"
        );
        c.origin = None;
        assert_eq!(
            c.post(route, &[("csrf", &csrf)]).status,
            403,
            "no origin: {route}"
        );
        c.origin = Some(d.base.clone());
    }
    // A cross-site fetch by Sec-Fetch-Site is refused even with a matching Origin.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/ui/webhooks/new", d.base))
        .header(
            "cookie",
            format!(
                "hookline_session={}",
                c.cookie("hookline_session").unwrap_or("")
            ),
        )
        .header("origin", &d.base)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&name=x"))
        .send()
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 403);
    // The sign-in form has its own token (no session yet).
    let mut fresh = UiClient::new(&d);
    assert_eq!(fresh.post("/ui/login", &[("token", ADMIN)]).status, 403);
    // Nothing was changed by any of the refused posts.
    assert_eq!(
        d.get("/api/v1/webhooks").json["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        d.get("/api/v1/schemas").json["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // No GET changes anything: the delete confirmation page deletes nothing.
    let id = d.get("/api/v1/webhooks").json["items"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(c.get(&format!("/ui/webhooks/{id}/delete")).status, 200);
    assert_eq!(d.get(&format!("/api/v1/webhooks/{id}")).status, 200);
}

#[test]
fn every_answer_carries_the_security_headers() {
    let (_dir, d) = Daemon::start();
    let webhook = d.webhook("W");
    let schema = d.schema("S");
    let (mut c, _) = UiClient::signed_in(&d);
    let mut anonymous = UiClient::new(&d);
    let pages = [
        "/ui/".to_string(),
        "/ui/webhooks".into(),
        "/ui/webhooks/new".into(),
        format!("/ui/webhooks/{webhook}"),
        format!("/ui/webhooks/{webhook}/delete"),
        format!("/ui/webhooks/{webhook}/test"),
        "/ui/schemas".into(),
        "/ui/schemas/new".into(),
        "/ui/schemas/new?start=xml".into(),
        format!("/ui/schemas/{schema}"),
        format!("/ui/schemas/{schema}/delete"),
        "/ui/rules".into(),
        "/ui/deliveries".into(),
        "/ui/no-such-page".into(),
        "/ui/webhooks/wh_nope".into(),
    ];
    let check = |page: &Page, what: &str, cacheable: bool| {
        let h = |n: &str| {
            page.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(h("content-security-policy"), hookline::ui::CSP, "{what}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(h("referrer-policy"), "same-origin", "{what}");
        if !cacheable {
            assert_eq!(h("cache-control"), "no-store", "{what}");
        }
    };
    for path in &pages {
        let page = c.get(path);
        assert!(matches!(page.status, 200 | 404), "{path}: {}", page.status);
        check(&page, path, false);
        check(&anonymous.get(path), &format!("anonymous {path}"), false);
    }
    for asset in [
        "/ui/assets/style.css",
        "/ui/assets/app.js",
        "/ui/assets/icon.svg",
    ] {
        let page = c.get(asset);
        assert_eq!(page.status, 200, "{asset}");
        check(&page, asset, true);
    }
    check(&anonymous.get("/ui/login"), "login", false);
    check(&anonymous.sign_in("wrong", "/ui/"), "wrong token", false);
    check(&c.post("/ui/webhooks/new", &[]), "403", false);
}

#[test]
fn a_refused_save_keeps_what_was_typed_but_not_the_password() {
    let (_dir, d) = Daemon::start();
    let (mut c, csrf) = UiClient::signed_in(&d);
    let page = c.post(
        "/ui/webhooks/new",
        &[
            ("csrf", &csrf),
            ("url", "ftp://127.0.0.1/x"),
            ("name", "Typed <name>"),
            ("method", "PUT"),
            ("auth_type", "basic"),
            ("username", "agent"),
            ("password", "hunter2-secret"),
            ("header_name", "X-Kept"),
            ("header_value", "kept-value"),
            ("signing", "none"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(
        page.text.contains("id=\"url-error\""),
        "the message is at its field"
    );
    assert!(page.text.contains("value=\"ftp://127.0.0.1/x\""));
    assert!(
        page.text.contains("value=\"Typed &lt;name&gt;\""),
        "escaped and kept"
    );
    assert!(page.text.contains("value=\"agent\"") && page.text.contains("kept-value"));
    assert!(page.text.contains("<option value=\"PUT\" selected>"));
    assert!(
        !page.text.contains("hunter2-secret"),
        "a password is never sent back"
    );
    assert_eq!(
        d.get("/api/v1/webhooks").json["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // A name that is taken is shown at the name field.
    d.webhook("Taken");
    let page = c.post(
        "/ui/webhooks/new",
        &[
            ("csrf", &csrf),
            ("url", "http://127.0.0.1:1/"),
            ("name", "Taken"),
            ("method", "POST"),
            ("auth_type", "none"),
            ("signing", "none"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(page.text.contains("id=\"name-error\""), "{}", page.text);
}

#[test]
fn deleting_a_webhook_in_use_names_the_rules_with_links() {
    let (_dir, d) = Daemon::start();
    let webhook = d.webhook("Used");
    let schema = d.schema("S");
    let group = d.post(
        "/api/v1/rule-groups",
        json!({"name": "G", "rules": [{"name": "Uses it", "actions": {"webhooks": [{"webhook_id": webhook, "schema_id": schema}]}}]}),
    );
    assert_eq!(group.status, 201, "{}", group.text);
    let (gid, rid) = (
        group.json["id"].as_str().unwrap_or("").to_string(),
        group.json["rules"][0]["id"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    );
    let (mut c, csrf) = UiClient::signed_in(&d);
    let page = c.post(
        &format!("/ui/webhooks/{webhook}/delete"),
        &[("csrf", &csrf)],
    );
    assert_eq!(page.status, 409);
    assert!(
        page.text
            .contains(&format!("href=\"/ui/rules/{gid}/{rid}\"")),
        "{}",
        page.text
    );
    assert!(page.text.contains("Uses it"));
    assert_eq!(d.get(&format!("/api/v1/webhooks/{webhook}")).status, 200);
    let page = c.post(&format!("/ui/schemas/{schema}/delete"), &[("csrf", &csrf)]);
    assert_eq!(page.status, 409);
    // Once unused, the delete goes through.
    assert_eq!(d.delete(&format!("/api/v1/rule-groups/{gid}")).status, 204);
    let page = c.post(
        &format!("/ui/webhooks/{webhook}/delete"),
        &[("csrf", &csrf)],
    );
    assert_eq!((page.status, page.location()), (303, "/ui/webhooks"));
    assert_eq!(d.get(&format!("/api/v1/webhooks/{webhook}")).status, 404);
    assert!(
        c.get("/ui/webhooks").text.contains("Deleted."),
        "the flash is shown once"
    );
}

#[test]
fn a_receivers_answer_and_stored_names_are_escaped_on_the_test_screen() {
    let (_dir, d) = Daemon::start();
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let rx = Receiver::start(Behaviour::Replies(vec![Reply::status(200)
        .header("X-Evil", "<b>bold</b>")
        .body(hostile)]));
    let created = d.post(
        "/api/v1/webhooks",
        json!({"name": "<script>alert(3)</script>", "url": rx.url(), "auth": {"type": "bearer", "token": "tok-secret-1"}}),
    );
    let id = created.json["id"].as_str().unwrap_or("").to_string();
    let (mut c, csrf) = UiClient::signed_in(&d);
    let page = c.post(
        &format!("/ui/webhooks/{id}/test"),
        &[("csrf", &csrf), ("schema_id", ""), ("event", "")],
    );
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    assert!(
        !page.text.contains("<script>alert"),
        "nothing of theirs is markup"
    );
    assert!(!page.text.contains("<img src=x"));
    assert!(page
        .text
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(page.text.contains("&lt;b&gt;bold&lt;/b&gt;"));
    assert!(page.text.contains("Bearer ***"), "auth is shown redacted");
    assert!(!page.text.contains("tok-secret-1"), "never the token");
    assert!(
        page.text.contains("&lt;script&gt;alert(3)&lt;/script&gt;"),
        "the name, escaped"
    );
}

#[test]
fn placeholders_list_the_sample_and_recent_events() {
    let (_dir, d) = Daemon::start();
    let event = json!({"id": "e-1", "type": "ticket_created", "ticket": {"id": 5, "ref": "T-5", "custom": {"sla": "gold"}}});
    let posted = d.admin("POST", "/api/v1/events", Some(event));
    assert_eq!(posted.status, 202, "{}", posted.text);
    let list = d.get("/api/v1/placeholders");
    assert_eq!(list.status, 200);
    let items = list.json["items"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["placeholder"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(
        names.contains(&"ticket:custom.sla") && names.contains(&"customer:email"),
        "{names:?}"
    );
    let example = |n: &str| {
        items
            .iter()
            .find(|i| i["placeholder"] == n)
            .map(|i| i["example"].clone())
    };
    assert_eq!(example("ticket:custom.sla"), Some(json!("gold")));
    assert_eq!(
        example("ticket:ref"),
        Some(json!("T-5")),
        "a recent event's value first"
    );
    assert_eq!(
        d.request("GET", "/api/v1/placeholders", None, None, None)
            .status,
        401
    );
    // The schema editor offers them.
    let (mut c, _) = UiClient::signed_in(&d);
    assert!(c
        .get("/ui/schemas/new")
        .text
        .contains("data-insert=\"{{ticket:custom.sla}}\""));
}
