//! Validation of hub-law datasets with located, actionable messages
//! (`norms[3].operator: unknown operator "=~", expected one of …`).

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// Comparison operators of a norm.
pub const OPERATORS: [&str; 9] = ["<=", ">=", "==", "!=", "<", ">", "in", "not_in", "matches"];
/// Decisions a norm can take.
pub const DECISIONS: [&str; 4] = ["allow", "warn", "deny", "escalate"];
/// Top-level sections (`identity` is our extension, docs/decisions/0005;
/// `custom_predicates` is the standard's extension mechanism).
pub const SECTIONS: [&str; 11] = [
    "version",
    "norms",
    "procedures",
    "delegation",
    "escalation",
    "admission",
    "atp_issuance",
    "identity",
    "custom_predicates",
    "reputation",
    "resources",
];
/// Society role names a law may refer to (the standard's roles, plus `witness`
/// and our `authority`).
pub const ROLES: [&str; 9] = [
    "sovereign",
    "law-oracle",
    "policy-entity",
    "treasurer",
    "administrator",
    "archivist",
    "citizen",
    "witness",
    "authority",
];

/// `MAJOR.MINOR.PATCH` with an optional `-pre`/`+build` suffix.
pub fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn role(issues: &mut Issues, path: &str, v: &Value) {
    match v.as_str() {
        Some(r) if ROLES.contains(&r) => {}
        Some(r) => issues.add(path, format!("unknown role {r:?}, expected one of {}", one_of(&ROLES))),
        None => issues.add(path, format!("expected a role name, found {}", kind(v))),
    }
}

const NORM_FIELDS: [&str; 7] = ["id", "selector", "operator", "value", "decision", "priority", "description"];
const PROCEDURE_FIELDS: [&str; 5] = ["id", "requires_witnesses", "requires_quorum", "applies_to", "description"];
const DELEGATION_FIELDS: [&str; 3] = ["max_depth", "requires_approval", "allowed_roles"];
const ESCALATION_FIELDS: [&str; 3] = ["condition", "escalate_to", "description"];

/// One problem in a law dataset: where and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LawIssue {
    /// Location, e.g. `norms[3].operator`.
    pub path: String,
    /// What rule is broken.
    pub message: String,
}

impl fmt::Display for LawIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct Issues(Vec<LawIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(LawIssue { path: path.into(), message: message.into() });
    }
}

fn one_of(list: &[&str]) -> String {
    list.join(", ")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn unknown_fields(issues: &mut Issues, path: &str, obj: &Map<String, Value>, known: &[&str]) {
    for k in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        issues.add(format!("{path}.{k}"), format!("unknown field, expected one of {}", one_of(known)));
    }
}

fn required_str<'a>(issues: &mut Issues, path: &str, obj: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    match obj.get(field) {
        None => {
            issues.add(format!("{path}.{field}"), "required");
            None
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::String(_)) => {
            issues.add(format!("{path}.{field}"), "must not be empty");
            None
        }
        Some(other) => {
            issues.add(format!("{path}.{field}"), format!("expected a string, found {}", kind(other)));
            None
        }
    }
}

fn optional_string(issues: &mut Issues, path: &str, obj: &Map<String, Value>, field: &str) {
    if let Some(v) = obj.get(field)
        && !v.is_string()
    {
        issues.add(format!("{path}.{field}"), format!("expected a string, found {}", kind(v)));
    }
}

fn non_negative_int(issues: &mut Issues, path: &str, v: &Value, max: u64) {
    match v.as_u64() {
        Some(n) if n <= max => {}
        Some(n) => issues.add(path, format!("{n} is too large (at most {max})")),
        None => issues.add(path, format!("expected a whole number ≥ 0, found {}", kind(v))),
    }
}

/// A selector: `r6.` followed by dot-separated names.
pub fn valid_selector(s: &str) -> bool {
    s.strip_prefix("r6.").is_some_and(|rest| {
        !rest.is_empty()
            && rest.split('.').all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    })
}

