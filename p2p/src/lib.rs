//! Web4 federation over libp2p (not yet implemented; see the federation issue).
//!
//! This crate will hold the libp2p behaviour of a node: TCP and QUIC transports
//! with Noise and Yamux, identify, ping, Kademlia with bootstrap peers, mDNS on
//! the LAN, gossipsub topics per society for ledger records, reputation and
//! graph updates, and a bounded request-response sync protocol ("author X's
//! records from seq N") for catch-up and anti-entropy. It knows nothing of
//! SQLite: the daemon hands it verified records to publish and receives
//! candidate records, which take the same verification road as local writes.
#![forbid(unsafe_code)]

/// Protocol identifier of the record sync protocol (reserved).
pub const SYNC_PROTOCOL: &str = "/web4/sync/1";

/// Gossipsub topic carrying a society's ledger records.
pub fn ledger_topic(society: &web4_core::LctId) -> String {
    format!("web4/{society}/ledger/1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn topics_are_per_society() {
        let a = web4_core::LctId::parse("lct:web4:society:a").unwrap();
        let b = web4_core::LctId::parse("lct:web4:society:b").unwrap();
        assert_ne!(super::ledger_topic(&a), super::ledger_topic(&b));
    }
}
