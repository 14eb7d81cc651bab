//! Escaping by content type, and JSON text for any Liquid value.

use std::fmt::Write as _;

use liquid_core::model::{ScalarCow, ValueView};

use crate::model::ContentType;

/// Appends `s` escaped for `content_type`: inside of a JSON string, XML character data or
/// attribute value, or as is.
pub(crate) fn push_escaped(out: &mut String, s: &str, content_type: ContentType) {
    match content_type {
        ContentType::Json => push_json_str_inner(out, s),
        ContentType::Xml => push_xml(out, s),
        ContentType::Text => out.push_str(s),
    }
}

/// Appends `s` as the inside of a JSON string (no quotes), the way serde_json escapes.
pub(crate) fn push_json_str_inner(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends `s` with `& < > " '` as entities. Control characters other than tab and newline
/// become numeric references (a raw CR would be normalised away by XML parsers); NUL, which
/// XML cannot carry at all, becomes U+FFFD.
pub(crate) fn push_xml(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            b'\t' | b'\n' => continue,
            0 => "\u{fffd}",
            1..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "&#x{b:x};");
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends `value` as compact JSON text: nil as `null`, strings quoted, arrays and objects whole.
pub(crate) fn push_json_value(out: &mut String, value: &dyn ValueView) {
    if let Some(scalar) = value.as_scalar() {
        push_json_scalar(out, &scalar);
    } else if let Some(array) = value.as_array() {
        out.push('[');
        for (i, item) in array.values().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_value(out, item);
        }
        out.push(']');
    } else if let Some(object) = value.as_object() {
        out.push('{');
        for (i, (key, item)) in object.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(out, &key);
            out.push(':');
            push_json_value(out, item);
        }
        out.push('}');
    } else {
        out.push_str("null");
    }
}

fn push_json_scalar(out: &mut String, scalar: &ScalarCow<'_>) {
    match scalar.as_view().type_name() {
        "whole number" | "boolean" => out.push_str(&scalar.to_kstr()),
        "fractional number" => match scalar.to_float().and_then(serde_json::Number::from_f64) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        },
        _ => push_json_string(out, &scalar.to_kstr()),
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    push_json_str_inner(out, s);
    out.push('"');
}

/// Appends a value as an output expression writes it: nil and empty states as nothing,
/// scalars as their text, arrays and objects as JSON text; then escaped for `content_type`.
pub(crate) fn push_output(out: &mut String, value: &dyn ValueView, content_type: ContentType) {
    if let Some(scalar) = value.as_scalar() {
        push_escaped(out, &scalar.to_kstr(), content_type);
    } else if value.is_array() || value.is_object() {
        let mut json = String::new();
        push_json_value(&mut json, value);
        push_escaped(out, &json, content_type);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liquid_core::model::Value;

    fn esc(s: &str, ct: ContentType) -> String {
        let mut out = String::new();
        push_escaped(&mut out, s, ct);
        out
    }

    #[test]
    fn json_inner_matches_serde_json() {
        let s = "a\"b\\c\n\r\t\u{1}\u{1f}\u{7f}é😀";
        let quoted = serde_json::to_string(s).unwrap_or_default();
        assert_eq!(format!("\"{}\"", esc(s, ContentType::Json)), quoted);
    }

    #[test]
    fn xml_entities() {
        assert_eq!(
            esc("A & B <c> \"d\" 'e'", ContentType::Xml),
            "A &amp; B &lt;c&gt; &quot;d&quot; &apos;e&apos;"
        );
        assert_eq!(esc("a\r\u{1}\tb", ContentType::Xml), "a&#xd;&#x1;\tb");
    }

    #[test]
    fn json_values() {
        let v = Value::Array(vec![
            Value::scalar("x\"y"),
            Value::scalar(1i64),
            Value::scalar(7.5f64),
            Value::scalar(true),
            Value::Nil,
        ]);
        let mut out = String::new();
        push_json_value(&mut out, &v);
        assert_eq!(out, "[\"x\\\"y\",1,7.5,true,null]");
    }
}
