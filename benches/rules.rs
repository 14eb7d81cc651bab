//! One realistic event against 1,000 rules in 50 groups (budget: 50 µs).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hookline::model::{Actions, Condition, Match, Op, Rule, RuleGroup, WebhookAction};
use hookline::rules::compile;
use serde_json::{json, Value};

fn event() -> Value {
    json!({
        "id": "evt-9f2c", "type": "priority_changed", "occurred_at": "2026-11-29T12:00:00Z",
        "ticket": {"id": 1234, "ref": "T-1234", "subject": "Printer on fire in building C",
                   "priority": "high", "status": "open", "queue": "Support", "category": "Hardware",
                   "tags": ["hw", "urgent", "floor-3"], "score": 7.5,
                   "due_at": "2026-11-30T12:00:00Z", "custom": {"region": "north", "tier": "gold"}},
        "changes": {"priority": {"from": "low", "to": "high"}},
        "customer": {"name": "Kari Nordmann", "email": "kari@example.test", "vip": true},
        "user": {"name": "Ola Agent"}
    })
}

/// The known event types; `priority_changed` first so it is always in play.
const TYPES: [&str; 16] = [
    "priority_changed",
    "status_changed",
    "ticket_created",
    "note_added",
    "ticket_updated",
    "assignee_changed",
    "queue_changed",
    "category_changed",
    "tags_changed",
    "customer_replied",
    "agent_replied",
    "ticket_closed",
    "ticket_reopened",
    "due_date_changed",
    "response_target_breached",
    "resolve_target_breached",
];

fn c(field: &str, op: Op, value: Option<Value>) -> Condition {
    Condition {
        field: field.into(),
        op,
        value,
    }
}

/// The n-th rule's conditions: a rotating mix of the common operators, most
/// of which fail late enough that every condition is really evaluated.
fn conditions(n: usize, spread: usize) -> Vec<Condition> {
    let ty = c("event.type", Op::Eq, Some(json!(TYPES[n % spread])));
    let second = match n % 6 {
        0 => c(
            "ticket.priority",
            Op::In,
            Some(json!(["urgent", "HIGH", "critical"])),
        ),
        1 => c(
            "ticket.subject",
            Op::Contains,
            Some(json!(format!("fire {n}"))),
        ),
        2 => c("ticket.score", Op::Gt, Some(json!(n % 10))),
        3 => c(
            "ticket.ref",
            Op::Matches,
            Some(json!(format!("^T-{}\\d*$", n % 9))),
        ),
        4 => c("customer.email", Op::Exists, None),
        _ => c(
            "ticket.custom.region",
            Op::Eq,
            Some(json!(if n.is_multiple_of(2) {
                "north"
            } else {
                "South"
            })),
        ),
    };
    // due_at is 2026-11-30T12:00Z: a third of the rules ask for an earlier one.
    let due = if n.is_multiple_of(3) {
        "2026-11-30T00:00:00+01:00"
    } else {
        "2026-12-01T00:00:00+01:00"
    };
    let third = c("ticket.due_at", Op::Lt, Some(json!(due)));
    vec![ty, second, third]
}

fn rule(g: usize, r: usize, spread: usize) -> Rule {
    let n = g * 20 + r;
    Rule {
        id: format!("ru_{n}"),
        name: format!("rule {n}"),
        enabled: true,
        match_: if n.is_multiple_of(5) {
            Match::Any
        } else {
            Match::All
        },
        conditions: conditions(n, spread),
        stop_rules: false,
        stop_groups: false,
        actions: Actions {
            set_response_target: n.is_multiple_of(7).then(|| "4h".into()),
            set_resolve_target: None,
            webhooks: vec![WebhookAction {
                webhook_id: format!("wh_{}", n % 10),
                schema_id: format!("sc_{}", n % 4),
            }],
        },
    }
}

/// 50 groups of 20 rules; `spread` is how many event types the rules are
/// spread over (fewer types, more matches).
fn groups(spread: usize) -> Vec<RuleGroup> {
    (0..50)
        .map(|g| RuleGroup {
            id: format!("rg_{g}"),
            name: format!("group {g}"),
            position: (g % 7) as i64,
            enabled: true,
            match_: Match::All,
            conditions: vec![c("ticket.status", Op::Ne, Some(json!("closed")))],
            stop_groups: false,
            rules: (0..20).map(|r| rule(g, r, spread)).collect(),
            created_at: format!("2026-01-01T00:00:{:02}Z", g),
            updated_at: "2026-01-01T00:00:00Z".into(),
        })
        .collect()
}

fn bench(cr: &mut Criterion) {
    let ev = event();
    // typical: rules spread over all 16 event types; heavy: over 4, so a
    // large share of the 1,000 rules match and their results are built.
    for (label, spread) in [("typical", 16), ("heavy", 4)] {
        let plan = compile(&groups(spread)).expect("bench plan compiles");
        let out = plan.evaluate(&ev);
        eprintln!(
            "{label}: matched {} rules, {} pairs",
            out.matched_rules.len(),
            out.webhooks.len()
        );
        cr.bench_function(&format!("evaluate 1000 rules / 50 groups ({label})"), |b| {
            b.iter(|| plan.evaluate(black_box(&ev)))
        });
    }
    cr.bench_function("compile 1000 rules / 50 groups", |b| {
        b.iter(|| compile(black_box(&groups(16))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
