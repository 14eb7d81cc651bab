//! The frame every screen shares: header with the product name, the
//! navigation, the language switch and **Log out**; the breadcrumb
//! *Settings › Integrations › Outgoing integrations › …*; the page's title
//! and a one-time message.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use super::guard::{SignedIn, CSRF_FIELD};
use super::i18n::{Lang, Text, LANGUAGES};

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Webhooks,
    Schemas,
    Rules,
    Deliveries,
}

const NAV: &[(Nav, &str, Text, bool)] = &[
    (Nav::Overview, "/ui/", Text::Overview, false),
    (Nav::Webhooks, "/ui/webhooks", Text::Webhooks, false),
    (Nav::Schemas, "/ui/schemas", Text::Schemas, false),
    (Nav::Rules, "/ui/rules", Text::EventRules, false),
    (Nav::Deliveries, "/ui/deliveries", Text::Deliveries, false),
];

/// One screen: where it sits and what it shows.
pub struct Page<'a> {
    pub user: &'a SignedIn,
    pub nav: Nav,
    pub title: String,
    /// Steps after *Outgoing integrations*: (label, link). The last is the page.
    pub crumbs: Vec<(String, Option<String>)>,
}

impl Page<'_> {
    pub fn render(&self, body: Markup) -> HttpResponse {
        self.render_with(StatusCode::OK, body)
    }

    pub fn render_with(&self, status: StatusCode, body: Markup) -> HttpResponse {
        let lang = self.user.lang;
        let t = |k| lang.t(k);
        let markup = html! {
            (DOCTYPE)
            html lang=(lang.code()) {
                (head(&self.title, lang))
                body {
                    a.skip href="#main" { (t(Text::SkipToContent)) }
                    header.top {
                        a.brand href="/ui/" { (logo()) span { (t(Text::Product)) } }
                        nav aria-label="Main" {
                            ul {
                                @for (nav, href, label, coming) in NAV {
                                    li {
                                        a href=(href) aria-current=[(*nav == self.nav).then_some("page")] {
                                            (t(*label))
                                            @if *coming { " " span.badge { (t(Text::Coming)) } }
                                        }
                                    }
                                }
                            }
                        }
                        div.session {
                            @if LANGUAGES.len() > 1 {
                                form.lang method="post" action="/ui/language" {
                                    input type="hidden" name=(CSRF_FIELD) value=(self.user.csrf);
                                    label for="lang" { (t(Text::Language)) }
                                    select id="lang" name="lang" {
                                        @for (l, code, name) in LANGUAGES {
                                            option value=(code) selected[*l == lang] { (name) }
                                        }
                                    }
                                    button.quiet type="submit" { (t(Text::Choose)) }
                                }
                            }
                            form method="post" action="/ui/logout" {
                                input type="hidden" name=(CSRF_FIELD) value=(self.user.csrf);
                                button.quiet type="submit" { (t(Text::LogOut)) }
                            }
                        }
                    }
                    main id="main" {
                        nav.crumbs aria-label="Breadcrumb" {
                            ol {
                                li { (t(Text::Settings)) }
                                li { (t(Text::Integrations)) }
                                li { (t(Text::OutgoingIntegrations)) }
                                @for (label, link) in &self.crumbs {
                                    li {
                                        @match link {
                                            Some(href) => a href=(href) { (label) },
                                            None => span aria-current="page" { (label) },
                                        }
                                    }
                                }
                            }
                        }
                        h1 { (self.title) }
                        @if let Some(message) = &self.user.flash {
                            p.flash role="status" { (message) }
                        }
                        (body)
                    }
                }
            }
        };
        html_response(status, markup)
    }
}

fn head(title: &str, lang: Lang) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (lang.t(Text::Product)) }
            link rel="stylesheet" href=(super::assets::STYLE_PATH);
            link rel="icon" href=(super::assets::ICON_PATH) type="image/svg+xml";
            script src=(super::assets::SCRIPT_PATH) defer {}
        }
    }
}

/// The product mark: a hook on a line, our own drawing.
fn logo() -> Markup {
    maud::PreEscaped(super::assets::ICON_SVG.to_string())
}

/// A page without navigation: sign-in and errors.
pub fn bare_page(lang: Lang, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    bare(
        lang,
        status,
        title,
        html! { p.message role="alert" { (message) } },
    )
}

/// A page without navigation around `body`.
pub fn bare(lang: Lang, status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(title, lang))
            body.bare {
                main id="main" {
                    div.card.narrow {
                        a.brand href="/ui/" { (logo()) span { (lang.t(Text::Product)) } }
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
    };
    html_response(status, markup)
}

fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A field's error message under it, when the save was refused for it.
pub fn field_error(error: Option<&crate::model::FieldError>, field: &str) -> Markup {
    html! {
        @if let Some(e) = error.filter(|e| e.field == field || e.field.starts_with(&format!("{field}.")) || e.field.starts_with(&format!("{field}["))) {
            p.field-error id=(format!("{}-error", field.replace(['.', '[', ']'], "-"))) role="alert" { (e.message) }
        }
    }
}

/// The hidden form-token field of every form.
pub fn csrf_field(user: &SignedIn) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(user.csrf); }
}

/// Rows per page of a list screen.
pub const PAGE_ROWS: usize = 100;

/// The rows of page `page` (1-based) and the pager under them.
pub fn paged<'a, T>(lang: Lang, items: &'a [T], page: usize, base: &str) -> (&'a [T], Markup) {
    let pages = items.len().div_ceil(PAGE_ROWS).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_ROWS;
    let rows = &items[start.min(items.len())..(start + PAGE_ROWS).min(items.len())];
    let pager = html! {
        @if pages > 1 {
            nav.pager aria-label=(lang.t(Text::Pages)) {
                @if page > 1 { a href=(format!("{base}?page={}", page - 1)) rel="prev" { (lang.t(Text::Previous)) } }
                span { (start + 1) "–" (start + rows.len()) " / " (items.len()) }
                @if page < pages { a href=(format!("{base}?page={}", page + 1)) rel="next" { (lang.t(Text::Next)) } }
            }
        }
    };
    (rows, pager)
}

/// `?page=N` of a list screen.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub page: Option<usize>,
}
