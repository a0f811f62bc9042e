//! Authorization (R6): delegations that only ever narrow, and the decision for
//! one action, with the checks in the standard's order: role pairing, agency
//! (delegation scope, validity, revocation, depth), law, ATP budget, witnesses.

use crate::crypto::Hash;
use crate::id::LctId;
use crate::law::{Decision, LawDataset};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a delegation lets the agent do. `"*"` matches anything; a trailing `*`
/// matches a prefix (`model:*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// Most ATP a single action may cost.
    pub max_atp: u64,
}

fn pattern_matches(pattern: &str, s: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => s.starts_with(prefix),
        None => pattern == s,
    }
}

/// Whether `inner` is covered by `outer` (every string it matches, outer matches).
fn pattern_covers(outer: &str, inner: &str) -> bool {
    match (outer.strip_suffix('*'), inner.strip_suffix('*')) {
        (Some(o), Some(i)) => i.starts_with(o),
        (Some(o), None) => inner.starts_with(o),
        (None, Some(_)) => false,
        (None, None) => outer == inner,
    }
}

impl Scope {
    /// Whether the scope allows `action` on `resource` costing `atp`.
    pub fn allows(&self, action: &str, resource: &str, atp: u64) -> bool {
        atp <= self.max_atp
            && self.actions.iter().any(|p| pattern_matches(p, action))
            && self.resources.iter().any(|p| pattern_matches(p, resource))
    }

    /// Whether `self` is no wider than `parent`.
    pub fn within(&self, parent: &Scope) -> bool {
        self.max_atp <= parent.max_atp
            && self.actions.iter().all(|a| parent.actions.iter().any(|p| pattern_covers(p, a)))
            && self.resources.iter().all(|r| parent.resources.iter().any(|p| pattern_covers(p, r)))
    }
}

/// An agency grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    pub grant_id: String,
    pub client: LctId,
    pub agent: LctId,
    pub society: LctId,
    pub law_hash: Hash,
    pub scope: Scope,
    /// Total ATP the agent may spend under this grant.
    pub atp_budget: u64,
    pub not_before: Timestamp,
    pub expires_at: Timestamp,
    pub delegatable: bool,
    /// The grant this one re-delegates, if any.
    pub parent: Option<String>,
    /// 1 for a direct grant, parent's depth + 1 for a re-delegation.
    pub depth: u32,
    /// The budget is real ATP locked from the root client's account (and
    /// discharged to the society pool as it is spent), not only a ceiling.
    /// A re-delegation of a funded grant is funded from its parent's lock.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub funded: bool,
}

/// Why an authorization or a delegation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "denial", rename_all = "snake_case")]
pub enum Denial {
    #[error("the actor does not hold role {role}")]
    RolePairing { role: String },
    #[error("delegation {grant} is for {agent}, not for the actor")]
    WrongAgent { grant: String, agent: String },
    #[error("delegation {grant} is not valid yet or has expired")]
    Expired { grant: String },
    #[error("delegation {grant} (or one it derives from) was revoked")]
    Revoked { grant: String },
    #[error("the action is outside the scope of delegation {grant}")]
    OutOfScope { grant: String },
    #[error("delegation depth {depth} exceeds the maximum {max}")]
    TooDeep { depth: u32, max: u32 },
    #[error("delegation {grant} may not be re-delegated")]
    NotDelegatable { grant: String },
    #[error("a re-delegation must not widen scope, budget or validity of {grant}")]
    Widening { grant: String },
    #[error("the law decides {decision:?}: {reason}")]
    Law { decision: Decision, reason: String },
    #[error("insufficient ATP: {wanted} wanted, {remaining} remaining")]
    InsufficientAtp { wanted: u64, remaining: u64 },
}

/// Check a new grant against its parent (if any) and the law's delegation rules.
pub fn check_grant(child: &Delegation, parent: Option<(&Delegation, u64)>, max_depth: u32) -> Result<(), Denial> {
    if child.depth > max_depth {
        return Err(Denial::TooDeep { depth: child.depth, max: max_depth });
    }
    if let Some((p, remaining)) = parent {
        if !p.delegatable {
            return Err(Denial::NotDelegatable { grant: p.grant_id.clone() });
        }
        let widened = !child.scope.within(&p.scope)
            || child.atp_budget > remaining
            || child.expires_at > p.expires_at
            || child.not_before < p.not_before
            || child.client != p.agent
            || child.funded != p.funded
            || child.depth != p.depth + 1;
        if widened {
            return Err(Denial::Widening { grant: p.grant_id.clone() });
        }
    }
    Ok(())
}

