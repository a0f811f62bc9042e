#!/usr/bin/env python3
"""A standalone Web4 API client, written from docs/api.md alone.

Needs Python 3.8+ and the `cryptography` package (pip install cryptography);
HTTP is plain urllib. It checks the pinned vectors of docs/api.md offline, then
exercises a running node:

    python3 tests/python/client.py --node http://127.0.0.1:18181 \
        --admin-key DATA_DIR/keys/admin.key

The admin key file holds the 32-byte Ed25519 seed as 64 hex characters plus a
newline (as written by `web4d init`). Prints one line per check, then
`python-client: N passed, M failed`; exits non-zero if any check failed.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# --------------------------------------------------------------------------
# Encodings (docs/api.md, "Encodings")
# --------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """RFC 3339 UTC, whole seconds: YYYY-MM-DDTHH:MM:SSZ."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def compact_json(value) -> bytes:
    """The body bytes we send (any valid JSON is accepted; we sign exactly what we send)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------
# Keys, LCT ids and binding proofs (docs/api.md, "LCT ids", "Binding proof")
# --------------------------------------------------------------------------


class Key:
    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.sk = Ed25519PrivateKey.from_private_bytes(seed)
        self.pk = self.sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def generate(cls) -> "Key":
        return cls(os.urandom(32))

    @classmethod
    def from_file(cls, path: str) -> "Key":
        with open(path, "r", encoding="ascii") as f:
            return cls(bytes.fromhex(f.read().strip()))

    @property
    def public_key(self) -> str:
        return b64url(self.pk)

    @property
    def lct_id(self) -> str:
        return lct_id_from_public_key(self.pk)

    def sign(self, msg: bytes) -> str:
        return b64url(self.sk.sign(msg))


def lct_id_from_public_key(pk: bytes) -> str:
    """lct:web4:mb32:b + lowercase unpadded RFC 4648 base32 of sha256(raw 32-byte key)."""
    digest = hashlib.sha256(pk).digest()
    return "lct:web4:mb32:b" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def binding_message(lct_id: str, entity_type: str, created_at: str) -> bytes:
    return f"web4:lct:binding:v1\n{lct_id}\n{entity_type}\n{created_at}".encode("utf-8")


def jcs(value) -> bytes:
    """RFC 8785 for the values this API signs (ASCII member names, no integral floats)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def birth_event(binding: dict, society: str) -> str:
    """The event hash birth witnesses attest (docs/api.md section 11)."""
    event = {
        "event": "web4:lct:birth:v1",
        "lct_id": lct_id_from_public_key(b64url_decode(binding["public_key"])),
        "entity_type": binding["entity_type"],
        "public_key": binding["public_key"],
        "created_at": binding["created_at"],
        "society": society,
    }
    return "sha256:" + sha256_hex(jcs(event))


def mint_request(key: Key, entity_type: str, created_at: str) -> dict:
    proof = key.sign(binding_message(key.lct_id, entity_type, created_at))
    return {
        "entity_type": entity_type,
        "public_key": key.public_key,
        "created_at": created_at,
        "binding_proof": proof,
    }


# --------------------------------------------------------------------------
# Request signing (docs/api.md, "Signing a request")
# --------------------------------------------------------------------------


def canonical_request(society: str, method: str, path_and_query: str, body: bytes, nonce: str, timestamp: str, signer: str) -> str:
    return "\n".join(
        ["WEB4-REQUEST-V2", society, method.upper(), path_and_query, sha256_hex(body), nonce, timestamp, signer]
    )


def new_nonce() -> str:
    """24 random bytes → 32 characters of unpadded base64url (within 16–128 of [A-Za-z0-9_-])."""
    return b64url(os.urandom(24))


def signed_headers(key: Key, society: str, method: str, path_and_query: str, body: bytes, nonce=None, timestamp=None) -> dict:
    nonce = nonce or new_nonce()
    timestamp = timestamp or utc_now()
    canon = canonical_request(society, method, path_and_query, body, nonce, timestamp, key.lct_id)
    return {
        "Authorization": "Bearer " + key.lct_id,
        "X-Signature": key.sign(canon.encode("utf-8")),
        "X-Nonce": nonce,
        "X-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------


class Answer:
    def __init__(self, status: int, headers, raw: bytes):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.json = None

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()

    def code(self):
        """The W4 code, from the envelope or from Problem Details."""
        j = self.json or {}
        if isinstance(j.get("error"), dict):
            return j["error"].get("code")
        return j.get("code")

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.raw[:300].decode('utf-8', 'replace')}"


class Node:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self._society = None

    @property
    def society(self) -> str:
        """The society the node serves (GET /ready): every signed request names it."""
        if self._society is None:
            self._society = self.get("/ready").json["society"]
        return self._society

    def send(self, method: str, path: str, body: bytes = None, headers=None) -> Answer:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Answer(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, e.read())

    def get(self, path: str) -> Answer:
        return self.send("GET", path)

    def signed(self, key: Key, method: str, path: str, payload: dict, extra=None) -> Answer:
        body = compact_json(payload)
        h = signed_headers(key, self.society, method, path, body)
        h.update(extra or {})
        return self.send(method, path, body, h)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

