//! Core signing and verification costs.
#![allow(clippy::expect_used, clippy::unwrap_used)]
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
    // decisions/0023: the writer's record signature with a nonce made ahead,
    // and the making of that nonce (on the nonce thread).
    let psk = sk.presign_key([1; 32]);
    c.bench_function("ed25519_presign_nonce", |b| b.iter(|| psk.nonce(black_box(&[5; 32]))));
    // The nonce thread makes them 64 at a time (time per batch of 64).
    let entropy = [[5u8; 32]; 64];
    c.bench_function("ed25519_presign_nonces_64", |b| b.iter(|| psk.nonces(black_box(&entropy))));
    c.bench_function("ed25519_sign_with_nonce_256B", |b| {
        b.iter_batched(|| psk.nonce(&[6; 32]), |n| psk.sign(n, black_box(&msg)), criterion::BatchSize::SmallInput)
    });
    // ed25519-dalek's cofactorless verify_strict, for comparison (decisions/0021).
    let dalek_pk = ed25519_dalek::VerifyingKey::from_bytes(&pk.to_bytes()).expect("key");
    let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    c.bench_function("ed25519_verify_strict_dalek_256B", |b| {
        b.iter(|| dalek_pk.verify_strict(black_box(&msg), &dalek_sig))
    });
    c.bench_function("ed25519_public_key_decode", |b| {
        b.iter(|| web4_core::PublicKey::from_bytes(black_box(&pk.to_bytes())))
    });
    // Batches of request-sized messages by distinct signers; criterion reports
    // the time per batch, docs/benchmarks.md the time per signature.
    for n in [4usize, 16, 64] {
        let keys: Vec<SecretKey> = (0..n).map(|i| SecretKey::from_seed(&[i as u8; 32])).collect();
        let pks: Vec<_> = keys.iter().map(SecretKey::public_key).collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 200]).collect();
        let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let items: Vec<(&[u8], &web4_core::Signature, &web4_core::PublicKey)> =
            msgs.iter().zip(&sigs).zip(&pks).map(|((m, s), p)| (&m[..], s, p)).collect();
        c.bench_function(&format!("ed25519_verify_batch_{n}"), |b| {
            b.iter(|| web4_core::crypto::verify_batch(black_box(&items)))
        });
    }
    c.bench_function("lct_id_derive", |b| b.iter(|| LctId::from_public_key(black_box(&pk))));
    c.bench_function("binding_create", |b| b.iter(|| Binding::create(&sk, EntityType::Ai, Timestamp(1))));
    let binding = Binding::create(&sk, EntityType::Ai, Timestamp(1));
    c.bench_function("binding_verify", |b| b.iter(|| binding.verify(black_box(&id))));
    let anchored = with_anchor(&sk);
    assert!(anchored.verify(&id).is_ok());
    c.bench_function("binding_verify_with_tpm_anchor", |b| b.iter(|| anchored.verify(black_box(&id))));
    let body = r#"{"entity_type":"ai","public_key":"x","created_at":"2026-01-01T00:00:00Z"}"#.to_string();
    let society = LctId::parse("lct:web4:bench-society").unwrap_or_else(|_| id.clone());
    let req = SignedRequest::sign(
        &sk,
        &society,
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
                &society,
                id.clone(),
                "POST",
                "/v1/lct/mint",
                body.clone(),
                "abcdefghijklmnop".into(),
                Timestamp(1),
            )
        })
    });
    c.bench_function("request_verify", |b| b.iter(|| req.verify(black_box(&pk), &society)));
    // RFC 8785 text of a typed value: straight from the type, and through a
    // `serde_json::Value` (the path taken when the typed one cannot promise
    // the same bytes).
    let typed = (&req, &binding);
    c.bench_function("jcs_request_and_binding_typed", |b| {
        b.iter(|| web4_core::crypto::canonical_json(black_box(&typed)))
    });
    c.bench_function("jcs_request_and_binding_via_value", |b| {
        b.iter(|| web4_core::crypto::canonical_value(&serde_json::to_value(black_box(&typed)).unwrap()))
    });
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

/// A binding with a hardware anchor in the shape swtpm produces (eight SHA-256
/// PCRs), its quote signed by a P-256 key standing in for the AK.
fn with_anchor(sk: &SecretKey) -> Binding {
    use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER};
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use web4_core::anchor::{HardwareAnchor, PCR_BANK, TPM2_QUOTE, build, pcr_digest};
    let mut binding = Binding::create(sk, EntityType::Infrastructure, Timestamp(1));
    let id = binding.lct_id();
    let ak = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).expect("ak");
    let point = ak.verifying_key().to_sec1_point(false);
    let (x, y) = (point.x().expect("x"), point.y().expect("y"));
    let ak_pub = build::ak_public(
        build::AK_ATTRIBUTES,
        x.as_slice().try_into().expect("x"),
        y.as_slice().try_into().expect("y"),
    );
    let pcrs: Vec<u8> = (0..8).collect();
    let mut a = HardwareAnchor {
        kind: TPM2_QUOTE.into(),
        ak_public: BASE64.encode(&ak_pub),
        quote: String::new(),
        signature: String::new(),
        pcr_bank: PCR_BANK.into(),
        pcrs: pcrs.iter().map(|&i| (i, HEXLOWER.encode(&[0u8; 32]))).collect(),
        nonce: BASE64URL_NOPAD.encode(&[1u8; 32]),
        anchored_at: Timestamp(1),
        ek_certificate: Some(BASE64.encode(&[0u8; 1016])),
        tpm: None,
    };
    let zeros = [0u8; 32];
    let digest = pcr_digest(pcrs.iter().map(|_| zeros.as_slice()));
    let q = build::quote(&build::name(&ak_pub), &a.qualifying_data(&id, &binding.public_key).0, &pcrs, &digest);
    let sig: p256::ecdsa::Signature = ak.sign_prehash(&sha256(&q).0).expect("sign");
    a.quote = BASE64.encode(&q);
    a.signature = HEXLOWER.encode(&sig.to_bytes());
    binding.hardware_anchor = Some(serde_json::to_value(&a).expect("anchor"));
    binding
}

criterion_group!(core, benches);
criterion_main!(core);
