//! The one error type that reaches clients: a W4 code, a message and details.

use serde_json::Value;
use web4_core::ErrorCode;

/// An error answered to a client. The HTTP layer renders it as the envelope
/// or as RFC 9457 Problem Details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    /// HTTP status when it differs from the code's (oversized body → 413).
    pub status: Option<u16>,
}

impl ApiError {
    /// An error with a message and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), details: Value::Null, status: None }
    }
    /// Attach machine-readable details.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    /// Answer with another HTTP status than the code's default.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    /// The HTTP status to send.
    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.http_status())
    }
    /// An internal failure; the message is logged, the client sees a generic one.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(event = "internal_error", context, error = %err);
        ApiError::new(ErrorCode::Internal, format!("internal error in {context}"))
    }
}
