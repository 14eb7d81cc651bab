//! The rule editor, laid out like the helpdesk's: *Rule Conditions* (rows of
//! field, operator and value), the two stop checkboxes, *Rule Actions*
//! (targets and webhook rows). What the form holds, how it becomes the API's
//! `RuleInput`, and the form itself. Rows are added and removed in place by
//! the script, or by a round trip (the `action` button) without it.

use maud::{html, Markup};
use serde_json::{json, Value};

use super::guard::{Form, SignedIn};
use super::i18n::{Lang, Text};
use super::layout::csrf_field;
use crate::model::{Condition, FieldError, Match, Op, Rule, Schema, Webhook};

/// Every operator with its words (BEHAVIOUR.md §2), in the chooser's order.
pub const OPERATORS: &[(Op, &str, Text)] = &[
    (Op::Eq, "eq", Text::OpEq),
    (Op::Ne, "ne", Text::OpNe),
    (Op::In, "in", Text::OpIn),
    (Op::NotIn, "not_in", Text::OpNotIn),
    (Op::Contains, "contains", Text::OpContains),
    (Op::NotContains, "not_contains", Text::OpNotContains),
    (Op::StartsWith, "starts_with", Text::OpStartsWith),
    (Op::EndsWith, "ends_with", Text::OpEndsWith),
    (Op::Gt, "gt", Text::OpGt),
    (Op::Gte, "gte", Text::OpGte),
    (Op::Lt, "lt", Text::OpLt),
    (Op::Lte, "lte", Text::OpLte),
    (Op::Exists, "exists", Text::OpExists),
    (Op::NotExists, "not_exists", Text::OpNotExists),
    (Op::Matches, "matches", Text::OpMatches),
];

pub fn op_key(op: Op) -> &'static str {
    OPERATORS
        .iter()
        .find(|(o, _, _)| *o == op)
        .map_or("eq", |(_, k, _)| k)
}

pub fn op_words(lang: Lang, op: Op) -> &'static str {
    OPERATORS
        .iter()
        .find(|(o, _, _)| *o == op)
        .map_or("", |(_, _, t)| lang.t(*t))
}

/// A condition row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionRow {
    pub field: String,
    pub op: String,
    pub value: String,
}

/// A webhook row as chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRow {
    pub webhook_id: String,
    pub schema_id: String,
}

/// The editor's values.
#[derive(Debug, Clone, Default)]
pub struct RuleForm {
    pub name: String,
    pub enabled: bool,
    pub match_all: bool,
    pub conditions: Vec<ConditionRow>,
    pub stop_rules: bool,
    pub stop_groups: bool,
    pub response_target: String,
    pub resolve_target: String,
    pub webhooks: Vec<WebhookRow>,
}