fn norm(issues: &mut Issues, path: &str, v: &Value, ids: &mut HashMap<String, String>) {
    let Some(obj) = v.as_object() else {
        issues.add(path, format!("a norm must be a mapping, found {}", kind(v)));
        return;
    };
    unknown_fields(issues, path, obj, &NORM_FIELDS);
    if let Some(id) = required_str(issues, path, obj, "id")
        && let Some(first) = ids.insert(id.to_owned(), path.to_owned())
    {
        issues.add(format!("{path}.id"), format!("duplicate id {id:?} (first used at {first})"));
    }
    if let Some(sel) = required_str(issues, path, obj, "selector")
        && !valid_selector(sel)
    {
        issues.add(
            format!("{path}.selector"),
            format!("{sel:?} is not a selector; expected r6.<field>[.<field>…], e.g. r6.request.action"),
        );
    }
    let op = required_str(issues, path, obj, "operator");
    if let Some(op) = op
        && !OPERATORS.contains(&op)
    {
        issues.add(
            format!("{path}.operator"),
            format!("unknown operator {op:?}, expected one of {}", one_of(&OPERATORS)),
        );
    }
    match (op, obj.get("value")) {
        (_, None) => issues.add(format!("{path}.value"), "required"),
        (Some("in" | "not_in"), Some(v)) if !v.is_array() => issues
            .add(format!("{path}.value"), format!("operator {} needs a list, found {}", op.unwrap_or(""), kind(v))),
        (Some("<" | "<=" | ">" | ">="), Some(v)) if !v.is_number() => issues
            .add(format!("{path}.value"), format!("operator {} needs a number, found {}", op.unwrap_or(""), kind(v))),
        (Some("matches"), Some(v)) if !v.is_string() => {
            issues.add(format!("{path}.value"), format!("operator matches needs a pattern string, found {}", kind(v)))
        }
        _ => {}
    }
    if let Some(d) = required_str(issues, path, obj, "decision")
        && !DECISIONS.contains(&d)
    {
        issues
            .add(format!("{path}.decision"), format!("unknown decision {d:?}, expected one of {}", one_of(&DECISIONS)));
    }
    if let Some(p) = obj.get("priority")
        && p.as_i64().is_none()
    {
        issues.add(format!("{path}.priority"), format!("expected a whole number, found {}", kind(p)));
    }
    optional_string(issues, path, obj, "description");
}

fn procedure(issues: &mut Issues, path: &str, v: &Value, ids: &mut HashMap<String, String>) {
    let Some(obj) = v.as_object() else {
        issues.add(path, format!("a procedure must be a mapping, found {}", kind(v)));
        return;
    };
    unknown_fields(issues, path, obj, &PROCEDURE_FIELDS);
    if let Some(id) = required_str(issues, path, obj, "id")
        && let Some(first) = ids.insert(id.to_owned(), path.to_owned())
    {
        issues.add(format!("{path}.id"), format!("duplicate id {id:?} (first used at {first})"));
    }
    let (w, q) = (obj.get("requires_witnesses"), obj.get("requires_quorum"));
    if w.is_none() && q.is_none() {
        issues.add(path, "needs requires_witnesses or requires_quorum");
    }
    if let Some(w) = w {
        non_negative_int(issues, &format!("{path}.requires_witnesses"), w, 1000);
    }
    if let Some(q) = q {
        non_negative_int(issues, &format!("{path}.requires_quorum"), q, 1000);
    }
    match obj.get("applies_to") {
        None => issues.add(format!("{path}.applies_to"), "required"),
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {}
        Some(other) => issues.add(
            format!("{path}.applies_to"),
            format!("expected an action class or a non-empty list of them, found {}", kind(other)),
        ),
    }
    optional_string(issues, path, obj, "description");
}

fn delegation(issues: &mut Issues, v: &Value) {
    let path = "delegation";
    let Some(obj) = v.as_object() else {
        issues.add(path, format!("expected a mapping, found {}", kind(v)));
        return;
    };
    unknown_fields(issues, path, obj, &DELEGATION_FIELDS);
    if let Some(d) = obj.get("max_depth") {
        non_negative_int(issues, "delegation.max_depth", d, 16);
    }
    if let Some(r) = obj.get("requires_approval")
        && !r.is_boolean()
    {
        issues.add("delegation.requires_approval", format!("expected true or false, found {}", kind(r)));
    }
    match obj.get("allowed_roles") {
        None => {}
        Some(Value::Array(a)) => {
            for (i, r) in a.iter().enumerate() {
                role(issues, &format!("delegation.allowed_roles[{i}]"), r);
            }
        }
        Some(other) => {
            issues.add("delegation.allowed_roles", format!("expected a list of role names, found {}", kind(other)))
        }
    }
}

