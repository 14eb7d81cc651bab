//! Webhooks: the list, New Webhook / Edit Webhook, and delete with a
//! confirmation that names the rules still using it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::deleting::{self, Deletable};
use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{paged, Nav, Page, PageQuery};
use super::shared::{crumbs, read, see_other, webhooks_with_health};
use super::webhook_form::{self, WebhookForm};
use crate::http::AppState;
use crate::model::{FieldError, Webhook, WebhookAction, WebhookInput};
use crate::store::StoreError;

async fn list(
    user: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let all = read(lang, move || webhooks_with_health(&store)).await?;
    let (webhooks, pager) = paged(lang, &all, q.page.unwrap_or(1), "/ui/webhooks");
    let body = html! {
        div.toolbar {
            p.lead { (all.len()) " " (t(Text::Webhooks).to_lowercase()) }
            a.button href="/ui/webhooks/new" { (t(Text::NewWebhook)) }
        }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { (t(Text::Name)) }
                    th scope="col" { (t(Text::Url)) }
                    th scope="col" { (t(Text::Method)) }
                    th scope="col" { (t(Text::Authentication)) }
                    th scope="col" { (t(Text::Signing)) }
                    th scope="col" { (t(Text::Enabled)) }
                    th scope="col" { span.visually-hidden { (t(Text::Actions)) } }
                } }
                tbody {
                    @for (w, health) in webhooks {
                        tr {
                            td { a href=(format!("/ui/webhooks/{}", w.id)) { (w.name) } }
                            td.url { (w.url) }
                            td { (w.method.as_str()) }
                            td { (auth_label(lang, &w.auth)) }
                            td { @if w.signing_secret.is_some() { (t(Text::Signed)) } @else { (t(Text::NotSigned)) } }
                            td {
                                @if w.enabled { span.pill.on { (t(Text::Yes)) } } @else { span.pill.off { (t(Text::No)) } }
                                @if w.enabled && health.state != crate::model::HealthState::Healthy { " " (super::health::pill(lang, health.state)) }
                            }
                            td.actions {
                                a href=(format!("/ui/webhooks/{}", w.id)) { (t(Text::Edit)) }
                                a href=(format!("/ui/webhooks/{}/delete", w.id)) { (t(Text::Delete)) }
                                a href=(format!("/ui/webhooks/{}/test", w.id)) { (t(Text::Test)) }
                            }
                        }
                    }
                    @if webhooks.is_empty() { tr { td.empty colspan="7" { (t(Text::NoWebhooks)) } } }
                }
            }
        }
        (pager)
    };
    Ok(Page {
        user: &user,
        nav: Nav::Webhooks,
        title: t(Text::Webhooks).to_string(),
        crumbs: crumbs(lang, Text::Webhooks, "/ui/webhooks", None),
    }
    .render(body))
}

fn auth_label(lang: Lang, auth: &crate::model::Auth) -> &'static str {
    match auth {
        crate::model::Auth::None => lang.t(Text::AuthNone),
        crate::model::Auth::Basic { .. } => lang.t(Text::AuthBasic),
        crate::model::Auth::Bearer { .. } => lang.t(Text::AuthBearer),
    }
}

struct FormPage<'a> {
    user: &'a SignedIn,
    id: Option<&'a str>,
    has_secret: bool,
    form: &'a WebhookForm,
    error: Option<&'a FieldError>,
    secret: Option<&'a str>,
    /// Shown on Edit Webhook.
    health: Option<&'a crate::model::Health>,
}

fn form_page(p: FormPage<'_>, status: StatusCode) -> HttpResponse {
    let lang = p.user.lang;
    let title = lang
        .t(if p.id.is_some() {
            Text::EditWebhook
        } else {
            Text::NewWebhook
        })
        .to_string();
    let body = html! {
        @if let Some(secret) = p.secret { (webhook_form::secret_once(lang, secret)) }
        @if let (Some(id), Some(h)) = (p.id, p.health) { (super::health::panel(p.user, id, h)) }
        (webhook_form::render(p.user, p.id, p.has_secret, p.form, p.error))
    };
    Page {
        user: p.user,
        nav: Nav::Webhooks,
        crumbs: crumbs(lang, Text::Webhooks, "/ui/webhooks", Some(title.clone())),
        title,
    }
    .render_with(status, body)
}