/// A condition's value as the form shows it: lists as comma-separated text.
fn value_text(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

impl RuleForm {
    pub fn new_rule() -> RuleForm {
        RuleForm {
            enabled: true,
            match_all: true,
            conditions: vec![ConditionRow {
                op: "eq".into(),
                ..ConditionRow::default()
            }],
            webhooks: vec![WebhookRow::default()],
            ..RuleForm::default()
        }
    }

    pub fn of(rule: &Rule) -> RuleForm {
        RuleForm {
            name: rule.name.clone(),
            enabled: rule.enabled,
            match_all: rule.match_ == Match::All,
            conditions: rule.conditions.iter().map(row_of).collect(),
            stop_rules: rule.stop_rules,
            stop_groups: rule.stop_groups,
            response_target: rule.actions.set_response_target.clone().unwrap_or_default(),
            resolve_target: rule.actions.set_resolve_target.clone().unwrap_or_default(),
            webhooks: rule
                .actions
                .webhooks
                .iter()
                .map(|a| WebhookRow {
                    webhook_id: a.webhook_id.clone(),
                    schema_id: a.schema_id.clone(),
                })
                .collect(),
        }
    }

    pub fn posted(form: &Form) -> RuleForm {
        RuleForm {
            name: form.text("name").to_string(),
            enabled: form.checked("enabled"),
            match_all: form.text("match") != "any",
            conditions: posted_conditions(form),
            stop_rules: form.checked("stop_rules"),
            stop_groups: form.checked("stop_groups"),
            response_target: form.text("set_response_target").trim().to_string(),
            resolve_target: form.text("set_resolve_target").trim().to_string(),
            webhooks: form
                .all("act_webhook")
                .zip(form.all("act_schema"))
                .map(|(w, s)| WebhookRow {
                    webhook_id: w.to_string(),
                    schema_id: s.to_string(),
                })
                .collect(),
        }
    }

    /// Applies an "add row" or "remove row" button (the round trip without
    /// script); `true` when the button was one of those.
    pub fn apply_row_action(&mut self, action: &str) -> bool {
        if action == "add-condition" {
            self.conditions.push(ConditionRow {
                op: "eq".into(),
                ..ConditionRow::default()
            });
        } else if action == "add-webhook" {
            self.webhooks.push(WebhookRow::default());
        } else if let Some(i) = action
            .strip_prefix("remove-condition-")
            .and_then(|i| i.parse::<usize>().ok())
        {
            if i < self.conditions.len() {
                self.conditions.remove(i);
            }
        } else if let Some(i) = action
            .strip_prefix("remove-webhook-")
            .and_then(|i| i.parse::<usize>().ok())
        {
            if i < self.webhooks.len() {
                self.webhooks.remove(i);
            }
        } else {
            return false;
        }
        true
    }

    /// The API's rule input; `id` keeps the rule's id on edit. Empty rows
    /// (no field; no webhook) are left out.
    pub fn to_input(&self, id: Option<&str>) -> Value {
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .filter(|c| !c.field.trim().is_empty())
            .map(condition_json)
            .collect();
        let webhooks: Vec<Value> = self
            .webhooks
            .iter()
            .filter(|w| !w.webhook_id.is_empty() || !w.schema_id.is_empty())
            .map(|w| json!({"webhook_id": w.webhook_id, "schema_id": w.schema_id}))
            .collect();
        let target = |t: &str| {
            if t.is_empty() {
                Value::Null
            } else {
                Value::String(t.to_string())
            }
        };
        let mut rule = json!({
            "name": self.name,
            "enabled": self.enabled,
            "match": if self.match_all { "all" } else { "any" },
            "conditions": conditions,
            "stop_rules": self.stop_rules,
            "stop_groups": self.stop_groups,
            "actions": {
                "set_response_target": target(&self.response_target),
                "set_resolve_target": target(&self.resolve_target),
                "webhooks": webhooks,
            },
        });
        if let Some(id) = id {
            rule["id"] = Value::String(id.to_string());
        }
        rule
    }

    /// The index in `conditions` of the row the API's `conditions[i]`
    /// names (empty rows are not sent, so the indexes differ).
    pub fn condition_row_of(&self, sent_index: usize) -> Option<usize> {
        self.conditions
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.field.trim().is_empty())
            .nth(sent_index)
            .map(|(i, _)| i)
    }
}

pub fn row_of(c: &Condition) -> ConditionRow {
    ConditionRow {
        field: c.field.clone(),
        op: op_key(c.op).to_string(),
        value: value_text(&c.value),
    }
}

fn posted_conditions(form: &Form) -> Vec<ConditionRow> {
    let fields: Vec<&str> = form.all("cond_field").collect();
    let ops: Vec<&str> = form.all("cond_op").collect();
    let values: Vec<&str> = form.all("cond_value").collect();
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| ConditionRow {
            field: f.trim().to_string(),
            op: ops.get(i).copied().unwrap_or("eq").to_string(),
            value: values.get(i).copied().unwrap_or("").to_string(),
        })
        .collect()
}

