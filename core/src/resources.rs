//! Resources priced in ATP (concepts §4, docs/decisions/0012): law-published
//! conversion rates, pools with a capacity per resource type, and leases whose
//! metered usage is settled exactly.
//!
//! A lease holds `quantity` units of one resource type for up to `seconds`.
//! Its most possible cost, `ceil(quantity · seconds · rate / 3600)` with the
//! rate in ATP per unit-hour, is locked when it opens. Usage reports (unit ·
//! seconds, numbered `seq` 1, 2, … per lease) discharge the ATP they cost; a
//! token bucket of `quantity · burst_seconds` refilled at `quantity` per
//! second bounds how fast usage may be reported, and the total never exceeds
//! `quantity · seconds`. Closing returns what was locked and not charged, so
//! `charged + returned == locked` always.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The resource types a pool may price.
pub const RESOURCE_TYPES: [&str; 5] = ["cpu", "memory", "storage", "network", "gpu"];

/// The unit of a resource type. Fixed here because enforcement depends on it
/// (CPU limits are millicores, memory limits MiB).
pub fn unit_of(resource_type: &str) -> Option<&'static str> {
    Some(match resource_type {
        "cpu" => "millicores",
        "memory" => "MiB",
        "storage" => "MiB",
        "network" => "kbit/s",
        "gpu" => "devices",
        _ => return None,
    })
}

/// One pool in the law's `resources.pools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolLaw {
    /// Units the node can hand out at once.
    pub capacity: u64,
    /// ATP per unit-hour.
    pub rate: f64,
}

/// The law's `resources` section, with our defaults where it is silent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceLaw {
    /// Pools by resource type (only [`RESOURCE_TYPES`]).
    pub pools: BTreeMap<String, PoolLaw>,
    /// Role that may update rates with `POST /v1/resources/rates`; `None`:
    /// rates change only by publishing a new law.
    pub rates_authority: Option<String>,
    /// Largest relative change of a rate in one update (e.g. 0.25 = ±25 %);
    /// `None`: any non-negative rate.
    pub max_rate_change: Option<f64>,
    /// Token bucket depth, in seconds of the lease's quantity (default 60).
    pub burst_seconds: u64,
    /// Longest lease (default 7 days).
    pub max_lease_seconds: u64,
    /// An expired lease not released by its holder is closed by the node this
    /// long after it expires (default 300 s), so late usage can still arrive.
    pub release_grace_seconds: u64,
}

impl ResourceLaw {
    /// Read the `resources` section of a (validated) law document.
    pub fn from_law(doc: &serde_json::Value) -> ResourceLaw {
        let r = doc.get("resources");
        let get = |k: &str| r.and_then(|r| r.get(k));
        let pools = get("pools")
            .and_then(|p| serde_json::from_value::<BTreeMap<String, PoolLaw>>(p.clone()).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| RESOURCE_TYPES.contains(&k.as_str()))
            .collect();
        let secs = |k: &str, d: u64| get(k).and_then(serde_json::Value::as_u64).filter(|s| *s > 0).unwrap_or(d);
        ResourceLaw {
            pools,
            rates_authority: get("rates_authority").and_then(|v| v.as_str()).map(str::to_owned),
            max_rate_change: get("max_rate_change").and_then(serde_json::Value::as_f64),
            burst_seconds: secs("burst_seconds", 60),
            max_lease_seconds: secs("max_lease_seconds", 7 * 86_400),
            release_grace_seconds: get("release_grace_seconds").and_then(serde_json::Value::as_u64).unwrap_or(300),
        }
    }

    /// The rates the law publishes.
    pub fn rates(&self) -> BTreeMap<String, f64> {
        self.pools.iter().map(|(k, p)| (k.clone(), p.rate)).collect()
    }
}

