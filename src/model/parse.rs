//! Reading an API input from JSON with the path of the member at fault.

use serde::de::DeserializeOwned;

use super::FieldError;

/// Turns a JSON object into `T`, naming the field at fault: a missing member,
/// a wrong type or a value outside its set is an error at that `field`
/// (`auth.type`, `rules[0].conditions[1].op`).
pub fn parse_input<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let mut field = if path == "." { String::new() } else { path };
        if let Some(name) = missing_or_unknown_member(&message) {
            if field != name && !field.ends_with(&format!(".{name}")) {
                field = join_path(&field, name);
            }
        } else if message.contains("unknown variant") && field.ends_with("auth") {
            field.push_str(".type");
        }
        let field = if field.is_empty() {
            "body".to_string()
        } else {
            field
        };
        FieldError::new(field, message)
    })
}

/// serde names a missing or unknown member only in its message: "missing field
/// `url`", "unknown field `x`, expected …".
fn missing_or_unknown_member(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