/// A condition row as the API's JSON: `in`/`not_in` take a list (comma
/// separated), `exists`/`not_exists` no value, the rest the text typed.
pub fn condition_json(c: &ConditionRow) -> Value {
    let value = match c.op.as_str() {
        "exists" | "not_exists" => Value::Null,
        "in" | "not_in" => Value::Array(
            c.value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        _ => Value::String(c.value.clone()),
    };
    json!({"field": c.field, "op": c.op, "value": value})
}

/// Where a refused save points, inside this form: (condition row, part) or
/// (webhook row, part) or a plain field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAt {
    Condition(usize, String),
    Webhook(usize, String),
    Field(String),
}

/// Reads the API's `field` relative to this rule (`conditions[1].op`).
pub fn fault_at(form: &RuleForm, field: &str) -> FaultAt {
    let index = |rest: &str| -> Option<(usize, String)> {
        let (n, tail) = rest.split_once(']')?;
        Some((n.parse().ok()?, tail.trim_start_matches('.').to_string()))
    };
    if let Some((i, part)) = field.strip_prefix("conditions[").and_then(index) {
        if let Some(row) = form.condition_row_of(i) {
            return FaultAt::Condition(row, part);
        }
    }
    if let Some((i, part)) = field.strip_prefix("actions.webhooks[").and_then(index) {
        let row = form
            .webhooks
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.webhook_id.is_empty() || !w.schema_id.is_empty())
            .nth(i)
            .map_or(i, |(r, _)| r);
        return FaultAt::Webhook(row, part);
    }
    FaultAt::Field(field.to_string())
}

/// Everything the editor shows besides the form's values.
pub struct EditorContext<'a> {
    pub user: &'a SignedIn,
    pub action: String,
    pub cancel: String,
    pub webhooks: &'a [Webhook],
    pub schemas: &'a [Schema],
    /// Field paths the chooser offers (from the sample and recent events).
    pub fields: &'a [String],
    /// Event types seen, offered as values when the field is `event.type`.
    pub event_types: &'a [String],
    pub error: Option<(&'a FieldError, FaultAt)>,
    /// A group's own settings: no actions, no "stop further rules".
    pub group: bool,
}