/// Why a resource operation was refused (mapped to W4 codes by the daemon).
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ResourceError {
    #[error("{quantity} × {seconds} s at {rate} ATP per unit-hour costs more ATP than can be counted")]
    TooExpensive { quantity: u64, seconds: u64, rate: f64 },
    #[error("usage report {seq} is out of order: the next is {expected}")]
    Sequence { seq: u64, expected: u64 },
    #[error("usage of {used} unit-seconds exceeds the metering bucket ({available} available now)")]
    RateExceeded { used: u64, available: u64 },
    #[error("usage of {used} unit-seconds exceeds the lease ({remaining} unit-seconds left)")]
    LeaseExceeded { used: u64, remaining: u64 },
    #[error("rate for {resource_type}: {message}")]
    Rate { resource_type: String, message: String },
    #[error("rate for {resource_type}: {rate} is outside the law's ±{}% of the current {current} ({low} to {high})", max_change * 100.0)]
    RateChange { resource_type: String, rate: f64, current: f64, max_change: f64, low: f64, high: f64 },
}

/// ATP for `unit_seconds` at `rate` ATP per unit-hour, rounded up so that
/// splitting usage never makes it cheaper; `None` when it cannot be counted.
pub fn cost(unit_seconds: u128, rate: f64) -> Option<u64> {
    if !rate.is_finite() || rate < 0.0 {
        return None;
    }
    // Exact in integers where the rate allows; f64 otherwise.
    let atp = (unit_seconds as f64 * rate / 3600.0).ceil();
    if atp < 0.0 || atp >= 2f64.powi(53) { None } else { Some(atp as u64) }
}

/// The metering state of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Unit-seconds that may be reported now.
    pub tokens: u64,
    /// When `tokens` was computed (seconds since the epoch).
    pub at: i64,
}

/// A lease on a resource pool, as stored and as settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub quantity: u64,
    pub seconds: u64,
    /// ATP per unit-hour, bound when the lease opened.
    pub rate: f64,
    pub opened_at: i64,
    /// ATP locked for the lease.
    pub locked: u64,
    /// Unit-seconds reported so far.
    pub used: u64,
    /// ATP discharged so far (the cost of `used`).
    pub charged: u64,
    /// The last usage report's `seq` (0 before the first).
    pub last_seq: u64,
    pub bucket: Bucket,
    pub burst_seconds: u64,
}

/// What one accepted usage report changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metered {
    /// ATP discharged by this report.
    pub charge: u64,
    pub used_total: u64,
    pub charged_total: u64,
    pub bucket: Bucket,
}

impl Lease {
    /// Open a lease (the bucket starts full).
    pub fn open(quantity: u64, seconds: u64, rate: f64, burst_seconds: u64, now: i64) -> Result<Lease, ResourceError> {
        let too = || ResourceError::TooExpensive { quantity, seconds, rate };
        let locked = cost(u128::from(quantity) * u128::from(seconds), rate).ok_or_else(too)?;
        let cap = quantity.checked_mul(burst_seconds.min(seconds)).ok_or_else(too)?;
        quantity.checked_mul(seconds).ok_or_else(too)?;
        Ok(Lease {
            quantity,
            seconds,
            rate,
            opened_at: now,
            locked,
            used: 0,
            charged: 0,
            last_seq: 0,
            bucket: Bucket { tokens: cap, at: now },
            burst_seconds,
        })
    }

    /// When the lease ends.
    pub fn expires_at(&self) -> i64 {
        self.opened_at.saturating_add(i64::try_from(self.seconds).unwrap_or(i64::MAX))
    }

    /// Most unit-seconds the lease allows in total.
    pub fn allowance(&self) -> u64 {
        self.quantity.saturating_mul(self.seconds)
    }

    /// The bucket at `now`: refilled at `quantity` per second (no refill after
    /// the lease ends), up to `quantity · burst_seconds`.
    pub fn bucket_at(&self, now: i64) -> Bucket {
        let until = now.min(self.expires_at());
        let elapsed = u64::try_from(until.saturating_sub(self.bucket.at)).unwrap_or(0);
        let cap = self.quantity.saturating_mul(self.burst_seconds.min(self.seconds));
        let tokens = self.bucket.tokens.saturating_add(elapsed.saturating_mul(self.quantity)).min(cap);
        Bucket { tokens, at: now.max(self.bucket.at) }
    }

