//! Request authentication: `Authorization: Bearer <lct_id>`, `X-Signature`,
//! `X-Nonce`, `X-Timestamp` over the canonical request string (docs/api.md).

use crate::error::ApiError;
use crate::services::Node;
use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use std::sync::Arc;
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

/// Verify the evidence's signature with the signer's key (batched with
/// concurrent requests, `crate::verify`).
pub async fn verify(node: &Node, ev: &SignedRequest, pk: PublicKey) -> Result<(), ApiError> {
    node.verifier
        .verify(ev.canonical(&node.society().id).into_bytes(), ev.signature, pk)
        .await
        .map_err(|lost| ApiError::internal("signature verification", lost))?
        .map_err(|_| signature_error(ev, &node.society().id))
}

/// The refusal of a request whose signature does not verify.
pub fn signature_error(ev: &SignedRequest, society: &web4_core::LctId) -> ApiError {
    ApiError::new(ErrorCode::CryptoVerify, "request signature does not verify against the signer's key")
        .details(serde_json::json!({ "canonical_request": ev.canonical(society) }))
}

/// The request body, size-checked: an oversized body is 413 `W4_ERR_PROTO_FORMAT`.
pub async fn body_bytes(req: axum::extract::Request, state: &Arc<Node>) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        let e = ApiError::new(ErrorCode::ProtoFormat, format!("request body: {}", rej.body_text()));
        if rej.status().as_u16() == 413 { e.status(413) } else { e }
    })
}

/// A signed request's evidence and its raw body. The signature is verified by
/// the service once it knows the signer's key.
pub struct SignedRaw(pub SignedRequest, pub Bytes);

impl FromRequest<Arc<Node>> for SignedRaw {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, node: &Arc<Node>) -> Result<Self, ApiError> {
        let method = req.method().as_str().to_owned();
        let path = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().clone(), |u| u.0.clone())
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let headers = req.headers().clone();
        let body = body_bytes(req, node).await?;
        let ev = evidence(&headers, &method, &path, &body, node.now(), node.max_skew)?;
        Ok(SignedRaw(ev, body))
    }
}

/// A signed request with a JSON body (`Content-Type: application/json`,
/// unknown fields refused by `T`).
pub struct Signed<T>(pub SignedRequest, pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Node>> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, node: &Arc<Node>) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        let SignedRaw(ev, body) = SignedRaw::from_request(req, node).await?;
        if !json {
            return Err(ApiError::new(ErrorCode::ProtoFormat, "Content-Type must be application/json"));
        }
        let parsed = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}"))
                .details(serde_json::json!({ "line": e.line(), "column": e.column() }))
        })?;
        exact_numbers(&body)?;
        Ok(Signed(ev, parsed))
    }
}

/// Refuse integers beyond ±2^53: the record that carries the request is
/// canonicalised with RFC 8785, whose numbers are IEEE doubles, so such a
/// value could not be recorded exactly. Only bodies with a run of 16 or more
/// digits (every such integer has one) are parsed again to look.
fn exact_numbers(body: &[u8]) -> Result<(), ApiError> {
    let mut run = 0;
    let long_run = body.iter().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= 16
    });
    if !long_run {
        return Ok(());
    }
    fn find(v: &serde_json::Value, path: &str) -> Option<String> {
        const MAX: u64 = 1 << 53;
        match v {
            serde_json::Value::Number(n) => {
                let big = n.as_u64().map(|u| u > MAX).or_else(|| n.as_i64().map(|i| i.unsigned_abs() > MAX));
                big.unwrap_or(false).then(|| path.to_owned())
            }
            serde_json::Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| find(x, &format!("{path}[{i}]"))),
            serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| find(x, &format!("{path}.{k}"))),
            _ => None,
        }
    }
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}")))?;
    match find(&v, "body") {
        None => Ok(()),
        Some(path) => Err(ApiError::new(
            ErrorCode::ProtoFormat,
            format!("{path}: integers must be within ±2^53 (I-JSON) so that the record is exact"),
        )
        .details(serde_json::json!({ "path": path }))),
    }
}
