//! Turning stored rule groups into an evaluation plan.

use std::collections::HashMap;
use std::hash::Hash;

use super::condition::CompiledCondition;
use super::path::FieldPath;
use super::regexes::Regexes;
use super::value::parse_instant;
use super::Plan;
use crate::model::{Condition, Match, Rule, RuleGroup, WebhookAction};

/// A group that failed validation. `field` is relative to the group body
/// (`rules[0].conditions[1].value`, `conditions[0].field`) so the API can hand
/// it back unchanged as the `field` of a `validation_failed` answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CompileError {
    pub field: String,
    pub message: String,
}

/// Assigns dense ids to equal values, so the evaluator can use plain vectors
/// (field cache, seen-pair set) instead of hashing at run time.
#[derive(Debug, Clone)]
pub(crate) struct Interner<T> {
    ids: HashMap<T, usize>,
    pub(crate) items: Vec<T>,
}

impl<T: Clone + Eq + Hash> Interner<T> {
    fn new() -> Self {
        Interner {
            ids: HashMap::new(),
            items: Vec::new(),
        }
    }

    fn intern(&mut self, item: &T) -> usize {
        if let Some(&id) = self.ids.get(item) {
            return id;
        }
        let id = self.items.len();
        self.ids.insert(item.clone(), id);
        self.items.push(item.clone());
        id
    }
}

/// A (webhook id, schema id) pair; the model type has no `Hash`.
pub(crate) type Pair = (String, String);

/// A list of conditions with its `match`; empty always holds.
#[derive(Debug, Clone)]
pub(crate) struct Conditions {
    pub(crate) all: bool,
    pub(crate) items: Vec<CompiledCondition>,
}

/// A compiled, enabled rule.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) when: Conditions,
    pub(crate) stop_rules: bool,
    pub(crate) stop_groups: bool,
    pub(crate) response_target: Option<String>,
    pub(crate) resolve_target: Option<String>,
    /// Pair ids into the group's (later the plan's) pair table.
    pub(crate) webhooks: Vec<usize>,
}

/// One validated group. Ids inside (`path`, `webhooks`) index the group's own
/// tables until [`Plan`] merges them into shared ones.
#[derive(Debug, Clone)]
pub struct CompiledGroup {
    pub(crate) id: String,
    pub(crate) enabled: bool,
    position: i64,
    created: (bool, i128, String),
    pub(crate) gate: Conditions,
    pub(crate) stop_groups: bool,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) paths: Interner<FieldPath>,
    pub(crate) pairs: Interner<Pair>,
}

impl CompiledGroup {
    /// The group's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Order of evaluation: position, then creation time (parsed, so offsets
    /// do not matter; unparsable times go last), then id for determinism.
    fn sort_key(&self) -> (i64, &(bool, i128, String), &str) {
        (self.position, &self.created, &self.id)
    }
}

/// Validates and compiles one group. Disabled rules are validated too (an
/// operator enabling one later must not meet a surprise) but left out.
pub fn compile_group(group: &RuleGroup) -> Result<CompiledGroup, CompileError> {
    compile_group_with(group, &mut Regexes::default())
}

/// [`compile_group`] with the regexes compiled so far for the same plan:
/// equal patterns are shared, and all of them count against one budget.
pub fn compile_group_with(
    group: &RuleGroup,
    regexes: &mut Regexes,
) -> Result<CompiledGroup, CompileError> {
    let mut paths = Interner::new();
    let mut pairs = Interner::new();
    let gate = conditions(
        &group.conditions,
        group.match_,
        "conditions",
        &mut paths,
        regexes,
    )?;
    let mut rules = Vec::new();
    for (i, rule) in group.rules.iter().enumerate() {
        let compiled = compile_rule(
            rule,
            &format!("rules[{i}]"),
            &mut paths,
            &mut pairs,
            regexes,
        )?;
        if rule.enabled {
            rules.push(compiled);
        }
    }
    let created = match parse_instant(&group.created_at) {
        Some(t) => (false, t, group.created_at.clone()),
        None => (true, 0, group.created_at.clone()),
    };
    Ok(CompiledGroup {
        id: group.id.clone(),
        enabled: group.enabled,
        position: group.position,
        created,
        gate,
        stop_groups: group.stop_groups,
        rules,
        paths,
        pairs,
    })
}

