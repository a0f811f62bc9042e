#!/usr/bin/env python3
"""Verify a web4d ledger independently, from docs/api.md section 12 alone.

Needs Python 3.8+ and the `cryptography` package; the database is opened
read-only (stop the node first, or at least expect a snapshot):

    python3 tests/python/verify_ledger.py DATA_DIR/web4.db

For every row of `SELECT hash, record FROM ledger ORDER BY id` it checks that
the stored record is the JCS text of the wire record, recomputes

    payload_hash = "sha256:" + hex(sha256(JCS(payload)))
    header       = {author, seq, prev_hash, kind, payload_hash, law_hash, timestamp}
    signature    = Ed25519 by author over "web4:record:v1\\n" + JCS(header)
    hash         = "sha256:" + hex(sha256(JCS(header + {"signature"})))

and checks the signature, the stored hash, and the author's chain (seq from 1 by
one, prev_hash = the previous record's hash, sha256:0…0 for seq 1). The author's
key comes from the genesis payload (`members[].lct`) for `society.genesis`, else
from the `lcts` table; either way it must derive the author's LCT id. Finally
each chain's last record must match `chain_heads`.

Prints one line per problem, then `ledger-verify: N passed, M failed` (N records
verified; M failed records plus failed chain-head checks); exits 1 on any failure.
"""

import base64
import hashlib
import json
import math
import pathlib
import sqlite3
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO_HASH = "sha256:" + "0" * 64
RECORD_FIELDS = {"author", "seq", "prev_hash", "kind", "payload", "law_hash", "timestamp", "signature"}


class Problem(Exception):
    pass


# --------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise Problem(f"not unpadded base64url: {text!r}")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as e:
        raise Problem(f"not unpadded base64url: {text!r}: {e}")


