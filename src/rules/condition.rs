//! One condition: compiled from the model, then tested against a field value.

use std::cmp::Ordering;

use regex_automata::meta::Regex;
use serde_json::Value;

use super::path::Found;
use super::regexes::Regexes;
use super::value::{text_contains, text_ends_with, text_starts_with, Operand};
use crate::model::{Condition, Op};

/// The positive form of an operator; negated operators share it and flip the
/// answer, so `ne` is always exactly "not `eq`".
#[derive(Debug, Clone)]
enum Test {
    Eq(Operand),
    In(Vec<Operand>),
    Contains(Operand),
    StartsWith(Operand),
    EndsWith(Operand),
    Order(fn(Ordering) -> bool, Operand),
    Exists,
    Matches(Regex),
}

/// A condition ready to run: field interned by the owning group or plan.
#[derive(Debug, Clone)]
pub(crate) struct CompiledCondition {
    pub(crate) path: usize,
    test: Test,
    negated: bool,
}

/// Where a compile error sits inside one condition, and why.
pub(crate) struct ConditionError {
    pub(crate) part: &'static str,
    pub(crate) message: String,
}

fn err(part: &'static str, message: impl Into<String>) -> ConditionError {
    ConditionError {
        part,
        message: message.into(),
    }
}

impl CompiledCondition {
    /// Builds the test for `c`; the path id is filled in by the caller, which
    /// owns the path table.
    pub(crate) fn compile(
        c: &Condition,
        path: usize,
        regexes: &mut Regexes,
    ) -> Result<CompiledCondition, ConditionError> {
        let negated = matches!(c.op, Op::Ne | Op::NotIn | Op::NotContains | Op::NotExists);
        let test = build_test(c.op, c.value.as_ref(), regexes)?;
        Ok(CompiledCondition {
            path,
            test,
            negated,
        })
    }

    /// Whether the condition holds for the field value found (if any).
    /// `null` counts as missing: a cleared field (`"assignee": null`) is
    /// absent to an operator, so `ne`/`not_*` hold and the rest fail.
    pub(crate) fn holds(&self, field: &Found) -> bool {
        match field.value {
            None => self.negated,
            Some(v) => self.test.holds(v, field) != self.negated,
        }
    }
}

fn build_test(
    op: Op,
    value: Option<&Value>,
    regexes: &mut Regexes,
) -> Result<Test, ConditionError> {
    if matches!(op, Op::Exists | Op::NotExists) {
        return Ok(Test::Exists);
    }
    let value = value.ok_or_else(|| err("value", "is required for this operator"))?;
    Ok(match op {
        Op::Eq | Op::Ne => Test::Eq(Operand::new(value)),
        Op::In | Op::NotIn => Test::In(list(value)?),
        Op::Contains | Op::NotContains => Test::Contains(Operand::new(value)),
        Op::StartsWith => Test::StartsWith(Operand::new(value)),
        Op::EndsWith => Test::EndsWith(Operand::new(value)),
        Op::Gt => Test::Order(Ordering::is_gt, Operand::new(value)),
        Op::Gte => Test::Order(Ordering::is_ge, Operand::new(value)),
        Op::Lt => Test::Order(Ordering::is_lt, Operand::new(value)),
        Op::Lte => Test::Order(Ordering::is_le, Operand::new(value)),
        Op::Matches => Test::Matches(regex(value, regexes)?),
        Op::Exists | Op::NotExists => Test::Exists,
    })
}

fn list(value: &Value) -> Result<Vec<Operand>, ConditionError> {
    match value {
        Value::Array(items) => Ok(items.iter().map(Operand::new).collect()),
        _ => Err(err("value", "must be a list for in/not_in")),
    }
}

fn regex(value: &Value, regexes: &mut Regexes) -> Result<Regex, ConditionError> {
    let pattern = value
        .as_str()
        .ok_or_else(|| err("value", "must be a string (a regular expression)"))?;
    regexes.get(pattern).map_err(|m| err("value", m))
}

impl Test {
    /// The positive test on a present, non-null value.
    fn holds(&self, v: &Value, field: &Found) -> bool {
        match self {
            Test::Eq(o) => o.equals(v),
            Test::In(items) => any_item(v, |x| items.iter().any(|o| o.equals(x))),
            Test::Contains(o) => contains(v, o),
            Test::StartsWith(o) => with_text(v, o, text_starts_with),
            Test::EndsWith(o) => with_text(v, o, text_ends_with),
            Test::Order(accept, o) => o.order(v, || field.instant()).is_some_and(accept),
            Test::Exists => true,
            Test::Matches(re) => v.as_str().is_some_and(|s| re.is_match(s)),
        }
    }
}

/// For an array field, whether any item passes; otherwise the value itself.
fn any_item(v: &Value, pass: impl Fn(&Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(pass),
        _ => pass(v),
    }
}

fn contains(v: &Value, o: &Operand) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|x| o.equals(x)),
        _ => with_text(v, o, text_contains),
    }
}

/// Applies a folded-text test when the field is a string and the operand has
/// a text form.
fn with_text(v: &Value, o: &Operand, f: fn(&str, &str) -> bool) -> bool {
    match (v.as_str(), o.text()) {
        (Some(s), Some(t)) => f(s, t),
        _ => false,
    }
}
