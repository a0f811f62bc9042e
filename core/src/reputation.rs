//! Reputation: rule-triggered T3/V3 deltas with modifiers, the canonical
//! quality update with diminishing returns, recency aggregation, decay, and
//! gaming detection. Pure functions; the daemon records their results.
//!
//! Pinned to `reputation/reputation-operations.json` and
//! `t3v3/tensor-operations.json` (concepts §3).

use crate::tensor::{T3, V3};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds in the "month" of the decay rules (30 days).
pub const MONTH_SECS: i64 = 30 * 86_400;

/// When a rule fires (all given conditions must hold).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_status: Option<String>,
    /// The outcome's quality must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_threshold: Option<f64>,
}

/// A multiplier applied when the outcome has the named factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modifier {
    pub condition: String,
    pub multiplier: f64,
}

/// The change of one dimension: `base_delta × Π multipliers of present factors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    pub base_delta: f64,
    #[serde(default)]
    pub modifiers: Vec<Modifier>,
}

/// A reputation rule (law `reputation.rules[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub rule_id: String,
    #[serde(default)]
    pub trigger_conditions: Trigger,
    #[serde(default)]
    pub t3_impacts: BTreeMap<String, Impact>,
    #[serde(default)]
    pub v3_impacts: BTreeMap<String, Impact>,
}

/// What happened, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    pub action: &'a str,
    pub result_status: &'a str,
    pub quality: Option<f64>,
    pub factors: &'a [String],
}

/// One dimension's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimDelta {
    pub change: f64,
    pub from: f64,
    pub to: f64,
}

/// The result of an outcome: which rule (or the canonical quality update)
/// produced it, the per-dimension changes and the new tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub rule_id: String,
    /// Diminishing-returns factor applied (1.0 for the first of a streak).
    pub factor: f64,
    pub t3_deltas: BTreeMap<String, DimDelta>,
    pub v3_deltas: BTreeMap<String, DimDelta>,
    pub t3: T3,
    pub v3: V3,
}

impl Delta {
    /// Sum of the T3 changes.
    pub fn net_trust_change(&self) -> f64 {
        self.t3_deltas.values().map(|d| d.change).sum()
    }
    /// Sum of the V3 changes.
    pub fn net_value_change(&self) -> f64 {
        self.v3_deltas.values().map(|d| d.change).sum()
    }
    /// Drop every positive change (used when gaming is detected).
    pub fn without_gains(mut self) -> Delta {
        for d in self.t3_deltas.values_mut().chain(self.v3_deltas.values_mut()) {
            if d.change > 0.0 {
                d.change = 0.0;
                d.to = d.from;
            }
        }
        self.t3 = rebuild_t3(self.t3, &self.t3_deltas);
        self.v3 = rebuild_v3(self.v3, &self.v3_deltas);
        self
    }
}

fn rebuild_t3(mut t: T3, d: &BTreeMap<String, DimDelta>) -> T3 {
    for (k, v) in d {
        if let Some(x) = t3_dim(&mut t, k) {
            *x = v.to;
        }
    }
    t
}

fn rebuild_v3(mut t: V3, d: &BTreeMap<String, DimDelta>) -> V3 {
    for (k, v) in d {
        if let Some(x) = v3_dim(&mut t, k) {
            *x = v.to;
        }
    }
    t
}

/// Names of the T3 dimensions.
pub const T3_DIMS: [&str; 3] = ["talent", "training", "temperament"];
/// Names of the V3 dimensions.
pub const V3_DIMS: [&str; 3] = ["valuation", "veracity", "validity"];

fn t3_dim<'a>(t: &'a mut T3, name: &str) -> Option<&'a mut f64> {
    match name {
        "talent" => Some(&mut t.talent),
        "training" => Some(&mut t.training),
        "temperament" => Some(&mut t.temperament),
        _ => None,
    }
}

fn v3_dim<'a>(t: &'a mut V3, name: &str) -> Option<&'a mut f64> {
    match name {
        "valuation" => Some(&mut t.valuation),
        "veracity" => Some(&mut t.veracity),
        "validity" => Some(&mut t.validity),
        _ => None,
    }
}

