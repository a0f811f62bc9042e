//! `GET /openapi.json`, generated from [`ROUTES`], the table the router is
//! checked against in tests (every documented route is served).

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use web4_core::ErrorCode;

/// One documented route.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub signed: bool,
    pub request: Option<&'static str>,
    pub success: u16,
    pub errors: &'static [ErrorCode],
}

use ErrorCode::*;

const SIGNED_ERRORS: &[ErrorCode] =
    &[AuthzDenied, AuthzExpired, CryptoVerify, ProtoFormat, ProtoReplay, BindingRevoked, LedgerWrite];

/// Every route of the API.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "post",
        path: "/v1/lct/mint",
        summary: "Mint an LCT with a birth certificate and witnesses",
        signed: true,
        request: Some("MintRequest"),
        success: 201,
        errors: &[BindingExists, BindingInvalid, BindingProofFail, WitnessQuorum, WitnessRejected],
    },
    RouteDoc {
        method: "get",
        path: "/v1/lct/{lct_id}",
        summary: "Get an LCT with its current status",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoFormat],
    },
    RouteDoc {
        method: "post",
        path: "/v1/lct/{lct_id}/suspend",
        summary: "Suspend an LCT (status role)",
        signed: true,
        request: Some("StatusChangeRequest"),
        success: 200,
        errors: &[NotFound, ProtoSequence],
    },
    RouteDoc {
        method: "post",
        path: "/v1/lct/{lct_id}/reinstate",
        summary: "Lift a suspension (status role)",
        signed: true,
        request: Some("StatusChangeRequest"),
        success: 200,
        errors: &[NotFound, ProtoSequence],
    },
    RouteDoc {
        method: "post",
        path: "/v1/lct/{lct_id}/revoke",
        summary: "Revoke an LCT (status role or the LCT itself); terminal",
        signed: true,
        request: Some("RevokeRequest"),
        success: 200,
        errors: &[NotFound, ProtoSequence],
    },
    RouteDoc {
        method: "post",
        path: "/v1/lct/{lct_id}/roles",
        summary: "Grant a role to an active LCT of the society (a holder of identity.role_roles)",
        signed: true,
        request: Some("RoleGrantRequest"),
        success: 200,
        errors: &[NotFound, ProtoSequence, LawConflict],
    },
    RouteDoc {
        method: "delete",
        path: "/v1/lct/{lct_id}/roles/{role}",
        summary: "Take a role back (a holder of identity.role_roles); never the last holder of a role-granting role",
        signed: true,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoSequence, LawConflict],
    },
    RouteDoc {
        method: "get",
        path: "/v1/lct/{lct_id}/verify",
        summary: "Verify binding, birth certificate, witnesses, status; optionally a signature",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoFormat, CryptoVerify],
    },
    RouteDoc {
        method: "post",
        path: "/v1/lct/{lct_id}/transition",
        summary: "Rotate to a new key: new LCT with lineage, old one superseded",
        signed: true,
        request: Some("TransitionRequest"),
        success: 201,
        errors: &[NotFound, BindingExists, BindingProofFail, ProtoSequence],
    },
    RouteDoc {
        method: "get",
        path: "/v1/law/version/{version}",
        summary: "Get a law version (or `current`) with its hash and ledger ref",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound],
    },
    RouteDoc {
        method: "post",
        path: "/v1/law/check",
        summary: "Check an action's legality: allow|warn|deny|escalate, winning norm, evidence",
        signed: false,
        request: Some("LawCheckRequest"),
        success: 200,
        errors: &[ProtoFormat, ProtoDowngrade],
    },
    RouteDoc {
        method: "post",
        path: "/v1/law/publish",
        summary: "Publish a new law version (authority or law-oracle role, witness quorum)",
        signed: true,
        request: Some("LawPublishRequest"),
        success: 201,
        errors: &[LawConflict, WitnessQuorum, ProtoDowngrade],
    },
    RouteDoc {
        method: "get",
        path: "/v1/law/permissions/{role}",
        summary: "What a role may do under the law in force",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound],
    },
    RouteDoc {
        method: "post",
        path: "/v1/law/interpretation",
        summary: "Add an interpretation (versioned by its replaces chain)",
        signed: true,
        request: Some("InterpretationRequest"),
        success: 201,
        errors: &[NotFound, LawConflict],
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/authorize",
        summary: "Decide and record an action: role, delegation, law, ATP, witnesses",
        signed: true,
        request: Some("AuthorizeRequest"),
        success: 200,
        errors: &[AuthzScope, InsufficientAtp, LawConflict, NotFound, ProtoDowngrade],
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/delegate",
        summary: "Create a delegation (only ever narrowing its parent)",
        signed: true,
        request: Some("DelegateRequest"),
        success: 201,
        errors: &[AuthzScope, InsufficientAtp, LawConflict, NotFound],
    },
    RouteDoc {
        method: "delete",
        path: "/v1/auth/delegate/{id}",
        summary: "Revoke a delegation and those derived from it; unspent budget returns",
        signed: true,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoSequence],
    },
    RouteDoc {
        method: "post",
        path: "/v1/auth/delegate/{id}/approve",
        summary: "Approve a root delegation that the law requires to be approved (delegation.requires_approval)",
        signed: true,
        request: None,
        success: 200,
        errors: &[AuthzDenied, NotFound, ProtoSequence],
    },
    RouteDoc {
        method: "get",
        path: "/v1/auth/delegation/{id}",
        summary: "Delegation status: spent, remaining, revoked, pending approval",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound],
    },
    RouteDoc {
        method: "post",
        path: "/v1/atp/mint",
        summary: "Mint ADP into the society pool (law's mint_authority, per-cycle cap)",
        signed: true,
        request: Some("AtpMintRequest"),
        success: 201,
        errors: &[LawConflict],
    },
    RouteDoc {
        method: "post",
        path: "/v1/atp/charge",
        summary: "Charge pool ADP to ATP in an account against a value proof",
        signed: true,
        request: Some("AtpChargeRequest"),
        success: 201,
        errors: &[InsufficientAtp, NotFound, ProtoReplay],
    },
    RouteDoc {
        method: "post",
        path: "/v1/atp/transfer",
        summary: "Transfer ATP from the signer's account (fee discharged to the pool)",
        signed: true,
        request: Some("AtpTransferRequest"),
        success: 200,
        errors: &[InsufficientAtp, NotFound],
    },
    RouteDoc {
        method: "post",
        path: "/v1/atp/slash",
        summary: "Destroy ATP from an account as a penalty (status roles)",
        signed: true,
        request: Some("AtpSlashRequest"),
        success: 200,
        errors: &[InsufficientAtp, NotFound],
    },
    RouteDoc {
        method: "get",
        path: "/v1/atp/account/{lct_id}",
        summary: "An ATP account: available, locked, discharged, energy ratio",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoFormat],
    },
    RouteDoc {
        method: "get",
        path: "/v1/atp/pool",
        summary: "The society pool: supply, ADP, ATP in accounts, conservation",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "post",
        path: "/v1/reputation/outcome",
        summary: "Record an outcome of an entity in a role: rule deltas, witnesses, gaming checks",
        signed: true,
        request: Some("OutcomeRequest"),
        success: 201,
        errors: &[NotFound, ProtoFormat],
    },
    RouteDoc {
        method: "post",
        path: "/v1/reputation/delta",
        summary: "Compute the delta an outcome would apply now (nothing recorded)",
        signed: false,
        request: Some("OutcomeRequest"),
        success: 200,
        errors: &[ProtoFormat],
    },
    RouteDoc {
        method: "get",
        path: "/v1/reputation/stats",
        summary: "Counts, per-role distributions and gaming flags",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "get",
        path: "/v1/reputation/{entity}/{role}",
        summary: "T3/V3 of an entity in a role with recency aggregation and decay at request time",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoFormat],
    },
    RouteDoc {
        method: "post",
        path: "/v1/resources/allocate",
        summary: "Lease units of a resource pool; the cost at the law's rate is locked from an account or grant",
        signed: true,
        request: Some("AllocateRequest"),
        success: 201,
        errors: &[
            ProtoFormat,
            InsufficientAtp,
            AuthzRate,
            AuthzScope,
            AuthzDenied,
            AuthzExpired,
            LawConflict,
            NotFound,
        ],
    },
    RouteDoc {
        method: "post",
        path: "/v1/resources/usage",
        summary: "Report metered usage of a lease (seq 1, 2, …; token-bucket rate); its cost is discharged",
        signed: true,
        request: Some("UsageRequest"),
        success: 200,
        errors: &[NotFound, AuthzDenied, ProtoSequence, ProtoReplay, AuthzRate, AuthzScope],
    },
    RouteDoc {
        method: "post",
        path: "/v1/resources/release",
        summary: "Close a lease (optionally with a final usage report); the unused lock returns",
        signed: true,
        request: Some("ReleaseRequest"),
        success: 200,
        errors: &[NotFound, AuthzDenied, ProtoSequence, ProtoReplay, AuthzRate, AuthzScope],
    },
    RouteDoc {
        method: "post",
        path: "/v1/resources/rates",
        summary: "Update conversion rates (the law's rates_authority, within max_rate_change)",
        signed: true,
        request: Some("RatesRequest"),
        success: 200,
        errors: &[AuthzDenied, LawConflict, ProtoFormat],
    },
    RouteDoc {
        method: "get",
        path: "/v1/resources/pool/stats",
        summary: "Pools: capacity, allocated, utilization, rates in force, enforcement mode",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "get",
        path: "/v1/resources/allocation/{id}",
        summary: "One lease: quantity, price, charged, used, meter, release",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound],
    },
    RouteDoc {
        method: "post",
        path: "/v1/graph/triple",
        summary: "Assert a triple into the MRH graph (recorded on the ledger): about oneself, or as a curator",
        signed: true,
        request: Some("TripleRequest"),
        success: 201,
        errors: &[ProtoFormat, AuthzDenied],
    },
    RouteDoc {
        method: "get",
        path: "/v1/graph/query",
        summary: "SPARQL 1.1 Protocol query (?query=); SPARQL JSON/XML/CSV/TSV or N-Triples/Turtle/RDF-XML by Accept, not the envelope",
        signed: false,
        request: None,
        success: 200,
        errors: &[ProtoFormat, AuthzDenied, Timeout],
    },
    RouteDoc {
        method: "post",
        path: "/v1/graph/query",
        summary: "SPARQL 1.1 Protocol query by POST (application/sparql-query body or form query=); UPDATE is refused",
        signed: false,
        request: None,
        success: 200,
        errors: &[ProtoFormat, AuthzDenied, Timeout],
    },
    RouteDoc {
        method: "post",
        path: "/v1/graph/traverse",
        summary: "BFS from an origin over edges in both directions: distances, zones, relationship counts",
        signed: false,
        request: Some("TraverseRequest"),
        success: 200,
        errors: &[ProtoFormat, NotFound],
    },
    RouteDoc {
        method: "get",
        path: "/v1/graph/paths",
        summary: "Simple paths between two nodes (?source=&target=&depth=) with their propagated trust",
        signed: false,
        request: None,
        success: 200,
        errors: &[ProtoFormat, NotFound],
    },
    RouteDoc {
        method: "post",
        path: "/v1/graph/trust",
        summary: "Zone-decay and path-propagation trust (noisy-OR over paths), weighed by the target's T3 in a role",
        signed: false,
        request: Some("TrustRequest"),
        success: 200,
        errors: &[ProtoFormat, NotFound],
    },
    RouteDoc {
        method: "get",
        path: "/v1/p2p/peers",
        summary: "libp2p identity, listen addresses, connected peers with gossipsub scores, gossip counters, escrow",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "get",
        path: "/v1/p2p/chains",
        summary: "Authors' chains not whole here: behind what peers hold, records parked or waiting (and for what), the refusal that stops a chain",
        signed: false,
        request: None,
        success: 200,
        errors: &[ProtoFormat],
    },
    RouteDoc {
        method: "post",
        path: "/v1/p2p/block",
        summary: "Block or unblock a libp2p peer on this node (authority)",
        signed: true,
        request: Some("BlockRequest"),
        success: 200,
        errors: SIGNED_ERRORS,
    },
    RouteDoc {
        method: "get",
        path: "/v1/p2p/equivocations",
        summary: "Authors flagged for equivocation (two signed records with one seq), with the evidence",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "get",
        path: "/v1/federation/societies",
        summary: "Other societies this node follows (verified copies of their ledgers)",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "post",
        path: "/v1/federation/societies",
        summary: "Follow another society: copy and verify its ledger from one of its nodes (authority)",
        signed: true,
        request: Some("FollowRequest"),
        success: 201,
        errors: SIGNED_ERRORS,
    },
    RouteDoc {
        method: "get",
        path: "/v1/federation/societies/{society}/lct/{lct_id}/verify",
        summary: "Verify an LCT born in a followed society, with that society's law and witnesses",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoFormat],
    },
    RouteDoc {
        method: "get",
        path: "/v1/federation/societies/{society}/reputation/{entity}/{role}",
        summary: "A followed society's T3/V3 for (entity, role), shown, never merged",
        signed: false,
        request: None,
        success: 200,
        errors: &[NotFound, ProtoFormat],
    },
    RouteDoc {
        method: "get",
        path: "/v1/ledger/records",
        summary: "The ledger in this node's arrival order, paged (after, limit ≤ 1000), with when this node appended each record; used to join a society",
        signed: false,
        request: None,
        success: 200,
        errors: &[ProtoFormat],
    },
    RouteDoc {
        method: "get",
        path: "/health",
        summary: "Liveness",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "get",
        path: "/ready",
        summary: "Readiness: store open, migrations applied, key loaded",
        signed: false,
        request: None,
        success: 200,
        errors: &[Unavailable],
    },
    RouteDoc {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
    RouteDoc {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        signed: false,
        request: None,
        success: 200,
        errors: &[],
    },
];

