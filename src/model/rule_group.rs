//! Rule groups: groups of rules with their conditions and actions, what a
//! client writes, and the rule-id bookkeeping of a `PUT`.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_name, new_id, now_rfc3339, yes, FieldError};

/// How a condition list combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    #[default]
    All,
    Any,
}

/// A condition operator (BEHAVIOUR.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    NotExists,
    Matches,
}

/// `{"field": PATH, "op": OP, "value": V}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// One (webhook, schema) pair to fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookAction {
    pub webhook_id: String,
    pub schema_id: String,
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    #[serde(default)]
    pub set_response_target: Option<String>,
    #[serde(default)]
    pub set_resolve_target: Option<String>,
    #[serde(default)]
    pub webhooks: Vec<WebhookAction>,
}

/// A rule as stored and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    #[serde(rename = "match")]
    pub match_: Match,
    pub conditions: Vec<Condition>,
    pub stop_rules: bool,
    pub stop_groups: bool,
    pub actions: Actions,
}

/// A rule group as stored and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleGroup {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    #[serde(rename = "match")]
    pub match_: Match,
    pub conditions: Vec<Condition>,
    pub stop_groups: bool,
    pub rules: Vec<Rule>,
    pub created_at: String,
    pub updated_at: String,
}

impl RuleGroup {
    /// Puts groups in the order the API lists them and the screens show
    /// them: position, then creation time, then id.
    pub fn sort_listed(groups: &mut [RuleGroup]) {
        groups.sort_by(|a, b| {
            (a.position, &a.created_at, &a.id).cmp(&(b.position, &b.created_at, &b.id))
        });
    }
}

/// A rule as a client writes it; `id` is sent back on `PUT` to keep it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    #[serde(default)]
    pub id: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1F\x7F]+$")]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub match_: Match,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub stop_rules: bool,
    #[serde(default)]
    pub stop_groups: bool,
    #[serde(default)]
    pub actions: Actions,
}

/// The body of `POST`/`PUT /api/v1/rule-groups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleGroupInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1F\x7F]+$")]
    pub name: String,
    #[serde(default)]
    pub position: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub match_: Match,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub stop_groups: bool,
    #[serde(default)]
    pub rules: Vec<RuleInput>,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
}

/// Most rules one group may hold; keeps a single save bounded.
pub const MAX_RULES_PER_GROUP: usize = 1000;
/// Most conditions one rule or group may hold.
pub const MAX_CONDITIONS: usize = 100;

impl RuleGroupInput {
    /// Validates single values and builds the group. Rule ids sent back by the
    /// client are kept when they belong to `previous`; new rules get new ids.
    /// Conditions are checked by `rules::compile_group`, references by the store.
    pub fn into_group(self, previous: Option<&RuleGroup>) -> Result<RuleGroup, FieldError> {
        check_name("name", &self.name)?;
        if self.rules.len() > MAX_RULES_PER_GROUP {
            return Err(FieldError::new("rules", "at most 1000 rules per group"));
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(FieldError::new("conditions", "at most 100 conditions"));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, input) in self.rules.into_iter().enumerate() {
            let rule = input
                .into_rule(previous, &rules)
                .map_err(|e| e.within(&format!("rules[{i}]")))?;
            rules.push(rule);
        }
        let now = now_rfc3339();
        Ok(RuleGroup {
            id: previous.map_or_else(|| new_id("rg"), |p| p.id.clone()),
            name: self.name,
            position: self.position,
            enabled: self.enabled,
            match_: self.match_,
            conditions: self.conditions,
            stop_groups: self.stop_groups,
            rules,
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now,
        })
    }
}

impl RuleInput {
    fn into_rule(self, group: Option<&RuleGroup>, earlier: &[Rule]) -> Result<Rule, FieldError> {
        check_name("name", &self.name)?;
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(FieldError::new("conditions", "at most 100 conditions"));
        }
        let id = match self.id {
            None => new_id("ru"),
            Some(id) => {
                let known = group.is_some_and(|g| g.rules.iter().any(|r| r.id == id));
                if !known {
                    return Err(FieldError::new(
                        "id",
                        "not a rule of this group; omit it for a new rule",
                    ));
                }
                if earlier.iter().any(|r| r.id == id) {
                    return Err(FieldError::new("id", "given twice"));
                }
                id
            }
        };
        Ok(Rule {
            id,
            name: self.name,
            enabled: self.enabled,
            match_: self.match_,
            conditions: self.conditions,
            stop_rules: self.stop_rules,
            stop_groups: self.stop_groups,
            actions: self.actions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_kept_only_for_own_rules() {
        let input: RuleGroupInput = serde_json::from_value(serde_json::json!({
            "name": "G", "rules": [{"name": "R"}]
        }))
        .expect("shape");
        let group = input.into_group(None).expect("valid");
        let rid = group.rules[0].id.clone();
        let again: RuleGroupInput = serde_json::from_value(serde_json::json!({
            "name": "G", "rules": [{"id": rid, "name": "R"}, {"name": "R2"}]
        }))
        .expect("shape");
        let updated = again.into_group(Some(&group)).expect("valid");
        assert_eq!(updated.rules[0].id, rid);
        assert_ne!(updated.rules[1].id, rid);
        let foreign: RuleGroupInput = serde_json::from_value(serde_json::json!({
            "name": "G", "rules": [{"id": "ru_other", "name": "R"}]
        }))
        .expect("shape");
        let err = foreign.into_group(Some(&group)).expect_err("foreign id");
        assert_eq!(err.field, "rules[0].id");
    }
}