/// `atp_issuance`: open mapping (the standard's fields and ours), but the
/// fields we read must have the right types.
fn atp_issuance(issues: &mut Issues, obj: &serde_json::Map<String, Value>) {
    for k in ["max_mint_per_cycle", "cycle_seconds"] {
        if let Some(v) = obj.get(k)
            && v.as_u64().is_none()
        {
            issues.add(format!("atp_issuance.{k}"), format!("expected a non-negative integer, found {}", kind(v)));
        }
    }
    if let Some(v) = obj.get("cycle_seconds")
        && v.as_u64() == Some(0)
    {
        issues.add("atp_issuance.cycle_seconds", "must be at least 1");
    }
    for k in ["charge_rate", "transfer_fee_rate"] {
        if let Some(v) = obj.get(k) {
            match v.as_f64() {
                Some(x) if x >= 0.0 && x.is_finite() && (k != "transfer_fee_rate" || x <= 1.0) => {}
                _ => issues.add(
                    format!("atp_issuance.{k}"),
                    format!(
                        "expected a number {}, found {v}",
                        if k == "transfer_fee_rate" { "between 0 and 1" } else { "at least 0" }
                    ),
                ),
            }
        }
    }
    if let Some(v) = obj.get("require_funded_delegations")
        && !v.is_boolean()
    {
        issues.add("atp_issuance.require_funded_delegations", format!("expected true or false, found {}", kind(v)));
    }
}

