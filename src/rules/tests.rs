//! Operator-level and compile-error tests.

use serde_json::{json, Value};

use super::*;
use crate::model::{Actions, Condition, Match, Rule, RuleGroup};

fn event() -> Value {
    json!({
        "id": "evt-1", "type": "priority_changed", "occurred_at": "2026-11-29T12:00:00Z",
        "ticket": {"id": 1234, "ref": "T-1234", "subject": "Printer on FIRE", "priority": "high",
                   "tags": ["hw", "Urgent"], "assignee": null, "score": 7.5, "big": 9007199254740993u64,
                   "code": "0042", "due_at": "2026-11-30T00:00:00+02:00", "flag": true,
                   "city": "Tromsø", "custom": {"region": "north", "0": "zero"}},
        "changes": {"priority": {"from": "low", "to": "high"}},
    })
}

fn cond(v: Value) -> Condition {
    serde_json::from_value(v).expect("test condition")
}

fn rule(name: &str, conditions: Vec<Condition>) -> Rule {
    Rule {
        id: format!("ru_{name}"),
        name: name.into(),
        enabled: true,
        match_: Match::All,
        conditions,
        stop_rules: false,
        stop_groups: false,
        actions: Actions::default(),
    }
}

fn group(id: &str, position: i64, rules: Vec<Rule>) -> RuleGroup {
    RuleGroup {
        id: id.into(),
        name: id.into(),
        position,
        enabled: true,
        match_: Match::All,
        conditions: vec![],
        stop_groups: false,
        rules,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// Whether one condition holds on `ev`.
fn holds_on(c: Value, ev: &Value) -> bool {
    let plan = compile(&[group("g", 0, vec![rule("r", vec![cond(c)])])]).expect("compiles");
    !plan.evaluate(ev).matched_rules.is_empty()
}

fn holds(c: Value) -> bool {
    holds_on(c, &event())
}

fn check(field: &str, op: &str, value: Value) -> bool {
    holds(json!({"field": field, "op": op, "value": value}))
}

fn compile_err(c: Value) -> CompileError {
    let g = group("g", 0, vec![rule("r", vec![cond(c)])]);
    compile_group(&g).expect_err("should not compile")
}

#[test]
fn eq_and_ne() {
    assert!(check("ticket.priority", "eq", json!("HIGH")));
    assert!(check("event.type", "eq", json!("Priority_Changed")));
    assert!(check("ticket.id", "eq", json!("1234")));
    assert!(check("ticket.id", "eq", json!(1234.0)));
    assert!(check("ticket.code", "eq", json!(42)));
    assert!(
        !check("ticket.code", "eq", json!("42")),
        "two strings compare as strings"
    );
    assert!(
        check("ticket.big", "eq", json!("9007199254740993")),
        "large ints exact"
    );
    assert!(!check("ticket.big", "eq", json!(9007199254740992u64)));
    assert!(check("ticket.flag", "eq", json!(true)));
    assert!(check("ticket.flag", "eq", json!("TRUE")));
    assert!(check("ticket.city", "eq", json!("TROMSØ")));
    assert!(check("ticket.priority", "ne", json!("low")));
    assert!(!check("ticket.priority", "ne", json!("High")));
    assert!(check("ticket.tags", "eq", json!(["hw", "Urgent"])));
    assert!(!check("ticket.tags", "eq", json!("hw")));
}

#[test]
fn missing_and_null_fields() {
    for field in [
        "ticket.queue",
        "ticket.assignee",
        "nope.deeper.still",
        "ticket.ref.inner",
    ] {
        assert!(check(field, "ne", json!("x")), "{field} ne");
        assert!(check(field, "not_in", json!(["x"])), "{field} not_in");
        assert!(
            check(field, "not_contains", json!("x")),
            "{field} not_contains"
        );
        assert!(
            holds(json!({"field": field, "op": "not_exists"})),
            "{field} not_exists"
        );
        assert!(
            !holds(json!({"field": field, "op": "exists"})),
            "{field} exists"
        );
        for op in [
            "eq",
            "contains",
            "starts_with",
            "ends_with",
            "gt",
            "gte",
            "lt",
            "lte",
            "matches",
        ] {
            assert!(!check(field, op, json!("x")), "{field} {op}");
        }
        assert!(!check(field, "in", json!(["x", null])), "{field} in");
    }
}

#[test]
fn exists() {
    assert!(holds(json!({"field": "ticket.priority", "op": "exists"})));
    assert!(!holds(
        json!({"field": "ticket.priority", "op": "not_exists"})
    ));
    assert!(holds(json!({"field": "event.occurred_at", "op": "exists"})));
}

#[test]
fn in_and_not_in() {
    assert!(check("ticket.priority", "in", json!(["low", "HIGH"])));
    assert!(!check("ticket.priority", "not_in", json!(["low", "HIGH"])));
    assert!(check("ticket.id", "in", json!(["1", "1234"])));
    assert!(
        check("ticket.tags", "in", json!(["urgent"])),
        "array field: any item"
    );
    assert!(check("ticket.tags", "not_in", json!(["sw", "billing"])));
    assert!(!check("ticket.tags", "not_in", json!(["HW"])));
    assert!(!check("ticket.priority", "in", json!([])));
    assert!(check("ticket.priority", "not_in", json!([])));
}

#[test]
fn contains_starts_ends() {
    assert!(check("ticket.subject", "contains", json!("on fire")));
    assert!(check("ticket.ref", "contains", json!(12)));
    assert!(check("ticket.tags", "contains", json!("URGENT")));
    assert!(
        !check("ticket.tags", "contains", json!("urg")),
        "array items compare whole"
    );
    assert!(check("ticket.subject", "not_contains", json!("paper")));
    assert!(!check("ticket.subject", "not_contains", json!("PRINTER")));
    assert!(check("ticket.city", "contains", json!("SØ")));
    assert!(!check("ticket.priority", "contains", json!("ø")));
    assert!(check("ticket.subject", "starts_with", json!("printer")));
    assert!(!check("ticket.subject", "starts_with", json!("fire")));
    assert!(check("ticket.subject", "ends_with", json!("Fire")));
    assert!(check("ticket.city", "ends_with", json!("SØ")));
    assert!(
        !check("ticket.id", "starts_with", json!("12")),
        "string fields only"
    );
}

#[test]
fn ordering_on_numbers_and_instants() {
    assert!(check("ticket.score", "gt", json!(7)));
    assert!(check("ticket.score", "gt", json!("7.25")));
    assert!(check("ticket.score", "gte", json!(7.5)));
    assert!(!check("ticket.score", "lt", json!(7.5)));
    assert!(check("ticket.score", "lte", json!(7.5)));
    assert!(
        check("ticket.code", "gt", json!(41)),
        "numeric string field"
    );
    assert!(check("ticket.big", "gt", json!(9007199254740992u64)));
    assert!(!check("ticket.priority", "gt", json!(1)));
    assert!(!check("ticket.score", "gt", json!("abc")));
    assert!(check(
        "event.occurred_at",
        "gte",
        json!("2026-11-29T13:00:00+01:00")
    ));
    assert!(!check(
        "event.occurred_at",
        "lt",
        json!("2026-11-29T13:00:00+01:00")
    ));
    assert!(check("ticket.due_at", "lt", json!("2026-11-30T00:00:00Z")));
    assert!(!check(
        "ticket.subject",
        "lt",
        json!("2026-11-30T00:00:00Z")
    ));
    assert!(!check("ticket.score", "gt", json!("2026-11-30T00:00:00Z")));
}

#[test]
fn regex_matches() {
    assert!(check("ticket.ref", "matches", json!(r"^T-\d+$")));
    assert!(
        !check("ticket.subject", "matches", json!("fire")),
        "case-sensitive"
    );
    assert!(check("ticket.subject", "matches", json!("(?i)fire")));
    assert!(
        !check("ticket.id", "matches", json!(r"^\d+$")),
        "string fields only"
    );
}

#[test]
fn paths() {
    assert!(check("changes.priority.to", "eq", json!("high")));
    assert!(check("ticket.custom.region", "eq", json!("NORTH")));
    assert!(check("ticket.tags.1", "eq", json!("urgent")), "array index");
    assert!(
        check("ticket.custom.0", "eq", json!("zero")),
        "object member named 0"
    );
    assert!(check("id", "eq", json!("evt-1")));
    assert!(check("event.id", "eq", json!("evt-1")));
    assert!(!holds_on(
        json!({"field": "event.type", "op": "eq", "value": "x"}),
        &json!(42)
    ));
    assert!(holds_on(
        json!({"field": "event.type", "op": "ne", "value": "x"}),
        &json!([1])
    ));
}

#[test]
fn compile_errors_name_the_field() {
    let cases = [
        (
            json!({"field": "ticket.id", "op": "eq"}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.id", "op": "gt"}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.id", "op": "eq", "value": null}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.id", "op": "in", "value": "a"}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.id", "op": "not_in", "value": {}}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.ref", "op": "matches", "value": 3}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.ref", "op": "matches", "value": "(unclosed"}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "ticket.ref", "op": "matches", "value": "\\w{1000}{1000}"}),
            "rules[0].conditions[0].value",
        ),
        (
            json!({"field": "", "op": "exists"}),
            "rules[0].conditions[0].field",
        ),
        (
            json!({"field": "ticket..id", "op": "exists"}),
            "rules[0].conditions[0].field",
        ),
        (
            json!({"field": "ticket.", "op": "exists"}),
            "rules[0].conditions[0].field",
        ),
        (
            json!({"field": "a.".repeat(40) + "b", "op": "exists"}),
            "rules[0].conditions[0].field",
        ),
    ];
    for (c, field) in cases {
        let e = compile_err(c.clone());
        assert_eq!(e.field, field, "{c}: {e}");
        assert!(!e.message.is_empty());
    }
}

