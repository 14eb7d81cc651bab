//! Rendering for previews and tests. A render may take up to its time bound
//! (2 s), so it runs on the blocking pool, never on a request thread.

use crate::model::ContentType;
use crate::render::{self, RenderError, Rendered};

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