/// The editor.
pub fn render(cx: &EditorContext<'_>, f: &RuleForm) -> Markup {
    let lang = cx.user.lang;
    let t = |k| lang.t(k);
    let fault = cx.error.as_ref().map(|(e, at)| (*e, at.clone()));
    let cond_fault = |row: usize| match &fault {
        Some((e, FaultAt::Condition(r, part))) if *r == row => {
            Some((e.message.clone(), part.clone()))
        }
        _ => None,
    };
    let hook_fault = |row: usize| match &fault {
        Some((e, FaultAt::Webhook(r, part))) if *r == row => {
            Some((e.message.clone(), part.clone()))
        }
        _ => None,
    };
    let field_fault = |name: &str| match &fault {
        Some((e, FaultAt::Field(f))) if f == name || f.starts_with(&format!("{name}.")) => {
            Some(e.message.clone())
        }
        _ => None,
    };
    html! {
        @if let Some((e, _)) = &fault { p.problem role="alert" { (t(Text::FixBelow)) " " (e.message) } }
        datalist id="event-fields" { @for field in cx.fields { option value=(field) {} } }
        datalist id="event-types" { @for ty in cx.event_types { option value=(ty) {} } }
        form.stacked.card.rule-editor method="post" action=(cx.action) novalidate {
            (csrf_field(cx.user))
            div.two {
                div.field {
                    label for="rule-name" { (t(Text::Name)) }
                    input type="text" id="rule-name" name="name" value=(f.name) required maxlength="200"
                        class=[field_fault("name").map(|_| "invalid")] aria-describedby=[field_fault("name").map(|_| "rule-name-error")];
                    @if let Some(m) = field_fault("name") { p.field-error id="rule-name-error" { (m) } }
                }
                div.field.toggle {
                    label.check for="rule-enabled" { input type="checkbox" id="rule-enabled" name="enabled" value="on" checked[f.enabled]; (t(Text::Enabled)) }
                }
            }
            fieldset.wide {
                legend { (t(Text::RuleConditions)) }
                p.match-line {
                    label for="match" { (t(Text::IfMatch)) }
                    select id="match" name="match" {
                        option value="all" selected[f.match_all] { (t(Text::MatchAll)) }
                        option value="any" selected[!f.match_all] { (t(Text::MatchAny)) }
                    }
                    span { (t(Text::OfTheFollowing)) }
                }
                div.rows.conditions id="condition-rows" {
                    @for (i, c) in f.conditions.iter().enumerate() {
                        @let fault = cond_fault(i);
                        @let part = fault.as_ref().map(|(_, p)| p.as_str()).unwrap_or("");
                        div.row.condition data-row="condition" {
                            div {
                                label for=(format!("cond-field-{i}")) { (t(Text::ConditionField)) }
                                input type="text" id=(format!("cond-field-{i}")) name="cond_field" value=(c.field) list="event-fields"
                                    class=[(fault.is_some() && (part == "field" || part.is_empty())).then_some("invalid")]
                                    aria-describedby=[fault.as_ref().map(|_| format!("cond-error-{i}"))];
                            }
                            div {
                                label for=(format!("cond-op-{i}")) { (t(Text::ConditionOperator)) }
                                select id=(format!("cond-op-{i}")) name="cond_op" class=[(part == "op").then_some("invalid")]
                                    aria-describedby=[fault.as_ref().map(|_| format!("cond-error-{i}"))] {
                                    @for (_, key, words) in OPERATORS { option value=(key) selected[c.op == *key] { (t(*words)) } }
                                }
                            }
                            div {
                                label for=(format!("cond-value-{i}")) { (t(Text::ConditionValue)) }
                                input type="text" id=(format!("cond-value-{i}")) name="cond_value" value=(c.value)
                                    list=[(c.field == "event.type").then_some("event-types")]
                                    class=[(part == "value").then_some("invalid")]
                                    aria-describedby=[fault.as_ref().map(|_| format!("cond-error-{i}"))];
                            }
                            div.remove {
                                button.link type="submit" name="action" value=(format!("remove-condition-{i}")) data-remove-row { (t(Text::XRemove)) }
                            }
                            @if let Some((m, _)) = &fault { p.field-error id=(format!("cond-error-{i}")) { (m) } }
                        }
                    }
                }
                p { button.secondary type="submit" name="action" value="add-condition" data-add-row="condition-rows" { (t(Text::AddCondition)) } }
                @if !cx.group {
                    label.check for="stop-rules" { input type="checkbox" id="stop-rules" name="stop_rules" value="on" checked[f.stop_rules]; (t(Text::StopRules)) }
                }
                label.check for="stop-groups" {
                    input type="checkbox" id="stop-groups" name="stop_groups" value="on" checked[f.stop_groups];
                    (t(if cx.group { Text::GroupStopGroups } else { Text::StopGroups }))
                }
            }
            @if !cx.group {
            fieldset.wide {
                legend { (t(Text::RuleActions)) }
                div.two {
                    div.field {
                        label for="response-target" { (t(Text::SetResponseTarget)) }
                        input type="text" id="response-target" name="set_response_target" value=(f.response_target) placeholder=(t(Text::TargetOff));
                    }
                    div.field {
                        label for="resolve-target" { (t(Text::SetResolveTarget)) }
                        input type="text" id="resolve-target" name="set_resolve_target" value=(f.resolve_target) placeholder=(t(Text::TargetOff));
                    }
                }
                p.hint { (t(Text::TargetHint)) }
                h3.label { (t(Text::Webhooks)) }
                div.rows.hooks id="webhook-rows" {
                    @for (i, w) in f.webhooks.iter().enumerate() {
                        @let fault = hook_fault(i);
                        div.row.hook data-row="webhook" {
                            div {
                                label for=(format!("act-webhook-{i}")) { (t(Text::Webhook)) }
                                select id=(format!("act-webhook-{i}")) name="act_webhook"
                                    class=[fault.as_ref().filter(|(_, p)| p == "webhook_id").map(|_| "invalid")]
                                    aria-describedby=[fault.as_ref().map(|_| format!("hook-error-{i}"))] {
                                    option value="" { "—" }
                                    @for h in cx.webhooks { option value=(h.id) selected[h.id == w.webhook_id] { (h.name) } }
                                }
                            }
                            div {
                                label for=(format!("act-schema-{i}")) { (t(Text::Schema)) }
                                select id=(format!("act-schema-{i}")) name="act_schema"
                                    class=[fault.as_ref().filter(|(_, p)| p == "schema_id").map(|_| "invalid")]
                                    aria-describedby=[fault.as_ref().map(|_| format!("hook-error-{i}"))] {
                                    option value="" { "—" }
                                    @for s in cx.schemas { option value=(s.id) selected[s.id == w.schema_id] { (s.name) } }
                                }
                            }
                            div.remove {
                                button.link type="submit" name="action" value=(format!("remove-webhook-{i}")) data-remove-row { (t(Text::XRemove)) }
                            }
                            @if let Some((m, _)) = &fault { p.field-error id=(format!("hook-error-{i}")) { (m) } }
                        }
                    }
                }
                p { button.secondary type="submit" name="action" value="add-webhook" data-add-row="webhook-rows" { (t(Text::AddWebhook)) } }
            }
            }
            div.buttons {
                button type="submit" name="action" value="save" { (t(Text::Save)) }
                a.button.secondary href=(cx.cancel) { (t(Text::Cancel)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posted_rule_becomes_the_api_input_and_rows_round_trip() {
        let form = Form::from_pairs(&[
            ("name", "Priority changed"),
            ("match", "any"),
            ("cond_field", "event.type"),
            ("cond_op", "eq"),
            ("cond_value", "priority_changed"),
            ("cond_field", ""),
            ("cond_op", "eq"),
            ("cond_value", ""),
            ("cond_field", "ticket.queue"),
            ("cond_op", "in"),
            ("cond_value", "Support, Sales ,"),
            ("stop_rules", "on"),
            ("act_webhook", "wh_1"),
            ("act_schema", "sc_1"),
            ("act_webhook", ""),
            ("act_schema", ""),
            ("set_resolve_target", "4h"),
        ]);
        let mut f = RuleForm::posted(&form);
        let input: crate::model::RuleInput =
            crate::model::parse_input(f.to_input(Some("ru_1"))).expect("valid");
        assert_eq!(input.conditions.len(), 2, "the empty row is not sent");
        assert_eq!(input.conditions[1].value, Some(json!(["Support", "Sales"])));
        assert_eq!(input.match_, Match::Any);
        assert!(input.stop_rules && !input.stop_groups && !input.enabled);
        assert_eq!(input.actions.webhooks.len(), 1);
        assert_eq!(input.actions.set_resolve_target.as_deref(), Some("4h"));
        assert_eq!(input.actions.set_response_target, None);
        assert_eq!(
            fault_at(&f, "conditions[1].op"),
            FaultAt::Condition(2, "op".into())
        );
        assert_eq!(
            fault_at(&f, "actions.webhooks[0].schema_id"),
            FaultAt::Webhook(0, "schema_id".into())
        );
        assert!(f.apply_row_action("remove-condition-1"));
        assert!(f.apply_row_action("add-webhook"));
        assert_eq!((f.conditions.len(), f.webhooks.len()), (2, 3));
        assert!(!f.apply_row_action("save"));
    }
}