impl Rule {
    /// Whether the rule fires for `o`.
    pub fn matches(&self, o: &Outcome<'_>) -> bool {
        let t = &self.trigger_conditions;
        t.action_type.as_deref().is_none_or(|a| a == o.action)
            && t.result_status.as_deref().is_none_or(|s| s == o.result_status)
            && t.quality_threshold.is_none_or(|q| o.quality.is_some_and(|x| x >= q))
    }

    /// Unknown dimension names, for validation.
    pub fn unknown_dimensions(&self) -> Vec<String> {
        let t = self.t3_impacts.keys().filter(|k| !T3_DIMS.contains(&k.as_str()));
        let v = self.v3_impacts.keys().filter(|k| !V3_DIMS.contains(&k.as_str()));
        t.chain(v).cloned().collect()
    }
}

fn impact_change(i: &Impact, factors: &[String], factor: f64) -> f64 {
    let mult: f64 =
        i.modifiers.iter().filter(|m| factors.iter().any(|f| f == &m.condition)).map(|m| m.multiplier).product();
    i.base_delta * mult * factor
}

/// Apply the first rule that fires (rules in law order), scaled by the
/// diminishing-returns `factor`; values clamp to [0, 1]. `None` when no rule
/// fires: no change at all.
pub fn apply_rules(rules: &[Rule], o: &Outcome<'_>, t3: T3, v3: V3, factor: f64) -> Option<Delta> {
    let rule = rules.iter().find(|r| r.matches(o))?;
    let (mut nt, mut nv) = (t3, v3);
    let mut t3_deltas = BTreeMap::new();
    let mut v3_deltas = BTreeMap::new();
    for (dim, imp) in &rule.t3_impacts {
        if let Some(x) = t3_dim(&mut nt, dim) {
            let from = *x;
            *x = (from + impact_change(imp, o.factors, factor)).clamp(0.0, 1.0);
            t3_deltas.insert(dim.clone(), DimDelta { change: *x - from, from, to: *x });
        }
    }
    for (dim, imp) in &rule.v3_impacts {
        if let Some(x) = v3_dim(&mut nv, dim) {
            let from = *x;
            *x = (from + impact_change(imp, o.factors, factor)).clamp(0.0, 1.0);
            v3_deltas.insert(dim.clone(), DimDelta { change: *x - from, from, to: *x });
        }
    }
    Some(Delta { rule_id: rule.rule_id.clone(), factor, t3_deltas, v3_deltas, t3: nt, v3: nv })
}

/// The canonical quality update (concepts §3) as a delta; V3 unchanged.
pub fn quality_delta(quality: f64, t3: T3, v3: V3, factor: f64) -> Delta {
    let nt = t3.after_quality(quality, factor);
    let mut t3_deltas = BTreeMap::new();
    for (name, from, to) in [
        ("talent", t3.talent, nt.talent),
        ("training", t3.training, nt.training),
        ("temperament", t3.temperament, nt.temperament),
    ] {
        t3_deltas.insert(name.to_owned(), DimDelta { change: to - from, from, to });
    }
    Delta { rule_id: "canonical-quality".into(), factor, t3_deltas, v3_deltas: BTreeMap::new(), t3: nt, v3 }
}

/// The delta the law gives outcome `o` on the pair's current tensors, the
/// `run`-th of a streak of the same action: the first rule that fires, else
/// the canonical quality update when the law keeps it and `o` has a quality.
/// `None`: nothing changes. Gaming flags may take the gains away after this
/// ([`Delta::without_gains`]).
pub fn outcome_delta(law: &crate::law::ReputationLaw, o: &Outcome<'_>, t3: T3, v3: V3, run: u32) -> Option<Delta> {
    let factor = diminishing_factor(run);
    apply_rules(&law.rules, o, t3, v3, factor)
        .or_else(|| if law.quality_update { o.quality.map(|q| quality_delta(q, t3, v3, factor)) } else { None })
}

