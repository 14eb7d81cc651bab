//! Signing in with the admin token, signing out, and the language switch.
//!
//! The sign-in form has no session yet, so its form token is a random value
//! kept in a short-lived cookie of its own and repeated in the form (the
//! "double submit" pattern); the origin check applies as to every POST.

use std::time::Instant;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use maud::html;

use super::guard::{app_state, same_origin, ui_state, Post, CSRF_FIELD, SESSION_COOKIE};
use super::i18n::{Lang, Text, LANG_COOKIE};
use super::layout::bare;
use super::session::random_token;

const LOGIN_COOKIE: &str = "hookline_login";

/// Where to go after signing in: only a path of our own screens, never
/// another site (`//evil.example`, `/\evil.example`) or another part.
pub fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/ui")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/ui/".to_string(),
    }
}

/// A cookie of the screens: `Path=/ui`, `HttpOnly`, `SameSite=Strict`, and
/// `Secure` when configured.
fn cookie(secure: bool, name: &str, value: String) -> Cookie<'_> {
    Cookie::build(name, value)
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

fn removal(name: &str) -> Cookie<'_> {
    let mut c = Cookie::build(name, "").path("/ui").finish();
    c.make_removal();
    c
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_form(
    req: &HttpRequest,
    status: StatusCode,
    next: &str,
    problem: Option<&str>,
) -> HttpResponse {
    let lang = Lang::of(req);
    let secure = ui_state(req).is_some_and(|ui| ui.secure_cookies);
    let token = random_token();
    let t = |k| lang.t(k);
    let mut answer = bare(
        lang,
        status,
        t(Text::SignInTitle),
        html! {
            @if let Some(p) = problem { p.message role="alert" { (p) } }
            form.stacked method="post" action="/ui/login" {
                input type="hidden" name=(CSRF_FIELD) value=(token);
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="token" { (t(Text::AdminToken)) }
                    input type="password" id="token" name="token" autocomplete="current-password" required autofocus;
                    p.hint { (t(Text::SignInHint)) }
                }
                div.buttons { button type="submit" { (t(Text::LogIn)) } }
            }
        },
    );
    let mut c = cookie(secure, LOGIN_COOKIE, token);
    c.set_max_age(CookieDuration::hours(1));
    let _ = answer.add_cookie(&c);
    answer
}

async fn show(req: HttpRequest, query: web::Query<NextQuery>) -> HttpResponse {
    let next = local_next(query.next.as_deref());
    let signed_in = req
        .cookie(SESSION_COOKIE)
        .zip(ui_state(&req))
        .is_some_and(|(c, ui)| ui.sessions.touch(c.value(), Instant::now()).is_some());
    if signed_in {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish();
    }
    login_form(&req, StatusCode::OK, &next, None)
}

async fn submit(req: HttpRequest, mut payload: web::Payload) -> HttpResponse {
    let lang = Lang::of(&req);
    let body = crate::http::read_limited(&req, &mut payload, 16 * 1024)
        .await
        .unwrap_or_default();
    let t = |k| lang.t(k);
    let (Some(ui), Some(app)) = (ui_state(&req), app_state(&req)) else {
        return HttpResponse::NotFound().finish();
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let next = local_next(field("next"));
    let addr = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let now = Instant::now();
    if ui.throttle.is_blocked(addr, now) {
        return login_form(
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some(t(Text::TooManyAttempts)),
        );
    }
    let form_token_ok = req
        .cookie(LOGIN_COOKIE)
        .zip(field(CSRF_FIELD))
        .is_some_and(|(c, f)| crate::http::tokens_match(f, c.value()));
    if !form_token_ok || !same_origin(&req) {
        return super::guard::UiError::new(lang, super::guard::UiErrorKind::Forbidden)
            .error_response();
    }
    let given = field("token").unwrap_or("");
    if !crate::http::tokens_match(given.trim(), &app.admin_token) {
        tracing::warn!(peer = %addr, "sign-in to the admin screens with a wrong token");
        if ui.throttle.failed(addr, now) {
            tracing::warn!(peer = %addr, "sign-in refused for a minute after repeated failures");
            return login_form(
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                Some(t(Text::TooManyAttempts)),
            );
        }
        return login_form(
            &req,
            StatusCode::UNAUTHORIZED,
            &next,
            Some(t(Text::WrongToken)),
        );
    }
    let id = ui.sessions.start(now);
    tracing::info!(peer = %addr, "signed in to the admin screens");
    let mut answer = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .finish();
    let _ = answer.add_cookie(&cookie(ui.secure_cookies, SESSION_COOKIE, id));
    let _ = answer.add_cookie(&removal(LOGIN_COOKIE));
    answer
}

async fn logout(req: HttpRequest, post: Post) -> HttpResponse {
    if let (Some(id), Some(ui)) = (&post.user.session_id, ui_state(&req)) {
        ui.sessions.end(id);
    }
    let lang = post.user.lang;
    let mut answer = bare(
        lang,
        StatusCode::OK,
        lang.t(Text::SessionEnded),
        html! { p { a href="/ui/login" { (lang.t(Text::LogIn)) } } },
    );
    let _ = answer.add_cookie(&removal(SESSION_COOKIE));
    answer
}

/// The switch in the header: remembered in a cookie for a year.
async fn language(req: HttpRequest, post: Post) -> HttpResponse {
    let code = post.form.text("lang").to_string();
    let mut answer = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back_to(&req)))
        .finish();
    if let Some(ui) = ui_state(&req) {
        let mut c = cookie(ui.secure_cookies, LANG_COOKIE, code);
        c.set_http_only(false);
        c.set_max_age(CookieDuration::days(365));
        let _ = answer.add_cookie(&c);
    }
    answer
}

/// The page a form was posted from, when it is one of ours.
fn back_to(req: &HttpRequest) -> String {
    let referer = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_string());
    local_next(referer.as_deref())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(show))
            .route(web::post().to(submit)),
    )
    .route("/logout", web::post().to(logout))
    .route("/language", web::post().to(language));
}

#[cfg(test)]
mod tests {
    use super::local_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_next(Some("/ui/webhooks?x=1")), "/ui/webhooks?x=1");
        assert_eq!(local_next(Some("//evil.example/ui")), "/ui/");
        assert_eq!(local_next(Some("https://evil.example/ui")), "/ui/");
        assert_eq!(local_next(Some("/ui\\@evil.example")), "/ui/");
        assert_eq!(local_next(Some("/api/v1/webhooks")), "/ui/");
        assert_eq!(local_next(None), "/ui/");
    }
}
