//! Rendering schemas: colon-form placeholders and Liquid, escaped by content type, bounded.
//!
//! A schema is translated (colon form → Liquid, an escaping filter appended to every output;
//! see [`translate`]), parsed once with liquid-core into a [`Template`], and rendered per event
//! in a runtime that reads the event JSON in place and tolerates missing values (see
//! [`runtime`]). Bounds: output is written into a sink that refuses to grow past
//! [`MAX_OUTPUT_BYTES`]; every filter's output is size-checked; `for` loops are charged against
//! an iteration and wall-time budget before they run ([`limits`]); the translator refuses
//! nesting deep enough to overflow the stack. No I/O happens here.

mod blocks;
mod escape;
mod filters;
pub mod limits;
mod literals;
mod placeholders;
mod runtime;
mod translate;
mod validate;
mod view;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use liquid_core::Renderable;

use crate::model::ContentType;
use limits::LimitedWriter;
use runtime::{EventRuntime, Fill, Stop};

pub use placeholders::{placeholders, Placeholder};
pub use validate::validate_schema;

/// Largest schema content accepted (API.md: ≤ 256 KiB).
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;
/// Largest rendered body; a larger one fails that delivery.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Why a schema could not be compiled, validated or rendered. Messages are meant for operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The content is larger than [`MAX_CONTENT_BYTES`].
    #[error("template is {size} bytes, more than the limit of {limit} bytes")]
    ContentTooLarge { size: usize, limit: usize },
    /// The template does not parse; line and column (1-based, in characters) of the original.
    #[error("template does not parse at line {line}, column {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    /// The rendered body would exceed [`MAX_OUTPUT_BYTES`] (or a value inside it that limit).
    #[error("rendered body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The template ran past its loop or time budget.
    #[error("template runs too long: {reason}")]
    TooLong { reason: String },
    /// Any other rendering failure (a filter given the wrong kind of value, …).
    #[error("template failed to render: {0}")]
    Render(String),
    /// Validation: the body rendered from the sample event is not well-formed.
    #[error("rendered against the sample event, the body is not well-formed {kind}: {message}")]
    NotWellFormed { kind: &'static str, message: String },
}

/// A compiled schema: parse once, render many times, from any thread.
#[derive(Debug)]
pub struct Template {
    inner: liquid_core::Template,
    content_type: ContentType,
    /// Initial capacity of the output buffer: the template's own size is a good guess.
    size_hint: usize,
}

/// A rendered body and the placeholders it found no value for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: String,
    /// Colon form (`ticket:nope`), deduplicated, in first-seen order.
    pub unknown_placeholders: Vec<String>,
}

/// Translates and parses `content` for `content_type`.
pub fn compile(content_type: ContentType, content: &str) -> Result<Template, RenderError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(RenderError::ContentTooLarge {
            size: content.len(),
            limit: MAX_CONTENT_BYTES,
        });
    }
    let translated = translate::translate(content, content_type)
        .map_err(|e| parse_error_at(content, e.offset, e.message))?;
    if let Some((_, message)) = literals::oversized_integer(&translated.text) {
        // Before the parser, which would panic on it.
        return Err(parse_error_at(content, 0, message));
    }
    // liquid-core's parser, not `liquid::Parser`: see `filters::language` for why.
    let parsed = catch_unwind(|| liquid_core::parser::parse(&translated.text, filters::language()))
        .map_err(|_| parse_error_at(content, 0, "the parser failed".to_owned()))?;
    let elements = parsed.map_err(|e| parse_error(content, &translated, &e.to_string()))?;
    Ok(Template {
        inner: liquid_core::Template::new(elements),
        content_type,
        size_hint: content.len().saturating_mul(2).min(MAX_OUTPUT_BYTES),
    })
}

impl Template {
    /// The content type the template was compiled for.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// Renders against an event (the event JSON object as received by the API).
    pub fn render(&self, event: &serde_json::Value) -> Result<Rendered, RenderError> {
        self.render_with(event, Fill::Nil)
    }

