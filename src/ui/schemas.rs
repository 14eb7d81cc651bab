//! Schemas: the list, Schema Details with its placeholder list and preview,
//! the starting points of New Schema, and delete with a confirmation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::json;

use super::deleting::{self, Deletable};
use super::guard::{Form, Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, field_error, paged, Nav, Page, PageQuery};
use super::shared::pretty;
use super::shared::{crumbs, read, rule_links, rules_using, see_other};
use super::starting_points::{self, STARTING_POINTS};
use crate::admin::{render_schema, RenderFailure};
use crate::http::AppState;
use crate::model::{ContentType, FieldError, RuleGroup, Schema, SchemaInput};
use crate::render::Placeholder;
use crate::store::StoreError;

/// Recent events offered to preview against.
const PREVIEW_EVENTS: usize = 20;

fn type_label(c: ContentType) -> &'static str {
    match c {
        ContentType::Text => "Text",
        ContentType::Json => "JSON",
        ContentType::Xml => "XML",
    }
}

fn type_key(c: ContentType) -> &'static str {
    match c {
        ContentType::Text => "text",
        ContentType::Json => "json",
        ContentType::Xml => "xml",
    }
}

async fn list(
    user: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let (all, groups) = read(lang, move || {
        Ok((store.list::<Schema>()?, store.list::<RuleGroup>()?))
    })
    .await?;
    let (schemas, pager) = paged(lang, &all, q.page.unwrap_or(1), "/ui/schemas");
    let body = html! {
        div.toolbar {
            p.lead { (all.len()) " " (t(Text::Schemas).to_lowercase()) }
            a.button href="/ui/schemas/new" { (t(Text::NewSchema)) }
        }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { (t(Text::Name)) }
                    th scope="col" { (t(Text::ContentType)) }
                    th scope="col" { (t(Text::UsedBy)) }
                    th scope="col" { span.visually-hidden { (t(Text::Actions)) } }
                } }
                tbody {
                    @for s in schemas {
                        @let users = rules_using(&groups, |a| a.schema_id == s.id);
                        tr {
                            td { a href=(format!("/ui/schemas/{}", s.id)) { (s.name) } }
                            td { (type_label(s.content_type)) }
                            td {
                                @if users.is_empty() { span.hint { (t(Text::Unused)) } }
                                @else { (rule_links(&users)) }
                            }
                            td.actions {
                                a href=(format!("/ui/schemas/{}", s.id)) { (t(Text::Edit)) }
                                a href=(format!("/ui/schemas/{}/delete", s.id)) { (t(Text::Delete)) }
                            }
                        }
                    }
                    @if schemas.is_empty() { tr { td.empty colspan="4" { (t(Text::NoSchemas)) } } }
                }
            }
        }
        (pager)
    };
    Ok(Page {
        user: &user,
        nav: Nav::Schemas,
        title: t(Text::Schemas).into(),
        crumbs: crumbs(lang, Text::Schemas, "/ui/schemas", None),
    }
    .render(body))
}

/// What the form holds.
struct Typed {
    name: String,
    content_type: String,
    content: String,
    /// The event to preview against: "" for the sample, else an event id.
    event_id: String,
}

impl Typed {
    fn posted(form: &Form) -> Typed {
        Typed {
            name: form.text("name").to_string(),
            content_type: form.text("content_type").to_string(),
            content: form.text("content").replace("\r\n", "\n"),
            event_id: form.text("event_id").to_string(),
        }
    }

    fn of(s: &Schema) -> Typed {
        Typed {
            name: s.name.clone(),
            content_type: type_key(s.content_type).into(),
            content: s.content.clone(),
            event_id: String::new(),
        }
    }

    fn input(&self) -> Result<SchemaInput, FieldError> {
        crate::model::parse_input(json!({
            "name": self.name, "content_type": self.content_type, "content": self.content,
        }))
    }
}

/// The rendered preview, or why there is none.
type Preview = Result<(String, crate::render::Rendered), String>;

async fn preview_of(state: &AppState, typed: &Typed) -> Preview {
    let content_type = match typed.content_type.as_str() {
        "json" => ContentType::Json,
        "xml" => ContentType::Xml,
        _ => ContentType::Text,
    };
    let event = if typed.event_id.is_empty() {
        crate::render::sample_event().clone()
    } else {
        let store = state.store.clone();
        let id = typed.event_id.clone();
        match actix_web::rt::task::spawn_blocking(move || store.event(&id)).await {
            Ok(Ok(Some(e))) => e.event,
            _ => crate::render::sample_event().clone(),
        }
    };
    match render_schema(content_type, typed.content.clone(), event).await {
        Ok(r) => Ok((content_type.media_type().to_string(), r)),
        Err(RenderFailure::Template(e)) => Err(e.to_string()),
        Err(RenderFailure::Interrupted) => Err("rendering was interrupted".into()),
    }
}

