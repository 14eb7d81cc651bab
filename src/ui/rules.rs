//! Event rules: the groups in evaluation order with their rules; moving,
//! enabling, disabling, creating and deleting them; the rule editor and the
//! group's own settings. Every change to a group goes through
//! `Admin::update`, which applies it to the stored group inside the write
//! transaction, so two administrators editing two rules of one group both
//! keep their change.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::{json, Value};

use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, Nav, Page};
use super::rule_form::{self, fault_at, op_words, EditorContext, RuleForm};
use super::shared::{crumbs, read, see_other};
use crate::http::AppState;
use crate::model::{FieldError, Match, RuleGroup, RuleGroupInput, Schema, Webhook};
use crate::store::StoreError;

fn sorted(mut groups: Vec<RuleGroup>) -> Vec<RuleGroup> {
    RuleGroup::sort_listed(&mut groups);
    groups
}

/// The group as the API's input, with `edit` applied to its JSON.
pub(super) fn group_input(
    group: &RuleGroup,
    edit: impl FnOnce(&mut Value),
) -> Result<RuleGroupInput, FieldError> {
    let mut v = serde_json::to_value(group).map_err(|e| FieldError::new("body", e.to_string()))?;
    edit(&mut v);
    crate::model::parse_input(v)
}

/// Where the rule `id` stands in its group.
pub(super) fn rule_index(group: &RuleGroup, id: &str) -> Result<usize, FieldError> {
    group
        .rules
        .iter()
        .position(|r| r.id == id)
        .ok_or_else(|| FieldError::new("rules", "no such rule"))
}

/// Applies `change` to the stored group `gid` (inside the write
/// transaction), leaves `done` for the next page and goes back to the group.
async fn change_group<F>(
    req: &HttpRequest,
    post: &Post,
    state: &AppState,
    gid: String,
    done: Text,
    change: F,
) -> Result<HttpResponse, UiError>
where
    F: Fn(&RuleGroup) -> Result<RuleGroupInput, FieldError> + Send + Sync + 'static,
{
    let lang = post.user.lang;
    state
        .admin
        .update::<RuleGroup, _>(gid.clone(), change)
        .await
        .map_err(|e| UiError::storage(lang, e))?;
    post.user.flash(req, lang.t(done));
    Ok(see_other(&format!("/ui/rules#group-{gid}")))
}

fn conditions_text(lang: Lang, c: &[crate::model::Condition]) -> String {
    c.iter()
        .map(|c| {
            let value = rule_form::row_of(c).value;
            format!("{} {} {}", c.field, op_words(lang, c.op), value)
                .trim()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn post_button(user: &SignedIn, action: String, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(user))
            button class=(class) type="submit" { (label) }
        }
    }
}