#[test]
fn compile_error_paths_for_group_and_later_rules() {
    let mut g = group(
        "g",
        0,
        vec![
            rule("ok", vec![]),
            rule(
                "bad",
                vec![
                    cond(json!({"field": "x", "op": "exists"})),
                    cond(json!({"field": "x", "op": "in", "value": 1})),
                ],
            ),
        ],
    );
    assert_eq!(
        compile_group(&g).expect_err("bad rule").field,
        "rules[1].conditions[1].value"
    );
    g.conditions = vec![
        cond(json!({"field": "x", "op": "exists"})),
        cond(json!({"field": "x", "op": "ne"})),
    ];
    assert_eq!(
        compile_group(&g).expect_err("bad gate").field,
        "conditions[1].value"
    );
    let e = compile(&[g]).expect_err("plan fails too");
    assert!(e.message.contains("\"g\""), "{e}");
}

#[test]
fn disabled_rules_are_still_validated() {
    let mut r = rule(
        "r",
        vec![cond(json!({"field": "x", "op": "matches", "value": "("}))],
    );
    r.enabled = false;
    assert!(compile_group(&group("g", 0, vec![r])).is_err());
}

#[test]
fn unknown_op_and_fields_are_serde_errors() {
    assert!(
        serde_json::from_value::<Condition>(json!({"field": "x", "op": "like", "value": 1}))
            .is_err()
    );
    assert!(serde_json::from_value::<Condition>(
        json!({"field": "x", "op": "eq", "value": 1, "extra": 0})
    )
    .is_err());
}

