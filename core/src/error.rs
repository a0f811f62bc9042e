//! The W4 error taxonomy: one code, one HTTP status, one title.
//!
//! Every error that reaches a client maps to exactly one [`ErrorCode`]; the
//! HTTP layer turns it into the envelope or RFC 9457 Problem Details.

use serde::{Deserialize, Serialize};

/// A W4 error code (`W4_ERR_*`, plus the seed's `INSUFFICIENT_ATP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    #[serde(rename = "W4_ERR_BINDING_EXISTS")]
    BindingExists,
    #[serde(rename = "W4_ERR_BINDING_INVALID")]
    BindingInvalid,
    #[serde(rename = "W4_ERR_BINDING_REVOKED")]
    BindingRevoked,
    #[serde(rename = "W4_ERR_BINDING_PROOF_FAIL")]
    BindingProofFail,
    #[serde(rename = "W4_ERR_WITNESS_UNAVAIL")]
    WitnessUnavail,
    #[serde(rename = "W4_ERR_WITNESS_REJECTED")]
    WitnessRejected,
    #[serde(rename = "W4_ERR_WITNESS_INVALID")]
    WitnessInvalid,
    #[serde(rename = "W4_ERR_WITNESS_QUORUM")]
    WitnessQuorum,
    #[serde(rename = "W4_ERR_AUTHZ_DENIED")]
    AuthzDenied,
    #[serde(rename = "W4_ERR_AUTHZ_EXPIRED")]
    AuthzExpired,
    #[serde(rename = "W4_ERR_AUTHZ_SCOPE")]
    AuthzScope,
    #[serde(rename = "W4_ERR_AUTHZ_RATE")]
    AuthzRate,
    #[serde(rename = "W4_ERR_CRYPTO_SUITE")]
    CryptoSuite,
    #[serde(rename = "W4_ERR_CRYPTO_DECRYPT")]
    CryptoDecrypt,
    #[serde(rename = "W4_ERR_CRYPTO_KEY")]
    CryptoKey,
    #[serde(rename = "W4_ERR_CRYPTO_VERIFY")]
    CryptoVerify,
    #[serde(rename = "W4_ERR_PROTO_VERSION")]
    ProtoVersion,
    #[serde(rename = "W4_ERR_PROTO_SEQUENCE")]
    ProtoSequence,
    #[serde(rename = "W4_ERR_PROTO_DOWNGRADE")]
    ProtoDowngrade,
    #[serde(rename = "W4_ERR_PROTO_FORMAT")]
    ProtoFormat,
    #[serde(rename = "W4_ERR_PROTO_REPLAY")]
    ProtoReplay,
    #[serde(rename = "W4_ERR_LEDGER_WRITE")]
    LedgerWrite,
    #[serde(rename = "W4_ERR_LAW_CONFLICT")]
    LawConflict,
    #[serde(rename = "INSUFFICIENT_ATP")]
    InsufficientAtp,
    /// Our extension: the addressed object does not exist.
    #[serde(rename = "W4_ERR_NOT_FOUND")]
    NotFound,
    /// Our extension: the request did not complete within the server's limit.
    #[serde(rename = "W4_ERR_TIMEOUT")]
    Timeout,
    /// Our extension: the node is not ready or is shutting down.
    #[serde(rename = "W4_ERR_UNAVAILABLE")]
    Unavailable,
    /// Our extension: a bug or an unexpected failure inside the node.
    #[serde(rename = "W4_ERR_INTERNAL")]
    Internal,
}

/// Error category, the segment after `W4_ERR_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Binding,
    Witness,
    Authz,
    Crypto,
    Proto,
    Ledger,
    Law,
    Atp,
    Node,
}

