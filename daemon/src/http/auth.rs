//! Request authentication: `Authorization: Bearer <lct_id>`, `X-Signature`,
//! `X-Nonce`, `X-Timestamp` over the canonical request string (docs/api.md).

use crate::error::ApiError;
use axum::http::HeaderMap;
use web4_core::signing::{SignedRequest, check_nonce, check_skew};
use web4_core::{ErrorCode, LctId, PublicKey, Signature, Timestamp};

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Parse and check the authentication headers (form, nonce syntax, clock skew)
/// and bind them to the request as evidence. The signature is checked later,
/// once the signer's key is known.
pub fn evidence(
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: Timestamp,
    max_skew: i64,
) -> Result<SignedRequest, ApiError> {
    let auth = header(headers, "authorization")
        .ok_or_else(|| ApiError::new(ErrorCode::AuthzDenied, "missing Authorization: Bearer <lct_id>"))?;
    let id = auth
        .strip_prefix("Bearer ")
        .ok_or_else(|| ApiError::new(ErrorCode::AuthzDenied, "Authorization must be `Bearer <lct_id>`"))?;
    let signer =
        LctId::parse(id.trim()).map_err(|e| ApiError::new(ErrorCode::AuthzDenied, format!("Authorization: {e}")))?;
    let sig =
        header(headers, "x-signature").ok_or_else(|| ApiError::new(ErrorCode::CryptoVerify, "missing X-Signature"))?;
    let signature = Signature::parse(sig.trim())
        .map_err(|e| ApiError::new(ErrorCode::CryptoVerify, format!("X-Signature: {e}")))?;
    let nonce = header(headers, "x-nonce").ok_or_else(|| ApiError::new(ErrorCode::ProtoFormat, "missing X-Nonce"))?;
    check_nonce(nonce).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.to_string()))?;
    let ts =
        header(headers, "x-timestamp").ok_or_else(|| ApiError::new(ErrorCode::ProtoFormat, "missing X-Timestamp"))?;
    let timestamp =
        Timestamp::parse(ts).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("X-Timestamp: {e}")))?;
    check_skew(timestamp, now, max_skew).map_err(|e| ApiError::new(ErrorCode::AuthzExpired, e.to_string()))?;
    let body = std::str::from_utf8(body)
        .map_err(|_| ApiError::new(ErrorCode::ProtoFormat, "request body is not UTF-8"))?
        .to_owned();
    Ok(SignedRequest {
        method: method.to_ascii_uppercase(),
        path: path_and_query.to_owned(),
        body,
        nonce: nonce.to_owned(),
        timestamp,
        signer,
        signature,
    })
}

/// Verify the evidence's signature with the signer's key.
pub fn verify(ev: &SignedRequest, pk: &PublicKey, metrics: &crate::metrics::Metrics) -> Result<(), ApiError> {
    let t = std::time::Instant::now();
    let r = ev.verify(pk);
    metrics.signature_verification.observe(t.elapsed().as_secs_f64());
    r.map_err(|_| {
        ApiError::new(ErrorCode::CryptoVerify, "request signature does not verify against the signer's key")
            .details(serde_json::json!({ "canonical_request": ev.canonical() }))
    })
}