/// Whether two deltas agree up to `tolerance` in every number: the same
/// rule, factor, per-dimension changes and resulting tensors.
pub fn deltas_agree(a: &Delta, b: &Delta, tolerance: f64) -> bool {
    let near = |x: f64, y: f64| (x - y).abs() <= tolerance;
    let dims = |x: &BTreeMap<String, DimDelta>, y: &BTreeMap<String, DimDelta>| {
        x.len() == y.len()
            && x.iter().zip(y).all(|((kx, dx), (ky, dy))| {
                kx == ky && near(dx.change, dy.change) && near(dx.from, dy.from) && near(dx.to, dy.to)
            })
    };
    a.rule_id == b.rule_id
        && near(a.factor, b.factor)
        && dims(&a.t3_deltas, &b.t3_deltas)
        && dims(&a.v3_deltas, &b.v3_deltas)
        && near(a.t3.talent, b.t3.talent)
        && near(a.t3.training, b.t3.training)
        && near(a.t3.temperament, b.t3.temperament)
        && near(a.v3.valuation, b.v3.valuation)
        && near(a.v3.veracity, b.v3.veracity)
        && near(a.v3.validity, b.v3.validity)
}

/// Diminishing returns for the `n`-th consecutive outcome of the same action
/// type (1-indexed): `max(0.8^(n−1), 0.1)`.
pub fn diminishing_factor(n: u32) -> f64 {
    0.8f64.powi(i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX)).max(0.1)
}

/// Recency-weighted score of one dimension: `clamp(0.5 + Σ(change·w) / Σ w)`,
/// `w = e^(−age/30 days)`, over changes at most 90 days old. 0.5 with none.
pub fn recency_score(changes: &[(f64, i64)], now: i64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &(change, at) in changes {
        let age = (now - at).max(0) as f64;
        if age > 90.0 * 86_400.0 {
            continue;
        }
        let w = (-age / MONTH_SECS as f64).exp();
        num += change * w;
        den += w;
    }
    if den == 0.0 { 0.5 } else { (0.5 + num / den).clamp(0.0, 1.0) }
}

/// Inactivity decay at `now` for an entity last active at `last`: none in
/// the first 30 days, then −0.01 per 30-day month, ×1.5 after six months,
/// never below −0.5.
pub fn inactivity_decay(last: i64, now: i64) -> f64 {
    let days = (now - last).max(0) as f64 / 86_400.0;
    if days <= 30.0 {
        return 0.0;
    }
    let months = days / 30.0;
    let rate = if months > 6.0 { 0.015 } else { 0.01 };
    (-(months * rate)).max(-0.5)
}

/// Monthly drift of a T3 over `months` without activity: training −0.001 per
/// month, temperament +0.01 per month (recovery), talent never changes.
pub fn monthly_drift(t: T3, months: f64) -> T3 {
    T3 {
        talent: t.talent,
        training: (t.training - 0.001 * months).clamp(0.0, 1.0),
        temperament: (t.temperament + 0.01 * months).clamp(0.0, 1.0),
    }
}

/// Gaming patterns we detect (docs/decisions/0011).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    SelfDealing,
    WitnessCycle,
    BurstGrowth,
    WitnessPoor,
    ActionFarming,
}

impl Pattern {
    pub const ALL: [Pattern; 5] = [
        Pattern::SelfDealing,
        Pattern::WitnessCycle,
        Pattern::BurstGrowth,
        Pattern::WitnessPoor,
        Pattern::ActionFarming,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::SelfDealing => "self_dealing",
            Pattern::WitnessCycle => "witness_cycle",
            Pattern::BurstGrowth => "burst_growth",
            Pattern::WitnessPoor => "witness_poor",
            Pattern::ActionFarming => "action_farming",
        }
    }
}

/// Thresholds of gaming detection (law `reputation.gaming`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GamingLaw {
    /// Burst growth: net T3 composite growth over the last `burst_window`
    /// outcomes (this one included) above `burst_threshold`.
    pub burst_window: u32,
    pub burst_threshold: f64,
    /// Witness-poor: `witness_poor_streak` outcomes in a row with fewer than
    /// `min_independent_witnesses` independent witnesses.
    pub min_independent_witnesses: u32,
    pub witness_poor_streak: u32,
    /// Farming: the same action type `farming_repeats` times in a row.
    pub farming_repeats: u32,
}

impl Default for GamingLaw {
    fn default() -> Self {
        GamingLaw {
            burst_window: 10,
            burst_threshold: 0.05,
            min_independent_witnesses: 1,
            witness_poor_streak: 5,
            farming_repeats: 10,
        }
    }
}

