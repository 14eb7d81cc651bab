//! Deleting a webhook or a schema: the confirmation page (which names the
//! rules that still use it, with links) and the POST. One implementation
//! for both kinds; each says how it is shown.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{Nav, Page};
use super::shared::{crumbs, delete_confirmation, read, rules_using, see_other};
use crate::admin::ConfigObject;
use crate::http::AppState;
use crate::model::{RuleGroup, WebhookAction};
use crate::store::StoreError;

/// A configuration object that the screens delete.
pub trait Deletable: ConfigObject + Send + 'static {
    /// Its list screen (`/ui/webhooks`), where a delete goes back to.
    const LIST: &'static str;
    const NAV: Nav;
    /// The list's name and the confirmation's title.
    const SECTION: Text;
    const TITLE: Text;

    /// Whether a rule's action names this object.
    fn used_by(&self, action: &WebhookAction) -> bool;

    /// What is about to go, in a line.
    fn describe(&self, lang: Lang) -> Markup;
}

async fn page<R: Deletable>(
    user: &SignedIn,
    state: &AppState,
    id: &str,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let store = state.store.clone();
    let key = id.to_string();
    let (record, groups) = read(lang, move || {
        Ok((store.get::<R>(&key)?, store.list::<RuleGroup>()?))
    })
    .await?;
    let record = record.ok_or_else(|| UiError::not_found(lang))?;
    let users = rules_using(&groups, |a| record.used_by(a));
    let action = format!("{}/{}/delete", R::LIST, record.id());
    let body = delete_confirmation(user, record.describe(lang), &action, R::LIST, &users);
    let title = lang.t(R::TITLE).to_string();
    Ok(Page {
        user,
        nav: R::NAV,
        crumbs: crumbs(lang, R::SECTION, R::LIST, Some(title.clone())),
        title,
    }
    .render_with(status, body))
}

/// `GET …/{id}/delete`: the confirmation. Nothing changes.
pub async fn confirm<R: Deletable>(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    page::<R>(&user, &state, &id, StatusCode::OK).await
}

/// `POST …/{id}/delete`. A rule that started using it since the
/// confirmation gets the page again with `409`, naming it.
pub async fn delete<R: Deletable>(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    match state.admin.delete::<R>(id.clone()).await {
        Ok(()) => {
            post.user.flash(&req, lang.t(Text::Deleted));
            Ok(see_other(R::LIST))
        }
        Err(StoreError::Conflict(_)) => {
            page::<R>(&post.user, &state, &id, StatusCode::CONFLICT).await
        }
        Err(e) => Err(UiError::storage(lang, e)),
    }
}
