//! A serde pass that writes nothing and fails on any NaN or ±Infinity, wherever it is nested.
//!
//! serde_jcs refuses a non-finite float only at the top level; nested ones reach
//! serde_json, which writes `null`. RFC 8785 §3.2.2.3 requires an error instead,
//! so `canonical_json` runs this checker over the value first.

use serde::ser::{self, Serialize};
use std::fmt;

/// Why a value cannot be canonicalised: a non-finite float, or an error raised by a `Serialize` impl.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    fn non_finite() -> Self {
        Error("non-finite number (NaN or Infinity) cannot be canonicalised".to_owned())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// A `Serializer` that visits every value, produces no output and rejects non-finite floats.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checker;

fn check_float(x: f64) -> Result<(), Error> {
    if x.is_finite() { Ok(()) } else { Err(Error::non_finite()) }
}

impl ser::Serializer for Checker {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Checker;
    type SerializeTuple = Checker;
    type SerializeTupleStruct = Checker;
    type SerializeTupleVariant = Checker;
    type SerializeMap = Checker;
    type SerializeStruct = Checker;
    type SerializeStructVariant = Checker;

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        check_float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        check_float(v)
    }

    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Checker, Error> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Checker, Error> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Checker, Error> {
        Ok(self)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Checker, Error> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Checker, Error> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Checker, Error> {
        Ok(self)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Checker, Error> {
        Ok(self)
    }
}

impl ser::SerializeSeq for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTuple for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeMap for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        key.serialize(Checker)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStruct for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Checker {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Checker;
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Outer {
        name: &'static str,
        samples: Vec<f64>,
    }

    #[test]
    fn nan_in_vec_inside_struct_is_rejected() {
        let v = Outer { name: "a", samples: vec![1.0, f64::NAN] };
        let err = v.serialize(Checker).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("non-finite number (NaN or Infinity) cannot be canonicalised"));
    }

    #[test]
    fn infinity_in_map_is_rejected() {
        let m = BTreeMap::from([("a", 1.0_f32), ("b", f32::NEG_INFINITY)]);
        assert!(m.serialize(Checker).is_err());
        let m = BTreeMap::from([("x", Some(f64::INFINITY))]);
        assert!(m.serialize(Checker).is_err());
    }

    #[test]
    fn finite_values_pass() {
        let v = Outer { name: "a", samples: vec![0.0, -0.0, 4.5, f64::MAX, f64::MIN_POSITIVE] };
        assert!(v.serialize(Checker).is_ok());
        let m = BTreeMap::from([("a", vec![(1_u8, -2.5_f32)]), ("b", vec![])]);
        assert!(m.serialize(Checker).is_ok());
    }
}
