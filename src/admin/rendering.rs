//! Rendering for previews and tests. A render may take up to its time bound
//! (2 s), so it runs on the blocking pool, never on a request thread.

use super::{interrupted, Admin};
use crate::model::{ContentType, StoredEvent};
use crate::render::{self, Placeholder, RenderError, Rendered};
use crate::store::StoreError;

/// Events the placeholder list is drawn from, newest first (API.md).
const PLACEHOLDER_EVENTS: usize = 1_000;

/// Why a preview could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    #[error(transparent)]
    Template(#[from] RenderError),
    #[error("rendering was interrupted")]
    Interrupted,
}

/// Compiles `content` and renders it against `event`, off the request threads.
pub async fn render_schema(
    content_type: ContentType,
    content: String,
    event: serde_json::Value,
) -> Result<Rendered, RenderFailure> {
    actix_web::rt::task::spawn_blocking(move || {
        render::compile(content_type, &content).and_then(|t| t.render(&event))
    })
    .await
    .map_err(|_| RenderFailure::Interrupted)?
    .map_err(RenderFailure::from)
}

impl Admin {
    /// Every placeholder of the sample event and of the last 1,000 events
    /// received, with an example each (read and computed off the request
    /// threads).
    pub async fn placeholders(&self) -> Result<Vec<Placeholder>, StoreError> {
        let store = self.store.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let recent = store.recent_events(PLACEHOLDER_EVENTS)?;
            let events = recent
                .iter()
                .map(|(_, e)| &e.event)
                .chain(std::iter::once(render::sample_event()));
            Ok(render::placeholders(events))
        })
        .await
        .map_err(|_| interrupted("reading the placeholders"))?
    }

    /// The `limit` newest events, for choosing one to preview against.
    pub async fn recent_events(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, StoredEvent)>, StoreError> {
        let store = self.store.clone();
        actix_web::rt::task::spawn_blocking(move || store.recent_events(limit))
            .await
            .map_err(|_| interrupted("reading recent events"))?
    }
}
