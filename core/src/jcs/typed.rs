//! RFC 8785 canonical JSON written straight from a `Serialize` type, without
//! building a `serde_json::Value` first.
//!
//! The contract is narrow: when [`write`] succeeds, its bytes are exactly what
//! `serde_json::to_value` followed by the `Value` writer gives. Whatever this
//! writer cannot promise that for — a non-ASCII or non-string member name, a
//! duplicate member, an integer beyond ±2^53, a non-finite or `f32` number,
//! bytes, 128-bit integers, `RawValue` — makes it give up with
//! [`Slow::Fallback`], and the caller takes the `Value` path, which decides.
//!
//! Objects: each member's value is written into the object's scratch buffer
//! as it comes; when the object ends, the members are copied out sorted by
//! name (byte order equals UTF-16 order for ASCII names).

use super::Slow;
use serde::ser::{self, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Write `v` in canonical form. `splice`: a top-level member whose canonical
/// text is already known; it replaces that member of the object `v` (or is
/// added to it), and the member's own value is not serialised.
pub(crate) fn write<T: Serialize + ?Sized>(
    v: &T,
    splice: Option<(&str, &[u8])>,
    out: &mut Vec<u8>,
) -> Result<(), Slow> {
    let start = out.len();
    let mut r = v.serialize(Ser { out: &mut *out, splice }).map_err(|e| e.0);
    if r.is_ok() && splice.is_some() && out.get(start) != Some(&b'{') {
        // Only an object can take the member.
        r = Err(Slow::Fallback);
    }
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// The serializer's error: always "take the `Value` path".
#[derive(Debug)]
pub(crate) struct Error(Slow);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not on the typed canonical path")
    }
}
impl std::error::Error for Error {}
impl ser::Error for Error {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Error(Slow::Fallback)
    }
}

fn fallback<T>() -> Result<T, Error> {
    Err(Error(Slow::Fallback))
}

struct Ser<'a, 'b> {
    out: &'a mut Vec<u8>,
    /// Only ever set for the top-level value.
    splice: Option<(&'b str, &'b [u8])>,
}

/// Numbers the `Value` writer would refuse (beyond ±2^53, non-finite) are
/// left to it, so that it gives its own error.
fn number(written: Result<(), Slow>) -> Result<(), Error> {
    written.map_err(|_| Error(Slow::Fallback))
}

fn string(s: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    super::string(s, out).map_err(Error)
}

/// `serialize_<integer>` methods: widened and written by the shared writer.
macro_rules! numbers {
    ($($method:ident: $t:ty => $write:ident),*) => {$(
        fn $method(self, v: $t) -> Result<(), Error> {
            number(super::$write(v.into(), self.out))
        }
    )*};
}