fn preview_panel(lang: Lang, preview: &Preview) -> Markup {
    let t = |k| lang.t(k);
    html! {
        @match preview {
            Ok((media_type, r)) => {
                p.preview-meta { "Content-Type: " code { (media_type) } }
                pre id="preview-body" { (if media_type == "application/json" { pretty(&r.body) } else { r.body.clone() }) }
                @if !r.unknown_placeholders.is_empty() {
                    p.unknown id="unknown-placeholders" {
                        (t(Text::UnknownPlaceholders)) " "
                        @for (i, p) in r.unknown_placeholders.iter().enumerate() {
                            @if i > 0 { ", " } code { (p) }
                        }
                    }
                }
            },
            Err(message) => p.problem id="preview-error" role="alert" { (message) },
        }
    }
}

struct FormPage<'a> {
    user: &'a SignedIn,
    id: Option<&'a str>,
    typed: &'a Typed,
    error: Option<&'a FieldError>,
    preview: &'a Preview,
    start: Option<&'a str>,
}

async fn form_page(
    state: &AppState,
    p: FormPage<'_>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let lang = p.user.lang;
    let t = |k| lang.t(k);
    let placeholders = state
        .admin
        .placeholders()
        .await
        .map_err(|e| UiError::storage(lang, e))?;
    let recent = state
        .admin
        .recent_events(PREVIEW_EVENTS)
        .await
        .map_err(|e| UiError::storage(lang, e))?;
    let action = p.id.map_or("/ui/schemas/new".to_string(), |id| {
        format!("/ui/schemas/{id}")
    });
    let invalid = |f: &str| p.error.is_some_and(|e| e.field == f);
    let typed = p.typed;
    let body = html! {
        @if p.id.is_none() {
            h2 { (t(Text::StartFrom)) }
            ul.starts {
                @for s in STARTING_POINTS {
                    li { a href=(format!("/ui/schemas/new?start={}", s.key)) aria-current=[(p.start == Some(s.key)).then_some("true")] { (t(s.label)) } }
                }
            }
        }
        @if p.error.is_some() { p.problem role="alert" { (t(Text::FixBelow)) } }
        form.stacked method="post" action=(action) data-preview="/ui/schemas/preview" novalidate {
            (csrf_field(p.user))
            div.editor {
                div.card {
                    div.two {
                        div.field {
                            label for="name" { (t(Text::Name)) }
                            input type="text" id="name" name="name" value=(typed.name) required maxlength="200"
                                class=[invalid("name").then_some("invalid")];
                            (field_error(p.error, "name"))
                        }
                        div.field {
                            label for="content-type" { (t(Text::ContentType)) }
                            select id="content-type" name="content_type" {
                                @for c in [ContentType::Text, ContentType::Json, ContentType::Xml] {
                                    option value=(type_key(c)) selected[typed.content_type == type_key(c)] { (type_label(c)) }
                                }
                            }
                            (field_error(p.error, "content_type"))
                        }
                    }
                    div.field.wide {
                        label for="content" { (t(Text::Content)) }
                        textarea id="content" name="content" rows="18" spellcheck="false"
                            class=[invalid("content").then_some("invalid")] { (typed.content) }
                        (field_error(p.error, "content"))
                    }
                    div.buttons {
                        button type="submit" name="action" value="save" { (t(Text::Save)) }
                        button.secondary type="submit" name="action" value="preview" { (t(Text::Preview)) }
                        a.button.secondary href="/ui/schemas" { (t(Text::Cancel)) }
                    }
                }
                div {
                    section.card aria-labelledby="preview-title" {
                        h2 id="preview-title" { (t(Text::Preview)) }
                        div.field {
                            label for="event-id" { (t(Text::PreviewAgainst)) }
                            select id="event-id" name="event_id" {
                                option value="" { (t(Text::SampleEvent)) }
                                @for (id, e) in &recent {
                                    option value=(id) selected[typed.event_id == *id] {
                                        (e.event.get("type").and_then(|v| v.as_str()).unwrap_or("event")) " · " (e.received_at)
                                    }
                                }
                            }
                        }
                        div id="preview" aria-live="polite" { (preview_panel(lang, p.preview)) }
                    }
                    section.card aria-labelledby="placeholders-title" {
                        h2 id="placeholders-title" { (t(Text::Placeholders)) }
                        p.hint { (t(Text::PlaceholdersHint)) }
                        (placeholder_list(&placeholders))
                    }
                }
            }
        }
    };
    let title = t(Text::SchemaDetails).to_string();
    Ok(Page {
        user: p.user,
        nav: Nav::Schemas,
        crumbs: crumbs(lang, Text::Schemas, "/ui/schemas", Some(title.clone())),
        title,
    }
    .render_with(status, body))
}