/// What detection needs to know about one outcome and its recent history.
#[derive(Debug, Clone)]
pub struct GamingInput<'a> {
    /// Witnesses not the actor and not its delegates.
    pub independent_witnesses: u32,
    /// How many witnesses in all.
    pub witnesses: u32,
    /// Witnesses whose own outcomes the actor witnessed (a cycle of two).
    pub cycle_with: &'a [String],
    /// Composite T3 before this outcome's streak window began, and after it.
    pub composite_window_start: f64,
    pub composite_after: f64,
    /// Outcomes in the window (this one included).
    pub window_len: u32,
    /// Consecutive witness-poor outcomes before this one.
    pub witness_poor_before: u32,
    /// This outcome's position in a same-action streak (1-indexed).
    pub same_action_run: u32,
}

/// Detected patterns with their evidence.
pub fn detect(law: &GamingLaw, g: &GamingInput<'_>) -> Vec<(Pattern, serde_json::Value)> {
    use serde_json::json;
    let mut out = Vec::new();
    if g.witnesses > 0 && g.independent_witnesses == 0 {
        out.push((
            Pattern::SelfDealing,
            json!({"witnesses": g.witnesses, "independent": 0,
                "rule": "every witness is the actor or one of its delegates"}),
        ));
    }
    if !g.cycle_with.is_empty() {
        out.push((
            Pattern::WitnessCycle,
            json!({"mutual_witnesses": g.cycle_with, "rule": "the actor witnessed these witnesses' own outcomes"}),
        ));
    }
    let growth = g.composite_after - g.composite_window_start;
    if g.window_len >= law.burst_window && growth > law.burst_threshold {
        out.push((
            Pattern::BurstGrowth,
            json!({"growth": growth, "window": g.window_len, "threshold": law.burst_threshold}),
        ));
    }
    let poor = g.independent_witnesses < law.min_independent_witnesses;
    let poor_streak = g.witness_poor_before.saturating_add(1);
    if poor && streak_flagged(poor_streak, law.witness_poor_streak) {
        out.push((
            Pattern::WitnessPoor,
            json!({"streak": poor_streak, "min_independent_witnesses": law.min_independent_witnesses}),
        ));
    }
    if streak_flagged(g.same_action_run, law.farming_repeats) {
        out.push((Pattern::ActionFarming, json!({"repeats": g.same_action_run, "threshold": law.farming_repeats})));
    }
    out
}

