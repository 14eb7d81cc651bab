//! Table-driven run of the shared rule vectors (tests/data/rules.json).
//! Vector groups name webhooks and schemas by name and carry no ids, so this
//! file fills ids in and maps names to `wh_<name>`/`sc_<name>` and back.

use hookline::model::{Actions, Condition, Match, Rule, RuleGroup, WebhookAction};
use hookline::rules::compile;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    groups: Vec<VGroup>,
    event: Value,
    expect: Expect,
}

#[derive(Deserialize)]
struct VGroup {
    name: String,
    position: i64,
    enabled: bool,
    #[serde(rename = "match", default)]
    match_: Match,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    stop_groups: bool,
    rules: Vec<VRule>,
}

#[derive(Deserialize)]
struct VRule {
    name: String,
    enabled: bool,
    #[serde(rename = "match", default)]
    match_: Match,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    stop_rules: bool,
    #[serde(default)]
    stop_groups: bool,
    actions: VActions,
}

#[derive(Deserialize)]
struct VActions {
    set_response_target: Option<String>,
    set_resolve_target: Option<String>,
    webhooks: Vec<VPair>,
}

#[derive(Deserialize)]
struct VPair {
    webhook: String,
    schema: String,
}

#[derive(Deserialize)]
struct Expect {
    matched: Vec<String>,
    actions: ExpectActions,
    webhooks: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct ExpectActions {
    set_response_target: Option<String>,
    set_resolve_target: Option<String>,
}

fn load() -> Vectors {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rules.json"
    ));
    serde_json::from_str(text).expect("rules.json parses")
}

/// Builds a stored-looking group: ids `rg_<i>`/`ru_<i>_<j>`, creation times
/// in vector order (so equal positions keep their listed order).
fn to_group(i: usize, g: VGroup) -> RuleGroup {
    let created_at = format!("2026-01-01T00:00:{:02}Z", i % 60);
    RuleGroup {
        id: format!("rg_{i}"),
        name: g.name,
        position: g.position,
        enabled: g.enabled,
        match_: g.match_,
        conditions: g.conditions,
        stop_groups: g.stop_groups,
        rules: g
            .rules
            .into_iter()
            .enumerate()
            .map(|(j, r)| to_rule(i, j, r))
            .collect(),
        created_at: created_at.clone(),
        updated_at: created_at,
    }
}

fn to_rule(i: usize, j: usize, r: VRule) -> Rule {
    let webhooks = r
        .actions
        .webhooks
        .into_iter()
        .map(|p| WebhookAction {
            webhook_id: format!("wh_{}", p.webhook),
            schema_id: format!("sc_{}", p.schema),
        })
        .collect();
    Rule {
        id: format!("ru_{i}_{j}"),
        name: r.name,
        enabled: r.enabled,
        match_: r.match_,
        conditions: r.conditions,
        stop_rules: r.stop_rules,
        stop_groups: r.stop_groups,
        actions: Actions {
            set_response_target: r.actions.set_response_target,
            set_resolve_target: r.actions.set_resolve_target,
            webhooks,
        },
    }
}

fn strip<'a>(prefix: &str, id: &'a str) -> &'a str {
    id.strip_prefix(prefix).unwrap_or(id)
}

fn run(case: Case) {
    let name = case.name;
    let groups: Vec<RuleGroup> = case
        .groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| to_group(i, g))
        .collect();
    let plan = compile(&groups).unwrap_or_else(|e| panic!("case {name:?}: compile: {e}"));
    let out = plan.evaluate(&case.event);
    let matched: Vec<&str> = out.matched_rules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(matched, case.expect.matched, "case {name:?}: matched rules");
    assert_eq!(
        (
            out.actions.set_response_target,
            out.actions.set_resolve_target
        ),
        (
            case.expect.actions.set_response_target,
            case.expect.actions.set_resolve_target
        ),
        "case {name:?}: actions"
    );
    let pairs: Vec<(String, String)> = out
        .webhooks
        .iter()
        .map(|w| {
            (
                strip("wh_", &w.webhook_id).to_owned(),
                strip("sc_", &w.schema_id).to_owned(),
            )
        })
        .collect();
    assert_eq!(pairs, case.expect.webhooks, "case {name:?}: webhooks");
}

#[test]
fn every_vector_case() {
    let cases = load().cases;
    assert_eq!(cases.len(), 20, "vector file has 20 cases");
    for case in cases {
        run(case);
    }
}

#[test]
fn group_ids_come_back_in_matches() {
    let case = load().cases.into_iter().next().expect("a case");
    let groups: Vec<RuleGroup> = case
        .groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| to_group(i, g))
        .collect();
    let out = compile(&groups).expect("compiles").evaluate(&case.event);
    assert_eq!(out.matched_rules[0].group_id, "rg_0");
    assert_eq!(out.matched_rules[0].rule_id, "ru_0_0");
}
