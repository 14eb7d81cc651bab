//! Rule evaluation (BEHAVIOUR.md §2): which rules an event matches, which SLA
//! targets it sets and which (webhook, schema) pairs it fires.
//!
//! Pure: no I/O, no clocks. Groups are compiled once into a [`Plan`] (swapped
//! on every configuration change) so the per-event path does no parsing,
//! lowercasing of comparison values or regex building.
//!
//! Decisions where the spec is silent:
//! - A field whose value is `null` is treated as missing: `ne`, `not_in`,
//!   `not_contains`, `not_exists` hold, everything else fails.
//! - `"value": null` deserialises to no value, so it is refused for every
//!   operator that needs one; `null` items inside an `in` list never match.
//! - Two strings compare as strings even when both look numeric (`"1.0"` is
//!   not `"1"`); a JSON number against a number or numeric string compares as
//!   numbers. A boolean equals the string `"true"`/`"false"` (any case).
//! - Arrays/objects as `eq` values compare as exact JSON; `eq` on an array
//!   field does not look inside it (that is what `contains` and `in` do).
//! - `contains`/`starts_with`/`ends_with` on a string field accept a number or
//!   boolean value by its JSON text (`"T-1234"` contains `12`).
//! - `gt`…`lte` with a value that is neither a number nor an RFC 3339 time
//!   never hold (not a compile error, as the API lists no such error).
//! - A numeric path segment also indexes arrays (`ticket.tags.0`).

mod compile;
mod condition;
mod path;
mod regexes;
mod value;

#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value;

pub use compile::{
    compile, compile_group, compile_group_with, compile_valid, CompileError, CompiledGroup,
};
use compile::{CompiledRule, Conditions};
use path::{FieldPath, Found};
pub use regexes::Regexes;

use crate::model::WebhookAction;

/// A rule that matched an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedRule {
    pub group_id: String,
    pub rule_id: String,
    pub name: String,
}

/// SLA targets set by matched rules; the last rule that sets one wins.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TargetActions {
    pub set_response_target: Option<String>,
    pub set_resolve_target: Option<String>,
}

/// The outcome of evaluating one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// In evaluation order.
    pub matched_rules: Vec<MatchedRule>,
    pub actions: TargetActions,
    /// Distinct (webhook, schema) pairs in first-seen order.
    pub webhooks: Vec<WebhookAction>,
}

/// A compiled evaluation plan: enabled groups in evaluation order, enabled
/// rules only, paths split, values normalised and regexes built.
#[derive(Debug, Clone)]
pub struct Plan {
    groups: Vec<CompiledGroup>,
    paths: Vec<FieldPath>,
    pairs: Vec<WebhookAction>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan::new(Vec::new(), Vec::new(), Vec::new())
    }
}

impl Plan {
    fn new(groups: Vec<CompiledGroup>, paths: Vec<FieldPath>, pairs: Vec<WebhookAction>) -> Plan {
        Plan {
            groups,
            paths,
            pairs,
        }
    }

    /// True when no enabled group is left, so callers can skip evaluation.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Runs every group against `event`. Never panics, whatever the shape.
    pub fn evaluate(&self, event: &Value) -> Evaluation {
        let mut run = Run::new(self, event);
        for group in &self.groups {
            if run.group(group) {
                break;
            }
        }
        run.finish()
    }
}

/// State of one evaluation.
struct Run<'p, 'e> {
    plan: &'p Plan,
    event: &'e Value,
    /// Field lookups by path id: outer `None` = not looked up yet. Many rules
    /// test the same few fields, so each is walked once per event.
    fields: Vec<Option<Found<'e>>>,
    /// Pair ids already collected (allocated on the first webhook action).
    seen: Vec<bool>,
    out: Evaluation,
}

impl<'p, 'e> Run<'p, 'e> {
    fn new(plan: &'p Plan, event: &'e Value) -> Self {
        Run {
            plan,
            event,
            fields: vec![None; plan.paths.len()],
            seen: Vec::new(),
            out: Evaluation::default(),
        }
    }

    /// Evaluates one group; returns whether evaluation stops after it.
    fn group(&mut self, group: &CompiledGroup) -> bool {
        if !self.check(&group.gate) {
            return false;
        }
        let mut stop = group.stop_groups;
        for rule in &group.rules {
            if !self.check(&rule.when) {
                continue;
            }
            self.apply(&group.id, rule);
            stop |= rule.stop_groups;
            if rule.stop_rules {
                break;
            }
        }
        stop
    }

    /// Whether a condition list holds: all / any, empty always holds.
    fn check(&mut self, c: &Conditions) -> bool {
        if c.items.is_empty() {
            return true;
        }
        let mut results = c.items.iter().map(|c| {
            let missing = Found::new(None);
            c.holds(self.field(c.path).unwrap_or(&missing))
        });
        if c.all {
            results.all(|ok| ok)
        } else {
            results.any(|ok| ok)
        }
    }

    /// The cached lookup of a path id. Ids come from the plan's own table, so
    /// `None` (out of range) cannot happen; `get` just keeps it panic-free.
    fn field(&mut self, path: usize) -> Option<&Found<'e>> {
        let (event, lookup) = (self.event, self.plan.paths.get(path)?);
        let slot = self.fields.get_mut(path)?;
        Some(slot.get_or_insert_with(|| Found::new(lookup.lookup(event))))
    }

    fn apply(&mut self, group_id: &str, rule: &CompiledRule) {
        self.out.matched_rules.push(MatchedRule {
            group_id: group_id.to_owned(),
            rule_id: rule.id.clone(),
            name: rule.name.clone(),
        });
        let targets = &mut self.out.actions;
        if rule.response_target.is_some() {
            targets
                .set_response_target
                .clone_from(&rule.response_target);
        }
        if rule.resolve_target.is_some() {
            targets.set_resolve_target.clone_from(&rule.resolve_target);
        }
        for &pair in &rule.webhooks {
            self.collect(pair);
        }
    }

    fn collect(&mut self, pair: usize) {
        if self.seen.is_empty() {
            self.seen = vec![false; self.plan.pairs.len()];
        }
        let (Some(seen), Some(action)) = (self.seen.get_mut(pair), self.plan.pairs.get(pair))
        else {
            return;
        };
        if !*seen {
            *seen = true;
            self.out.webhooks.push(action.clone());
        }
    }

    fn finish(self) -> Evaluation {
        self.out
    }
}
