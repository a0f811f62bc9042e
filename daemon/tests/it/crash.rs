//! Crash safety and graceful shutdown.

use crate::harness::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use web4_core::lct::EntityType;

#[tokio::test]
async fn kill_9_during_mints_loses_nothing_acknowledged() {
    let mut node = TestNode::start().await;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        let (base, http) = (node.base.clone(), node.http.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = random_key();
                let r = raw_mint(&http, &base, &k).await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => acked.lock().unwrap().push(id_of(&k).to_string()),
                    Ok(r) => panic!("unexpected answer {}", r.status()),
                    Err(_) => break, // the node died under us: not acknowledged
                }
            }
        }));
    }
    // Let a stream build up, then kill -9 while requests are in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} mints acknowledged before the kill", acked.len());

    // After restart every acknowledged mint is there and the ledger verifies.
    node.spawn(&[]).await;
    for id in &acked {
        let r = node.get(&format!("/v1/lct/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged mint {id} lost");
    }
    let v = node.ledger_verify();
    assert!(v["records"].as_u64().unwrap() > acked.len() as u64, "{v}");
    // And the node keeps working on the same chain.
    assert_eq!(node.mint(&random_key(), EntityType::Ai).await.status, 201);
    node.ledger_verify();
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let mut node = TestNode::start().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, http) = (node.base.clone(), node.http.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u32;
            for _ in 0..200 {
                let k = random_key();
                let r = raw_mint(&http, &base, &k).await;
                match r {
                    // Every request that got an answer got a complete, successful one.
                    Ok(r) => {
                        assert_eq!(r.status().as_u16(), 201);
                        let b: serde_json::Value = r.json().await.unwrap();
                        assert_eq!(b["success"], true);
                        done += 1;
                    }
                    Err(_) => break,
                }
            }
            done
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = node.sigterm();
    assert!(status.success(), "exit status {status}");
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert!(total > 0);
    let log = std::fs::read_to_string(node.log_path()).unwrap();
    assert!(log.contains("\"event\":\"shutdown_complete\""), "{log}");
    assert!(log.contains("\"event\":\"store_closed\""), "{log}");
    // Clean close: the ledger verifies and holds every acknowledged mint (+ genesis).
    let v = node.ledger_verify();
    assert!(v["records"].as_u64().unwrap() > u64::from(total), "{v} vs {total}");
}