/// `reputation`: `rules` (reputation rules of the standard), `gaming`
/// thresholds and `quality_update` (bool).
fn reputation(issues: &mut Issues, v: &Value) {
    let Some(obj) = v.as_object() else {
        issues.add("reputation", format!("expected a mapping, found {}", kind(v)));
        return;
    };
    unknown_fields(issues, "reputation", obj, &["rules", "gaming", "quality_update", "description"]);
    if let Some(rules) = obj.get("rules") {
        match rules.as_array() {
            None => issues.add("reputation.rules", format!("expected a list, found {}", kind(rules))),
            Some(list) => {
                for (i, r) in list.iter().enumerate() {
                    match serde_json::from_value::<crate::reputation::Rule>(r.clone()) {
                        Err(e) => issues.add(format!("reputation.rules[{i}]"), e.to_string()),
                        Ok(rule) => {
                            for d in rule.unknown_dimensions() {
                                issues.add(
                                    format!("reputation.rules[{i}]"),
                                    format!("unknown dimension {d:?}, expected one of talent, training, temperament, valuation, veracity, validity"),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(g) = obj.get("gaming")
        && let Err(e) = serde_json::from_value::<crate::reputation::GamingLaw>(g.clone())
    {
        issues.add("reputation.gaming", e.to_string());
    }
    if let Some(q) = obj.get("quality_update")
        && !q.is_boolean()
    {
        issues.add("reputation.quality_update", format!("expected true or false, found {}", kind(q)));
    }
}

/// `resources`: `pools` by resource type (`capacity` integer, `rate` ATP per
/// unit-hour), `rates_authority` (a role), `max_rate_change` (0 to 1) and the
/// metering periods in seconds.
fn resources(issues: &mut Issues, v: &Value) {
    use crate::resources::RESOURCE_TYPES;
    let Some(obj) = v.as_object() else {
        issues.add("resources", format!("expected a mapping, found {}", kind(v)));
        return;
    };
    unknown_fields(
        issues,
        "resources",
        obj,
        &[
            "pools",
            "rates_authority",
            "max_rate_change",
            "burst_seconds",
            "max_lease_seconds",
            "release_grace_seconds",
            "description",
        ],
    );
    if let Some(r) = obj.get("rates_authority") {
        role(issues, "resources.rates_authority", r);
    }
    if let Some(m) = obj.get("max_rate_change")
        && !m.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x))
    {
        issues.add("resources.max_rate_change", format!("expected a number between 0 and 1, found {m}"));
    }
    for k in ["burst_seconds", "max_lease_seconds", "release_grace_seconds"] {
        if let Some(x) = obj.get(k)
            && (x.as_u64().is_none() || (k != "release_grace_seconds" && x.as_u64() == Some(0)))
        {
            issues.add(format!("resources.{k}"), format!("expected a positive integer of seconds, found {x}"));
        }
    }
    let Some(pools) = obj.get("pools") else { return };
    let Some(pools) = pools.as_object() else {
        issues.add("resources.pools", format!("expected a mapping of resource types, found {}", kind(pools)));
        return;
    };
    for (t, p) in pools {
        let path = format!("resources.pools.{t}");
        if !RESOURCE_TYPES.contains(&t.as_str()) {
            issues.add(&path, format!("unknown resource type, expected one of {}", one_of(&RESOURCE_TYPES)));
            continue;
        }
        let Some(p) = p.as_object() else {
            issues.add(&path, format!("expected a mapping with capacity and rate, found {}", kind(p)));
            continue;
        };
        unknown_fields(issues, &path, p, &["capacity", "rate", "description"]);
        match p.get("capacity") {
            Some(c) if c.as_u64().is_some() => {}
            Some(c) => issues.add(format!("{path}.capacity"), format!("expected a non-negative integer, found {c}")),
            None => issues.add(format!("{path}.capacity"), "required"),
        }
        match p.get("rate") {
            Some(r) if r.as_f64().is_some_and(|x| x >= 0.0 && x.is_finite()) => {}
            Some(r) => issues
                .add(format!("{path}.rate"), format!("expected ATP per unit-hour (a number at least 0), found {r}")),
            None => issues.add(format!("{path}.rate"), "required"),
        }
    }
}

/// A parsed escalation condition `selector op literal`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub selector: String,
    pub operator: String,
    pub value: Value,
}

/// Parse `r6.resource.atp > 50` or `r6.request.action == 'amend_charter'`.
pub fn parse_condition(s: &str) -> Result<Condition, String> {
    let s = s.trim();
    let (selector, rest) = s.split_once(char::is_whitespace).ok_or("expected `<selector> <operator> <value>`")?;
    let rest = rest.trim_start();
    let (operator, literal) = rest.split_once(char::is_whitespace).ok_or("expected `<selector> <operator> <value>`")?;
    if !valid_selector(selector) {
        return Err(format!("{selector:?} is not a selector; expected r6.<field>[.<field>…]"));
    }
    if !OPERATORS.contains(&operator) || matches!(operator, "in" | "not_in") {
        return Err(format!("unknown operator {operator:?}, expected one of <=, >=, ==, !=, <, >, matches"));
    }
    let literal = literal.trim();
    let value = if let Some(q) = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')) {
        Value::String(q.to_owned())
    } else if let Some(q) = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Value::String(q.to_owned())
    } else if let Ok(v) = serde_json::from_str::<Value>(literal) {
        if !(v.is_number() || v.is_boolean()) {
            return Err(format!("value {literal:?} must be a number, true/false or a quoted string"));
        }
        v
    } else {
        return Err(format!("value {literal:?} must be a number, true/false or a quoted string"));
    };
    Ok(Condition { selector: selector.to_owned(), operator: operator.to_owned(), value })
}

fn escalation(issues: &mut Issues, path: &str, v: &Value) {
    let Some(obj) = v.as_object() else {
        issues.add(path, format!("an escalation must be a mapping, found {}", kind(v)));
        return;
    };
    unknown_fields(issues, path, obj, &ESCALATION_FIELDS);
    if let Some(c) = required_str(issues, path, obj, "condition")
        && let Err(e) = parse_condition(c)
    {
        issues.add(format!("{path}.condition"), e);
    }
    match obj.get("escalate_to") {
        None => issues.add(format!("{path}.escalate_to"), "required"),
        Some(r) => role(issues, &format!("{path}.escalate_to"), r),
    }
    optional_string(issues, path, obj, "description");
}

fn list<'a>(issues: &mut Issues, doc: &'a Map<String, Value>, key: &str, required: bool) -> &'a [Value] {
    match doc.get(key) {
        None if required => {
            issues.add(key, "required");
            &[]
        }
        None => &[],
        Some(Value::Array(a)) => a,
        Some(other) => {
            issues.add(key, format!("expected a list, found {}", kind(other)));
            &[]
        }
    }
}

/// Every problem in `doc`, in document order; empty when the law is valid.
pub fn validate(doc: &Value) -> Vec<LawIssue> {
    let mut issues = Issues(Vec::new());
    let Some(obj) = doc.as_object() else {
        issues.add("(document)", format!("a law dataset must be a mapping, found {}", kind(doc)));
        return issues.0;
    };
    for k in obj.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
        issues.add(k.as_str(), format!("unknown section, expected one of {}", one_of(&SECTIONS)));
    }
    if let Some(v) = required_str(&mut issues, "", obj, "version")
        && !is_semver(v)
    {
        issues.add("version", format!("{v:?} is not a semantic version (MAJOR.MINOR.PATCH)"));
    }
    let mut ids = HashMap::new();
    for (i, n) in list(&mut issues, obj, "norms", true).iter().enumerate() {
        norm(&mut issues, &format!("norms[{i}]"), n, &mut ids);
    }
    let mut pids = HashMap::new();
    for (i, p) in list(&mut issues, obj, "procedures", false).iter().enumerate() {
        procedure(&mut issues, &format!("procedures[{i}]"), p, &mut pids);
    }
    if let Some(d) = obj.get("delegation") {
        delegation(&mut issues, d);
    }
    for (i, e) in list(&mut issues, obj, "escalation", false).iter().enumerate() {
        escalation(&mut issues, &format!("escalation[{i}]"), e);
    }
    for section in ["admission", "atp_issuance", "identity"] {
        if let Some(v) = obj.get(section)
            && !v.is_object()
        {
            issues.add(section, format!("expected a mapping, found {}", kind(v)));
        }
    }
    if let Some(r) = obj.get("admission").and_then(|a| a.get("sponsor_role")) {
        role(&mut issues, "admission.sponsor_role", r);
    }
    if let Some(r) = obj.get("atp_issuance").and_then(|a| a.get("mint_authority")) {
        role(&mut issues, "atp_issuance.mint_authority", r);
    }
    if let Some(a) = obj.get("atp_issuance").and_then(Value::as_object) {
        atp_issuance(&mut issues, a);
    }
    if let Some(r) = obj.get("reputation") {
        reputation(&mut issues, r);
    }
    if let Some(r) = obj.get("resources") {
        resources(&mut issues, r);
    }
    if let Some(v) = obj.get("custom_predicates")
        && !v.is_array()
    {
        issues.add("custom_predicates", format!("expected a list, found {}", kind(v)));
    }
    // `required_str` on the root yields paths like ".version"; strip the dot.
    for i in &mut issues.0 {
        if let Some(p) = i.path.strip_prefix('.') {
            i.path = p.to_owned();
        }
    }
    issues.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(v: Value) -> Vec<String> {
        validate(&v).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn located_messages() {
        let m = msgs(json!({"version": "1.0.0", "norms": [
            {"id": "A", "selector": "r6.request.action", "operator": "==", "value": "x", "decision": "allow"},
            {"id": "A", "selector": "request.action", "operator": "=~", "value": "x", "decision": "maybe", "prio": 1},
            {"id": "B", "selector": "r6.resource.atp", "operator": "<=", "value": "ten", "decision": "deny"},
            {"id": "C", "selector": "r6.role", "operator": "in", "value": "admin", "decision": "deny"}
        ], "extra": 1}));
        let want = [
            "extra: unknown section, expected one of version, norms, procedures, delegation, escalation, admission, atp_issuance, identity, custom_predicates, reputation, resources",
            "norms[1].prio: unknown field, expected one of id, selector, operator, value, decision, priority, description",
            "norms[1].id: duplicate id \"A\" (first used at norms[0])",
            "norms[1].selector: \"request.action\" is not a selector; expected r6.<field>[.<field>…], e.g. r6.request.action",
            "norms[1].operator: unknown operator \"=~\", expected one of <=, >=, ==, !=, <, >, in, not_in, matches",
            "norms[1].decision: unknown decision \"maybe\", expected one of allow, warn, deny, escalate",
            "norms[2].value: operator <= needs a number, found a string",
            "norms[3].value: operator in needs a list, found a string",
        ];
        assert_eq!(m, want);
    }

    #[test]
    fn reputation_and_atp_sections() {
        let law = json!({"version": "1.0.0", "norms": [],
            "atp_issuance": {"transfer_fee_rate": 2.0, "cycle_seconds": 0},
            "reputation": {"rules": [{"rule_id": "r", "t3_impacts": {"charm": {"base_delta": 0.1}}}],
                           "gaming": {"burst_window": "ten"}, "quality_update": 1}});
        let m: Vec<String> = validate(&law).iter().map(ToString::to_string).collect();
        for want in [
            "atp_issuance.cycle_seconds: must be at least 1",
            "atp_issuance.transfer_fee_rate: expected a number between 0 and 1, found 2.0",
            "reputation.rules[0]: unknown dimension \"charm\"",
            "reputation.gaming: invalid type",
            "reputation.quality_update: expected true or false",
        ] {
            assert!(m.iter().any(|x| x.starts_with(want)), "missing {want:?} in {m:#?}");
        }
    }

    #[test]
    fn resources_section() {
        let law = json!({"version": "1.0.0", "norms": [],
            "resources": {"rates_authority": "banker", "max_rate_change": 2, "burst_seconds": 0,
                          "pools": {"cpu": {"capacity": -1, "rate": 0.5}, "gpu": {"capacity": 2},
                                    "quantum": {"capacity": 1, "rate": 1}, "memory": {"capacity": 10, "rate": "x"}}}});
        let m: Vec<String> = validate(&law).iter().map(ToString::to_string).collect();
        for want in [
            "resources.rates_authority: unknown role \"banker\"",
            "resources.max_rate_change: expected a number between 0 and 1, found 2",
            "resources.burst_seconds: expected a positive integer",
            "resources.pools.cpu.capacity: expected a non-negative integer, found -1",
            "resources.pools.gpu.rate: required",
            "resources.pools.memory.rate: expected ATP per unit-hour",
            "resources.pools.quantum: unknown resource type",
        ] {
            assert!(m.iter().any(|x| x.starts_with(want)), "missing {want:?} in {m:#?}");
        }
        let ok =
            json!({"version": "1.0.0", "norms": [], "resources": {"pools": {"cpu": {"capacity": 4000, "rate": 0.1}}}});
        assert!(validate(&ok).is_empty());
    }

    #[test]
    fn conditions() {
        assert_eq!(parse_condition("r6.resource.atp > 50").map(|c| c.value), Ok(json!(50)));
        assert_eq!(
            parse_condition("r6.request.action == 'amend_charter'").map(|c| c.value),
            Ok(json!("amend_charter"))
        );
        assert!(parse_condition("atp > 50").is_err());
        assert!(parse_condition("r6.x ~ 1").is_err());
        assert!(parse_condition("r6.x == amend").is_err());
        assert!(parse_condition("r6.x").is_err());
    }

    #[test]
    fn procedures_delegation_and_sections() {
        let m = msgs(json!({"version": "1.0", "norms": [],
            "procedures": [{"id": "P", "applies_to": []}, {"id": "P", "requires_witnesses": -1, "applies_to": "x"}],
            "delegation": {"max_depth": 99, "requires_approval": "yes"},
            "escalation": [{"condition": "r6.a >", "escalate_to": "king"}],
            "admission": []}));
        assert_eq!(
            m,
            [
                "version: \"1.0\" is not a semantic version (MAJOR.MINOR.PATCH)",
                "procedures[0]: needs requires_witnesses or requires_quorum",
                "procedures[0].applies_to: expected an action class or a non-empty list of them, found a list",
                "procedures[1].id: duplicate id \"P\" (first used at procedures[0])",
                "procedures[1].requires_witnesses: expected a whole number ≥ 0, found a number",
                "delegation.max_depth: 99 is too large (at most 16)",
                "delegation.requires_approval: expected true or false, found a string",
                "escalation[0].condition: expected `<selector> <operator> <value>`",
                "escalation[0].escalate_to: unknown role \"king\", expected one of sovereign, law-oracle, policy-entity, treasurer, administrator, archivist, citizen, witness, authority",
                "admission: expected a mapping, found a list",
            ]
        );
        assert_eq!(msgs(json!([])), ["(document): a law dataset must be a mapping, found a list"]);
        assert_eq!(msgs(json!({"norms": []})), ["version: required"]);
    }
}
