//! Overview (`/ui/`): what is waiting, what failed and succeeded in the last
//! 24 hours, and one line per webhook.

use actix_web::{web, HttpResponse};
use maud::html;

use super::guard::{SignedIn, UiError};
use super::i18n::Text;
use super::layout::{Nav, Page};
use super::shared::{read, webhooks_with_health};
use crate::http::AppState;

const DAY_MS: u64 = 24 * 3600 * 1000;

async fn overview(user: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let since = crate::model::now_millis().saturating_sub(DAY_MS);
    let (summary, webhooks) = read(lang, move || {
        Ok((store.summary(since)?, webhooks_with_health(&store)?))
    })
    .await?;
    let body = html! {
        div.counts {
            div.count { span.n { (summary.pending) } span.label { (t(Text::Pending)) } }
            div.count.failed { span.n { (summary.failed) } span.label { (t(Text::Failed24h)) } }
            div.count.succeeded { span.n { (summary.succeeded) } span.label { (t(Text::Succeeded24h)) } }
        }
        p.hint { (t(Text::CountsNote)) }
        @if let Some(cluster) = &state.cluster {
            (cluster_section(lang, &cluster.view()))
        }
        h2 { (t(Text::Webhooks)) }
        @if webhooks.is_empty() {
            div.card {
                p { (t(Text::NoWebhooksYet)) }
                p.hint { (t(Text::OverviewSteps)) }
                a.button href="/ui/webhooks/new" { (t(Text::NewWebhook)) }
            }
        } @else {
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (t(Text::Name)) }
                        th scope="col" { (t(Text::State)) }
                        th scope="col" { (t(Text::LastSuccess)) }
                        th scope="col" { (t(Text::FailuresInARow)) }
                    } }
                    tbody {
                        @for (w, health) in &webhooks {
                            tr {
                                td { a href=(format!("/ui/webhooks/{}", w.id)) { (w.name) } }
                                td {
                                    @if !w.enabled { span.pill.off { (t(Text::Disabled)) } }
                                    @else { (super::health::pill(lang, health.state)) }
                                }
                                td.when {
                                    (health.last_success_ms.map_or_else(|| t(Text::Never).to_string(), crate::model::format_millis))
                                }
                                td {
                                    @let n = health.failures_in_a_row;
                                    @if n > 0 { span.pill.bad { (n) } } @else { "0" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page {
        user: &user,
        nav: Nav::Overview,
        title: t(Text::Overview).to_string(),
        crumbs: vec![(t(Text::Overview).to_string(), None)],
    }
    .render(body))
}

/// The instance, its partitions and the others (cluster mode only).
fn cluster_section(lang: super::i18n::Lang, view: &crate::cluster::ClusterView) -> maud::Markup {
    let t = |k| lang.t(k);
    let owned_by = |name: &str| -> Vec<&crate::cluster::PartitionView> {
        view.partitions
            .iter()
            .filter(|p| p.owner.as_deref() == Some(name))
            .collect()
    };
    let list = |parts: &[&crate::cluster::PartitionView]| {
        parts
            .iter()
            .map(|p| p.partition.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lag =
        |parts: &[&crate::cluster::PartitionView]| parts.iter().filter_map(|p| p.lag).sum::<u64>();
    let unowned: Vec<&crate::cluster::PartitionView> = view
        .partitions
        .iter()
        .filter(|p| p.owner.is_none())
        .collect();
    html! {
        h2 { (t(Text::Cluster)) }
        p {
            @if view.connected { span.pill.on { (t(Text::NatsConnected)) } }
            @else { span.pill.bad { (t(Text::NatsUnreachable)) } }
        }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { (t(Text::Instance)) }
                    th scope="col" { (t(Text::Partitions)) }
                    th scope="col" { (t(Text::NotAcked)) }
                } }
                tbody {
                    @for name in &view.instances {
                        @let parts = owned_by(name);
                        tr {
                            td {
                                (name)
                                @if *name == view.instance { " " span.pill.wait { (t(Text::ThisInstance)) } }
                            }
                            td { (parts.len()) @if !parts.is_empty() { " (" (list(&parts)) ")" } }
                            td { (lag(&parts)) }
                        }
                    }
                    @if !unowned.is_empty() {
                        tr {
                            td { span.pill.bad { (t(Text::NoOwner)) } }
                            td { (unowned.len()) " (" (list(&unowned)) ")" }
                            td { (lag(&unowned)) }
                        }
                    }
                }
            }
        }
        p.hint { (t(Text::ClusterNote)) }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview));
}