impl<'a, 'b> ser::Serializer for Ser<'a, 'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Object<'a, 'b>;
    type SerializeStruct = Object<'a, 'b>;
    type SerializeStructVariant = Object<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    numbers!(
        serialize_i8: i8 => int,
        serialize_i16: i16 => int,
        serialize_i32: i32 => int,
        serialize_i64: i64 => int,
        serialize_u8: u8 => uint,
        serialize_u16: u16 => uint,
        serialize_u32: u32 => uint,
        serialize_u64: u64 => uint
    );
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        fallback()
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        number(super::float(v, self.out))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        string(v.encode_utf8(&mut [0; 4]), self.out)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        string(v, self.out)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        fallback()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        string(variant, self.out)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        // `{"variant": v}`: one member, nothing to sort.
        if !variant.is_ascii() || self.splice.is_some() {
            return fallback();
        }
        self.out.push(b'{');
        string(variant, self.out)?;
        self.out.push(b':');
        v.serialize(Ser { out: &mut *self.out, splice: None })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Error> {
        self.out.push(b'[');
        Ok(Seq { out: self.out, first: true, variant: false })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a>, Error> {
        if !variant.is_ascii() || self.splice.is_some() {
            return fallback();
        }
        self.out.push(b'{');
        string(variant, self.out)?;
        self.out.extend_from_slice(b":[");
        Ok(Seq { out: self.out, first: true, variant: true })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a, 'b>, Error> {
        Ok(Object::new(self.out, self.splice, len.unwrap_or(8), None))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Object<'a, 'b>, Error> {
        // serde_json's own tokens (`RawValue`, arbitrary-precision numbers)
        // are structs that `to_value` turns into something else.
        if name.starts_with("$serde_json") {
            return fallback();
        }
        Ok(Object::new(self.out, self.splice, len, None))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'a, 'b>, Error> {
        if !variant.is_ascii() || self.splice.is_some() {
            return fallback();
        }
        Ok(Object::new(self.out, None, len, Some(variant)))
    }
}

/// An array (or a tuple variant's `{"variant":[…]}`): elements in order.
pub(crate) struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    variant: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        v.serialize(Ser { out: &mut *self.out, splice: None })
    }
    fn finish(self) -> Result<(), Error> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// The four sequence traits, all the same for an array.
macro_rules! seq_traits {
    ($($tr:ident :: $method:ident),*) => {$(
        impl ser::$tr for Seq<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                self.element(v)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}
seq_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// An object: members written into `buf` as they come, sorted at the end.
pub(crate) struct Object<'a, 'b> {
    out: &'a mut Vec<u8>,
    splice: Option<(&'b str, &'b [u8])>,
    /// The struct variant's name, for `{"variant":{…}}`.
    variant: Option<&'static str>,
    buf: Vec<u8>,
    /// Name and the range of its canonical value in `buf`; `None` for the
    /// spliced member.
    members: Vec<(Cow<'static, str>, Option<std::ops::Range<usize>>)>,
    /// A map key waiting for its value.
    key: Option<String>,
}

impl<'a, 'b> Object<'a, 'b> {
    fn new(
        out: &'a mut Vec<u8>,
        splice: Option<(&'b str, &'b [u8])>,
        len: usize,
        variant: Option<&'static str>,
    ) -> Self {
        Object {
            out,
            splice,
            variant,
            buf: Vec::with_capacity(64 * len.min(64)),
            members: Vec::with_capacity(len.min(64) + 1),
            key: None,
        }
    }

    fn member<T: Serialize + ?Sized>(&mut self, name: Cow<'static, str>, v: &T) -> Result<(), Error> {
        if !name.is_ascii() {
            return fallback();
        }
        if self.splice.is_some_and(|(s, _)| name == s) {
            self.members.push((name, None));
            return Ok(());
        }
        let start = self.buf.len();
        v.serialize(Ser { out: &mut self.buf, splice: None })?;
        self.members.push((name, Some(start..self.buf.len())));
        Ok(())
    }

    fn finish(mut self) -> Result<(), Error> {
        if let Some((name, _)) = self.splice {
            if !name.is_ascii() {
                return fallback();
            }
            if !self.members.iter().any(|(n, _)| *n == name) {
                self.members.push((Cow::Owned(name.to_owned()), None));
            }
        }
        self.members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        if self.members.windows(2).any(|w| w[0].0 == w[1].0) {
            // A `Value` object would keep only the last; leave that to it.
            return fallback();
        }
        let out = self.out;
        if let Some(variant) = self.variant {
            out.push(b'{');
            string(variant, out)?;
            out.push(b':');
        }
        out.reserve(self.buf.len() + 16 * self.members.len() + 2);
        out.push(b'{');
        for (i, (name, range)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(name, out)?;
            out.push(b':');
            match range {
                Some(r) => out.extend_from_slice(&self.buf[r.clone()]),
                None => out.extend_from_slice(self.splice.map_or(&b"null"[..], |(_, raw)| raw)),
            }
        }
        out.push(b'}');
        if self.variant.is_some() {
            out.push(b'}');
        }
        Ok(())
    }
}

/// A struct and a struct variant's fields are members alike.
macro_rules! struct_traits {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Object<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, v: &T) -> Result<(), Error> {
                self.member(Cow::Borrowed(name), v)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}
struct_traits!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Object<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(KeySer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let Some(key) = self.key.take() else { return fallback() };
        self.member(Cow::Owned(key), v)
    }
    fn end(self) -> Result<(), Error> {
        if self.key.is_some() {
            return fallback();
        }
        self.finish()
    }
}

/// Map keys: strings only (what `to_value` turns other keys into is left to it).
struct KeySer;

/// `serialize_<type>` methods of [`KeySer`] that refuse their key.
macro_rules! refuse_keys {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, _: $t) -> Result<String, Error> {
            fallback()
        }
    )*};
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = ser::Impossible<String, Error>;
    type SerializeTuple = ser::Impossible<String, Error>;
    type SerializeTupleStruct = ser::Impossible<String, Error>;
    type SerializeTupleVariant = ser::Impossible<String, Error>;
    type SerializeMap = ser::Impossible<String, Error>;
    type SerializeStruct = ser::Impossible<String, Error>;
    type SerializeStructVariant = ser::Impossible<String, Error>;

    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<String, Error> {
        v.serialize(self)
    }
    refuse_keys!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_char: char,
        serialize_bytes: &[u8],
        serialize_unit_struct: &'static str
    );
    fn serialize_none(self) -> Result<String, Error> {
        fallback()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Error> {
        fallback()
    }
    fn serialize_unit(self) -> Result<String, Error> {
        fallback()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<String, Error> {
        fallback()
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        fallback()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        fallback()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        fallback()
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        fallback()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        fallback()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        fallback()
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        fallback()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        fallback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::Value;
    use std::collections::{BTreeMap, HashMap};

    /// What the `Value` path gives, or `None` when it refuses.
    fn via_value<T: Serialize>(v: &T) -> Option<Vec<u8>> {
        crate::crypto::canonical_value(&serde_json::to_value(v).ok()?).ok()
    }

    fn typed<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Slow> {
        let mut out = b"prefix".to_vec();
        write(v, None, &mut out)?;
        Ok(out.split_off(6))
    }

    #[derive(Serialize, Clone, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Wrapped(u32),
        Pair(i64, String),
        Shaped { z: bool, a: Option<f64> },
    }

    #[derive(Serialize, Clone, Debug)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        One { b: u8, a: String },
        Two(Inner),
    }

    #[derive(Serialize, Clone, Debug)]
    struct Inner {
        zeta: Vec<f64>,
        alpha: HashMap<String, i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        maybe: Option<String>,
        c: char,
    }

    #[derive(Serialize, Clone, Debug)]
    struct Doc {
        name: String,
        count: u64,
        delta: i64,
        score: f64,
        kind: Kind,
        tagged: Tagged,
        inner: Inner,
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
        raw: Value,
        unit: (),
        tuple: (u8, String),
        evidence: Option<Inner>,
    }

    fn arb_inner() -> impl Strategy<Value = Inner> {
        (
            prop::collection::vec(prop_oneof![4 => -1e6f64..1e6, 1 => any::<f64>()], 0..4),
            prop::collection::hash_map(
                prop_oneof![8 => "[a-z]{0,3}", 1 => ".{0,2}"],
                prop_oneof![8 => -1000i64..1000, 1 => any::<i64>()],
                0..4,
            ),
            prop::option::of(".{0,6}"),
            any::<char>(),
        )
            .prop_map(|(zeta, alpha, maybe, c)| Inner { zeta, alpha, maybe, c })
    }

    fn arb_doc() -> impl Strategy<Value = Doc> {
        let kind = prop_oneof![
            Just(Kind::Plain),
            any::<u32>().prop_map(Kind::Wrapped),
            (-1000i64..1000, ".{0,4}").prop_map(|(a, b)| Kind::Pair(a, b)),
            (any::<bool>(), prop::option::of(-1e3f64..1e3)).prop_map(|(z, a)| Kind::Shaped { z, a }),
        ];
        let tagged = prop_oneof![
            (any::<u8>(), ".{0,4}").prop_map(|(b, a)| Tagged::One { b, a }),
            arb_inner().prop_map(Tagged::Two),
        ];
        let extra = prop::collection::btree_map(
            prop_oneof![8 => "[a-z_]{1,6}", 1 => ".{1,3}"],
            prop_oneof![Just(Value::Null), any::<i32>().prop_map(Value::from), ".{0,4}".prop_map(Value::from)],
            0..3,
        );
        (
            (
                ".{0,8}",
                prop_oneof![1 => any::<u64>(), 8 => 0u64..1000],
                prop_oneof![1 => any::<i64>(), 8 => -1000i64..1000],
                prop_oneof![1 => any::<f64>(), 8 => -1.0f64..1.0],
            ),
            (kind, tagged, arb_inner(), extra),
            (
                prop_oneof![Just(Value::Null), any::<f64>().prop_map(Value::from)],
                any::<u8>(),
                prop::option::of(arb_inner()),
            ),
        )
            .prop_map(|((name, count, delta, score), (kind, tagged, inner, extra), (raw, t, evidence))| Doc {
                name,
                count,
                delta,
                score,
                kind,
                tagged,
                inner,
                extra,
                raw,
                unit: (),
                tuple: (t, "t".into()),
                evidence,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whenever the typed path answers, it answers what the `Value` path does.
        #[test]
        fn typed_documents_equal_the_value_path(doc in arb_doc()) {
            if let Ok(bytes) = typed(&doc) {
                prop_assert_eq!(Some(bytes), via_value(&doc));
            }
        }

        #[test]
        fn typed_values_equal_the_value_path(v in super::super::tests::arb_value()) {
            if let Ok(bytes) = typed(&v) {
                prop_assert_eq!(Some(bytes), via_value(&v));
            }
        }

        /// A spliced member gives the text of the whole document with that
        /// member canonicalised in place.
        #[test]
        fn a_spliced_member_equals_the_whole(doc in arb_doc()) {
            let Some(whole) = via_value(&doc) else { return Ok(()) };
            let Some(member) = via_value(&doc.evidence) else { return Ok(()) };
            let mut out = Vec::new();
            if write(&doc, Some(("evidence", &member)), &mut out).is_ok() {
                prop_assert_eq!(out, whole);
            }
        }
    }

    /// The generators above reach the typed path often enough for the
    /// comparisons to mean something.
    #[test]
    fn the_generated_documents_mostly_take_the_typed_path() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut docs, mut values) = (0, 0);
        for _ in 0..1000 {
            let doc = arb_doc().new_tree(&mut runner).unwrap().current();
            docs += usize::from(typed(&doc).is_ok());
            let v = super::super::tests::arb_value().new_tree(&mut runner).unwrap().current();
            values += usize::from(typed(&v).is_ok());
        }
        assert!(docs >= 200 && values >= 200, "typed path taken by {docs} documents and {values} values of 1000");
    }

    #[test]
    fn ordinary_documents_take_the_typed_path() {
        let mut alpha = HashMap::new();
        alpha.insert("b".to_owned(), -3);
        alpha.insert("a".to_owned(), 9_007_199_254_740_992);
        let inner = Inner { zeta: vec![1.0, -0.0, 1e21, 0.1], alpha, maybe: Some("é\"\n".into()), c: '😀' };
        let doc = Doc {
            name: "n".into(),
            count: 7,
            delta: -7,
            score: 0.5,
            kind: Kind::Shaped { z: true, a: None },
            tagged: Tagged::Two(inner.clone()),
            inner: inner.clone(),
            extra: [("x_extra".to_owned(), Value::from(1))].into_iter().collect(),
            raw: serde_json::json!({"b": [1, {"d": null, "c": 2.5}], "a": "s"}),
            unit: (),
            tuple: (1, "t".into()),
            evidence: None,
        };
        let bytes = typed(&doc).unwrap();
        assert_eq!(Some(bytes.clone()), via_value(&doc));
        assert_eq!(bytes, serde_jcs::to_vec(&doc).unwrap());
        for kind in [Kind::Plain, Kind::Wrapped(3), Kind::Pair(-1, "p".into())] {
            assert_eq!(typed(&kind).ok(), via_value(&kind));
        }
        assert_eq!(typed(&Tagged::One { b: 1, a: "a".into() }).ok(), via_value(&Tagged::One { b: 1, a: "a".into() }));
    }

    #[test]
    fn what_it_cannot_promise_is_left_to_the_value_path() {
        #[derive(Serialize)]
        struct Renamed {
            #[serde(rename = "é")]
            e: u8,
        }
        #[derive(Serialize)]
        struct Dup {
            a: u8,
            #[serde(flatten)]
            more: BTreeMap<String, u8>,
        }
        let mut keyed = HashMap::new();
        keyed.insert(1u8, 2u8);
        let out = &mut Vec::new();
        assert!(matches!(write(&u64::MAX, None, out), Err(Slow::Fallback)));
        assert!(matches!(write(&f64::NAN, None, out), Err(Slow::Fallback)));
        assert!(matches!(write(&vec![1.0, f64::INFINITY], None, out), Err(Slow::Fallback)));
        assert!(matches!(write(&1.5f32, None, out), Err(Slow::Fallback)));
        assert!(matches!(write(&Renamed { e: 1 }, None, out), Err(Slow::Fallback)));
        assert!(matches!(write(&keyed, None, out), Err(Slow::Fallback)));
        let dup = Dup { a: 1, more: [("a".to_owned(), 2)].into_iter().collect() };
        assert!(matches!(write(&dup, None, out), Err(Slow::Fallback)));
        // What `RawValue` serialises as: `to_value` parses its text instead.
        struct Raw;
        impl Serialize for Raw {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeStruct;
                let mut st = s.serialize_struct("$serde_json::private::RawValue", 1)?;
                st.serialize_field("$serde_json::private::RawValue", r#"{"b":1,"a":2}"#)?;
                st.end()
            }
        }
        assert!(matches!(write(&Raw, None, out), Err(Slow::Fallback)));
        assert!(matches!(write(&vec![Raw], None, out), Err(Slow::Fallback)));
        // A failed attempt leaves nothing behind.
        assert!(out.is_empty());
        // Only an object takes a spliced member.
        assert!(matches!(write(&"text", Some(("m", b"1")), out), Err(Slow::Fallback)));
        assert!(matches!(write(&vec![1], Some(("m", b"1")), out), Err(Slow::Fallback)));
        // The public entry still refuses non-finite numbers and big integers.
        assert!(crate::crypto::canonical_json(&vec![f64::NAN]).is_err());
        assert!(crate::crypto::canonical_json(&u64::MAX).is_err());
        assert_eq!(crate::crypto::canonical_json(&dup).unwrap(), br#"{"a":2}"#);
    }

    #[test]
    fn a_spliced_member_is_added_when_absent() {
        let mut m = BTreeMap::new();
        m.insert("z", 1);
        m.insert("a", 2);
        let mut out = Vec::new();
        write(&m, Some(("m", br#"{"k":true}"#)), &mut out).unwrap();
        assert_eq!(out, br#"{"a":2,"m":{"k":true},"z":1}"#);
    }
}