async fn list(user: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let (groups, webhooks, schemas) = read(lang, move || {
        Ok((
            sorted(store.list::<RuleGroup>()?),
            store.list::<Webhook>()?,
            store.list::<Schema>()?,
        ))
    })
    .await?;
    let name_of = |id: &str, wh: bool| -> String {
        if wh {
            webhooks
                .iter()
                .find(|w| w.id == id)
                .map_or(id.to_string(), |w| w.name.clone())
        } else {
            schemas
                .iter()
                .find(|s| s.id == id)
                .map_or(id.to_string(), |s| s.name.clone())
        }
    };
    let last = groups.len().saturating_sub(1);
    let body = html! {
        div.toolbar {
            p.lead { (t(Text::RulesLead)) }
            a.button.secondary href="/ui/rules/try" { (t(Text::TryAnEvent)) }
        }
        form.card.new-group method="post" action="/ui/rules/new-group" {
            (csrf_field(&user))
            label for="new-group-name" { (t(Text::NewGroupName)) }
            div.inline-form {
                input type="text" id="new-group-name" name="name" required maxlength="200";
                button type="submit" { (t(Text::NewGroup)) }
            }
        }
        @if groups.is_empty() { div.card { p.empty { (t(Text::NoGroups)) } } }
        @for (i, g) in groups.iter().enumerate() {
            section.card.group id=(format!("group-{}", g.id)) aria-labelledby=(format!("group-title-{}", g.id)) {
                div.group-head {
                    h2 id=(format!("group-title-{}", g.id)) {
                        span.position { (i + 1) "." } " " (g.name) " "
                        @if g.enabled { span.pill.on { (t(Text::Enabled)) } } @else { span.pill.off { (t(Text::Disabled)) } }
                    }
                    div.group-actions {
                        @if i > 0 { (post_button(&user, format!("/ui/rules/{}/move-up", g.id), t(Text::MoveUp), "quiet")) }
                        @if i < last { (post_button(&user, format!("/ui/rules/{}/move-down", g.id), t(Text::MoveDown), "quiet")) }
                        (post_button(&user, format!("/ui/rules/{}/toggle", g.id), t(if g.enabled { Text::Disable } else { Text::Enable }), "quiet"))
                        a href=(format!("/ui/rules/{}", g.id)) { (t(Text::EditGroup)) }
                        a href=(format!("/ui/rules/{}/delete", g.id)) { (t(Text::Delete)) }
                    }
                }
                @if !g.conditions.is_empty() || g.stop_groups {
                    p.hint {
                        @if !g.conditions.is_empty() { (t(Text::GroupOnlyWhen)) " " (conditions_text(lang, &g.conditions)) ". " }
                        @if g.stop_groups { (t(Text::GroupStops)) }
                    }
                }
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { (t(Text::Name)) }
                            th scope="col" { (t(Text::RuleConditions)) }
                            th scope="col" { (t(Text::RuleActions)) }
                            th scope="col" { (t(Text::State)) }
                            th scope="col" { span.visually-hidden { (t(Text::Actions)) } }
                        } }
                        tbody {
                            @for r in &g.rules {
                                tr {
                                    td { a href=(format!("/ui/rules/{}/{}", g.id, r.id)) { (r.name) } }
                                    td {
                                        @if r.conditions.is_empty() { span.hint { (t(Text::Always)) } }
                                        @else {
                                            (t(if r.match_ == Match::All { Text::MatchAll } else { Text::MatchAny })) ": "
                                            (conditions_text(lang, &r.conditions))
                                        }
                                        @if r.stop_rules { br; span.hint { (t(Text::StopRulesShort)) } }
                                        @if r.stop_groups { br; span.hint { (t(Text::StopGroupsShort)) } }
                                    }
                                    td {
                                        @for a in &r.actions.webhooks { div { (name_of(&a.webhook_id, true)) " / " (name_of(&a.schema_id, false)) } }
                                    }
                                    td { @if r.enabled { span.pill.on { (t(Text::Enabled)) } } @else { span.pill.off { (t(Text::Disabled)) } } }
                                    td.actions {
                                        (post_button(&user, format!("/ui/rules/{}/{}/toggle", g.id, r.id), t(if r.enabled { Text::Disable } else { Text::Enable }), "link"))
                                        a href=(format!("/ui/rules/{}/{}/delete", g.id, r.id)) { (t(Text::Delete)) }
                                    }
                                }
                            }
                            @if g.rules.is_empty() { tr { td.empty colspan="5" { (t(Text::NoRules)) } } }
                        }
                    }
                }
                p { a.button.secondary href=(format!("/ui/rules/{}/new", g.id)) { (t(Text::NewRule)) } }
            }
        }
    };
    Ok(Page {
        user: &user,
        nav: Nav::Rules,
        title: t(Text::EventRules).into(),
        crumbs: crumbs(lang, Text::EventRules, "/ui/rules", None),
    }
    .render(body))
}

