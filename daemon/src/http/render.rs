//! The envelope. Handlers return [`ApiOk`] or [`ApiError`]; this middleware
//! adds the request id, timestamp, law hash and ledger ref, renders errors as
//! the envelope or as RFC 9457 Problem Details (`Accept:
//! application/problem+json`), applies the request timeout, logs and counts.

use crate::error::ApiError;
use crate::services::Node;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use web4_core::api::Problem;
use web4_core::{ErrorCode, Hash};

/// The success envelope, serialised straight from the handler's data (no
/// copy of it into a new JSON tree). Members in the order a JSON object of
/// them would have (sorted).
#[derive(serde::Serialize)]
struct Envelope<'a> {
    data: &'a Value,
    metadata: Metadata<'a>,
    success: bool,
}

#[derive(serde::Serialize)]
struct Metadata<'a> {
    law_hash: Hash,
    ledger_ref: Option<Hash>,
    request_id: &'a str,
    timestamp: web4_core::Timestamp,
}

/// A successful result, before the envelope is added.
#[derive(Debug, Clone)]
pub struct ApiOk {
    pub status: StatusCode,
    pub data: Value,
    pub ledger_ref: Option<Hash>,
    pub event: &'static str,
    pub lct_id: Option<String>,
}

impl ApiOk {
    /// A 200 answer.
    pub fn new(event: &'static str, data: Value) -> Self {
        ApiOk { status: StatusCode::OK, data, ledger_ref: None, event, lct_id: None }
    }
}

impl IntoResponse for ApiOk {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The service a route belongs to, for the `service` log field.
fn service_of(route: &str) -> &'static str {
    match route.split('/').nth(2) {
        Some("lct") => "identity",
        Some("law") => "governance",
        Some("auth") | Some("atp") => "authorization",
        Some("reputation") => "reputation",
        _ => "node",
    }
}

/// State of the envelope middleware.
#[derive(Clone)]
pub struct Layer {
    pub node: Arc<Node>,
    pub timeout: Duration,
}

/// Unknown route.
pub async fn not_found(req: Request) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route {}", req.uri().path()))
}

/// Known route, wrong method.
pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(ErrorCode::ProtoFormat, format!("method {} is not allowed on {}", req.method(), req.uri().path()))
        .status(405)
}

fn wants_problem(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.split(',').any(|p| p.trim().starts_with("application/problem+json")))
}

/// The envelope middleware.
pub async fn middleware(State(layer): State<Layer>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let signer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|s| s.chars().take(128).collect::<String>());
    let mut resp = match tokio::time::timeout(layer.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(ErrorCode::Timeout, format!("no answer within {} ms", layer.timeout.as_millis()))
            .into_response(),
    };
    let node = &layer.node;
    let status = resp.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let now = node.now();
    let law_hash = node.society().law.law_hash();
    if let Some(ok) = resp.extensions_mut().remove::<ApiOk>() {
        let body = Envelope {
            data: &ok.data,
            metadata: Metadata { law_hash, ledger_ref: ok.ledger_ref, request_id: &request_id, timestamp: now },
            success: true,
        };
        tracing::info!(
            service = service_of(&route),
            request_id = %request_id,
            lct_id = ok.lct_id.as_deref().or(signer.as_deref()).unwrap_or(""),
            event = ok.event,
            status = status.as_u16(),
            duration_ms = ms,
            ledger_ref = ok.ledger_ref.map(|h| h.to_string()).unwrap_or_default(),
            "{} {path}", method
        );
        resp = (status, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(&body).unwrap_or_default())
            .into_response();
    } else if let Some(err) = resp.extensions_mut().remove::<ApiError>() {
        node.metrics.errors.get_or_create(&crate::metrics::CodeLabel { code: err.code.as_str().into() }).inc();
        tracing::warn!(
            service = service_of(&route),
            request_id = %request_id,
            lct_id = signer.as_deref().unwrap_or(""),
            event = "request_refused",
            code = err.code.as_str(),
            status = status.as_u16(),
            duration_ms = ms,
            error = %err.message,
            "{} {path}", method
        );
        resp = if wants_problem(accept.as_deref()) {
            let p = Problem {
                kind: "about:blank".into(),
                title: err.code.title().into(),
                status: status.as_u16(),
                code: err.code,
                detail: err.message,
                instance: Some(path.clone()),
                request_id: Some(request_id.clone()),
                details: err.details,
            };
            let body = serde_json::to_string(&p).unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
        } else {
            let body = json!({
                "success": false,
                "error": { "code": err.code, "message": err.message, "details": err.details },
                "metadata": { "request_id": request_id, "timestamp": now, "law_hash": law_hash },
            });
            (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        };
    }
    node.metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabel { route: route.clone(), method, status: status.as_u16() })
        .inc();
    node.metrics
        .http_duration
        .get_or_create(&crate::metrics::RouteLabel { route })
        .observe(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