    /// Check usage report `seq` of `used` unit-seconds at `now` and say what
    /// it changes; nothing changes on error.
    pub fn meter(&self, seq: u64, used: u64, now: i64) -> Result<Metered, ResourceError> {
        let expected = self.last_seq.saturating_add(1);
        if seq != expected {
            return Err(ResourceError::Sequence { seq, expected });
        }
        let remaining = self.allowance().saturating_sub(self.used);
        if used > remaining {
            return Err(ResourceError::LeaseExceeded { used, remaining });
        }
        let bucket = self.bucket_at(now);
        if used > bucket.tokens {
            return Err(ResourceError::RateExceeded { used, available: bucket.tokens });
        }
        let used_total = self.used + used;
        // The cumulative cost, rounded once, never exceeds what was locked.
        let charged_total = cost(u128::from(used_total), self.rate).unwrap_or(self.locked).min(self.locked);
        Ok(Metered {
            charge: charged_total - self.charged,
            used_total,
            charged_total,
            bucket: Bucket { tokens: bucket.tokens - used, at: bucket.at },
        })
    }

    /// Apply an accepted report.
    pub fn record(&mut self, seq: u64, m: &Metered) {
        self.last_seq = seq;
        self.used = m.used_total;
        self.charged = m.charged_total;
        self.bucket = m.bucket;
    }

    /// What closing the lease returns: the locked ATP not charged.
    pub fn returned(&self) -> u64 {
        self.locked - self.charged
    }
}