# Pinned in docs/api.md ("LCT ids" and "Worked example").
ID_VECTOR_SEED = bytes([0x07] * 32)
ID_VECTOR = "lct:web4:mb32:b72asyextvngonlc5w2nmguxza3frweppip5thyss5577kurghceq"
EX_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
EX_ID = "lct:web4:mb32:beh7ddx5bksrgcytl7bkai36se4nxx3klnk7elksyq57pi74xeg4q"
EX_BODY = (
    '{"entity_type":"ai","public_key":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",'
    '"created_at":"2026-01-01T00:00:00Z","binding_proof":"R6ob86Psa3YJwATJhmV3Ux-qpELkF12TrOPWd_xuLERMAs1IqTe9ZySxS7SaWl4x06SgN_YhBy74iXIxwtxEBQ"}'
)
EX_BODY_SHA = "18a9105674d6e5799f56c862c52eec68867c8db1b8c512114a3d6a4bdb7a17b2"
EX_NONCE = "0123456789abcdef0123"
EX_TS = "2026-01-01T00:00:05Z"
EX_SOCIETY = "lct:web4:example-society"
EX_SIG = "zJ8Ba9v_eCJfLKhnzWYddS7p2clC8EIId1X5CZCtPoca2Jync3dJcYIKuV0HPms3FM91cgpOt5vC5aolhrB1Dg"


class Failed(Exception):
    pass


def expect(cond: bool, what: str):
    if not cond:
        raise Failed(what)


def expect_error(a: Answer, status: int, code: str, what: str):
    expect(a.status == status and a.code() == code, f"{what}: want {status} {code}, got {a!r}")


def check_id_vector(ctx):
    got = Key(ID_VECTOR_SEED).lct_id
    expect(got == ID_VECTOR, f"seed 0x07*32 derives {got}, want {ID_VECTOR}")
    return got


def check_worked_example(ctx):
    key = Key(bytes.fromhex(EX_SEED))
    expect(key.lct_id == EX_ID, f"alice's id {key.lct_id}")
    body = compact_json(mint_request(key, "ai", "2026-01-01T00:00:00Z"))
    expect(body.decode() == EX_BODY, f"body {body.decode()}")
    expect(sha256_hex(body) == EX_BODY_SHA, "body sha256")
    h = signed_headers(key, EX_SOCIETY, "POST", "/v1/lct/mint", body, EX_NONCE, EX_TS)
    expect(h["X-Signature"] == EX_SIG, f"signature {h['X-Signature']}")
    canon = canonical_request(EX_SOCIETY, "POST", "/v1/lct/mint", body, EX_NONCE, EX_TS, EX_ID)
    Ed25519PublicKey.from_public_bytes(key.pk).verify(b64url_decode(EX_SIG), canon.encode())
    return "signature " + EX_SIG[:16] + "…"


def check_self_mint(ctx):
    node, key = ctx["node"], ctx["key"]
    a = node.signed(key, "POST", "/v1/lct/mint", mint_request(key, "ai", utc_now()))
    expect(a.status == 201 and a.json and a.json.get("success") is True, f"mint: {a!r}")
    expect(a.content_type == "application/json", f"content-type {a.content_type}")
    got = a.json["data"]["lct"]["lct_id"]
    expect(got == key.lct_id, f"minted {got}, derived {key.lct_id}")
    ref = a.json["metadata"].get("ledger_ref") or ""
    expect(ref.startswith("sha256:") and len(ref) == 71, f"ledger_ref {ref!r}")
    expect(a.json["data"]["status"] == "active", "status")
    expect(a.headers.get("X-Request-Id") == a.json["metadata"]["request_id"], "X-Request-Id = metadata.request_id")
    return f"201 {got} ledger_ref {ref[:19]}…"


def check_get_and_verify(ctx):
    node, key = ctx["node"], ctx["key"]
    a = node.get("/v1/lct/" + key.lct_id)
    expect(a.status == 200 and a.json["success"] is True, f"GET: {a!r}")
    view = a.json["data"]
    lct = view["lct"]
    expect(lct["lct_id"] == key.lct_id and lct["binding"]["public_key"] == key.public_key, "GET returns our document")
    # Recheck the birth certificate ourselves (docs/api.md sections 10 and 11).
    cert = lct["birth_certificate"]
    issuer = node.get("/v1/lct/" + cert["issuer"])
    expect(issuer.status == 200, f"GET issuer: {issuer!r}")
    issuer_pk = b64url_decode(issuer.json["data"]["lct"]["binding"]["public_key"])
    expect(lct_id_from_public_key(issuer_pk) == cert["issuer"], "issuer id is derived from its key")
    issuer_key = Ed25519PublicKey.from_public_bytes(issuer_pk)
    unsigned = {k: v for k, v in cert.items() if k != "signature"}
    issuer_key.verify(b64url_decode(cert["signature"]), b"web4:birth:v1\n" + jcs(unsigned))
    event = birth_event(lct["binding"], view["society"])
    atts = cert["birth_witnesses"]
    expect(len(atts) >= 1, "at least one birth witness")
    for att in atts:
        expect(att["claims"]["event"] == event, f"attestation names {att['claims']['event']}, birth event is {event}")
        if att["witness"] == cert["issuer"]:
            body = {k: v for k, v in att.items() if k != "sig"}
            issuer_key.verify(b64url_decode(att["sig"]), b"web4:witness:v1\n" + jcs(body))
    v = node.get("/v1/lct/" + key.lct_id + "/verify")
    expect(v.status == 200 and v.json["data"]["valid"] is True, f"verify: {v!r}")
    # And a signature check through the verify endpoint.
    msg = b"hello web4"
    q = f"?message={b64url(msg)}&signature={key.sign(msg)}"
    v2 = node.get("/v1/lct/" + key.lct_id + "/verify" + q)
    expect(v2.status == 200 and v2.json["data"]["signature"] is True, f"verify with signature: {v2!r}")
    return "GET 200, birth certificate and witness checked locally, verify valid=true, signature=true"


