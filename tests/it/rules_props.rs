//! Property tests: the evaluator never panics, whatever the event looks like.

use hookline::model::{Actions, Condition, Match, Op, Rule, RuleGroup, WebhookAction};
use hookline::rules::{compile, Plan};
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};

const OPS: [Op; 15] = [
    Op::Eq,
    Op::Ne,
    Op::In,
    Op::NotIn,
    Op::Contains,
    Op::NotContains,
    Op::StartsWith,
    Op::EndsWith,
    Op::Gt,
    Op::Gte,
    Op::Lt,
    Op::Lte,
    Op::Exists,
    Op::NotExists,
    Op::Matches,
];

/// Keys the rules look at, so random events hit real paths often.
const KEYS: [&str; 8] = [
    "ticket", "id", "type", "tags", "0", "priority", "custom", "ÅSE",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "1234",
            "-0.5e3",
            "2026-11-29T12:00:00Z",
            "HIGH",
            "ß",
            "İ",
            "1e400"
        ])
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                |kv| Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
        ]
    })
}

fn operand(op: Op) -> Option<Value> {
    match op {
        Op::Exists | Op::NotExists => None,
        Op::In | Op::NotIn => Some(json!(["high", 1234, null, true, "2026-01-01T00:00:00Z"])),
        Op::Matches => Some(json!("(?i)^t-\\d+|ß")),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => Some(json!("2026-11-29T12:00:00+01:00")),
        _ => Some(json!("HIGH")),
    }
}

/// One group per op pair over a handful of paths, mixing match modes.
fn plan() -> Plan {
    let paths = [
        "ticket.id",
        "ticket.tags.0",
        "type",
        "event.type",
        "ticket.custom.ÅSE",
        "tags",
        "0.0.0",
    ];
    let rules: Vec<Rule> = OPS
        .iter()
        .enumerate()
        .flat_map(|(i, &op)| paths.iter().map(move |p| (i, op, *p)))
        .enumerate()
        .map(|(n, (i, op, p))| Rule {
            id: format!("ru_{n}"),
            name: format!("r{n}"),
            enabled: true,
            match_: if i % 2 == 0 { Match::All } else { Match::Any },
            conditions: vec![Condition {
                field: p.into(),
                op,
                value: operand(op),
            }],
            stop_rules: false,
            stop_groups: false,
            actions: Actions {
                set_response_target: Some(format!("{n}h")),
                set_resolve_target: None,
                webhooks: vec![WebhookAction {
                    webhook_id: format!("wh_{}", n % 3),
                    schema_id: "sc".into(),
                }],
            },
        })
        .collect();
    let group = RuleGroup {
        id: "rg".into(),
        name: "g".into(),
        position: 0,
        enabled: true,
        match_: Match::All,
        conditions: vec![],
        stop_groups: false,
        rules,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    };
    compile(&[group]).expect("plan compiles")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_events_never_panic(event in value()) {
        let out = plan().evaluate(&event);
        prop_assert!(out.webhooks.len() <= 3, "pairs are deduplicated");
    }

    #[test]
    fn negated_ops_are_complements(event in value()) {
        let p = plan();
        let out = p.evaluate(&event);
        let names: std::collections::HashSet<_> = out.matched_rules.iter().map(|m| m.name.clone()).collect();
        // Rules are laid out op by op over 7 paths: op k at index k*7 + path.
        for (pos, neg) in [(0, 1), (2, 3), (4, 5), (12, 13)] {
            for path in 0..7 {
                let a = names.contains(&format!("r{}", pos * 7 + path));
                let b = names.contains(&format!("r{}", neg * 7 + path));
                prop_assert!(a != b, "op {} vs {} on path {}", pos, neg, path);
            }
        }
    }
}

#[test]
fn deep_event_is_fine() {
    let mut v = json!("leaf");
    for _ in 0..200 {
        v = json!({ "0": [v] });
    }
    let _ = plan().evaluate(&v);
    let _ = plan().evaluate(&json!(f64::MAX));
    let _ = plan().evaluate(&json!({"ticket": {"id": u64::MAX, "tags": [i64::MIN]}}));
}
