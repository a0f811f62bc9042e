//! LCT identifiers.
//!
//! An entity's LCT id is derived from its Ed25519 public key, never assigned:
//! `lct:web4:mb32:b` + base32 (RFC 4648, lowercase, unpadded) of sha256(pubkey).
//! Role and society ids may be any string matching `^lct:web4:[A-Za-z0-9_:-]+$`.

use crate::crypto::{PublicKey, sha256};
use data_encoding::BASE32_NOPAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Prefix of key-derived ids (multibase `b` = base32 lowercase).
pub const KEY_ID_PREFIX: &str = "lct:web4:mb32:b";
const MAX_LEN: usize = 256;

/// A validated LCT identifier.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LctId(String);

/// Why a string is not an LCT id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("LCT id must match ^lct:web4:[A-Za-z0-9_:-]+$ and be at most 256 characters")]
    Syntax,
    #[error("LCT id {claimed} does not match the public key (derived {derived})")]
    KeyMismatch { claimed: String, derived: String },
}

impl LctId {
    /// Derive the id of an entity from its public key.
    pub fn from_public_key(pk: &PublicKey) -> LctId {
        let digest = sha256(&pk.to_bytes());
        LctId(format!("{KEY_ID_PREFIX}{}", BASE32_NOPAD.encode(&digest.0).to_ascii_lowercase()))
    }

    /// Parse and validate the syntax.
    pub fn parse(s: &str) -> Result<LctId, IdError> {
        let rest = s.strip_prefix("lct:web4:").ok_or(IdError::Syntax)?;
        let ok = !rest.is_empty()
            && s.len() <= MAX_LEN
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'));
        if ok { Ok(LctId(s.to_owned())) } else { Err(IdError::Syntax) }
    }

    /// Check that this id is the one derived from `pk` (fail closed on mismatch).
    pub fn check_key(&self, pk: &PublicKey) -> Result<(), IdError> {
        let derived = LctId::from_public_key(pk);
        if &derived == self {
            Ok(())
        } else {
            Err(IdError::KeyMismatch { claimed: self.0.clone(), derived: derived.0 })
        }
    }

    /// Whether this id has the key-derived form.
    pub fn is_key_derived(&self) -> bool {
        self.0.starts_with(KEY_ID_PREFIX)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LctId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for LctId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LctId({})", self.0)
    }
}
impl Serialize for LctId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for LctId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LctId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn pinned_vector_from_spec_digest() {
        let sk = SecretKey::from_seed(&[7u8; 32]);
        assert_eq!(
            LctId::from_public_key(&sk.public_key()).as_str(),
            "lct:web4:mb32:b72asyextvngonlc5w2nmguxza3frweppip5thyss5577kurghceq"
        );
    }

    #[test]
    fn syntax() {
        assert!(LctId::parse("lct:web4:ai:society:001").is_ok());
        assert!(LctId::parse("lct:web4:").is_err());
        assert!(LctId::parse("lct:web5:x").is_err());
        assert!(LctId::parse("lct:web4:a b").is_err());
        assert!(LctId::parse(&format!("lct:web4:{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn check_key_fails_closed() {
        let a = SecretKey::from_seed(&[1; 32]).public_key();
        let b = SecretKey::from_seed(&[2; 32]).public_key();
        let id = LctId::from_public_key(&a);
        assert!(id.check_key(&a).is_ok());
        assert!(matches!(id.check_key(&b), Err(IdError::KeyMismatch { .. })));
        assert!(id.is_key_derived());
    }
}
