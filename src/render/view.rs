//! A zero-copy Liquid view of a `serde_json::Value`.
//!
//! Rendering reads the event in place: `Json` implements liquid's `ValueView`, `ArrayView` and
//! `ObjectView` over the JSON tree, so no liquid `Value` is built unless a filter asks for one.

use liquid_core::model::{
    ArrayView, DisplayCow, KStringCow, ObjectView, ScalarCow, State, Value, ValueView,
};
use ref_cast::RefCast;
use serde_json::Value as JsonValue;

/// A `serde_json::Value` seen through liquid's view traits.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub(crate) struct Json(JsonValue);

impl Json {
    /// Views a JSON value without copying it.
    pub(crate) fn new(value: &JsonValue) -> &Json {
        Json::ref_cast(value)
    }

    /// The number as liquid sees it: an integer when it fits, else a float.
    fn number(n: &serde_json::Number) -> ScalarCow<'static> {
        match n.as_i64() {
            Some(i) => ScalarCow::new(i),
            None => ScalarCow::new(n.as_f64().unwrap_or(f64::NAN)),
        }
    }
}

/// Converts a JSON value into an owned liquid value (only when a filter needs ownership).
fn to_liquid(value: &JsonValue) -> Value {
    match value {
        JsonValue::Null => Value::Nil,
        JsonValue::Bool(b) => Value::scalar(*b),
        JsonValue::Number(n) => Value::Scalar(Json::number(n).into_owned()),
        JsonValue::String(s) => Value::scalar(s.clone()),
        JsonValue::Array(items) => Value::Array(items.iter().map(to_liquid).collect()),
        JsonValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone().into(), to_liquid(v)))
                .collect(),
        ),
    }
}

impl ValueView for Json {
    fn as_debug(&self) -> &dyn std::fmt::Debug {
        self
    }

    fn render(&self) -> DisplayCow<'_> {
        match &self.0 {
            JsonValue::Null => DisplayCow::Borrowed(&""),
            JsonValue::String(s) => DisplayCow::Borrowed(s),
            JsonValue::Bool(b) => DisplayCow::Borrowed(b),
            _ => DisplayCow::Owned(Box::new(self.to_value().render().to_string())),
        }
    }

    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(self.to_value().source().to_string()))
    }

    fn type_name(&self) -> &'static str {
        match &self.0 {
            JsonValue::Null => "nil",
            JsonValue::Bool(_) => "boolean",
            JsonValue::Number(n) if n.as_i64().is_some() => "whole number",
            JsonValue::Number(_) => "fractional number",
            JsonValue::String(_) => "string",
            JsonValue::Array(_) => "array",
            JsonValue::Object(_) => "object",
        }
    }

    fn query_state(&self, state: State) -> bool {
        match &self.0 {
            JsonValue::Null => !matches!(state, State::Truthy),
            JsonValue::Array(items) => match state {
                State::Truthy => true,
                _ => items.is_empty(),
            },
            JsonValue::Object(map) => match state {
                State::Truthy => true,
                _ => map.is_empty(),
            },
            _ => self
                .as_scalar()
                .is_some_and(|s| s.as_view().query_state(state)),
        }
    }

    fn to_kstr(&self) -> KStringCow<'_> {
        match &self.0 {
            JsonValue::String(s) => KStringCow::from_ref(s),
            JsonValue::Null => KStringCow::from_static(""),
            _ => KStringCow::from_string(self.render().to_string()),
        }
    }

    fn to_value(&self) -> Value {
        to_liquid(&self.0)
    }

    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        match &self.0 {
            JsonValue::Bool(b) => Some(ScalarCow::new(*b)),
            JsonValue::Number(n) => Some(Json::number(n)),
            JsonValue::String(s) => Some(ScalarCow::new(s.as_str())),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&dyn ArrayView> {
        matches!(self.0, JsonValue::Array(_)).then_some(self as &dyn ArrayView)
    }

    fn as_object(&self) -> Option<&dyn ObjectView> {
        matches!(self.0, JsonValue::Object(_)).then_some(self as &dyn ObjectView)
    }

    fn is_nil(&self) -> bool {
        self.0.is_null()
    }
}

impl Json {
    fn items(&self) -> &[JsonValue] {
        match &self.0 {
            JsonValue::Array(items) => items,
            _ => &[],
        }
    }

    fn map(&self) -> Option<&serde_json::Map<String, JsonValue>> {
        self.0.as_object()
    }

    /// Liquid's index convention: negative indexes count from the end.
    fn index(&self, index: i64) -> Option<&JsonValue> {
        let len = i64::try_from(self.items().len()).ok()?;
        let index = if index < 0 { index + len } else { index };
        usize::try_from(index)
            .ok()
            .and_then(|i| self.items().get(i))
    }
}

impl ArrayView for Json {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        i64::try_from(self.items().len()).unwrap_or(i64::MAX)
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.items().iter().map(|v| Json::new(v) as &dyn ValueView))
    }

    fn contains_key(&self, index: i64) -> bool {
        self.index(index).is_some()
    }

    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        self.index(index).map(|v| Json::new(v) as &dyn ValueView)
    }
}

impl ObjectView for Json {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        self.map()
            .map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX))
    }

    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        Box::new(
            self.map()
                .into_iter()
                .flat_map(|m| m.keys())
                .map(|k| KStringCow::from_ref(k)),
        )
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(
            self.map()
                .into_iter()
                .flat_map(|m| m.values())
                .map(|v| Json::new(v) as &dyn ValueView),
        )
    }

    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        Box::new(
            self.map()
                .into_iter()
                .flat_map(|m| m.iter())
                .map(|(k, v)| (KStringCow::from_ref(k), Json::new(v) as &dyn ValueView)),
        )
    }

    fn contains_key(&self, index: &str) -> bool {
        self.map().is_some_and(|m| m.contains_key(index))
    }

    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        self.map()
            .and_then(|m| m.get(index))
            .map(|v| Json::new(v) as &dyn ValueView)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_render_like_liquid() {
        let v = json!({"i": 1234, "f": 7.5, "b": true, "s": "x", "n": null});
        let j = Json::new(&v);
        let get = |k: &str| {
            ObjectView::get(j, k)
                .map(|v| v.render().to_string())
                .unwrap_or_default()
        };
        assert_eq!(get("i"), "1234");
        assert_eq!(get("f"), "7.5");
        assert_eq!(get("b"), "true");
        assert_eq!(get("s"), "x");
        assert_eq!(get("n"), "");
    }

    #[test]
    fn arrays_index_from_both_ends() {
        let v = json!(["a", "b", "c"]);
        let j = Json::new(&v);
        let at = |i| ArrayView::get(j, i).map(|v| v.to_kstr().into_owned());
        assert_eq!(at(0).as_deref(), Some("a"));
        assert_eq!(at(-1).as_deref(), Some("c"));
        assert_eq!(at(3), None);
        assert_eq!(at(-4), None);
    }
}
