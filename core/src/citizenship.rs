//! Citizenship in a society (SAL): its lifecycle and audit adjustments.

use serde::{Deserialize, Serialize};

/// Citizenship status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Citizenship {
    Applied,
    Provisional,
    Active,
    Suspended,
    Terminated,
}

impl Citizenship {
    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// Whether no transition leaves this state.
    pub fn is_terminal(self) -> bool {
        self == Citizenship::Terminated
    }

    /// applied → provisional → active ⇄ suspended; applied/provisional/active/
    /// suspended → terminated (terminal).
    pub fn can_become(self, to: Citizenship) -> bool {
        use Citizenship::*;
        matches!(
            (self, to),
            (Applied, Provisional)
                | (Applied, Terminated)
                | (Provisional, Active)
                | (Provisional, Terminated)
                | (Active, Suspended)
                | (Active, Terminated)
                | (Suspended, Active)
                | (Suspended, Terminated)
        )
    }
}

/// An audit adjustment is valid when every negative delta comes with an appeal
/// path (SAL §5.5). Returns `(has_negative, is_valid)`.
pub fn audit_adjustment(deltas: impl IntoIterator<Item = f64>, appeal_path: Option<&str>) -> (bool, bool) {
    let has_negative = deltas.into_iter().any(|d| d < 0.0);
    (has_negative, !has_negative || appeal_path.is_some_and(|p| !p.is_empty()))
}