def check_suspended_signer(ctx):
    node, key, admin = ctx["node"], ctx["key"], ctx["admin"]
    a = node.signed(admin, "POST", f"/v1/lct/{key.lct_id}/suspend", {"reason": "python client test"})
    expect(a.status == 200 and a.json["data"]["status"] == "suspended", f"suspend: {a!r}")
    other = Key.generate()
    b = node.signed(key, "POST", "/v1/lct/mint", mint_request(other, "ai", utc_now()))
    expect_error(b, 401, "W4_ERR_AUTHZ_DENIED", "suspended signer mints a sponsored LCT")
    expect("suspended" in b.json["error"]["message"], f"message names the suspension: {b.json['error']['message']!r}")
    return "suspend 200; suspended signer → 401 W4_ERR_AUTHZ_DENIED"


def check_replay(ctx):
    node, key, admin = ctx["node"], ctx["key"], ctx["admin"]
    path = f"/v1/lct/{key.lct_id}/reinstate"
    body = compact_json({"reason": "python client replay test"})
    headers = signed_headers(admin, node.society, "POST", path, body)
    first = node.send("POST", path, body, dict(headers))
    expect(first.status == 200 and first.json["data"]["status"] == "active", f"first send: {first!r}")
    second = node.send("POST", path, body, dict(headers))
    expect_error(second, 409, "W4_ERR_PROTO_REPLAY", "identical second send")
    return "first 200, identical second → 409 W4_ERR_PROTO_REPLAY"


def check_problem_details(ctx):
    node, key, admin = ctx["node"], ctx["key"], ctx["admin"]
    path = f"/v1/lct/{key.lct_id}/suspend"
    body = compact_json({"reason": "bad signature test"})
    h = signed_headers(admin, node.society, "POST", path, body)
    # A well-formed signature by the admin key over a different canonical string.
    h["X-Signature"] = admin.sign(canonical_request(node.society, "POST", path + "?tampered", body, h["X-Nonce"], h["X-Timestamp"], admin.lct_id).encode())
    h["Accept"] = "application/problem+json"
    a = node.send("POST", path, body, h)
    expect(a.content_type == "application/problem+json", f"content-type {a.content_type!r}")
    expect(a.status == 401 and a.json["status"] == 401, f"status: {a!r}")
    expect(a.json["code"] == "W4_ERR_CRYPTO_VERIFY", f"code: {a!r}")
    for member in ("type", "title", "detail", "instance", "request_id"):
        expect(member in a.json, f"problem member {member} missing")
    expect(a.json["instance"] == path, "instance is the request path")
    canon = canonical_request(node.society, "POST", path, body, h["X-Nonce"], h["X-Timestamp"], admin.lct_id)
    expect(a.json.get("details", {}).get("canonical_request") == canon, "details.canonical_request is what we should have signed")
    return "401 application/problem+json code W4_ERR_CRYPTO_VERIFY"


CHECKS = [
    ("id vector (seed 0x07×32)", check_id_vector),
    ("worked example signature", check_worked_example),
    ("self-mint", check_self_mint),
    ("get and verify", check_get_and_verify),
    ("suspended signer refused", check_suspended_signer),
    ("replay refused", check_replay),
    ("problem details on bad signature", check_problem_details),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--node", required=True, help="base URL, e.g. http://127.0.0.1:18181")
    ap.add_argument("--admin-key", required=True, help="file with the admin's Ed25519 seed (64 hex characters)")
    args = ap.parse_args()
    ctx = {"node": Node(args.node), "admin": Key.from_file(args.admin_key), "key": Key.generate()}
    passed = failed = 0
    for name, fn in CHECKS:
        try:
            note = fn(ctx)
            passed += 1
            print(f"ok   {name}: {note}")
        except Failed as e:
            failed += 1
            print(f"FAIL {name}: {e}")
        except Exception as e:  # a crash in one check must not hide the others
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"python-client: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
