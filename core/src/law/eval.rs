//! Norm evaluation, in the standard's order (hub-law-schema §1):
//!
//! 1. among the norms that fire, the highest `priority` wins (ties: first declared);
//! 2. a winning `deny` is terminal;
//! 3. otherwise the first matching `escalation` trigger → `escalate`;
//! 4. otherwise the winning norm's decision;
//! 5. nothing fires and no trigger matches → `allow`.
//!
//! A norm *fires* when `selector operator value` holds for the request
//! (docs/decisions/0007-law-evaluation.md). The request is the R6 object the
//! selectors address: `r6.request.action` is `request["request"]["action"]`.

use super::validate::{Condition, parse_condition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A law decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Warn,
    Deny,
    Escalate,
}

impl Decision {
    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allow" => Some(Decision::Allow),
            "warn" => Some(Decision::Warn),
            "deny" => Some(Decision::Deny),
            "escalate" => Some(Decision::Escalate),
            _ => None,
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not_in")]
    NotIn,
    #[serde(rename = "matches")]
    Matches,
}

impl Operator {
    /// Parse the wire form.
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "<=" => Operator::Le,
            ">=" => Operator::Ge,
            "==" => Operator::Eq,
            "!=" => Operator::Ne,
            "<" => Operator::Lt,
            ">" => Operator::Gt,
            "in" => Operator::In,
            "not_in" => Operator::NotIn,
            "matches" => Operator::Matches,
            _ => return None,
        })
    }
}

/// A compiled predicate `selector op value`.
#[derive(Debug, Clone)]
pub struct Predicate {
    pub selector: String,
    path: Vec<String>,
    pub operator: Operator,
    pub value: Value,
    regex: Option<regex_lite::Regex>,
}

/// Why a predicate could not be compiled.
pub type CompileError = String;

impl Predicate {
    /// Compile; `matches` patterns are compiled once here.
    pub fn new(selector: &str, operator: &str, value: Value) -> Result<Predicate, CompileError> {
        let op = Operator::parse(operator).ok_or_else(|| format!("unknown operator {operator:?}"))?;
        let path: Vec<String> =
            selector.strip_prefix("r6.").ok_or("selector must start with r6.")?.split('.').map(str::to_owned).collect();
        let regex = match op {
            Operator::Matches => {
                let pat = value.as_str().ok_or("matches needs a pattern string")?;
                Some(regex_lite::Regex::new(pat).map_err(|e| format!("invalid pattern: {e}"))?)
            }
            _ => None,
        };
        Ok(Predicate { selector: selector.to_owned(), path, operator: op, value, regex })
    }

    /// The request value the selector points at, if any.
    pub fn actual<'a>(&self, request: &'a Value) -> Option<&'a Value> {
        self.path.iter().try_fold(request, |v, seg| v.get(seg))
    }

    /// Whether the predicate holds. A missing field never satisfies it.
    pub fn holds(&self, request: &Value) -> bool {
        let Some(actual) = self.actual(request) else { return false };
        match self.operator {
            Operator::Eq => json_eq(actual, &self.value),
            Operator::Ne => !json_eq(actual, &self.value),
            Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => match (actual.as_f64(), self.value.as_f64()) {
                (Some(a), Some(b)) => match self.operator {
                    Operator::Lt => a < b,
                    Operator::Le => a <= b,
                    Operator::Gt => a > b,
                    _ => a >= b,
                },
                _ => false,
            },
            Operator::In => self.value.as_array().is_some_and(|l| l.iter().any(|x| json_eq(actual, x))),
            Operator::NotIn => self.value.as_array().is_some_and(|l| !l.iter().any(|x| json_eq(actual, x))),
            Operator::Matches => match (&self.regex, actual.as_str()) {
                (Some(re), Some(s)) => re.is_match(s),
                _ => false,
            },
        }
    }
}

/// JSON equality where numbers compare by value (100 == 100.0).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A compiled norm.
#[derive(Debug, Clone)]
pub struct Norm {
    pub id: String,
    pub predicate: Predicate,
    pub decision: Decision,
    pub priority: i64,
    pub description: Option<String>,
}

/// A compiled escalation trigger.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub condition: String,
    pub predicate: Predicate,
    pub escalate_to: String,
}

/// The evaluable part of a law.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    pub norms: Vec<Norm>,
    pub escalations: Vec<Escalation>,
}