/// Check a rate update against the law: known pools only, finite and
/// non-negative rates, each within `max_rate_change` of the current rate.
pub fn check_rates(
    law: &ResourceLaw,
    current: &BTreeMap<String, f64>,
    new: &BTreeMap<String, f64>,
) -> Result<(), ResourceError> {
    for (t, &rate) in new {
        let err = |message: String| ResourceError::Rate { resource_type: t.clone(), message };
        if !law.pools.contains_key(t) {
            return Err(err(format!("the law has no {t} pool (pools: {:?})", law.pools.keys().collect::<Vec<_>>())));
        }
        if !rate.is_finite() || rate < 0.0 {
            return Err(err(format!("{rate} is not a non-negative number")));
        }
        if let (Some(max), Some(&old)) = (law.max_rate_change, current.get(t)) {
            let (lo, hi) = (old * (1.0 - max), old * (1.0 + max));
            if rate < lo || rate > hi {
                return Err(ResourceError::RateChange {
                    resource_type: t.clone(),
                    rate,
                    current: old,
                    max_change: max,
                    low: lo,
                    high: hi,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cost_rounds_up_and_refuses_the_uncountable() {
        assert_eq!(cost(3600, 1.0), Some(1));
        assert_eq!(cost(1, 1.0), Some(1), "any usage costs at least one unit of ATP when the rate is positive");
        assert_eq!(cost(0, 5.0), Some(0));
        assert_eq!(cost(7200, 0.0), Some(0));
        assert_eq!(cost(1, f64::NAN), None);
        assert_eq!(cost(1, -1.0), None);
        assert_eq!(cost(u128::from(u64::MAX), 1e9), None);
    }

    #[test]
    fn metering_in_order_within_bucket_and_allowance() {
        // 100 units for 600 s at 36 ATP per unit-hour: 600 ATP locked.
        let mut l = Lease::open(100, 600, 36.0, 60, 1000).unwrap();
        assert_eq!(l.locked, 600);
        assert_eq!(l.bucket.tokens, 6000);
        assert!(matches!(l.meter(2, 10, 1000), Err(ResourceError::Sequence { expected: 1, .. })));
        assert!(matches!(l.meter(1, 6001, 1000), Err(ResourceError::RateExceeded { available: 6000, .. })));
        let m = l.meter(1, 6000, 1000).unwrap();
        assert_eq!((m.charge, m.charged_total), (60, 60));
        l.record(1, &m);
        assert!(matches!(l.meter(1, 1, 1001), Err(ResourceError::Sequence { .. })), "a seq is used once");
        // 10 s later, 1,000 unit-seconds have refilled.
        assert!(matches!(l.meter(2, 1001, 1010), Err(ResourceError::RateExceeded { available: 1000, .. })));
        let m = l.meter(2, 1000, 1010).unwrap();
        l.record(2, &m);
        assert_eq!((l.used, l.charged, l.returned()), (7000, 70, 530));
        // Past the end: nothing more refills, and the allowance caps the total.
        let b = l.bucket_at(1_000_000);
        assert_eq!(b.tokens, 6000);
        assert!(matches!(l.meter(3, 60_000, 1_000_000), Err(ResourceError::LeaseExceeded { remaining: 53_000, .. })));
    }

    #[test]
    fn rate_updates_follow_the_law() {
        let law = ResourceLaw::from_law(&serde_json::json!({"resources": {
            "rates_authority": "treasurer", "max_rate_change": 0.5,
            "pools": {"cpu": {"capacity": 4000, "rate": 0.2}, "quantum": {"capacity": 1, "rate": 1.0}}}}));
        assert_eq!(law.pools.len(), 1, "unknown resource types are ignored");
        let cur = law.rates();
        let upd = |t: &str, r: f64| BTreeMap::from([(t.to_owned(), r)]);
        assert_eq!(check_rates(&law, &cur, &upd("cpu", 0.25)), Ok(()));
        assert!(matches!(check_rates(&law, &cur, &upd("cpu", 0.31)), Err(ResourceError::RateChange { .. })));
        assert!(matches!(check_rates(&law, &cur, &upd("cpu", 0.09)), Err(ResourceError::RateChange { .. })));
        assert!(check_rates(&law, &cur, &upd("gpu", 1.0)).is_err());
        assert!(check_rates(&law, &cur, &upd("cpu", f64::INFINITY)).is_err());
    }

    /// One account, the pool's ADP and the leases: the operations of the
    /// resource service, as the daemon applies them.
    #[derive(Debug, Clone)]
    enum Op {
        Open { quantity: u64, seconds: u64, rate: u8 },
        Report { lease: usize, used: u64, after: i64 },
        Close { lease: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u64..5000, 1u64..10_000, 0u8..50).prop_map(|(quantity, seconds, rate)| Op::Open {
                quantity,
                seconds,
                rate
            }),
            (0usize..8, 0u64..200_000, 0i64..600).prop_map(|(lease, used, after)| Op::Report { lease, used, after }),
            (0usize..8).prop_map(|lease| Op::Close { lease }),
        ]
    }

    proptest! {
        /// ATP is conserved across open, usage and close: available + locked
        /// + pool ADP never changes, locks are never negative, and each
        /// closed lease split its lock exactly into charged and returned.
        #[test]
        fn atp_conservation_across_allocate_and_release(ops in proptest::collection::vec(op(), 1..60)) {
            let supply = 1_000_000u64;
            let (mut available, mut locked, mut pool_adp) = (supply, 0u64, 0u64);
            let mut leases: Vec<Option<Lease>> = Vec::new();
            let mut now = 0i64;
            for op in ops {
                match op {
                    Op::Open { quantity, seconds, rate } => {
                        let rate = f64::from(rate) / 10.0;
                        if let Ok(l) = Lease::open(quantity, seconds, rate, 60, now)
                            && l.locked <= available
                        {
                            available -= l.locked;
                            locked += l.locked;
                            leases.push(Some(l));
                        }
                    }
                    Op::Report { lease, used, after } => {
                        now += after;
                        if let Some(Some(l)) = leases.get_mut(lease) {
                            let seq = l.last_seq + 1;
                            if let Ok(m) = l.meter(seq, used, now) {
                                prop_assert!(m.charged_total <= l.locked);
                                prop_assert!(m.used_total <= l.allowance());
                                locked -= m.charge;
                                pool_adp += m.charge;
                                l.record(seq, &m);
                            }
                        }
                    }
                    Op::Close { lease } => {
                        if let Some(slot) = leases.get_mut(lease)
                            && let Some(l) = slot.take()
                        {
                            prop_assert_eq!(l.charged + l.returned(), l.locked);
                            prop_assert_eq!(l.charged, cost(u128::from(l.used), l.rate).unwrap_or(l.locked).min(l.locked));
                            locked -= l.returned();
                            available += l.returned();
                        }
                    }
                }
                prop_assert_eq!(available + locked + pool_adp, supply);
                let open_locks: u64 = leases.iter().flatten().map(|l| l.locked - l.charged).sum();
                prop_assert_eq!(open_locks, locked);
            }
        }
    }
}
