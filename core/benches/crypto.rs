//! Core signing and verification costs.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use web4_core::lct::{Binding, EntityType};
use web4_core::ledger::{RecordDraft, kind};
use web4_core::signing::SignedRequest;
use web4_core::{Hash, LctId, SecretKey, Timestamp, sha256};

fn benches(c: &mut Criterion) {
    let sk = SecretKey::from_seed(&[7; 32]);
    let pk = sk.public_key();
    let id = LctId::from_public_key(&pk);
    let msg = [0u8; 256];
    let sig = sk.sign(&msg);
    c.bench_function("ed25519_sign_256B", |b| b.iter(|| sk.sign(black_box(&msg))));
    c.bench_function("ed25519_verify_256B", |b| b.iter(|| pk.verify(black_box(&msg), &sig)));
    c.bench_function("lct_id_derive", |b| b.iter(|| LctId::from_public_key(black_box(&pk))));
    c.bench_function("binding_create", |b| b.iter(|| Binding::create(&sk, EntityType::Ai, Timestamp(1))));
    let binding = Binding::create(&sk, EntityType::Ai, Timestamp(1));
    c.bench_function("binding_verify", |b| b.iter(|| binding.verify(black_box(&id))));
    let body = r#"{"entity_type":"ai","public_key":"x","created_at":"2026-01-01T00:00:00Z"}"#.to_string();
    let req = SignedRequest::sign(
        &sk,
        id.clone(),
        "POST",
        "/v1/lct/mint",
        body.clone(),
        "abcdefghijklmnop".into(),
        Timestamp(1),
    );
    c.bench_function("request_sign", |b| {
        b.iter(|| {
            SignedRequest::sign(
                &sk,
                id.clone(),
                "POST",
                "/v1/lct/mint",
                body.clone(),
                "abcdefghijklmnop".into(),
                Timestamp(1),
            )
        })
    });
    c.bench_function("request_verify", |b| b.iter(|| req.verify(black_box(&pk))));
    let payload = serde_json::json!({"lct": {"id": id.to_string(), "binding": binding}, "evidence": req});
    let draft = RecordDraft {
        author: id.clone(),
        seq: 1,
        prev_hash: Hash::ZERO,
        kind: kind::LCT_MINT.into(),
        payload,
        law_hash: sha256(b"law"),
        timestamp: Timestamp(1),
    };
    c.bench_function("record_sign_and_hash", |b| b.iter(|| draft.clone().sign(&sk).and_then(|r| r.hash())));
}

criterion_group!(core, benches);
criterion_main!(core);
