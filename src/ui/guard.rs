//! Who may see a page and who may change something: the session (or the
//! admin token as a bearer, for scripts), the form token and the origin
//! check of every POST, and the error pages.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use super::i18n::{Lang, Text};
use super::UiState;
use crate::http::AppState;
use crate::store::StoreError;

/// Name of the session cookie (UI.md).
pub const SESSION_COOKIE: &str = "hookline_session";
/// Name of the form field that carries the form token.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body: a schema's content (256 KiB) percent-encoded.
const FORM_LIMIT: usize = 1024 * 1024;

/// A request from a signed-in administrator.
pub struct SignedIn {
    pub lang: Lang,
    /// `None` when the admin token came as a bearer (no cookie, no form token).
    pub session_id: Option<String>,
    /// The form token to put in every form of the page.
    pub csrf: String,
    /// A message left by the previous request (after a redirect).
    pub flash: Option<String>,
}

impl SignedIn {
    /// Leaves a message for the next page.
    pub fn flash(&self, req: &HttpRequest, message: &str) {
        if let (Some(id), Some(ui)) = (&self.session_id, ui_state(req)) {
            ui.sessions.set_flash(id, message.to_string());
        }
    }
}

pub(super) fn ui_state(req: &HttpRequest) -> Option<&UiState> {
    req.app_data::<web::Data<UiState>>().map(|d| d.get_ref())
}

pub(super) fn app_state(req: &HttpRequest) -> Option<&AppState> {
    req.app_data::<web::Data<AppState>>().map(|d| d.get_ref())
}

fn signed_in(req: &HttpRequest) -> Result<SignedIn, UiError> {
    let lang = Lang::of(req);
    let (Some(ui), Some(app)) = (ui_state(req), app_state(req)) else {
        return Err(UiError::new(lang, UiErrorKind::NotFound));
    };
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        if let Some(session) = ui.sessions.touch(cookie.value(), Instant::now()) {
            let id = cookie.value().to_string();
            return Ok(SignedIn {
                lang,
                flash: ui.sessions.take_flash(&id),
                session_id: Some(id),
                csrf: session.csrf,
            });
        }
    }
    if crate::http::bearer_matches(req, &app.admin_token) {
        return Ok(SignedIn {
            lang,
            session_id: None,
            csrf: String::new(),
            flash: None,
        });
    }
    let next = match req.uri().path_and_query() {
        Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_string(),
        _ => "/ui/".to_string(),
    };
    Err(UiError::new(lang, UiErrorKind::SignIn(next)))
}

impl FromRequest for SignedIn {
    type Error = UiError;
    type Future = Ready<Result<Self, UiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(req))
    }
}

/// A form posted by a signed-in administrator from one of our own pages:
/// same origin, and the session's form token (not needed with the bearer
/// token, which a browser never sends by itself).
pub struct Post {
    pub user: SignedIn,
    pub form: Form,
}

impl FromRequest for Post {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let user = signed_in(&req)?;
            let lang = user.lang;
            let form = Form::read(&req, &mut payload, lang).await?;
            if user.session_id.is_some() {
                let token_ok = form
                    .get(CSRF_FIELD)
                    .is_some_and(|t| crate::http::tokens_match(t, &user.csrf));
                if !token_ok || !same_origin(&req) {
                    return Err(UiError::new(lang, UiErrorKind::Forbidden));
                }
            }
            Ok(Post { user, form })
        })
    }
}

/// UI.md: a POST must be same-origin by `Sec-Fetch-Site` or `Origin`. Both
/// are checked when both are present; a request with neither is refused.
pub fn same_origin(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes() == b"same-origin");
    let origin = headers.get(header::ORIGIN).map(|v| {
        let host = req.connection_info().host().to_ascii_lowercase();
        v.to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, rest)| rest.trim_end_matches('/').eq_ignore_ascii_case(&host))
    });
    match (site, origin) {
        (None, None) => false,
        (site, origin) => site.unwrap_or(true) && origin.unwrap_or(true),
    }
}

/// A posted `application/x-www-form-urlencoded` body, as its pairs in order
/// (a field may repeat: header rows).
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    async fn read(req: &HttpRequest, payload: &mut Payload, lang: Lang) -> Result<Form, UiError> {
        let bad = |m: String| UiError::new(lang, UiErrorKind::BadRequest(m));
        let bytes = crate::http::read_limited(req, payload, FORM_LIMIT)
            .await
            .map_err(|e| bad(e.message))?;
        let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .map_err(|e| bad(format!("the form could not be read: {e}")))?;
        Ok(Form { pairs })
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Form {
        Form {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or "".
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A checkbox: present means checked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Why a UI request was not answered with its page.
#[derive(Debug)]
pub enum UiErrorKind {
    /// No session: to the sign-in page, then back to this path.
    SignIn(String),
    Forbidden,
    NotFound,
    BadRequest(String),
    Storage(StoreError),
}

/// A UI error, in the language of the request.
#[derive(Debug)]
pub struct UiError {
    lang: Lang,
    kind: UiErrorKind,
}

impl UiError {
    pub fn new(lang: Lang, kind: UiErrorKind) -> UiError {
        UiError { lang, kind }
    }

    pub fn not_found(lang: Lang) -> UiError {
        UiError::new(lang, UiErrorKind::NotFound)
    }

    pub fn storage(lang: Lang, e: StoreError) -> UiError {
        match e {
            StoreError::NotFound => UiError::not_found(lang),
            e => UiError::new(lang, UiErrorKind::Storage(e)),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self.kind {
            UiErrorKind::SignIn(_) => StatusCode::SEE_OTHER,
            UiErrorKind::Forbidden => StatusCode::FORBIDDEN,
            UiErrorKind::NotFound => StatusCode::NOT_FOUND,
            UiErrorKind::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiErrorKind::Storage(ref e) if e.is_storage_failure() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UiErrorKind::Storage(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let t = |k| self.lang.t(k);
        let message = match &self.kind {
            UiErrorKind::SignIn(next) => {
                let target = format!(
                    "/ui/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, target))
                    .finish();
            }
            UiErrorKind::Forbidden => t(Text::Forbidden).to_string(),
            UiErrorKind::NotFound => t(Text::NotFound).to_string(),
            UiErrorKind::BadRequest(m) => m.clone(),
            UiErrorKind::Storage(e) => format!("{}: {e}", t(Text::StorageProblem)),
        };
        let status = self.status_code();
        super::layout::bare_page(
            self.lang,
            status,
            status.canonical_reason().unwrap_or(""),
            &message,
        )
    }
}