fn schemas() -> Value {
    let s = |d: &str| json!({"type": "string", "description": d});
    let ts = s("RFC 3339 UTC, YYYY-MM-DDTHH:MM:SSZ");
    let key = s("Ed25519 public key, 32 bytes, unpadded base64url");
    let sig = s("Ed25519 signature, 64 bytes, unpadded base64url");
    json!({
        "MintRequest": {"type": "object", "additionalProperties": false,
            "required": ["entity_type", "public_key", "created_at", "binding_proof"],
            "properties": {
                "entity_type": {"type": "string", "enum": web4_core::lct::EntityType::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()},
                "public_key": key, "created_at": ts, "binding_proof": sig,
                "lct_id": s("optional; must equal the id derived from public_key"),
                "birth_context": s("free text, at most 512 bytes"),
                "witnesses": {"type": "array", "items": {"$ref": "#/components/schemas/Attestation"}},
                "policy": {"type": "object"}, "hardware_anchor": {"type": "object"}}},
        "Attestation": {"type": "object", "additionalProperties": false,
            "required": ["witness", "type", "claims", "ts", "nonce", "sig"],
            "properties": {"witness": s("LCT id"), "type": s("witness class"), "claims": {"type": "object"}, "ts": ts, "nonce": s("unique"), "sig": sig}},
        "LawPublishRequest": {"type": "object", "additionalProperties": false, "required": ["law"],
            "properties": {"law": {"description": "the dataset as a JSON object, or YAML/JSON text"},
                "witnesses": {"type": "array", "items": {"$ref": "#/components/schemas/Attestation"}}}},
        "InterpretationRequest": {"type": "object", "additionalProperties": false, "required": ["text"],
            "properties": {"norm_id": s("a norm of the law in force"), "text": s("1–4096 bytes"), "replaces": s("ref of the interpretation replaced")}},
        "AuthorizeRequest": {"type": "object", "additionalProperties": false, "required": ["action", "resource", "atp_cost"],
            "properties": {"action": s("verb"), "resource": s("resource id"), "atp_cost": {"type": "integer", "minimum": 0},
                "role": s("role the actor acts in"), "context": {"type": "object", "properties": {"delegation_id": s("grant used"),
                    "witnesses": {"type": "array", "items": {"$ref": "#/components/schemas/Attestation"}}}}}},
        "DelegateRequest": {"type": "object", "additionalProperties": false, "required": ["agent", "scope", "atp_budget", "expires_at"],
            "properties": {"agent": s("LCT id"), "scope": {"type": "object", "required": ["actions", "resources", "max_atp"]},
                "atp_budget": {"type": "integer"}, "not_before": ts.clone(), "expires_at": ts.clone(), "delegatable": {"type": "boolean"}, "parent": s("grant re-delegated"),
                "funded": {"type": "boolean", "description": "lock the budget from the signer's ATP account"}}},
        "AtpMintRequest": {"type": "object", "additionalProperties": false, "required": ["amount"],
            "properties": {"amount": {"type": "integer", "minimum": 1}}},
        "AtpChargeRequest": {"type": "object", "additionalProperties": false, "required": ["account", "proof"],
            "properties": {"account": s("LCT id"), "proof": {"type": "object", "additionalProperties": false, "required": ["kind", "reference", "value"],
                "properties": {"kind": s("what value"), "reference": s("unique evidence reference; sha256: refs must be ledger records"), "value": {"type": "number", "exclusiveMinimum": 0}}}}},
        "AtpTransferRequest": {"type": "object", "additionalProperties": false, "required": ["to", "amount"],
            "properties": {"to": s("LCT id"), "amount": {"type": "integer", "minimum": 1}}},
        "AtpSlashRequest": {"type": "object", "additionalProperties": false, "required": ["account", "amount", "reason"],
            "properties": {"account": s("LCT id"), "amount": {"type": "integer", "minimum": 1}, "reason": s("1–1024 bytes")}},
        "OutcomeRequest": {"type": "object", "additionalProperties": false, "required": ["entity", "role", "action", "result_status"],
            "properties": {"entity": s("LCT id"), "role": s("role context, 1–128 bytes"), "action": s("action type"),
                "result_status": {"type": "string", "enum": ["success", "failure", "partial"]}, "quality": {"type": "number", "minimum": 0, "maximum": 1},
                "factors": {"type": "array", "items": {"type": "string"}}, "witnesses": {"type": "array", "items": {"$ref": "#/components/schemas/Attestation"}}}},
        "AllocateRequest": {"type": "object", "additionalProperties": false, "required": ["resource_type", "quantity", "duration_seconds"],
            "properties": {"resource_type": {"type": "string", "enum": web4_core::resources::RESOURCE_TYPES},
                "quantity": {"type": "integer", "minimum": 1, "description": "millicores, MiB, kbit/s or devices"},
                "duration_seconds": {"type": "integer", "minimum": 1}, "pid": {"type": "integer", "description": "local process to enforce on (cpu, memory)"},
                "max_atp": {"type": "integer", "description": "refuse a higher price"},
                "context": {"type": "object", "properties": {"delegation_id": s("grant the cost is reserved from")}}}},
        "UsageRequest": {"type": "object", "additionalProperties": false, "required": ["allocation_id", "seq", "used"],
            "properties": {"allocation_id": s("alloc:…"), "seq": {"type": "integer", "minimum": 1}, "used": {"type": "integer", "description": "unit-seconds since the last report"}}},
        "ReleaseRequest": {"type": "object", "additionalProperties": false, "required": ["allocation_id"],
            "properties": {"allocation_id": s("alloc:…"), "final_usage": {"type": "object", "required": ["seq", "used"],
                "properties": {"seq": {"type": "integer"}, "used": {"type": "integer"}}}}},
        "RatesRequest": {"type": "object", "additionalProperties": false, "required": ["rates"],
            "properties": {"rates": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}, "description": "ATP per unit-hour by resource type"}}},
        "TripleRequest": {"type": "object", "additionalProperties": false, "required": ["subject", "predicate", "object"],
            "properties": {"subject": s("absolute IRI (an LCT id)"), "predicate": s("absolute IRI; web4: only binding, pairing and witness relations"),
                "object": s("IRI, literal or number"), "object_type": {"type": "string", "enum": ["iri", "literal", "double"]},
                "weight": {"type": "number", "minimum": 0, "maximum": 1}}},
        "TraverseRequest": {"type": "object", "additionalProperties": false, "required": ["origin"],
            "properties": {"origin": s("IRI"), "depth": {"type": "integer", "minimum": 1, "maximum": 6},
                "relations": {"type": "array", "items": {"type": "string"}}, "max_nodes": {"type": "integer"}}},
        "TrustRequest": {"type": "object", "additionalProperties": false, "required": ["source", "target"],
            "properties": {"source": s("IRI"), "target": s("IRI"), "role": s("role the target is trusted in"),
                "depth": {"type": "integer", "minimum": 1, "maximum": 6}}},
        "LawCheckRequest": {"type": "object", "additionalProperties": false, "required": ["action"],
            "properties": {"action": s("r6.request.action"), "role": s("r6.role"), "resource": {"type": "object"},
                "payload": {"type": "object"}, "law_hash": s("optional pin: must be the law in force")}},
        "RoleGrantRequest": {"type": "object", "additionalProperties": false, "required": ["role"], "properties": {"role": s("a role of concepts §5 or the law's citizen role"), "reason": s("optional, 1–512 bytes")}},
        "StatusChangeRequest": {"type": "object", "additionalProperties": false, "required": ["reason"], "properties": {"reason": s("1–512 bytes")}},
        "RevokeRequest": {"type": "object", "additionalProperties": false, "required": ["reason"],
            "properties": {"reason": {"type": "string", "enum": ["compromise", "superseded", "expired", "violation"]}, "note": s("optional")}},
        "TransitionRequest": {"type": "object", "additionalProperties": false, "required": ["public_key", "created_at", "binding_proof"],
            "properties": {"public_key": key, "created_at": ts, "binding_proof": sig, "hardware_anchor": {"type": "object"}}},
        "FollowRequest": {"type": "object", "additionalProperties": false, "required": ["node", "url"],
            "properties": {"node": s("this node's LCT id (`node` in /ready)"), "url": {"type": "string"}, "genesis_hash": {"type": "string"}}},
        "BlockRequest": {"type": "object", "additionalProperties": false, "required": ["node", "peer_id", "blocked"],
            "properties": {"node": s("this node's LCT id (`node` in /ready)"), "peer_id": {"type": "string"}, "blocked": {"type": "boolean"}}},
        "Envelope": {"type": "object", "required": ["success", "data", "metadata"], "properties": {
            "success": {"type": "boolean"}, "data": {},
            "metadata": {"type": "object", "properties": {"request_id": s("uuid"), "timestamp": ts, "law_hash": s("sha256:<hex>"), "ledger_ref": s("sha256:<hex> of the record, or null")}}}},
        "Error": {"type": "object", "properties": {"success": {"type": "boolean"}, "error": {"type": "object", "properties": {
            "code": {"type": "string", "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
            "message": {"type": "string"}, "details": {}}}}},
    })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut responses = Map::new();
        responses.insert(r.success.to_string(), json!({"description": "success", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}));
        let mut errs: Vec<ErrorCode> = r.errors.to_vec();
        if r.signed {
            errs.extend_from_slice(SIGNED_ERRORS);
        }
        for e in errs {
            let entry = responses.entry(e.http_status().to_string()).or_insert_with(|| {
                json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}, "application/problem+json": {}}})
            });
            if let Some(Value::String(d)) = entry.get_mut("description")
                && !d.contains(e.as_str())
            {
                if !d.is_empty() {
                    d.push_str(", ");
                }
                d.push_str(e.as_str());
            }
        }
        let mut op = json!({"summary": r.summary, "responses": responses});
        if r.path.contains("{lct_id}") {
            op["parameters"] =
                json!([{"name": "lct_id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        if let Some(req) = r.request {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{req}")}}}});
        }
        if r.signed {
            op["security"] = json!([{"web4Signature": []}]);
        }
        let item = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        item[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "web4d", "version": env!("CARGO_PKG_VERSION"), "description": "Web4 edge trust daemon. Request signing: see docs/api.md."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"web4Signature": {"type": "http", "scheme": "bearer",
                "description": "Authorization: Bearer <lct_id> plus X-Signature, X-Nonce, X-Timestamp over the canonical request (docs/api.md)"}}
        }
    })
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document().to_string())
}