/// Compiles every group and orders them for evaluation. An error names the
/// group in its message; its `field` stays relative to that group.
pub fn compile(groups: &[RuleGroup]) -> Result<Plan, CompileError> {
    let mut compiled = Vec::with_capacity(groups.len());
    let mut regexes = Regexes::default();
    for g in groups {
        let c = compile_group_with(g, &mut regexes).map_err(|e| CompileError {
            field: e.field,
            message: format!("in rule group {:?}: {}", g.id, e.message),
        })?;
        compiled.push(c);
    }
    compiled.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(merge(compiled))
}

/// Like [`compile`], but a group that does not compile (stored by another
/// version, say) is left out instead of failing the whole plan; each one
/// left out comes back with its id and why.
pub fn compile_valid(groups: &[RuleGroup]) -> (Plan, Vec<(String, CompileError)>) {
    let mut compiled = Vec::with_capacity(groups.len());
    let mut failed = Vec::new();
    let mut regexes = Regexes::default();
    for g in groups {
        match compile_group_with(g, &mut regexes) {
            Ok(c) => compiled.push(c),
            Err(e) => failed.push((g.id.clone(), e)),
        }
    }
    compiled.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    (merge(compiled), failed)
}

/// Drops disabled groups and moves every group onto shared path and pair
/// tables, so one field lookup serves all groups of an evaluation.
fn merge(groups: Vec<CompiledGroup>) -> Plan {
    let mut paths = Interner::new();
    let mut pairs = Interner::new();
    let mut kept = Vec::new();
    for mut g in groups.into_iter().filter(|g| g.enabled) {
        let path_map: Vec<usize> = g.paths.items.iter().map(|p| paths.intern(p)).collect();
        let pair_map: Vec<usize> = g.pairs.items.iter().map(|p| pairs.intern(p)).collect();
        remap_conditions(&mut g.gate, &path_map);
        for r in &mut g.rules {
            remap_conditions(&mut r.when, &path_map);
            r.webhooks.iter_mut().for_each(|w| *w = pair_map[*w]);
        }
        kept.push(g);
    }
    let pairs = pairs
        .items
        .into_iter()
        .map(|(webhook_id, schema_id)| WebhookAction {
            webhook_id,
            schema_id,
        });
    Plan::new(kept, paths.items, pairs.collect())
}

fn remap_conditions(c: &mut Conditions, map: &[usize]) {
    c.items.iter_mut().for_each(|c| c.path = map[c.path]);
}

fn compile_rule(
    rule: &Rule,
    at: &str,
    paths: &mut Interner<FieldPath>,
    pairs: &mut Interner<Pair>,
    regexes: &mut Regexes,
) -> Result<CompiledRule, CompileError> {
    let when = conditions(
        &rule.conditions,
        rule.match_,
        &format!("{at}.conditions"),
        paths,
        regexes,
    )?;
    let webhooks = rule
        .actions
        .webhooks
        .iter()
        .map(|w| pairs.intern(&(w.webhook_id.clone(), w.schema_id.clone())))
        .collect();
    Ok(CompiledRule {
        id: rule.id.clone(),
        name: rule.name.clone(),
        when,
        stop_rules: rule.stop_rules,
        stop_groups: rule.stop_groups,
        response_target: rule.actions.set_response_target.clone(),
        resolve_target: rule.actions.set_resolve_target.clone(),
        webhooks,
    })
}

fn conditions(
    list: &[Condition],
    match_: Match,
    at: &str,
    paths: &mut Interner<FieldPath>,
    regexes: &mut Regexes,
) -> Result<Conditions, CompileError> {
    let mut items = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let path = FieldPath::parse(&c.field).map_err(|m| error(&here, "field", m))?;
        let id = paths.intern(&path);
        items.push(
            CompiledCondition::compile(c, id, regexes)
                .map_err(|e| error(&here, e.part, e.message))?,
        );
    }
    Ok(Conditions {
        all: match_ == Match::All,
        items,
    })
}

fn error(at: &str, part: &str, message: String) -> CompileError {
    CompileError {
        field: format!("{at}.{part}"),
        message,
    }
}
