//! The rule editor's handlers (`/ui/rules/{group}/new`,
//! `/ui/rules/{group}/{rule}`) and the group's own settings
//! (`/ui/rules/{group}`). A rejected save shows the form again with what was
//! typed and the message at the row the API's `field` names.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::guard::{Post, SignedIn, UiError};
use super::i18n::Text;
use super::rule_form::{EditorContext, RuleForm};
use super::rules::{editor_data, editor_page, fault, group_input, relative, rule_index};
use super::shared::see_other;
use crate::http::AppState;
use crate::model::{FieldError, Match, RuleGroup, RuleGroupInput};
use crate::store::StoreError;

/// Which rule of the group a page edits.
#[derive(Clone)]
enum Target {
    New,
    Rule(String),
    Group,
}

fn form_of(group: &RuleGroup, target: &Target) -> Option<RuleForm> {
    match target {
        Target::New => Some(RuleForm::new_rule()),
        Target::Rule(id) => group.rules.iter().find(|r| &r.id == id).map(RuleForm::of),
        Target::Group => Some(RuleForm {
            name: group.name.clone(),
            enabled: group.enabled,
            match_all: group.match_ == Match::All,
            conditions: group
                .conditions
                .iter()
                .map(super::rule_form::row_of)
                .collect(),
            stop_groups: group.stop_groups,
            ..RuleForm::default()
        }),
    }
}

fn action_of(gid: &str, target: &Target) -> String {
    match target {
        Target::New => format!("/ui/rules/{gid}/new"),
        Target::Rule(id) => format!("/ui/rules/{gid}/{id}"),
        Target::Group => format!("/ui/rules/{gid}"),
    }
}

async fn show(
    user: &SignedIn,
    state: &AppState,
    gid: String,
    target: Target,
    posted: Option<(RuleForm, Option<FieldError>)>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let data = editor_data(state, lang, gid.clone()).await?;
    let group = &data.group;
    let (form, error) = match posted {
        Some((f, e)) => (f, e),
        None => (
            form_of(group, &target).ok_or_else(|| super::guard::UiError::not_found(lang))?,
            None,
        ),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let title = match &target {
        Target::Group => format!("{} · {}", t(Text::GroupSettings), group.name),
        _ => format!("{} · {}", t(Text::Rule), group.name),
    };
    let cx = EditorContext {
        user,
        action: action_of(&gid, &target),
        cancel: format!("/ui/rules#group-{gid}"),
        webhooks: &data.webhooks,
        schemas: &data.schemas,
        fields: &data.fields,
        event_types: &data.event_types,
        error: error.as_ref().map(|e| (e, fault(&form, e))),
        group: matches!(target, Target::Group),
    };
    Ok(editor_page(user, title, &cx, &form, status))
}

async fn save(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    gid: String,
    target: Target,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let mut form = RuleForm::posted(&post.form);
    if form.apply_row_action(post.form.text("action")) {
        return show(&post.user, &state, gid, target, Some((form, None))).await;
    }
    let change_form = form.clone();
    let change_target = target.clone();
    let change = move |g: &RuleGroup| -> Result<RuleGroupInput, FieldError> {
        let at = match &change_target {
            Target::Rule(id) => Some(
                rule_index(g, id)
                    .map_err(|_| FieldError::new("name", "this rule was deleted meanwhile"))?,
            ),
            _ => None,
        };
        group_input(g, |v| match (&change_target, at) {
            (Target::Group, _) => {
                v["name"] = json!(change_form.name);
                v["enabled"] = json!(change_form.enabled);
                v["match"] = json!(if change_form.match_all { "all" } else { "any" });
                v["conditions"] = change_form.to_input(None)["conditions"].clone();
                v["stop_groups"] = json!(change_form.stop_groups);
            }
            (Target::New, _) => {
                if let Some(rules) = v["rules"].as_array_mut() {
                    rules.push(change_form.to_input(None));
                }
            }
            (Target::Rule(id), Some(i)) => v["rules"][i] = change_form.to_input(Some(id)),
            (Target::Rule(_), None) => {}
        })
    };
    // The rule's index, to read the API's `rules[i]…` fields against this form.
    let index = |g: Option<&RuleGroup>| match &target {
        Target::Rule(id) => g.and_then(|g| rule_index(g, id).ok()).unwrap_or(0),
        _ => g.map_or(0, |g| g.rules.len()),
    };
    let before = state.store.get::<RuleGroup>(&gid).ok().flatten();
    match state
        .admin
        .update::<RuleGroup, _>(gid.clone(), change)
        .await
    {
        Ok(_) => {
            post.user.flash(&req, lang.t(Text::Saved));
            Ok(see_other(&format!("/ui/rules#group-{gid}")))
        }
        Err(StoreError::NotFound) => Err(UiError::not_found(lang)),
        Err(StoreError::Invalid(e)) => {
            let e = if matches!(target, Target::Group) {
                e
            } else {
                relative(e, index(before.as_ref()))
            };
            show(&post.user, &state, gid, target, Some((form, Some(e)))).await
        }
        Err(StoreError::Conflict(m)) => {
            show(
                &post.user,
                &state,
                gid,
                target,
                Some((form, Some(FieldError::new("name", m)))),
            )
            .await
        }
        Err(e) => Err(UiError::storage(lang, e)),
    }
}

async fn new_rule(
    user: SignedIn,
    state: web::Data<AppState>,
    gid: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    show(&user, &state, gid.into_inner(), Target::New, None).await
}

async fn create_rule(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    gid: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    save(req, post, state, gid.into_inner(), Target::New).await
}

async fn edit_rule(
    user: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (g, r) = path.into_inner();
    show(&user, &state, g, Target::Rule(r), None).await
}

async fn update_rule(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (g, r) = path.into_inner();
    save(req, post, state, g, Target::Rule(r)).await
}

async fn edit_group(
    user: SignedIn,
    state: web::Data<AppState>,
    gid: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    show(&user, &state, gid.into_inner(), Target::Group, None).await
}

async fn update_group(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    gid: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    save(req, post, state, gid.into_inner(), Target::Group).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/rules/{group}/new")
            .route(web::get().to(new_rule))
            .route(web::post().to(create_rule)),
    )
    .service(
        web::resource("/rules/{group}")
            .route(web::get().to(edit_group))
            .route(web::post().to(update_group)),
    )
    .service(
        web::resource("/rules/{group}/{rule}")
            .route(web::get().to(edit_rule))
            .route(web::post().to(update_rule)),
    );
}
