//! The placeholders an editor can offer: every `model:attribute` path of
//! some events (API.md, `GET /api/v1/placeholders`), each with an example.

use std::collections::BTreeMap;

use serde_json::Value;

/// Longest example value, in characters.
const EXAMPLE_CHARS: usize = 100;
/// Paths listed at most: a flood of odd events cannot grow the list without end.
const MAX_PLACEHOLDERS: usize = 5_000;
/// Nesting followed at most below a model.
const MAX_DEPTH: usize = 8;

/// One offered placeholder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Placeholder {
    /// Colon form without braces: `ticket:ref`, `ticket:custom.sla`.
    pub placeholder: String,
    /// A value it had, cut to 100 characters (strings as they are, other
    /// values as JSON text).
    pub example: String,
}

/// Every leaf path of `events`, sorted, each with the example of the first
/// event (in the order given) that had it. Objects at the top are models
/// (`ticket:ref`); other top-level members are the event's own (`event:type`).
pub fn placeholders<'a>(events: impl IntoIterator<Item = &'a Value>) -> Vec<Placeholder> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for event in events {
        let Some(object) = event.as_object() else {
            continue;
        };
        for (key, value) in object {
            match value {
                Value::Object(members) => {
                    for (attr, v) in members {
                        collect(&mut found, key, attr, v, 0);
                    }
                }
                leaf => add(&mut found, format!("event:{key}"), leaf),
            }
        }
    }
    found
        .into_iter()
        .map(|(placeholder, example)| Placeholder {
            placeholder,
            example,
        })
        .collect()
}

fn collect(found: &mut BTreeMap<String, String>, model: &str, path: &str, v: &Value, depth: usize) {
    match v {
        Value::Object(members) if depth < MAX_DEPTH && !members.is_empty() => {
            for (k, child) in members {
                collect(found, model, &format!("{path}.{k}"), child, depth + 1);
            }
        }
        leaf => add(found, format!("{model}:{path}"), leaf),
    }
}

fn add(found: &mut BTreeMap<String, String>, placeholder: String, value: &Value) {
    if found.len() >= MAX_PLACEHOLDERS || found.contains_key(&placeholder) {
        return;
    }
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    found.insert(placeholder, text.chars().take(EXAMPLE_CHARS).collect());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_of_models_and_of_the_event_itself() {
        let recent = json!({"type": "x", "ticket": {"ref": "T-9", "custom": {"sla": "gold"}, "tags": ["a"]}});
        let sample = json!({"id": "s", "type": "y", "ticket": {"ref": "T-1", "subject": "S"}});
        let list = placeholders([&recent, &sample]);
        let names: Vec<_> = list.iter().map(|p| p.placeholder.as_str()).collect();
        assert_eq!(
            names,
            [
                "event:id",
                "event:type",
                "ticket:custom.sla",
                "ticket:ref",
                "ticket:subject",
                "ticket:tags"
            ]
        );
        let example = |name: &str| {
            list.iter()
                .find(|p| p.placeholder == name)
                .map(|p| p.example.clone())
        };
        assert_eq!(
            example("ticket:ref").as_deref(),
            Some("T-9"),
            "first event wins"
        );
        assert_eq!(example("ticket:tags").as_deref(), Some("[\"a\"]"));
    }

    #[test]
    fn examples_are_cut_to_100_characters() {
        let long = "é".repeat(300);
        let list = placeholders([&json!({"ticket": {"subject": long}})]);
        assert_eq!(list[0].example.chars().count(), 100);
    }
}