async fn new_group(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let store = state.store.clone();
    let groups = read(lang, move || store.list::<RuleGroup>()).await?;
    let position = groups
        .iter()
        .map(|g| g.position)
        .max()
        .map_or(0, |p| p.saturating_add(1));
    let input = crate::model::parse_input::<RuleGroupInput>(
        json!({"name": post.form.text("name"), "position": position}),
    );
    let result = match input {
        Ok(input) => state.admin.create::<RuleGroup>(input).await.map(|(g, _)| g),
        Err(e) => Err(StoreError::Invalid(e)),
    };
    match result {
        Ok(g) => {
            post.user.flash(&req, lang.t(Text::Saved));
            Ok(see_other(&format!("/ui/rules#group-{}", g.id)))
        }
        Err(StoreError::Invalid(e)) => {
            post.user.flash(&req, &e.message);
            Ok(see_other("/ui/rules"))
        }
        Err(StoreError::Conflict(m)) => {
            post.user.flash(&req, &m);
            Ok(see_other("/ui/rules"))
        }
        Err(e) => Err(UiError::storage(lang, e)),
    }
}

/// Moves a group one place up or down: every group gets its place in the
/// new order as its position.
async fn move_group(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: String,
    up: bool,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let store = state.store.clone();
    let mut groups = read(lang, move || store.list::<RuleGroup>().map(sorted)).await?;
    let Some(at) = groups.iter().position(|g| g.id == id) else {
        return Err(UiError::not_found(lang));
    };
    let other = if up {
        at.checked_sub(1)
    } else {
        Some(at + 1).filter(|&o| o < groups.len())
    };
    if let Some(other) = other {
        groups.swap(at, other);
        for (place, g) in groups.iter().enumerate() {
            let position = i64::try_from(place).unwrap_or(i64::MAX);
            if g.position != position {
                state
                    .admin
                    .update::<RuleGroup, _>(g.id.clone(), move |current| {
                        group_input(current, |v| v["position"] = json!(position))
                    })
                    .await
                    .map_err(|e| UiError::storage(lang, e))?;
            }
        }
    }
    post.user.flash(&req, lang.t(Text::Saved));
    Ok(see_other(&format!("/ui/rules#group-{id}")))
}

async fn move_up(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    move_group(req, post, state, id.into_inner(), true).await
}

async fn move_down(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    move_group(req, post, state, id.into_inner(), false).await
}

async fn toggle_group(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    change_group(&req, &post, &state, id.into_inner(), Text::Saved, |g| {
        group_input(g, |v| v["enabled"] = json!(!g.enabled))
    })
    .await
}

async fn toggle_rule(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (gid, rid) = path.into_inner();
    change_group(&req, &post, &state, gid, Text::Saved, move |g| {
        let i = rule_index(g, &rid)?;
        let enabled = !g.rules[i].enabled;
        group_input(g, |v| v["rules"][i]["enabled"] = json!(enabled))
    })
    .await
}

/// The confirmation before a group or rule is deleted.
async fn confirm_delete(
    user: SignedIn,
    state: web::Data<AppState>,
    gid: String,
    rid: Option<String>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let key = gid.clone();
    let group = read(lang, move || store.get::<RuleGroup>(&key))
        .await?
        .ok_or_else(|| UiError::not_found(lang))?;
    let what = match &rid {
        Some(r) => group
            .rules
            .iter()
            .find(|x| &x.id == r)
            .map(|x| x.name.clone())
            .ok_or_else(|| UiError::not_found(lang))?,
        None => group.name.clone(),
    };
    let action = match &rid {
        Some(r) => format!("/ui/rules/{gid}/{r}/delete"),
        None => format!("/ui/rules/{gid}/delete"),
    };
    let title = t(if rid.is_some() {
        Text::DeleteRuleTitle
    } else {
        Text::DeleteGroupTitle
    })
    .to_string();
    let rules = group.rules.len();
    let what = html! {
        strong { (what) }
        @if rid.is_none() && rules > 0 { " — " (rules) " " (t(Text::Rules)) }
    };
    let body = super::shared::delete_confirmation(&user, what, &action, "/ui/rules", &[]);
    Ok(Page {
        user: &user,
        nav: Nav::Rules,
        crumbs: crumbs(lang, Text::EventRules, "/ui/rules", Some(title.clone())),
        title,
    }
    .render(body))
}

async fn confirm_delete_group(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    confirm_delete(user, state, id.into_inner(), None).await
}

async fn confirm_delete_rule(
    user: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (g, r) = path.into_inner();
    confirm_delete(user, state, g, Some(r)).await
}