impl ErrorCode {
    /// Every code, in taxonomy order.
    pub const ALL: [ErrorCode; 28] = [
        Self::BindingExists,
        Self::BindingInvalid,
        Self::BindingRevoked,
        Self::BindingProofFail,
        Self::WitnessUnavail,
        Self::WitnessRejected,
        Self::WitnessInvalid,
        Self::WitnessQuorum,
        Self::AuthzDenied,
        Self::AuthzExpired,
        Self::AuthzScope,
        Self::AuthzRate,
        Self::CryptoSuite,
        Self::CryptoDecrypt,
        Self::CryptoKey,
        Self::CryptoVerify,
        Self::ProtoVersion,
        Self::ProtoSequence,
        Self::ProtoDowngrade,
        Self::ProtoFormat,
        Self::ProtoReplay,
        Self::LedgerWrite,
        Self::LawConflict,
        Self::InsufficientAtp,
        Self::NotFound,
        Self::Timeout,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The wire string, e.g. `W4_ERR_BINDING_REVOKED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BindingExists => "W4_ERR_BINDING_EXISTS",
            Self::BindingInvalid => "W4_ERR_BINDING_INVALID",
            Self::BindingRevoked => "W4_ERR_BINDING_REVOKED",
            Self::BindingProofFail => "W4_ERR_BINDING_PROOF_FAIL",
            Self::WitnessUnavail => "W4_ERR_WITNESS_UNAVAIL",
            Self::WitnessRejected => "W4_ERR_WITNESS_REJECTED",
            Self::WitnessInvalid => "W4_ERR_WITNESS_INVALID",
            Self::WitnessQuorum => "W4_ERR_WITNESS_QUORUM",
            Self::AuthzDenied => "W4_ERR_AUTHZ_DENIED",
            Self::AuthzExpired => "W4_ERR_AUTHZ_EXPIRED",
            Self::AuthzScope => "W4_ERR_AUTHZ_SCOPE",
            Self::AuthzRate => "W4_ERR_AUTHZ_RATE",
            Self::CryptoSuite => "W4_ERR_CRYPTO_SUITE",
            Self::CryptoDecrypt => "W4_ERR_CRYPTO_DECRYPT",
            Self::CryptoKey => "W4_ERR_CRYPTO_KEY",
            Self::CryptoVerify => "W4_ERR_CRYPTO_VERIFY",
            Self::ProtoVersion => "W4_ERR_PROTO_VERSION",
            Self::ProtoSequence => "W4_ERR_PROTO_SEQUENCE",
            Self::ProtoDowngrade => "W4_ERR_PROTO_DOWNGRADE",
            Self::ProtoFormat => "W4_ERR_PROTO_FORMAT",
            Self::ProtoReplay => "W4_ERR_PROTO_REPLAY",
            Self::LedgerWrite => "W4_ERR_LEDGER_WRITE",
            Self::LawConflict => "W4_ERR_LAW_CONFLICT",
            Self::InsufficientAtp => "INSUFFICIENT_ATP",
            Self::NotFound => "W4_ERR_NOT_FOUND",
            Self::Timeout => "W4_ERR_TIMEOUT",
            Self::Unavailable => "W4_ERR_UNAVAILABLE",
            Self::Internal => "W4_ERR_INTERNAL",
        }
    }

    /// Parse the wire string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BindingExists => 409,
            Self::BindingInvalid => 400,
            Self::BindingRevoked => 410,
            Self::BindingProofFail => 401,
            Self::WitnessUnavail => 503,
            Self::WitnessRejected => 403,
            Self::WitnessInvalid => 400,
            Self::WitnessQuorum => 409,
            Self::AuthzDenied => 401,
            Self::AuthzExpired => 401,
            Self::AuthzScope => 403,
            Self::AuthzRate => 429,
            Self::CryptoSuite | Self::CryptoDecrypt | Self::CryptoKey => 400,
            Self::CryptoVerify => 401,
            Self::ProtoVersion | Self::ProtoSequence | Self::ProtoDowngrade | Self::ProtoFormat => 400,
            Self::ProtoReplay => 409,
            Self::LedgerWrite => 503,
            Self::LawConflict => 409,
            Self::InsufficientAtp => 402,
            Self::NotFound => 404,
            Self::Timeout => 504,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The category (`BINDING`, `WITNESS`, …).
    pub fn category(self) -> Category {
        match self {
            Self::BindingExists | Self::BindingInvalid | Self::BindingRevoked | Self::BindingProofFail => {
                Category::Binding
            }
            Self::WitnessUnavail | Self::WitnessRejected | Self::WitnessInvalid | Self::WitnessQuorum => {
                Category::Witness
            }
            Self::AuthzDenied | Self::AuthzExpired | Self::AuthzScope | Self::AuthzRate => Category::Authz,
            Self::CryptoSuite | Self::CryptoDecrypt | Self::CryptoKey | Self::CryptoVerify => Category::Crypto,
            Self::ProtoVersion | Self::ProtoSequence | Self::ProtoDowngrade | Self::ProtoFormat | Self::ProtoReplay => {
                Category::Proto
            }
            Self::LedgerWrite => Category::Ledger,
            Self::LawConflict => Category::Law,
            Self::InsufficientAtp => Category::Atp,
            Self::NotFound | Self::Timeout | Self::Unavailable | Self::Internal => Category::Node,
        }
    }

    /// Short human title, used as the Problem Details `title`.
    pub fn title(self) -> &'static str {
        match self {
            Self::BindingExists => "Binding Already Exists",
            Self::BindingInvalid => "Invalid Binding",
            Self::BindingRevoked => "Binding Revoked",
            Self::BindingProofFail => "Binding Proof Failed",
            Self::WitnessUnavail => "Witness Unavailable",
            Self::WitnessRejected => "Witness Rejected",
            Self::WitnessInvalid => "Invalid Witness Attestation",
            Self::WitnessQuorum => "Quorum Not Met",
            Self::AuthzDenied => "Authorization Denied",
            Self::AuthzExpired => "Authorization Expired",
            Self::AuthzScope => "Outside Authorized Scope",
            Self::AuthzRate => "Rate Limit Exceeded",
            Self::CryptoSuite => "Unsupported Crypto Suite",
            Self::CryptoDecrypt => "Decryption Failed",
            Self::CryptoKey => "Invalid Key",
            Self::CryptoVerify => "Signature Verification Failed",
            Self::ProtoVersion => "Unsupported Protocol Version",
            Self::ProtoSequence => "Out Of Sequence",
            Self::ProtoDowngrade => "Downgrade Refused",
            Self::ProtoFormat => "Malformed Request",
            Self::ProtoReplay => "Replay Detected",
            Self::LedgerWrite => "Ledger Write Failed",
            Self::LawConflict => "Law Conflict",
            Self::InsufficientAtp => "Insufficient ATP",
            Self::NotFound => "Not Found",
            Self::Timeout => "Request Timed Out",
            Self::Unavailable => "Service Unavailable",
            Self::Internal => "Internal Error",
        }
    }

    /// What a person can do about it (used by the CLI).
    pub fn hint(self) -> &'static str {
        match self {
            Self::BindingExists => {
                "an LCT for this public key is already registered; fetch it instead of minting again"
            }
            Self::BindingInvalid => {
                "the submitted document is inconsistent (for example lct_id does not match the public key); rebuild it from the key"
            }
            Self::BindingRevoked => "this LCT is revoked for good; transition to or mint a new LCT",
            Self::BindingProofFail => {
                "the binding proof does not verify with the public key; re-sign it with the LCT's own key"
            }
            Self::WitnessUnavail => "not enough witnesses are reachable right now; retry later",
            Self::WitnessRejected => "a witness refused to attest; check the witness's status and the event",
            Self::WitnessInvalid => "a witness attestation is malformed, stale or badly signed",
            Self::WitnessQuorum => "fewer valid witness signatures than the society's law requires",
            Self::AuthzDenied => "the signer is unknown, not active, or lacks the role this action needs",
            Self::AuthzExpired => "the request timestamp is outside the allowed clock skew; check the client clock",
            Self::AuthzScope => "the action is outside the signer's delegated scope",
            Self::AuthzRate => "too many requests; slow down and retry",
            Self::CryptoSuite => "only Ed25519 is supported",
            Self::CryptoDecrypt => "decryption failed",
            Self::CryptoKey => "the key is malformed; keys are 32-byte Ed25519 public keys in unpadded base64url",
            Self::CryptoVerify => {
                "the request signature does not verify; sign the canonical request string described in docs/api.md"
            }
            Self::ProtoVersion => "unsupported protocol version",
            Self::ProtoSequence => "out-of-order record",
            Self::ProtoDowngrade => "the request is bound to another law hash than the one in force",
            Self::ProtoFormat => "the request is malformed; see details for the field at fault",
            Self::ProtoReplay => "this nonce was already used; use a fresh random nonce per request",
            Self::LedgerWrite => "the node could not durably record the change; nothing was written, retry",
            Self::LawConflict => "the action conflicts with the society's law",
            Self::InsufficientAtp => "the ATP budget is exhausted",
            Self::NotFound => "no such object on this node",
            Self::Timeout => {
                "the node did not finish in time; the change may not have been applied, check before retrying"
            }
            Self::Unavailable => "the node is starting or shutting down; retry shortly",
            Self::Internal => "an unexpected failure inside the node; see its logs with the request_id",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip_through_serde_and_parse() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("W4_ERR_NOPE"), None);
    }
}