#[test]
fn ordering_by_position_then_created_at() {
    let mut a = group("a", 1, vec![rule("a", vec![])]);
    let mut b = group("b", 1, vec![rule("b", vec![])]);
    let c = group("c", 0, vec![rule("c", vec![])]);
    a.created_at = "2026-01-01T10:00:00+02:00".into(); // 08:00Z
    b.created_at = "2026-01-01T09:00:00Z".into();
    let plan = compile(&[b, a, c]).expect("compiles");
    let names: Vec<_> = plan
        .evaluate(&event())
        .matched_rules
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["c", "a", "b"]);
}

#[test]
fn empty_plan() {
    let plan = compile(&[]).expect("compiles");
    assert!(plan.is_empty());
    assert_eq!(plan.evaluate(&event()), Evaluation::default());
    let mut g = group("g", 0, vec![]);
    g.enabled = false;
    assert!(compile(&[g]).expect("compiles").is_empty());
}

#[test]
fn any_match_and_group_gate() {
    let mut r = rule(
        "r",
        vec![
            cond(json!({"field": "x", "op": "exists"})),
            cond(json!({"field": "ticket.id", "op": "eq", "value": 1234})),
        ],
    );
    r.match_ = Match::Any;
    let mut g = group("g", 0, vec![r]);
    g.match_ = Match::Any;
    g.conditions = vec![
        cond(json!({"field": "y", "op": "exists"})),
        cond(json!({"field": "ticket.ref", "op": "exists"})),
    ];
    let out = compile(&[g]).expect("compiles").evaluate(&event());
    assert_eq!(
        out.matched_rules,
        [MatchedRule {
            group_id: "g".into(),
            rule_id: "ru_r".into(),
            name: "r".into()
        }]
    );
}

#[test]
fn plan_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Plan>();
    assert_send_sync::<CompiledGroup>();
}

#[test]
fn folding_helpers() {
    use super::value::{fold, text_contains, text_ends_with, text_eq, text_starts_with};
    assert!(text_eq("ÅSE", &fold("åse")));
    assert!(text_eq("k", &fold("\u{212A}")), "Kelvin sign folds to k");
    assert!(text_contains("xxÅSEyy", &fold("åse")));
    assert!(text_contains("anything", ""));
    assert!(!text_contains("ab", "abc"));
    assert!(text_starts_with("İstanbul", &fold("İST")));
    assert!(text_ends_with("straße", &fold("SSE")) == "straße".ends_with("sse"));
    assert!(text_ends_with("ÖL", "öl"));
}

#[test]
fn compile_valid_leaves_out_only_the_group_that_does_not_compile() {
    let good = group(
        "good",
        0,
        vec![rule(
            "r",
            vec![cond(
                json!({"field": "event.type", "op": "eq", "value": "x"}),
            )],
        )],
    );
    let mut bad = group(
        "bad",
        1,
        vec![rule(
            "r",
            vec![cond(
                json!({"field": "event.type", "op": "matches", "value": "("}),
            )],
        )],
    );
    bad.id = "rg_bad".into();
    let (plan, failed) = crate::rules::compile_valid(&[good, bad]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "rg_bad");
    assert!(!plan.is_empty(), "the good group still runs");
}