async fn delete_group(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    state
        .admin
        .delete::<RuleGroup>(id.into_inner())
        .await
        .map_err(|e| UiError::storage(lang, e))?;
    post.user.flash(&req, lang.t(Text::Deleted));
    Ok(see_other("/ui/rules"))
}

async fn delete_rule(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (gid, rid) = path.into_inner();
    change_group(&req, &post, &state, gid, Text::Deleted, move |g| {
        let i = rule_index(g, &rid)?;
        group_input(g, |v| {
            if let Some(rules) = v["rules"].as_array_mut() {
                rules.remove(i);
            }
        })
    })
    .await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rules", web::get().to(list))
        .configure(super::try_event::routes) // before /rules/{group}, which would take "try"
        .route("/rules/new-group", web::post().to(new_group))
        .route("/rules/{group}/move-up", web::post().to(move_up))
        .route("/rules/{group}/move-down", web::post().to(move_down))
        .route("/rules/{group}/toggle", web::post().to(toggle_group))
        .service(
            web::resource("/rules/{group}/delete")
                .route(web::get().to(confirm_delete_group))
                .route(web::post().to(delete_group)),
        )
        .configure(super::rule_editor::routes)
        .route("/rules/{group}/{rule}/toggle", web::post().to(toggle_rule))
        .service(
            web::resource("/rules/{group}/{rule}/delete")
                .route(web::get().to(confirm_delete_rule))
                .route(web::post().to(delete_rule)),
        );
}

/// What the editor screens need from the store.
pub(super) struct EditorData {
    pub group: RuleGroup,
    pub webhooks: Vec<Webhook>,
    pub schemas: Vec<Schema>,
    /// Field paths of the sample and recent events.
    pub fields: Vec<String>,
    /// Event types seen.
    pub event_types: Vec<String>,
}

pub(super) async fn editor_data(
    state: &AppState,
    lang: Lang,
    gid: String,
) -> Result<EditorData, UiError> {
    let store = state.store.clone();
    let (group, webhooks, schemas) = read(lang, move || {
        Ok((
            store.get::<RuleGroup>(&gid)?,
            store.list::<Webhook>()?,
            store.list::<Schema>()?,
        ))
    })
    .await?;
    let group = group.ok_or_else(|| UiError::not_found(lang))?;
    let fields = state
        .admin
        .placeholders()
        .await
        .map_err(|e| UiError::storage(lang, e))?
        .into_iter()
        .map(|p| p.placeholder.replacen(':', ".", 1))
        .collect();
    let mut event_types: Vec<String> = state
        .admin
        .recent_events(1000)
        .await
        .map_err(|e| UiError::storage(lang, e))?
        .into_iter()
        .filter_map(|(_, e)| {
            e.event
                .get("type")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        })
        .chain(
            crate::render::sample_event()
                .get("type")
                .and_then(|t| t.as_str())
                .map(str::to_string),
        )
        .collect();
    event_types.sort_unstable();
    event_types.dedup();
    Ok(EditorData {
        group,
        webhooks,
        schemas,
        fields,
        event_types,
    })
}

/// Renders an editor page.
pub(super) fn editor_page(
    user: &SignedIn,
    title: String,
    cx: &EditorContext<'_>,
    form: &RuleForm,
    status: StatusCode,
) -> HttpResponse {
    let lang = user.lang;
    Page {
        user,
        nav: Nav::Rules,
        crumbs: crumbs(lang, Text::EventRules, "/ui/rules", Some(title.clone())),
        title,
    }
    .render_with(status, rule_form::render(cx, form))
}

/// A save's error relative to the rule at `index` of its group.
pub(super) fn relative(e: FieldError, index: usize) -> FieldError {
    let prefix = format!("rules[{index}].");
    match e.field.strip_prefix(&prefix) {
        Some(rest) => FieldError::new(rest, e.message),
        None => e,
    }
}

pub(super) fn fault(form: &RuleForm, e: &FieldError) -> rule_form::FaultAt {
    fault_at(form, &e.field)
}
