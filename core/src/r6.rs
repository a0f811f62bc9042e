//! R7 actions (the standard's R6 framework plus reputation): an action built
//! by an actor in a role, with a nonce and an ATP stake, linked into a hash
//! chain by each action's canonical hash.
//!
//! The node's own ledger already chains every authorization decision; this
//! module is the interchange form other Web4 implementations exchange, pinned
//! to the `r6/action-operations.json` vectors.

use crate::crypto::{CanonError, Hash, canonical_json, sha256};
use serde::{Deserialize, Serialize};

/// Prefix of every action id.
pub const ACTION_ID_PREFIX: &str = "r7:";

/// An action request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub actor: String,
    pub role_lct: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub atp_stake: u64,
    pub nonce: String,
    pub timestamp: String,
    /// Canonical hash of the previous action in the chain (`None` for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<Hash>,
}

/// Why an action is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("stake of {stake} ATP exceeds the {available} available")]
    InsufficientAtp { stake: u64, available: u64 },
    #[error("action {index}: prev_hash does not link to the previous action")]
    BrokenLink { index: usize },
    #[error("the first action must not have a prev_hash")]
    DanglingStart,
    #[error(transparent)]
    Canonical(#[from] CanonError),
}

impl Action {
    /// Validate an action against the ATP its actor has available.
    pub fn validate(&self, available_atp: u64) -> Result<(), ActionError> {
        for (name, v) in [("actor", &self.actor), ("role_lct", &self.role_lct), ("action", &self.action)] {
            if v.trim().is_empty() {
                return Err(ActionError::Empty(name));
            }
        }
        if self.nonce.is_empty() {
            return Err(ActionError::Empty("nonce"));
        }
        if self.atp_stake > available_atp {
            return Err(ActionError::InsufficientAtp { stake: self.atp_stake, available: available_atp });
        }
        Ok(())
    }

    /// `sha256` over the JCS form of the action (including `prev_hash`).
    pub fn canonical_hash(&self) -> Result<Hash, ActionError> {
        Ok(sha256(&canonical_json(self)?))
    }

    /// `r7:` + the first 32 hex digits of the canonical hash.
    pub fn action_id(&self) -> Result<String, ActionError> {
        let h = self.canonical_hash()?.hex();
        Ok(format!("{ACTION_ID_PREFIX}{}", &h[..32]))
    }
}

/// Link `actions` into a chain: each one's `prev_hash` becomes its
/// predecessor's canonical hash.
pub fn link(actions: &mut [Action]) -> Result<(), ActionError> {
    let mut prev: Option<Hash> = None;
    for a in actions.iter_mut() {
        a.prev_hash = prev;
        prev = Some(a.canonical_hash()?);
    }
    Ok(())
}

/// Verify a chain built by [`link`].
pub fn verify_chain(actions: &[Action]) -> Result<(), ActionError> {
    let mut prev: Option<Hash> = None;
    for (i, a) in actions.iter().enumerate() {
        match (&prev, &a.prev_hash) {
            (None, None) => {}
            (None, Some(_)) => return Err(ActionError::DanglingStart),
            (Some(p), Some(h)) if p == h => {}
            _ => return Err(ActionError::BrokenLink { index: i }),
        }
        prev = Some(a.canonical_hash()?);
    }
    Ok(())
}