async fn new_form(user: SignedIn) -> HttpResponse {
    let form = WebhookForm::new_webhook();
    form_page(
        FormPage {
            user: &user,
            id: None,
            has_secret: false,
            form: &form,
            error: None,
            secret: None,
            health: None,
        },
        StatusCode::OK,
    )
}

async fn edit_form(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let store = state.store.clone();
    let key = id.clone();
    let (webhook, health) = read(lang, move || {
        Ok((store.get::<Webhook>(&key)?, store.webhook_health(&key)?))
    })
    .await?;
    let webhook = webhook.ok_or_else(|| UiError::not_found(lang))?;
    let form = WebhookForm::of(&webhook);
    Ok(form_page(
        FormPage {
            user: &user,
            id: Some(&webhook.id),
            has_secret: webhook.signing_secret.is_some(),
            form: &form,
            error: None,
            secret: None,
            health: Some(&health),
        },
        StatusCode::OK,
    ))
}

/// A refused save as an error at a field: the API's own field, or `name`
/// for a name that is taken.
fn field_of(e: StoreError) -> Result<FieldError, StoreError> {
    match e {
        StoreError::Invalid(f) => Ok(f),
        StoreError::Conflict(m) => Ok(FieldError::new("name", m)),
        other => Err(other),
    }
}

async fn save(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: Option<web::Path<String>>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let typed = WebhookForm::posted(&post.form);
    let id = id.map(|p| p.into_inner());
    let rotating = (id.is_some() && typed.signing == "rotate")
        .then(|| crate::model::check_grace(Some(&typed.grace)))
        .transpose();
    let parsed = crate::model::parse_input::<WebhookInput>(typed.to_input(&post.form));
    let result = match (parsed, rotating) {
        (Err(e), _) | (_, Err(e)) => Err(StoreError::Invalid(e)),
        (Ok(input), Ok(grace)) => match (&id, grace) {
            (None, _) => state.admin.create::<Webhook>(input).await,
            (Some(id), Some(grace)) => state.admin.replace_rotating(id.clone(), input, grace).await,
            (Some(id), None) => state.admin.replace::<Webhook>(id.clone(), input).await,
        },
    };
    match result {
        Ok((saved, Some(secret))) => {
            // Shown on this answer only: never stored where a page could show it again.
            let form = WebhookForm::of(&saved);
            let user = SignedIn {
                flash: Some(lang.t(Text::Saved).into()),
                ..post.user
            };
            Ok(form_page(
                FormPage {
                    user: &user,
                    id: Some(&saved.id),
                    has_secret: true,
                    form: &form,
                    error: None,
                    secret: Some(&secret),
                    health: None,
                },
                StatusCode::OK,
            ))
        }
        Ok((_, None)) => {
            post.user.flash(&req, lang.t(Text::Saved));
            Ok(see_other("/ui/webhooks"))
        }
        Err(StoreError::NotFound) => Err(UiError::not_found(lang)),
        Err(e) => {
            let error = field_of(e).map_err(|e| UiError::storage(lang, e))?;
            let has_secret =
                id.is_some() && matches!(typed.signing.as_str(), "keep" | "rotate" | "remove");
            Ok(form_page(
                FormPage {
                    user: &post.user,
                    id: id.as_deref(),
                    has_secret,
                    form: &typed,
                    error: Some(&error),
                    secret: None,
                    health: None,
                },
                StatusCode::BAD_REQUEST,
            ))
        }
    }
}

async fn create(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    save(req, post, state, None).await
}

async fn update(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    save(req, post, state, Some(id)).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::get().to(list))
        .service(
            web::resource("/webhooks/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/webhooks/{id}")
                .route(web::get().to(edit_form))
                .route(web::post().to(update)),
        )
        .service(
            web::resource("/webhooks/{id}/delete")
                .route(web::get().to(deleting::confirm::<Webhook>))
                .route(web::post().to(deleting::delete::<Webhook>)),
        );
}

impl Deletable for Webhook {
    const LIST: &'static str = "/ui/webhooks";
    const NAV: Nav = Nav::Webhooks;
    const SECTION: Text = Text::Webhooks;
    const TITLE: Text = Text::DeleteWebhookTitle;

    fn used_by(&self, action: &WebhookAction) -> bool {
        action.webhook_id == self.id
    }

    fn describe(&self, _: Lang) -> Markup {
        html! { strong { (self.name) } " — " span.url { (self.url) } }
    }
}