    /// Renders with missing values filled in as `fill`.
    fn render_with(&self, event: &serde_json::Value, fill: Fill) -> Result<Rendered, RenderError> {
        let runtime = EventRuntime::new(event, fill);
        let mut sink = LimitedWriter::new(MAX_OUTPUT_BYTES);
        sink.buf.reserve(self.size_hint);
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.inner.render_to(&mut sink, &runtime)
        }));
        let state = runtime.into_state();
        match result {
            Ok(Ok(())) => Ok(Rendered {
                body: String::from_utf8(sink.buf)
                    .map_err(|_| RenderError::Render("output is not UTF-8".to_owned()))?,
                unknown_placeholders: state.unknowns,
            }),
            Ok(Err(_)) if sink.overflowed || state.stop == Some(Stop::TooLarge) => {
                Err(RenderError::TooLarge {
                    limit: MAX_OUTPUT_BYTES,
                })
            }
            Ok(Err(e)) => Err(match state.stop {
                Some(Stop::TooLong(reason)) => RenderError::TooLong { reason },
                _ => RenderError::Render(describe(&e.to_string()).message),
            }),
            Err(_) => Err(RenderError::Render(
                "internal error while rendering".to_owned(),
            )),
        }
    }
}

/// The built-in sample event (`sample-event.json`), parsed once.
pub fn sample_event() -> &'static serde_json::Value {
    static SAMPLE: OnceLock<serde_json::Value> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        serde_json::from_str(include_str!("sample-event.json"))
            .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()))
    })
}

/// Builds a parse error at a byte offset of the original template.
fn parse_error_at(content: &str, offset: usize, message: String) -> RenderError {
    let (line, column) = line_column(content, offset);
    RenderError::Parse {
        line,
        column,
        message,
    }
}

/// Maps a liquid parse error back to the original: pest's ` --> line:col` when present, else
/// the filter it names; the message is liquid's, with its context but without internal names.
fn parse_error(content: &str, translated: &translate::Translated, error: &str) -> RenderError {
    let described = describe(error);
    let offset = pest_position(error)
        .map(|(line, column)| offset_of(&translated.text, line, column))
        .or_else(|| find_filter(&translated.text, described.filter.as_deref()?))
        .map_or(0, |t| translated.to_original(t));
    parse_error_at(content, offset, described.message)
}

/// A liquid error message made readable: headline plus context, one line.
struct Described {
    message: String,
    filter: Option<String>,
}

/// Flattens liquid's multi-line error text: `liquid: <headline>` (or pest's `= <headline>`),
/// then `key=value` context lines; `available …` lists and `from:` traces are dropped.
fn describe(error: &str) -> Described {
    let mut headline = None;
    let mut context = Vec::new();
    let mut filter = None;
    for line in error.lines() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix("= ") {
            headline = Some(h.to_owned());
        } else if let Some((key, value)) = line.split_once('=') {
            if key.starts_with("available") || key.contains(' ') && !key.starts_with("requested") {
                continue;
            }
            if key.ends_with("filter") {
                filter = value.split_whitespace().next().map(str::to_owned);
            }
            context.push(format!(
                "{}: {}",
                key.trim_start_matches("requested "),
                value.trim()
            ));
        } else if headline.is_none() && line.starts_with("liquid: ") && !line.contains("-->") {
            headline = Some(line["liquid: ".len()..].to_owned());
        }
    }
    let mut message = headline.unwrap_or_else(|| "invalid template".to_owned());
    if !context.is_empty() {
        message = format!("{} ({})", message.trim_end_matches('.'), context.join("; "));
    }
    Described {
        message: clean_message(&message),
        filter,
    }
}

/// Byte offset of the first `| name` in the translated text.
fn find_filter(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(name) {
        let at = from + i;
        let before = text[..at].trim_end();
        let after = text[at + name.len()..].chars().next();
        let boundary = !after.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if before.ends_with('|') && boundary {
            return Some(at);
        }
        from = at + name.len();
    }
    None
}

/// The `line:col` after ` --> ` in a pest error message.
fn pest_position(error: &str) -> Option<(usize, usize)> {
    let rest = error.split_once("--> ")?.1;
    let position = rest.split_whitespace().next()?;
    let (line, column) = position.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// Byte offset of a 1-based line and character column.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = text.get(line_start..).unwrap_or_default();
    let in_line = rest
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(rest.len(), |(i, _)| i);
    line_start + in_line
}

/// 1-based line and character column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Removes the translator's internal filter names from a liquid message.
fn clean_message(message: &str) -> String {
    let mut out = message.trim().to_owned();
    for name in [
        "__hl_esc_json",
        "__hl_esc_xml",
        "__hl_esc_text",
        "__hl_raw_json",
        "__hl_raw_xml",
        "__hl_raw_text",
    ] {
        out = out.replace(&format!("  | {name} "), " ");
        out = out.replace(&format!(" | {name} "), " ");
        out = out.replace(&format!(" | {name}"), "");
    }
    out.replace("__hl_root", "event")
}

#[cfg(test)]
mod tests;
