//! Dotted field paths into an event.

use std::cell::OnceCell;

use serde_json::Value;

use super::value::parse_instant;

/// Deeper paths than this are refused at compile time: no event model is that
/// deep, and the bound keeps lookups short.
pub(crate) const MAX_SEGMENTS: usize = 32;

/// One step of a path; `index` is set when the key reads as an array index,
/// so `ticket.tags.0` reaches the first tag while `custom.0` still reaches an
/// object member named `"0"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Segment {
    key: Box<str>,
    index: Option<usize>,
}

/// A parsed, validated path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FieldPath {
    segments: Box<[Segment]>,
}

impl FieldPath {
    /// Splits `field` on dots. `event.type`, `event.id` and
    /// `event.occurred_at` name the event's own top-level members.
    pub(crate) fn parse(field: &str) -> Result<FieldPath, String> {
        if field.is_empty() {
            return Err("must not be empty".into());
        }
        let parts: Vec<&str> = field.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err("has an empty segment (check the dots)".into());
        }
        if parts.len() > MAX_SEGMENTS {
            return Err(format!("is deeper than {MAX_SEGMENTS} segments"));
        }
        let parts = match parts.as_slice() {
            ["event", own @ ("type" | "id" | "occurred_at")] => vec![*own],
            _ => parts,
        };
        let segments = parts.into_iter().map(Segment::new).collect();
        Ok(FieldPath { segments })
    }

    /// The value at this path, or `None` when any step is absent.
    pub(crate) fn lookup<'e>(&self, event: &'e Value) -> Option<&'e Value> {
        self.segments.iter().try_fold(event, |v, s| s.step(v))
    }
}

impl Segment {
    fn new(key: &str) -> Segment {
        let index = key
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| key.parse().ok())
            .flatten();
        Segment {
            key: key.into(),
            index,
        }
    }

    fn step<'e>(&self, v: &'e Value) -> Option<&'e Value> {
        match v {
            Value::Object(map) => map.get(&*self.key),
            Value::Array(items) => self.index.and_then(|i| items.get(i)),
            _ => None,
        }
    }
}

/// A field looked up for one evaluation, shared by every condition on that
/// path. The RFC 3339 parse is cached too: time comparisons on the same
/// field (`ticket.due_at lt …`) are common and parsing is the costly part.
#[derive(Debug, Clone)]
pub(crate) struct Found<'e> {
    /// The value, with `null` already turned into "missing".
    pub(crate) value: Option<&'e Value>,
    instant: OnceCell<Option<i128>>,
}

impl<'e> Found<'e> {
    pub(crate) fn new(value: Option<&'e Value>) -> Self {
        Found {
            value: value.filter(|v| !v.is_null()),
            instant: OnceCell::new(),
        }
    }

    /// The field as an instant, when it is an RFC 3339 string.
    pub(crate) fn instant(&self) -> Option<i128> {
        *self
            .instant
            .get_or_init(|| self.value.and_then(Value::as_str).and_then(parse_instant))
    }
}