/// Whether a streak of `run` outcomes is flagged under `threshold`: when it
/// reaches the threshold and at every further multiple of it (a streak of 23
/// under a threshold of 5 is flagged at 5, 10, 15 and 20), not at every
/// outcome of the streak (decisions/0011). The streak's running length is in
/// every outcome record; the flags mark detections. A threshold lowered in
/// the middle of a streak is caught within one threshold's length.
pub fn streak_flagged(run: u32, threshold: u32) -> bool {
    let t = threshold.max(1);
    run >= t && run.is_multiple_of(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_peer_recomputes_an_outcomes_delta_and_tells_a_changed_one() {
        let law = crate::law::LawDataset::try_from(serde_json::json!({"version": "1.0.0", "norms": []}))
            .unwrap()
            .reputation();
        let o = Outcome { action: "report", result_status: "success", quality: Some(0.9), factors: &[] };
        let d = outcome_delta(&law, &o, T3::default(), V3::default(), 1).unwrap();
        assert!(d.t3.talent > 0.5, "{d:?}");
        // The same computation agrees with itself; a streak's second outcome
        // (diminishing returns) does not.
        assert!(deltas_agree(&d, &outcome_delta(&law, &o, T3::default(), V3::default(), 1).unwrap(), 1e-9));
        assert!(!deltas_agree(&d, &outcome_delta(&law, &o, T3::default(), V3::default(), 2).unwrap(), 1e-9));
        // One number moved beyond the tolerance, or the gains taken away.
        let mut moved = d.clone();
        moved.v3.validity += 1e-6;
        assert!(!deltas_agree(&d, &moved, 1e-9));
        assert!(deltas_agree(&d, &moved, 1e-5));
        assert!(!deltas_agree(&d, &d.clone().without_gains(), 1e-9));
        // Without rules and without a quality, nothing changes.
        let none = Outcome { action: "report", result_status: "success", quality: None, factors: &[] };
        assert_eq!(outcome_delta(&law, &none, T3::default(), V3::default(), 1), None);
    }

    fn unit() -> impl Strategy<Value = f64> {
        0.0f64..=1.0
    }

    fn t3() -> impl Strategy<Value = T3> {
        (unit(), unit(), unit()).prop_map(|(a, b, c)| T3 { talent: a, training: b, temperament: c })
    }

    fn in_unit(t: &T3) -> bool {
        [t.talent, t.training, t.temperament].iter().all(|x| (0.0..=1.0).contains(x))
    }

    fn streak_input(poor_before: u32, run: u32) -> GamingInput<'static> {
        GamingInput {
            independent_witnesses: 0,
            witnesses: 0,
            cycle_with: &[],
            composite_window_start: 0.5,
            composite_after: 0.5,
            window_len: 1,
            witness_poor_before: poor_before,
            same_action_run: run,
        }
    }

    #[test]
    fn streaks_are_flagged_at_their_threshold_and_its_multiples() {
        let law = GamingLaw::default(); // witness-poor 5, farming 10
        let mut poor_at = Vec::new();
        let mut farming_at = Vec::new();
        for n in 1..=23u32 {
            let found = detect(&law, &streak_input(n - 1, n));
            if found.iter().any(|(p, _)| *p == Pattern::WitnessPoor) {
                poor_at.push(n);
            }
            if found.iter().any(|(p, _)| *p == Pattern::ActionFarming) {
                farming_at.push(n);
            }
        }
        assert_eq!(poor_at, [5, 10, 15, 20]);
        assert_eq!(farming_at, [10, 20]);
        // The evidence names the streak's length.
        let found = detect(&law, &streak_input(9, 10));
        assert!(
            found.contains(&(Pattern::WitnessPoor, serde_json::json!({"streak": 10, "min_independent_witnesses": 1})))
        );
        assert!(found.contains(&(Pattern::ActionFarming, serde_json::json!({"repeats": 10, "threshold": 10}))));
        // With an independent witness the outcome is not witness-poor.
        let mut g = streak_input(4, 1);
        g.independent_witnesses = 1;
        g.witnesses = 1;
        assert!(detect(&law, &g).is_empty());
        // A threshold of 0 or 1 flags every outcome of a streak.
        assert!((1..=5).all(|n| streak_flagged(n, 1) && streak_flagged(n, 0)));
        assert!(!streak_flagged(0, 1));
    }

    proptest! {
        #[test]
        fn updates_stay_in_the_unit_interval(start in t3(), qs in prop::collection::vec(unit(), 0..60), run in 1u32..30) {
            let mut t = start;
            for q in qs {
                t = quality_delta(q, t, V3::default(), diminishing_factor(run)).t3;
                prop_assert!(in_unit(&t), "{t:?}");
            }
        }

        #[test]
        fn rules_clamp_whatever_the_deltas(start in t3(), base in -5.0f64..5.0, mult in 0.0f64..10.0) {
            let rule = Rule {
                rule_id: "r".into(),
                trigger_conditions: Trigger::default(),
                t3_impacts: T3_DIMS.iter().map(|d| ((*d).to_owned(), Impact { base_delta: base, modifiers: vec![Modifier { condition: "f".into(), multiplier: mult }] })).collect(),
                v3_impacts: BTreeMap::new(),
            };
            let f = vec!["f".to_owned()];
            let o = Outcome { action: "a", result_status: "success", quality: None, factors: &f };
            let d = apply_rules(&[rule], &o, start, V3::default(), 1.0).unwrap();
            prop_assert!(in_unit(&d.t3));
        }

        #[test]
        fn talent_never_decays(start in t3(), months in 0.0f64..240.0) {
            prop_assert_eq!(monthly_drift(start, months).talent, start.talent);
        }

        #[test]
        fn inactivity_decay_is_bounded_and_monotone(a in 0i64..400 * 86_400, b in 0i64..400 * 86_400) {
            let (da, db) = (inactivity_decay(0, a), inactivity_decay(0, b));
            prop_assert!((-0.5..=0.0).contains(&da));
            if a <= b { prop_assert!(db <= da); }
        }

        #[test]
        fn gains_removed_means_no_dimension_rises(start in t3(), q in unit()) {
            let d = quality_delta(q, start, V3::default(), 1.0).without_gains();
            prop_assert!(d.t3.talent <= start.talent && d.t3.training <= start.training && d.t3.temperament <= start.temperament);
        }
    }
}