def sha256_ref(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def lct_id_from_public_key(pk: bytes) -> str:
    """lct:web4:mb32:b + lowercase unpadded RFC 4648 base32 of sha256(raw 32-byte key)."""
    digest = hashlib.sha256(pk).digest()
    return "lct:web4:mb32:b" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


# --------------------------------------------------------------------------
# JCS (RFC 8785)
# --------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jcs_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise Problem("lone surrogate in string")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def es_number(x: float) -> str:
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(x):
        raise Problem(f"non-finite number {x!r}")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    # repr() gives the shortest digits that round-trip, as ECMAScript requires.
    mantissa, _, exp = repr(x).partition("e")
    int_part, _, frac = mantissa.partition(".")
    digits = int_part + frac
    point = len(int_part) + (int(exp) if exp else 0)  # value = 0.digits × 10^point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    if k == 1:
        return f"{digits}e{sign}{abs(e)}"
    return f"{digits[0]}.{digits[1:]}e{sign}{abs(e)}"


def _jcs(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        # Every JSON number is an IEEE 754 double in JCS.
        try:
            return es_number(float(value))
        except OverflowError:
            raise Problem(f"integer {value} is out of the double range")
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code units
        return "{" + ",".join(jcs_string(k) + ":" + _jcs(value[k]) for k in keys) + "}"
    raise Problem(f"cannot canonicalise a {type(value).__name__}")


def jcs(value) -> bytes:
    try:
        return _jcs(value).encode("utf-8")
    except UnicodeEncodeError as e:
        raise Problem(f"not encodable as UTF-8: {e}")


def jcs_self_test():
    """RFC 8785 appendix B samples and the string rules; a failure here is a bug in this script."""
    numbers = {
        0.0: "0", -0.0: "0", 5e-324: "5e-324", 1.7976931348623157e308: "1.7976931348623157e+308",
        9007199254740992.0: "9007199254740992", 295147905179352830000.0: "295147905179352830000",
        1e21: "1e+21", 1e-7: "1e-7", 1e-6: "0.000001", 0.5: "0.5", 333333333.3333333: "333333333.3333333",
        -1.5e-10: "-1.5e-10", 123.0: "123", 1e23: "1e+23", 4.35: "4.35", 0.002: "0.002",
    }
    for x, want in numbers.items():
        assert es_number(x) == want, (x, es_number(x), want)
    assert _jcs(10**21) == "1e+21"
    assert _jcs({"b": [1, "\u20ac\n\x1f\x7f\"/"], "a": None}) == '{"a":null,"b":[1,"\u20ac\\n\\u001f\x7f\\"/"]}'
    assert _jcs({"\u00e9": 1, "\U0001f600": 2, "\ufb01": 3}) == '{"\u00e9":1,"\U0001f600":2,"\ufb01":3}'


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


def public_key_of(record: dict, lcts: dict) -> bytes:
    author = record["author"]
    if record["kind"] == "society.genesis":
        members = record["payload"].get("members") if isinstance(record["payload"], dict) else None
        keys = [
            m["lct"]["binding"]["public_key"]
            for m in members or []
            if isinstance(m, dict) and isinstance(m.get("lct"), dict) and m["lct"].get("lct_id") == author
        ]
        if len(keys) != 1:
            raise Problem(f"genesis payload has {len(keys)} members with lct_id = author")
        text = keys[0]
    else:
        if author not in lcts:
            raise Problem(f"author {author} is not in the lcts table")
        text = lcts[author]
    pk = b64url_decode(text)
    if len(pk) != 32:
        raise Problem(f"author key is {len(pk)} bytes, not 32")
    if lct_id_from_public_key(pk) != author:
        raise Problem(f"author key {text} does not derive the author's LCT id")
    return pk


def verify_record(stored_hash: str, text: str, lcts: dict, chains: dict, seen: set) -> list:
    """Check one stored record; returns its problems. Advances the author's chain."""
    problems = []
    try:
        record = json.loads(text)
    except ValueError as e:
        return [f"record is not JSON: {e}"]
    if not isinstance(record, dict) or set(record) != RECORD_FIELDS:
        return [f"record members are {sorted(record) if isinstance(record, dict) else type(record).__name__}"]
    author, seq = record["author"], record["seq"]
    if not isinstance(author, str) or not isinstance(seq, int) or isinstance(seq, bool):
        return ["author is not a string or seq is not an integer"]
    try:
        if jcs(record).decode("utf-8") != text:
            problems.append("stored record is not its JCS text")

        ph = sha256_ref(jcs(record["payload"]))
        header = {
            "author": author,
            "seq": seq,
            "prev_hash": record["prev_hash"],
            "kind": record["kind"],
            "payload_hash": ph,
            "law_hash": record["law_hash"],
            "timestamp": record["timestamp"],
        }
        try:
            pk = public_key_of(record, lcts)
            sig = b64url_decode(record["signature"])
            Ed25519PublicKey.from_public_bytes(pk).verify(sig, b"web4:record:v1\n" + jcs(header))
        except InvalidSignature:
            problems.append("signature does not verify over web4:record:v1 + JCS(header)")
        except Problem as e:
            problems.append(f"signature not checked: {e}")

        record_hash = sha256_ref(jcs(dict(header, signature=record["signature"])))
        if record_hash != stored_hash:
            problems.append(f"hash column {stored_hash} != recomputed {record_hash}")
        if record_hash in seen:
            problems.append(f"record hash {record_hash} occurs twice")
        seen.add(record_hash)
    except Problem as e:
        problems.append(f"cannot canonicalise: {e}")
        record_hash = stored_hash

    want_seq, want_prev = chains.get(author, (1, ZERO_HASH))
    if seq != want_seq:
        problems.append(f"seq {seq}, expected {want_seq}")
    if record["prev_hash"] != want_prev:
        problems.append(f"prev_hash {record['prev_hash']} != previous record's hash {want_prev}")
    chains[author] = (seq + 1, record_hash)
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} WEB4_DB", file=sys.stderr)
        return 2
    jcs_self_test()
    uri = pathlib.Path(sys.argv[1]).resolve().as_uri() + "?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    lcts = dict(db.execute("SELECT lct_id, public_key FROM lcts"))
    heads = {a: (s, h) for a, s, h in db.execute("SELECT author, seq, hash FROM chain_heads")}

    passed = failed = 0
    chains, seen = {}, set()
    for row_id, stored_hash, text in db.execute("SELECT id, hash, record FROM ledger ORDER BY id"):
        problems = verify_record(stored_hash, text, lcts, chains, seen)
        for p in problems:
            print(f"FAIL ledger id {row_id}: {p}")
        if problems:
            failed += 1
        else:
            passed += 1

    for author in sorted(set(chains) | set(heads)):
        next_seq, last_hash = chains.get(author, (1, ZERO_HASH))
        if heads.get(author) != (next_seq - 1, last_hash):
            print(f"FAIL chain_heads for {author}: {heads.get(author)} != last record {(next_seq - 1, last_hash)}")
            failed += 1
    db.close()

    print(f"ledger-verify: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
