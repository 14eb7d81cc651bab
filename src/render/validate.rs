//! Save-time validation of a schema (API.md, Schemas).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::runtime::Fill;
use super::{compile, sample_event, RenderError};
use crate::model::ContentType;

/// Checks that `content` parses and, for json/xml, that rendering it against the built-in
/// sample event (every placeholder the sample lacks written as `0`) gives a well-formed JSON
/// document, or an XML document with exactly one root element.
pub fn validate_schema(content_type: ContentType, content: &str) -> Result<(), RenderError> {
    let template = compile(content_type, content)?;
    if content_type == ContentType::Text {
        return Ok(());
    }
    // `0` keeps `"id": {{ticket:nope}}` well-formed, but is not iterable: a template that
    // loops over a missing value is checked with the missing value as nil instead.
    let body = match template.render_with(sample_event(), Fill::Zero) {
        Err(RenderError::Render(_)) => template.render_with(sample_event(), Fill::Nil)?,
        other => other?,
    }
    .body;
    match content_type {
        ContentType::Json => check_json(&body),
        ContentType::Xml => check_xml(&body),
        ContentType::Text => Ok(()),
    }
}

fn check_json(body: &str) -> Result<(), RenderError> {
    serde_json::from_str::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| RenderError::NotWellFormed {
            kind: "JSON",
            message: e.to_string(),
        })
}

/// Well-formed XML with exactly one root element (declaration, comments, processing
/// instructions, a doctype and whitespace may surround it).
pub(crate) fn check_xml(body: &str) -> Result<(), RenderError> {
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_comments = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_error(format!("{e} (at byte {})", reader.error_position())))?;
        match event {
            Event::Start(e) => {
                check_attributes(&e)?;
                roots += usize::from(depth == 0);
                depth += 1;
            }
            Event::Empty(e) => {
                check_attributes(&e)?;
                roots += usize::from(depth == 0);
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| xml_error(e.to_string()))?;
                if depth == 0 && !text.trim().is_empty() {
                    return Err(xml_error("text outside the root element".to_owned()));
                }
            }
            Event::CData(_) if depth == 0 => {
                return Err(xml_error("CDATA outside the root element".to_owned()))
            }
            Event::Eof => break,
            _ => {}
        }
        if roots > 1 {
            return Err(xml_error("more than one root element".to_owned()));
        }
    }
    match (roots, depth) {
        (0, _) => Err(xml_error("no root element".to_owned())),
        (_, 0) => Ok(()),
        _ => Err(xml_error("an element is not closed".to_owned())),
    }
}

fn check_attributes(element: &BytesStart<'_>) -> Result<(), RenderError> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| xml_error(e.to_string()))?;
        attribute
            .unescape_value()
            .map_err(|e| xml_error(e.to_string()))?;
    }
    Ok(())
}

fn xml_error(message: String) -> RenderError {
    RenderError::NotWellFormed {
        kind: "XML",
        message,
    }
}
