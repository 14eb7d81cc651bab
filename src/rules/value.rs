//! Comparison values: normalised once at compile time so that evaluation
//! compares without allocating.

use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A number from JSON or from a numeric string. Integers stay exact so that
/// large ticket ids (beyond 2^53) still compare correctly; anything with a
/// fraction or exponent is a finite `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    /// Reads a JSON number; non-finite values cannot occur in JSON but are
    /// rejected anyway so that ordering is always total.
    pub(crate) fn from_json(n: &Number) -> Option<Num> {
        if let Some(i) = n.as_i64() {
            return Some(Num::Int(i128::from(i)));
        }
        if let Some(u) = n.as_u64() {
            return Some(Num::Int(i128::from(u)));
        }
        n.as_f64().filter(|f| f.is_finite()).map(Num::Float)
    }

    /// Reads a numeric string: optional sign, digits, optional fraction and
    /// exponent. Words such as `inf` or `NaN`, which `f64::from_str` would
    /// accept, are not numbers to an operator, so they are refused here.
    pub(crate) fn parse(s: &str) -> Option<Num> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > 64 || !b.iter().any(u8::is_ascii_digit) {
            return None;
        }
        if !b.iter().all(|c| c.is_ascii_digit() || b"+-.eE".contains(c)) {
            return None;
        }
        if let Ok(i) = s.parse::<i128>() {
            return Some(Num::Int(i));
        }
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Num::Float)
    }

    /// Reads a JSON value as a number when it is one or is a numeric string.
    pub(crate) fn from_value(v: &Value) -> Option<Num> {
        match v {
            Value::Number(n) => Num::from_json(n),
            Value::String(s) => Num::parse(s),
            _ => None,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            // Precision loss only matters past 2^53, where exact integer
            // comparison below already handles the Int/Int case.
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// Total for every value `Num` can hold (all finite).
    pub(crate) fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

/// Parses an RFC 3339 time into Unix nanoseconds, so different offsets of the
/// same instant compare equal.
pub(crate) fn parse_instant(s: &str) -> Option<i128> {
    // Cheap pre-check: every RFC 3339 time starts with a 4-digit year and a
    // dash, which keeps ordinary strings off the full parser.
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 64 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Lowercases with `char::to_lowercase`, the same per-character mapping the
/// evaluator uses on field values, so both sides fold identically.
pub(crate) fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// `fold(field) == folded`, without allocating.
pub(crate) fn text_eq(field: &str, folded: &str) -> bool {
    if field.is_ascii() {
        // An ASCII string folds to its ASCII lowercase, and `folded` holds no
        // ASCII capitals, so this is exact.
        return field.eq_ignore_ascii_case(folded);
    }
    field
        .chars()
        .flat_map(char::to_lowercase)
        .eq(folded.chars())
}

/// `fold(field).starts_with(folded)`, without allocating.
pub(crate) fn text_starts_with(field: &str, folded: &str) -> bool {
    let mut lowered = field.chars().flat_map(char::to_lowercase);
    folded.chars().all(|c| lowered.next() == Some(c))
}

/// `fold(field).ends_with(folded)`, without allocating.
pub(crate) fn text_ends_with(field: &str, folded: &str) -> bool {
    let mut lowered = field.chars().rev().flat_map(|c| c.to_lowercase().rev());
    folded.chars().rev().all(|c| lowered.next() == Some(c))
}

/// `fold(field).contains(folded)`; allocates only for non-ASCII fields.
pub(crate) fn text_contains(field: &str, folded: &str) -> bool {
    if folded.is_empty() {
        return true;
    }
    if field.is_ascii() {
        // A non-ASCII needle can never be inside a folded ASCII haystack.
        return folded.is_ascii()
            && field
                .as_bytes()
                .windows(folded.len())
                .any(|w| w.eq_ignore_ascii_case(folded.as_bytes()));
    }
    fold(field).contains(folded)
}

/// The shape of a comparison value, kept for type-directed equality.
#[derive(Debug, Clone)]
enum Kind {
    Str,
    Num(Num),
    Bool(bool),
    /// Arrays and objects (and `null` inside `in` lists): compared as JSON.
    Other(Value),
}

/// A comparison value from a condition, with every form the operators need
/// worked out in advance.
#[derive(Debug, Clone)]
pub(crate) struct Operand {
    kind: Kind,
    /// Folded text for string operators: the string itself, a number's JSON
    /// text or `true`/`false`. `None` for arrays, objects and null.
    text: Option<Box<str>>,
    /// Set for numbers and numeric strings.
    num: Option<Num>,
    /// Set for RFC 3339 strings.
    instant: Option<i128>,
}

impl Operand {
    pub(crate) fn new(v: &Value) -> Operand {
        let (kind, text) = match v {
            Value::String(s) => (Kind::Str, Some(fold(s).into())),
            Value::Number(n) => match Num::from_json(n) {
                Some(num) => (Kind::Num(num), Some(n.to_string().into())),
                None => (Kind::Other(v.clone()), None),
            },
            Value::Bool(b) => (Kind::Bool(*b), Some(b.to_string().into())),
            _ => (Kind::Other(v.clone()), None),
        };
        let num = Num::from_value(v);
        let instant = v.as_str().and_then(parse_instant);
        Operand {
            kind,
            text,
            num,
            instant,
        }
    }

    /// Folded text form, for contains/starts_with/ends_with.
    pub(crate) fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// `eq` semantics on one (non-null) field value.
    pub(crate) fn equals(&self, field: &Value) -> bool {
        match (field, &self.kind) {
            (Value::String(s), Kind::Str) => self.text.as_deref().is_some_and(|t| text_eq(s, t)),
            (Value::String(s), Kind::Num(n)) => {
                Num::parse(s).is_some_and(|f| f.compare(*n) == Some(Ordering::Equal))
            }
            (Value::Number(f), _) => self.num_equals(f),
            (Value::Bool(b), Kind::Bool(v)) => b == v,
            (Value::Bool(b), Kind::Str) => {
                self.text.as_deref() == Some(if *b { "true" } else { "false" })
            }
            (Value::String(s), Kind::Bool(v)) => {
                s.eq_ignore_ascii_case(if *v { "true" } else { "false" })
            }
            (_, Kind::Other(o)) => field == o,
            _ => false,
        }
    }

    fn num_equals(&self, field: &Number) -> bool {
        match (Num::from_json(field), self.num) {
            (Some(f), Some(n)) => f.compare(n) == Some(Ordering::Equal),
            _ => false,
        }
    }

    /// Orders a field value against this operand: as numbers when both are
    /// numeric, else as instants when both are RFC 3339 times, else `None`.
    /// `field_instant` parses the field lazily (the caller caches it).
    pub(crate) fn order(
        &self,
        field: &Value,
        field_instant: impl FnOnce() -> Option<i128>,
    ) -> Option<Ordering> {
        if let Some(n) = self.num {
            return Num::from_value(field).and_then(|f| f.compare(n));
        }
        let instant = self.instant?;
        field_instant().map(|f| f.cmp(&instant))
    }
}
