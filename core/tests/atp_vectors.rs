//! test-vectors/atp/transfer-operations.json — all 15 vectors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use web4_core::atp::{self, AtpAccount};

fn close(a: f64, b: &Value, tol: f64, what: &str) {
    let b = b.as_f64().unwrap_or_else(|| panic!("{what}: expected value missing"));
    assert!((a - b).abs() <= tol, "{what}: got {a}, expected {b}");
}

#[test]
fn all_transfer_operation_vectors() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/web4-vectors/test-vectors/atp/transfer-operations.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let mut seen = 0;
    for case in v["vectors"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let (i, e) = (&case["input"], &case["expected"]);
        let tol = case["tolerance"].as_f64().unwrap_or(1e-4);
        let f = |k: &str| i[k].as_f64().unwrap_or_else(|| panic!("{id}: input {k}"));
        match case["operation"].as_str().unwrap() {
            "transfer" => {
                let t = atp::transfer(f("sender_balance"), f("receiver_balance"), f("amount"), f("fee_rate"));
                close(t.fee, &e["fee"], tol, id);
                close(t.sender, &e["sender_balance"], tol, id);
                close(t.receiver, &e["receiver_balance"], tol, id);
                close(t.total_deducted, &e["total_deducted"], tol, id);
            }
            "transfer_capped" => {
                let t = atp::transfer_capped(
                    f("sender_balance"),
                    f("receiver_balance"),
                    f("amount"),
                    f("fee_rate"),
                    f("max_balance"),
                );
                close(t.fee, &e["fee"], tol, id);
                close(t.actual_credit, &e["actual_credit"], tol, id);
                close(t.overflow, &e["overflow"], tol, id);
                close(t.sender, &e["sender_balance"], tol, id);
                close(t.receiver, &e["receiver_balance"], tol, id);
            }
            "conservation_check" => {
                let mut bal: Vec<f64> =
                    i["initial_balances"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                let initial: f64 = bal.iter().sum();
                let mut fees = Vec::new();
                for t in i["transfers"].as_array().unwrap() {
                    let (from, to) = (t["from"].as_u64().unwrap() as usize, t["to"].as_u64().unwrap() as usize);
                    let r = atp::transfer(bal[from], bal[to], t["amount"].as_f64().unwrap(), f("fee_rate"));
                    bal[from] = r.sender;
                    bal[to] = r.receiver;
                    fees.push(r.fee);
                }
                let total_fees: f64 = fees.iter().sum();
                close(initial, &e["initial_total"], tol, id);
                close(total_fees, &e["total_fees"], tol, id);
                close(bal.iter().sum(), &e["final_total"], tol, id);
                for (k, fee) in fees.iter().enumerate() {
                    close(*fee, &e["per_transfer_fees"][k], tol, id);
                }
                assert!((initial - (bal.iter().sum::<f64>() + total_fees)).abs() <= tol, "{id}: conservation");
            }
            "sliding_scale" => {
                let p = atp::sliding_scale(f("quality"), f("base_payment"), f("zero_threshold"), f("full_threshold"));
                close(p, &e["payment"], tol, id);
            }
            "settlement" => {
                for (k, q) in i["quality_scores"].as_array().unwrap().iter().enumerate() {
                    let p = atp::sliding_scale(
                        q.as_f64().unwrap(),
                        f("task_payment"),
                        f("zero_threshold"),
                        f("full_threshold"),
                    );
                    close(p, &e["payments"][k], tol, id);
                }
            }
            "lock_lifecycle" => {
                let (start, lock) = (f("initial_balance") as u64, f("lock_amount") as u64);
                let mut a = AtpAccount::new(start);
                a.lock(lock).unwrap();
                close(a.available as f64, &e["after_lock"]["available"], tol, id);
                close(a.locked as f64, &e["after_lock"]["locked"], tol, id);
                close(a.atp() as f64, &e["after_lock"]["total"], tol, id);
                let mut rolled = a;
                a.commit(lock).unwrap();
                close(a.available as f64, &e["after_commit"]["available"], tol, id);
                close(a.locked as f64, &e["after_commit"]["locked"], tol, id);
                close(a.atp() as f64, &e["after_commit"]["total"], tol, id);
                close(a.adp as f64, &e["after_commit"]["committed_amount"], tol, id);
                rolled.rollback(lock).unwrap();
                close(rolled.available as f64, &e["after_rollback_instead"]["available"], tol, id);
                close(rolled.atp() as f64, &e["after_rollback_instead"]["total"], tol, id);
            }
            "recharge" => {
                let r = atp::recharge(
                    f("current_balance"),
                    f("initial_balance"),
                    f("recharge_rate"),
                    f("max_recharge_multiplier"),
                );
                close(r.amount, &e["recharge_amount"], tol, id);
                close(r.new_balance, &e["new_balance"], tol, id);
                if let Some(m) = e.get("max_balance") {
                    close(r.max_balance, m, tol, id);
                }
                if let Some(c) = e.get("capped") {
                    assert_eq!(Some(r.capped), c.as_bool(), "{id}");
                }
            }
            "sybil_cost" => {
                let (setup, per, loss) = atp::sybil_cost(
                    i["num_identities"].as_u64().unwrap() as u32,
                    f("hardware_cost_per_identity"),
                    f("atp_stake_per_identity"),
                    f("transfer_fee_rate"),
                );
                close(setup, &e["total_setup_cost"], tol, id);
                close(per, &e["per_identity_cost"], tol, id);
                close(loss, &e["circular_flow_loss_per_cycle"], tol, id);
            }
            "energy_ratio" => {
                if let Some(cases) = i["cases"].as_array() {
                    for (k, c) in cases.iter().enumerate() {
                        let r = atp::energy_ratio(c["atp"].as_f64().unwrap(), c["adp"].as_f64().unwrap());
                        close(r, &e["ratios"][k], tol, id);
                    }
                } else {
                    close(atp::energy_ratio(f("atp_balance"), f("adp_accumulated")), &e["energy_ratio"], tol, id);
                }
            }
            "fee_sensitivity" => {
                for (k, rate) in i["fee_rates"].as_array().unwrap().iter().enumerate() {
                    let t = atp::transfer(1e9, 0.0, f("amount"), rate.as_f64().unwrap());
                    close(t.fee, &e["fees"][k], tol, id);
                    close(f("amount") - t.fee, &e["net_received"][k], tol, id);
                    close(t.total_deducted, &e["total_sender_costs"][k], tol, id);
                }
            }
            other => panic!("{id}: operation {other} not covered"),
        }
        seen += 1;
    }
    assert_eq!(seen, 15);
}
