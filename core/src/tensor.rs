//! T3 (talent, training, temperament) and V3 (valuation, veracity, validity)
//! tensors. Always held per (entity, role); never a global score.

use serde::{Deserialize, Serialize};

/// Trust tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct T3 {
    pub talent: f64,
    pub training: f64,
    pub temperament: f64,
}

/// Value tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V3 {
    pub valuation: f64,
    pub veracity: f64,
    pub validity: f64,
}

impl Default for T3 {
    fn default() -> Self {
        T3 { talent: 0.5, training: 0.5, temperament: 0.5 }
    }
}
impl Default for V3 {
    fn default() -> Self {
        V3 { valuation: 0.5, veracity: 0.5, validity: 0.5 }
    }
}

/// Rate of the canonical quality update: `base = 0.02·(quality − 0.5)`.
pub const QUALITY_RATE: f64 = 0.02;
/// Share of the base delta each T3 dimension takes (talent, training, temperament).
pub const QUALITY_FACTORS: [f64; 3] = [1.0, 0.8, 0.6];

impl T3 {
    /// `0.4·talent + 0.3·training + 0.3·temperament`.
    pub fn composite(&self) -> f64 {
        0.4 * self.talent + 0.3 * self.training + 0.3 * self.temperament
    }

    /// The canonical update for an action of `quality` in [0, 1], scaled by
    /// `factor` (diminishing returns): each dimension moves by
    /// `0.02·(quality − 0.5)·factor·share` and is clamped to [0, 1].
    pub fn after_quality(&self, quality: f64, factor: f64) -> T3 {
        let base = QUALITY_RATE * (quality.clamp(0.0, 1.0) - 0.5) * factor;
        let [a, b, c] = QUALITY_FACTORS;
        T3 {
            talent: (self.talent + base * a).clamp(0.0, 1.0),
            training: (self.training + base * b).clamp(0.0, 1.0),
            temperament: (self.temperament + base * c).clamp(0.0, 1.0),
        }
    }
}
impl V3 {
    /// `0.3·valuation + 0.35·veracity + 0.35·validity`.
    pub fn composite(&self) -> f64 {
        0.3 * self.valuation + 0.35 * self.veracity + 0.35 * self.validity
    }
}

/// Map the six-dimension trust form to T3: each T3 dimension takes 0.6 of
/// its primary (competence → talent, reliability → training, consistency →
/// temperament) plus 0.4/3 of the sum of the three secondaries (alignment,
/// witnesses, lineage).
pub fn t3_from_six(competence: f64, reliability: f64, consistency: f64, secondary: [f64; 3]) -> T3 {
    let s = secondary.iter().sum::<f64>() * (0.4 / 3.0);
    T3 {
        talent: (0.6 * competence + s).clamp(0.0, 1.0),
        training: (0.6 * reliability + s).clamp(0.0, 1.0),
        temperament: (0.6 * consistency + s).clamp(0.0, 1.0),
    }
}

/// Coherence `0.4·T3 + 0.3·V3 + 0.3·energy_ratio`; coherent at ≥ 0.7.
pub fn coherence(t3_composite: f64, v3_composite: f64, energy_ratio: f64) -> f64 {
    0.4 * t3_composite + 0.3 * v3_composite + 0.3 * energy_ratio
}

/// Events with a fixed T3 consequence (spec §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum T3Event {
    /// talent −0.05, training 0, temperament −0.10.
    EthicsViolation,
}

impl T3 {
    /// The tensor after `event`, clamped.
    pub fn after_event(&self, event: T3Event) -> T3 {
        let (a, b, c) = match event {
            T3Event::EthicsViolation => (-0.05, 0.0, -0.10),
        };
        T3 {
            talent: (self.talent + a).clamp(0.0, 1.0),
            training: (self.training + b).clamp(0.0, 1.0),
            temperament: (self.temperament + c).clamp(0.0, 1.0),
        }
    }

    /// Whether this tensor meets a role's `minimums` in every dimension, and
    /// the gap per dimension (0 when met).
    pub fn qualifies(&self, minimums: &T3) -> (bool, T3) {
        let gap = |have: f64, need: f64| (need - have).max(0.0);
        let g = T3 {
            talent: gap(self.talent, minimums.talent),
            training: gap(self.training, minimums.training),
            temperament: gap(self.temperament, minimums.temperament),
        };
        (g.talent == 0.0 && g.training == 0.0 && g.temperament == 0.0, g)
    }

    /// Equal-weight average of team members' tensors (`None` for no members).
    pub fn team(members: &[T3]) -> Option<T3> {
        if members.is_empty() {
            return None;
        }
        let n = members.len() as f64;
        Some(T3 {
            talent: members.iter().map(|m| m.talent).sum::<f64>() / n,
            training: members.iter().map(|m| m.training).sum::<f64>() / n,
            temperament: members.iter().map(|m| m.temperament).sum::<f64>() / n,
        })
    }
}

/// What an R6 action's result says about value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueEvidence {
    pub atp_earned: f64,
    pub atp_expected: f64,
    pub recipient_satisfaction: f64,
    pub verified_claims: u32,
    pub total_claims: u32,
    pub witness_confidence: f64,
    pub value_transferred: bool,
}

impl V3 {
    /// V3 of one action: valuation = earned/expected × satisfaction,
    /// veracity = verified/total claims × witness confidence, validity = 1 if
    /// value was transferred else 0; all clamped to [0, 1].
    pub fn from_action(e: &ValueEvidence) -> V3 {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        V3 {
            valuation: (ratio(e.atp_earned, e.atp_expected) * e.recipient_satisfaction).clamp(0.0, 1.0),
            veracity: (ratio(f64::from(e.verified_claims), f64::from(e.total_claims)) * e.witness_confidence)
                .clamp(0.0, 1.0),
            validity: if e.value_transferred { 1.0 } else { 0.0 },
        }
    }
}

/// MRH zone of a hop count.
pub fn zone(hops: u32) -> &'static str {
    match hops {
        0 => "SELF",
        1 => "DIRECT",
        2 => "INDIRECT",
        3 | 4 => "PERIPHERAL",
        _ => "BEYOND",
    }
}

/// Trust after `hops` with multiplicative `decay` per hop; zero beyond 4 hops.
pub fn hop_trust(base: f64, hops: u32, decay: f64) -> f64 {
    if hops >= 5 { 0.0 } else { base * decay.powi(i32::try_from(hops).unwrap_or(i32::MAX)) }
}
