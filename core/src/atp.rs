//! ATP/ADP energy accounting: the formulas of the standard's transfer vectors,
//! and accounts with lock/commit/rollback whose invariants hold exactly.
//!
//! Accounts count whole ATP units (`u64`) so conservation is exact; the
//! settlement formulas work on `f64` as the vectors do.

use serde::{Deserialize, Serialize};

/// Result of a plain transfer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transfer {
    pub fee: f64,
    pub sender: f64,
    pub receiver: f64,
    pub total_deducted: f64,
}

/// `fee = amount·fee_rate; sender −= amount + fee; receiver += amount`.
pub fn transfer(sender: f64, receiver: f64, amount: f64, fee_rate: f64) -> Transfer {
    let fee = amount * fee_rate;
    Transfer { fee, sender: sender - (amount + fee), receiver: receiver + amount, total_deducted: amount + fee }
}

/// Result of a transfer to a receiver with a balance cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CappedTransfer {
    pub fee: f64,
    pub actual_credit: f64,
    pub overflow: f64,
    pub sender: f64,
    pub receiver: f64,
}

/// The fee is always charged; what the cap does not admit returns to the sender.
pub fn transfer_capped(sender: f64, receiver: f64, amount: f64, fee_rate: f64, max_balance: f64) -> CappedTransfer {
    let fee = amount * fee_rate;
    let actual_credit = amount.min(max_balance - receiver).max(0.0);
    let overflow = amount - actual_credit;
    CappedTransfer {
        fee,
        actual_credit,
        overflow,
        sender: sender - amount - fee + overflow,
        receiver: receiver + actual_credit,
    }
}

/// Payment for quality `q`: 0 below `zero`, `base` at or above `full`, linear between.
pub fn sliding_scale(quality: f64, base: f64, zero: f64, full: f64) -> f64 {
    if quality < zero {
        0.0
    } else if quality >= full {
        base
    } else {
        base * (quality - zero) / (full - zero)
    }
}

/// Result of a recharge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recharge {
    pub amount: f64,
    pub new_balance: f64,
    pub max_balance: f64,
    pub capped: bool,
}

/// `recharge = min(initial·rate, initial·multiplier − current)`.
pub fn recharge(current: f64, initial: f64, rate: f64, multiplier: f64) -> Recharge {
    let max_balance = initial * multiplier;
    let want = initial * rate;
    let amount = want.min(max_balance - current).max(0.0);
    Recharge { amount, new_balance: current + amount, max_balance, capped: amount < want }
}

/// `atp / (atp + adp)`, with 0/0 = 0.5 (neutral).
pub fn energy_ratio(atp: f64, adp: f64) -> f64 {
    if atp + adp == 0.0 { 0.5 } else { atp / (atp + adp) }
}

/// Cost of `n` Sybil identities: `(setup, per_identity, circular_loss_per_cycle)`.
pub fn sybil_cost(n: u32, hardware: f64, stake: f64, fee_rate: f64) -> (f64, f64, f64) {
    let n = f64::from(n);
    (n * (hardware + stake), hardware + stake, n * stake * fee_rate)
}

/// Why an ATP operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AtpError {
    #[error("insufficient ATP: {wanted} wanted, {available} available")]
    Insufficient { wanted: u64, available: u64 },
    #[error("{wanted} ATP is not locked ({locked} locked)")]
    NotLocked { wanted: u64, locked: u64 },
}

/// An account: charged ATP available or locked (escrow is still ATP), and the
/// ADP discharged by spending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AtpAccount {
    pub available: u64,
    pub locked: u64,
    pub adp: u64,
}

impl AtpAccount {
    /// A fresh account with `atp` available.
    pub fn new(atp: u64) -> Self {
        AtpAccount { available: atp, locked: 0, adp: 0 }
    }
    /// Charged ATP (available + locked).
    pub fn atp(&self) -> u64 {
        self.available + self.locked
    }
    /// Move `amount` from available to locked.
    pub fn lock(&mut self, amount: u64) -> Result<(), AtpError> {
        if amount > self.available {
            return Err(AtpError::Insufficient { wanted: amount, available: self.available });
        }
        self.available -= amount;
        self.locked += amount;
        Ok(())
    }
    /// Spend `amount` of locked ATP: it discharges to ADP.
    pub fn commit(&mut self, amount: u64) -> Result<(), AtpError> {
        if amount > self.locked {
            return Err(AtpError::NotLocked { wanted: amount, locked: self.locked });
        }
        self.locked -= amount;
        self.adp += amount;
        Ok(())
    }
    /// Return `amount` of locked ATP to available.
    pub fn rollback(&mut self, amount: u64) -> Result<(), AtpError> {
        if amount > self.locked {
            return Err(AtpError::NotLocked { wanted: amount, locked: self.locked });
        }
        self.locked -= amount;
        self.available += amount;
        Ok(())
    }
    /// `atp / (atp + adp)`, 0/0 = 0.5.
    pub fn energy_ratio(&self) -> f64 {
        energy_ratio(self.atp() as f64, self.adp as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Lock(u64),
        Commit(u64),
        Rollback(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..150).prop_map(Op::Lock),
            (0u64..150).prop_map(Op::Commit),
            (0u64..150).prop_map(Op::Rollback)
        ]
    }

    proptest! {
        #[test]
        fn lock_commit_rollback_conserve_energy(start in 0u64..1000, ops in prop::collection::vec(op(), 0..40)) {
            let mut a = AtpAccount::new(start);
            for o in ops {
                let before = a;
                let r = match o {
                    Op::Lock(n) => a.lock(n),
                    Op::Commit(n) => a.commit(n),
                    Op::Rollback(n) => a.rollback(n),
                };
                if r.is_err() {
                    prop_assert_eq!(a, before, "a refused operation changes nothing");
                }
                // ATP + ADP is conserved; ADP never decreases.
                prop_assert_eq!(a.atp() + a.adp, start);
                prop_assert!(a.adp >= before.adp);
            }
        }
    }
}