fn placeholder_list(items: &[Placeholder]) -> Markup {
    html! {
        div.placeholders {
            ul {
                @for p in items {
                    @let text = format!("{{{{{}}}}}", p.placeholder);
                    li { button type="button" data-insert=(text) title=(text) {
                        code { (p.placeholder) } span.example { (p.example) }
                    } }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct StartQuery {
    start: Option<String>,
}

async fn new_form(
    user: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<StartQuery>,
) -> Result<HttpResponse, UiError> {
    let start = q.start.as_deref().and_then(starting_points::find);
    let typed = Typed {
        name: start
            .filter(|s| s.key != "blank")
            .map(|s| user.lang.t(s.label).to_string())
            .unwrap_or_default(),
        content_type: type_key(start.map_or(ContentType::Json, |s| s.content_type)).into(),
        content: start.map_or("", |s| s.content).to_string(),
        event_id: String::new(),
    };
    let preview = preview_of(&state, &typed).await;
    let page = FormPage {
        user: &user,
        id: None,
        typed: &typed,
        error: None,
        preview: &preview,
        start: start.map(|s| s.key),
    };
    form_page(&state, page, StatusCode::OK).await
}

async fn edit_form(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let store = state.store.clone();
    let key = id.clone();
    let schema = read(lang, move || store.get::<Schema>(&key))
        .await?
        .ok_or_else(|| UiError::not_found(lang))?;
    let typed = Typed::of(&schema);
    let preview = preview_of(&state, &typed).await;
    let page = FormPage {
        user: &user,
        id: Some(&schema.id),
        typed: &typed,
        error: None,
        preview: &preview,
        start: None,
    };
    form_page(&state, page, StatusCode::OK).await
}

async fn save(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: Option<String>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let typed = Typed::posted(&post.form);
    let preview = preview_of(&state, &typed).await;
    let page = |error| FormPage {
        user: &post.user,
        id: id.as_deref(),
        typed: &typed,
        error,
        preview: &preview,
        start: None,
    };
    if post.form.text("action") == "preview" {
        return form_page(&state, page(None), StatusCode::OK).await;
    }
    let result = match typed.input() {
        Err(e) => Err(StoreError::Invalid(e)),
        Ok(input) => match &id {
            None => state.admin.create::<Schema>(input).await.map(|_| ()),
            Some(id) => state
                .admin
                .replace::<Schema>(id.clone(), input)
                .await
                .map(|_| ()),
        },
    };
    let error = match result {
        Ok(()) => {
            post.user.flash(&req, lang.t(Text::Saved));
            return Ok(see_other("/ui/schemas"));
        }
        Err(StoreError::NotFound) => return Err(UiError::not_found(lang)),
        Err(StoreError::Invalid(f)) => f,
        Err(StoreError::Conflict(m)) => FieldError::new("name", m),
        Err(e) => return Err(UiError::storage(lang, e)),
    };
    form_page(&state, page(Some(&error)), StatusCode::BAD_REQUEST).await
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
    save(req, post, state, Some(id.into_inner())).await
}

/// The preview panel alone, for the script's live preview.
async fn preview(post: Post, state: web::Data<AppState>) -> HttpResponse {
    let typed = Typed::posted(&post.form);
    let preview = preview_of(&state, &typed).await;
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(preview_panel(post.user.lang, &preview).into_string())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/schemas", web::get().to(list))
        .route("/schemas/preview", web::post().to(preview))
        .service(
            web::resource("/schemas/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/schemas/{id}")
                .route(web::get().to(edit_form))
                .route(web::post().to(update)),
        )
        .service(
            web::resource("/schemas/{id}/delete")
                .route(web::get().to(deleting::confirm::<Schema>))
                .route(web::post().to(deleting::delete::<Schema>)),
        );
}

impl Deletable for Schema {
    const LIST: &'static str = "/ui/schemas";
    const NAV: Nav = Nav::Schemas;
    const SECTION: Text = Text::Schemas;
    const TITLE: Text = Text::DeleteSchemaTitle;

    fn used_by(&self, action: &crate::model::WebhookAction) -> bool {
        action.schema_id == self.id
    }

    fn describe(&self, _: Lang) -> Markup {
        html! { strong { (self.name) } " — " (type_label(self.content_type)) }
    }
}