/// Everything one authorization decision looks at.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub actor: &'a LctId,
    pub actor_roles: &'a [String],
    /// Role the action is taken in (role pairing); `None` skips the check.
    pub role: Option<&'a str>,
    pub action: &'a str,
    pub resource: &'a str,
    pub atp_cost: u64,
    /// The delegation chain from the used grant up to the root, with each
    /// grant's revocation flag; empty when acting on one's own account.
    pub chain: &'a [(Delegation, bool)],
    /// ATP still available under the used grant (or the actor's account).
    pub atp_remaining: u64,
    pub now: Timestamp,
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub granted: bool,
    /// `deferred` when the law escalates.
    pub decision: &'static str,
    pub denial: Option<Denial>,
    pub atp_remaining: u64,
    pub requires_witness: bool,
    pub law_decision: Option<Decision>,
}

/// Decide, in order: role pairing, delegation chain, law, ATP.
pub fn decide(law: &LawDataset, req: &Request<'_>, max_depth: u32) -> Verdict {
    let deny = |d: Denial| Verdict {
        granted: false,
        decision: "denied",
        denial: Some(d),
        atp_remaining: req.atp_remaining,
        requires_witness: false,
        law_decision: None,
    };
    if let Some(role) = req.role
        && !req.actor_roles.iter().any(|r| r == role)
    {
        return deny(Denial::RolePairing { role: role.to_owned() });
    }
    if let Some((used, _)) = req.chain.first() {
        if &used.agent != req.actor {
            return deny(Denial::WrongAgent { grant: used.grant_id.clone(), agent: used.agent.to_string() });
        }
        for (d, revoked) in req.chain {
            if *revoked {
                return deny(Denial::Revoked { grant: d.grant_id.clone() });
            }
            if req.now < d.not_before || req.now >= d.expires_at {
                return deny(Denial::Expired { grant: d.grant_id.clone() });
            }
            if !d.scope.allows(req.action, req.resource, req.atp_cost) {
                return deny(Denial::OutOfScope { grant: d.grant_id.clone() });
            }
            if d.depth > max_depth {
                return deny(Denial::TooDeep { depth: d.depth, max: max_depth });
            }
        }
    }
    let r6 = serde_json::json!({
        "role": req.role,
        "request": {"action": req.action},
        "resource": {"id": req.resource, "atp": req.atp_cost},
    });
    let outcome = law.evaluate(&r6);
    match outcome.decision {
        Decision::Deny => {
            let mut v = deny(Denial::Law { decision: Decision::Deny, reason: outcome.reason });
            v.law_decision = Some(Decision::Deny);
            return v;
        }
        Decision::Escalate => {
            return Verdict {
                granted: false,
                decision: "deferred",
                denial: Some(Denial::Law { decision: Decision::Escalate, reason: outcome.reason }),
                atp_remaining: req.atp_remaining,
                requires_witness: true,
                law_decision: Some(Decision::Escalate),
            };
        }
        Decision::Allow | Decision::Warn => {}
    }
    if req.atp_cost > req.atp_remaining {
        let mut v = deny(Denial::InsufficientAtp { wanted: req.atp_cost, remaining: req.atp_remaining });
        v.law_decision = Some(outcome.decision);
        return v;
    }
    Verdict {
        granted: true,
        decision: "granted",
        denial: None,
        atp_remaining: req.atp_remaining - req.atp_cost,
        requires_witness: false,
        law_decision: Some(outcome.decision),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use serde_json::json;

    fn id(n: u8) -> LctId {
        LctId::from_public_key(&SecretKey::from_seed(&[n; 32]).public_key())
    }

    fn scope(actions: &[&str], resources: &[&str], max: u64) -> Scope {
        Scope {
            actions: actions.iter().map(|s| (*s).into()).collect(),
            resources: resources.iter().map(|s| (*s).into()).collect(),
            max_atp: max,
        }
    }

    fn grant(gid: &str, client: u8, agent: u8, s: Scope, budget: u64, depth: u32) -> Delegation {
        Delegation {
            grant_id: gid.into(),
            client: id(client),
            agent: id(agent),
            society: LctId::parse("lct:web4:society:t").unwrap(),
            law_hash: crate::crypto::sha256(b"law"),
            scope: s,
            atp_budget: budget,
            not_before: Timestamp(0),
            expires_at: Timestamp(1000),
            delegatable: true,
            parent: None,
            depth,
            funded: false,
        }
    }

    fn law() -> LawDataset {
        LawDataset::try_from(json!({"version": "1.0.0", "norms": [
            {"id": "NO-DELETE", "selector": "r6.request.action", "operator": "==", "value": "delete", "decision": "deny", "priority": 10}],
            "escalation": [{"condition": "r6.resource.atp > 400", "escalate_to": "sovereign"}]}))
        .unwrap()
    }

    #[test]
    fn scopes_and_narrowing() {
        let s = scope(&["compute", "read*"], &["model:*"], 500);
        assert!(s.allows("compute", "model:training", 500));
        assert!(s.allows("read_logs", "model:x", 1));
        assert!(!s.allows("compute", "data:x", 1));
        assert!(!s.allows("compute", "model:x", 501));
        assert!(scope(&["compute"], &["model:training"], 100).within(&s));
        assert!(!scope(&["write"], &["model:training"], 100).within(&s));
        assert!(!scope(&["compute"], &["*"], 100).within(&s));

        let parent = grant("p", 1, 2, s.clone(), 1000, 1);
        let mut child = grant("c", 2, 3, scope(&["compute"], &["model:a"], 100), 300, 2);
        assert_eq!(check_grant(&child, Some((&parent, 1000)), 2), Ok(()));
        assert!(
            matches!(check_grant(&child, Some((&parent, 200)), 2), Err(Denial::Widening { .. })),
            "budget above what remains"
        );
        assert!(matches!(check_grant(&child, Some((&parent, 1000)), 1), Err(Denial::TooDeep { .. })));
        child.expires_at = Timestamp(2000);
        assert!(matches!(check_grant(&child, Some((&parent, 1000)), 2), Err(Denial::Widening { .. })));
        let mut closed = parent.clone();
        closed.delegatable = false;
        child.expires_at = Timestamp(10);
        assert!(matches!(check_grant(&child, Some((&closed, 1000)), 2), Err(Denial::NotDelegatable { .. })));
    }

    #[test]
    fn decision_order() {
        let law = law();
        let actor = id(3);
        let roles = vec!["analyst".to_owned()];
        let g = grant("g", 1, 3, scope(&["*"], &["*"], 1000), 1000, 1);
        let chain = vec![(g.clone(), false)];
        let base = Request {
            actor: &actor,
            actor_roles: &roles,
            role: Some("analyst"),
            action: "compute",
            resource: "model:x",
            atp_cost: 100,
            chain: &chain,
            atp_remaining: 150,
            now: Timestamp(5),
        };
        let v = decide(&law, &base, 2);
        assert!(v.granted, "{v:?}");
        assert_eq!(v.atp_remaining, 50);
        assert!(matches!(
            decide(&law, &Request { role: Some("admin"), ..base.clone() }, 2).denial,
            Some(Denial::RolePairing { .. })
        ));
        let revoked = vec![(g.clone(), true)];
        assert!(matches!(
            decide(&law, &Request { chain: &revoked, ..base.clone() }, 2).denial,
            Some(Denial::Revoked { .. })
        ));
        assert!(matches!(
            decide(&law, &Request { now: Timestamp(1000), ..base.clone() }, 2).denial,
            Some(Denial::Expired { .. })
        ));
        assert!(matches!(
            decide(&law, &Request { action: "delete", ..base.clone() }, 2).denial,
            Some(Denial::Law { decision: Decision::Deny, .. })
        ));
        let v = decide(&law, &Request { atp_cost: 450, atp_remaining: 1000, ..base.clone() }, 2);
        assert_eq!((v.decision, v.requires_witness), ("deferred", true));
        assert!(matches!(
            decide(&law, &Request { atp_cost: 200, ..base.clone() }, 2).denial,
            Some(Denial::InsufficientAtp { .. })
        ));
        let other = id(9);
        assert!(matches!(decide(&law, &Request { actor: &other, ..base }, 2).denial, Some(Denial::WrongAgent { .. })));
    }
}
