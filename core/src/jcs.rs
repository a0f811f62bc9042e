//! A fast RFC 8785 writer for `serde_json::Value`.
//!
//! Our documents have ASCII member names and safe integers, where JCS is simple:
//! members sorted by name (byte order equals UTF-16 order for ASCII), strings
//! escaped as serde_json does (which matches RFC 8785 §3.2.2.2), integers as
//! written, other numbers in ECMAScript form (ryu-js). Anything else — a
//! non-ASCII member name or an integer beyond ±2^53 — falls back to serde_jcs.

use serde_json::{Map, Value};

pub(crate) mod typed;

const MAX_SAFE: u64 = 1 << 53;

/// Why the fast path cannot be used (or the value cannot be canonicalised).
#[derive(Debug)]
pub(crate) enum Slow {
    Fallback,
    NonFinite,
    /// An integer beyond ±2^53: RFC 8785 writes numbers as IEEE doubles, so it
    /// would be silently rounded; we refuse instead (I-JSON, RFC 7493 §2.2).
    Inexact,
}

/// Write `v` in canonical form, or say why not.
pub(crate) fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), Slow> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                uint(u, out)?;
            } else if let Some(i) = n.as_i64() {
                int(i, out)?;
            } else {
                float(n.as_f64().ok_or(Slow::Fallback)?, out)?;
            }
        }
        Value::String(s) => string(s, out)?,
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out)?;
            }
            out.push(b']');
        }
        Value::Object(m) => object(m, out)?,
    }
    Ok(())
}

/// An unsigned integer as written, if a double holds it exactly.
fn uint(u: u64, out: &mut Vec<u8>) -> Result<(), Slow> {
    if u > MAX_SAFE {
        return large(itoa::Buffer::new().format(u), u as f64, out);
    }
    out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    Ok(())
}

/// A signed integer as written, if a double holds it exactly.
fn int(i: i64, out: &mut Vec<u8>) -> Result<(), Slow> {
    if i.unsigned_abs() > MAX_SAFE {
        return large(itoa::Buffer::new().format(i), i as f64, out);
    }
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    Ok(())
}

/// An integer beyond ±2^53 (`digits`, and `f`, the double nearest to it).
/// ECMAScript writes every double below 10^21 as plain digits (1e16 as
/// `10000000000000000`, 2^62 as `4611686018427388000`), which a peer reads
/// back as an integer: a record's author wrote a double, its peers read this.
/// When the nearest double is written as these very digits, they are that
/// double's canonical form, and author and peers write the same text. Any
/// other integer (2^53 + 1, `u64::MAX`) would be rounded: refused.
fn large(digits: &str, f: f64, out: &mut Vec<u8>) -> Result<(), Slow> {
    if f.is_finite() && ryu_js::Buffer::new().format_finite(f) == digits {
        out.extend_from_slice(digits.as_bytes());
        return Ok(());
    }
    Err(Slow::Inexact)
}

/// A finite double in ECMAScript form.
fn float(f: f64, out: &mut Vec<u8>) -> Result<(), Slow> {
    if !f.is_finite() {
        return Err(Slow::NonFinite);
    }
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    Ok(())
}

fn string(s: &str, out: &mut Vec<u8>) -> Result<(), Slow> {
    serde_json::to_writer(&mut *out, s).map_err(|_| Slow::Fallback)
}

fn object(m: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), Slow> {
    members(m, None, out)
}

/// Write the object `m` with one more member `name` whose value is already
/// canonical text (`raw`), as if it were part of `m`.
pub(crate) fn object_with(m: &Map<String, Value>, name: &str, raw: &[u8], out: &mut Vec<u8>) -> Result<(), Slow> {
    if m.contains_key(name) {
        return Err(Slow::Fallback);
    }
    members(m, Some((name, raw)), out)
}

/// The members of `m`, and `extra` (a name with canonical text) if any,
/// sorted by name.
fn members(m: &Map<String, Value>, extra: Option<(&str, &[u8])>, out: &mut Vec<u8>) -> Result<(), Slow> {
    if m.keys().map(String::as_str).chain(extra.map(|(k, _)| k)).any(|k| !k.is_ascii()) {
        return Err(Slow::Fallback);
    }
    let mut entries: Vec<(&str, Result<&Value, &[u8]>)> = m.iter().map(|(k, v)| (k.as_str(), Ok(v))).collect();
    entries.extend(extra.map(|(k, raw)| (k, Err(raw))));
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(k, out)?;
        out.push(b':');
        match v {
            Ok(v) => write(v, out)?,
            Err(raw) => out.extend_from_slice(raw),
        }
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(super) fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[ -~]{0,8}|.{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_path_equals_serde_jcs(v in arb_value()) {
            let reference = serde_jcs::to_vec(&v).unwrap();
            let mut out = Vec::new();
            match write(&v, &mut out) {
                Ok(()) => prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(reference).unwrap()),
                Err(Slow::Fallback) => {}
                Err(Slow::NonFinite) => prop_assert!(false, "finite input reported non-finite"),
                Err(Slow::Inexact) => {}
            }
        }
    }

    /// A double beyond 2^53 is written as digits, which a peer reads back as
    /// an integer: both canonicalise to the same text. Integers no double
    /// holds are still refused.
    #[test]
    fn a_large_double_read_back_as_an_integer_keeps_its_text() {
        for f in [1e16, -1e16, 9_007_199_254_740_994.0, 1.8e19, -4_611_686_018_427_387_904.0] {
            let mut written = Vec::new();
            write(&serde_json::json!({ "x": f }), &mut written).unwrap();
            let read: Value = serde_json::from_slice(&written).unwrap();
            assert!(read["x"].is_u64() || read["x"].is_i64(), "{read}");
            let mut again = Vec::new();
            write(&read, &mut again).unwrap();
            assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(written.clone()).unwrap());
            assert_eq!(written, serde_jcs::to_vec(&read).unwrap());
        }
        for v in [
            serde_json::json!(9_007_199_254_740_993u64),
            serde_json::json!(4_611_686_018_427_387_904u64),
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MAX),
        ] {
            assert!(matches!(write(&v, &mut Vec::new()), Err(Slow::Inexact)), "{v}");
        }
    }

    #[test]
    fn control_characters_and_unicode_strings() {
        let v = serde_json::json!({"b": "\u{1}\u{1f}\n\t\"\\/é€😀", "a": [1, -0.0, 1e21, 1.5e-7, 9007199254740992u64]});
        let mut out = Vec::new();
        write(&v, &mut out).unwrap();
        assert_eq!(out, serde_jcs::to_vec(&v).unwrap());
    }
}