impl Compiled {
    /// Compile a validated law document.
    pub fn new(doc: &Value) -> Result<Compiled, (String, CompileError)> {
        let mut c = Compiled::default();
        for (i, n) in doc.get("norms").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or_default();
            let predicate =
                Predicate::new(s("selector"), s("operator"), n.get("value").cloned().unwrap_or(Value::Null))
                    .map_err(|e| (format!("norms[{i}].value"), e))?;
            c.norms.push(Norm {
                id: s("id").to_owned(),
                predicate,
                decision: Decision::parse(s("decision"))
                    .ok_or((format!("norms[{i}].decision"), "unknown decision".into()))?,
                priority: n.get("priority").and_then(Value::as_i64).unwrap_or(0),
                description: n.get("description").and_then(Value::as_str).map(str::to_owned),
            });
        }
        for (i, e) in doc.get("escalation").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let cond = e.get("condition").and_then(Value::as_str).unwrap_or_default();
            let Condition { selector, operator, value } =
                parse_condition(cond).map_err(|m| (format!("escalation[{i}].condition"), m))?;
            let predicate =
                Predicate::new(&selector, &operator, value).map_err(|m| (format!("escalation[{i}].condition"), m))?;
            c.escalations.push(Escalation {
                condition: cond.to_owned(),
                predicate,
                escalate_to: e.get("escalate_to").and_then(Value::as_str).unwrap_or("sovereign").to_owned(),
            });
        }
        Ok(c)
    }

    /// Evaluate `request` (the R6 object) against the law.
    pub fn evaluate(&self, request: &Value) -> Outcome {
        let mut evidence = Vec::with_capacity(self.norms.len());
        let mut winner: Option<&Norm> = None;
        for n in &self.norms {
            let fired = n.predicate.holds(request);
            evidence.push(NormEvidence {
                norm: n.id.clone(),
                selector: n.predicate.selector.clone(),
                operator: n.predicate.operator,
                expected: n.predicate.value.clone(),
                actual: n.predicate.actual(request).cloned(),
                fired,
                decision: n.decision,
                priority: n.priority,
            });
            // Strictly greater: ties keep the first declared.
            if fired && winner.is_none_or(|w| n.priority > w.priority) {
                winner = Some(n);
            }
        }
        let mut out = Outcome {
            decision: Decision::Allow,
            norm: winner.map(|w| w.id.clone()),
            escalation: None,
            escalate_to: None,
            reason: String::new(),
            evidence,
        };
        if let Some(w) = winner
            && w.decision == Decision::Deny
        {
            out.decision = Decision::Deny;
            out.reason = format!("norm {} denies", w.id);
            return out;
        }
        if let Some(e) = self.escalations.iter().find(|e| e.predicate.holds(request)) {
            out.decision = Decision::Escalate;
            out.escalation = Some(e.condition.clone());
            out.escalate_to = Some(e.escalate_to.clone());
            out.reason = format!("escalation trigger `{}`", e.condition);
            return out;
        }
        match winner {
            Some(w) => {
                out.decision = w.decision;
                if w.decision == Decision::Escalate {
                    out.escalate_to = Some("sovereign".into());
                }
                out.reason = format!("norm {} (priority {})", w.id, w.priority);
            }
            None => out.reason = "no norm fired and no escalation matched: default allow".into(),
        }
        out
    }
}

/// How one norm saw the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormEvidence {
    pub norm: String,
    pub selector: String,
    pub operator: Operator,
    pub expected: Value,
    pub actual: Option<Value>,
    pub fired: bool,
    pub decision: Decision,
    pub priority: i64,
}

/// The result of a law check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub decision: Decision,
    /// The winning norm, if any fired.
    pub norm: Option<String>,
    /// The escalation trigger that matched, if any.
    pub escalation: Option<String>,
    pub escalate_to: Option<String>,
    pub reason: String,
    pub evidence: Vec<NormEvidence>,
}

/// Effective law of a child society: the parent's norms, with the child's
/// replacing those of the same id and its new ones appended; for every other
/// section the child's value wins when present.
pub fn merge(parent: &Value, child: &Value) -> Value {
    let mut out = parent.clone();
    let (Some(o), Some(c)) = (out.as_object_mut(), child.as_object()) else { return child.clone() };
    for (k, v) in c {
        if k != "norms" {
            o.insert(k.clone(), v.clone());
        }
    }
    let mut norms: Vec<Value> = parent.get("norms").and_then(Value::as_array).cloned().unwrap_or_default();
    for cn in child.get("norms").and_then(Value::as_array).into_iter().flatten() {
        let id = cn.get("id");
        match norms.iter_mut().find(|pn| pn.get("id") == id) {
            Some(slot) => *slot = cn.clone(),
            None => norms.push(cn.clone()),
        }
    }
    o.insert("norms".into(), Value::Array(norms));
    out
}
