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
