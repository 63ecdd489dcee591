//! Scalar types that accept whatever upstream actually sends (REFERENCE.md §2.5).
//!
//! Upstream documents `resource_size` as a string and sends a number, sends
//! `enterprise_project_id` as `0`, `null` for absent strings and lists, and JSON text
//! where an object could be. A response must never fail because of that, so each
//! newtype here takes every JSON type and keeps what makes sense: [`Text`] renders
//! numbers and booleans as text (and objects as JSON text), [`Int`] parses numeric
//! strings, [`Flag`] parses `"true"`/`1`, [`List`] treats `null` as empty. A scalar
//! that still makes no sense becomes "absent", never an error; a [`List`] that is
//! not a list (nor `null`) is an error (see [`super::dto`] for why).

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor},
};

/// A string field: `None` for `null`/absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub Option<String>);

/// An integer field: `None` for `null`/absent/non-numeric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int(pub Option<i64>);

/// A boolean field: `None` for `null`/absent/unrecognised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub Option<bool>);

/// A list field: empty for `null`/absent.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl Text {
    /// The text, or `""` when absent.
    pub fn into_string(self) -> String {
        self.0.unwrap_or_default()
    }
    /// The text, borrowed, or `None`.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl Int {
    /// The value as an `i32`, if present and in range.
    pub fn as_i32(self) -> Option<i32> {
        self.0.and_then(|v| i32::try_from(v).ok())
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(Some(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(Some(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
        // An object where text is documented (`extra_info`): keep it as JSON text.
        let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Text(Some(v.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
        let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Text(Some(v.to_string())))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Int;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
        Ok(Int(Some(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
        Ok(Int(i64::try_from(v).ok()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
        // `as` saturates; only finite values in range are kept.
        let ok = v.is_finite() && v.abs() < 9.0e18;
        Ok(Int(ok.then_some(v.trunc() as i64)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
        let v = v.trim();
        if let Ok(i) = v.parse::<i64>() {
            return Ok(Int(Some(i)));
        }
        match v.parse::<f64>() {
            Ok(f) => self.visit_f64(f),
            Err(_) => Ok(Int(None)),
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Int, E> {
        Ok(Int(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Int, E> {
        Ok(Int(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Int, E> {
        Ok(Int(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Int, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Int(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Int, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Int(None))
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor)
    }
}

struct FlagVisitor;

impl<'de> Visitor<'de> for FlagVisitor {
    type Value = Flag;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
        Ok(Flag(Some(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
        Ok(Flag(match v {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(-1))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Flag, E> {
        Ok(Flag(None))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
        Ok(Flag(match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }))
    }
    fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
        Ok(Flag(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
        Ok(Flag(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flag, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Flag(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Flag, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Flag(None))
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FlagVisitor)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(List(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Probe {
        t: Text,
        i: Int,
        f: Flag,
        l: List<u8>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn text_takes_any_scalar() {
        assert_eq!(probe(r#"{"t":"a"}"#).t.0.as_deref(), Some("a"));
        assert_eq!(probe(r#"{"t":40}"#).t.0.as_deref(), Some("40"));
        assert_eq!(probe(r#"{"t":0}"#).t.0.as_deref(), Some("0"));
        assert_eq!(probe(r#"{"t":true}"#).t.0.as_deref(), Some("true"));
        assert_eq!(probe(r#"{"t":null}"#).t.0, None);
        assert_eq!(probe(r#"{}"#).t.0, None);
        assert_eq!(probe(r#"{"t":{"a":1}}"#).t.0.as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn int_takes_numbers_and_numeric_text() {
        assert_eq!(probe(r#"{"i":40}"#).i.0, Some(40));
        assert_eq!(probe(r#"{"i":"40"}"#).i.0, Some(40));
        assert_eq!(probe(r#"{"i":" 7 "}"#).i.0, Some(7));
        assert_eq!(probe(r#"{"i":12.0}"#).i.0, Some(12));
        assert_eq!(probe(r#"{"i":"x"}"#).i.0, None);
        assert_eq!(probe(r#"{"i":""}"#).i.0, None);
        assert_eq!(probe(r#"{"i":null}"#).i.0, None);
        assert_eq!(probe(r#"{"i":{"a":[1]}}"#).i.0, None);
        assert_eq!(Int(Some(1 << 40)).as_i32(), None);
    }

    #[test]
    fn flag_takes_bools_and_text() {
        assert_eq!(probe(r#"{"f":true}"#).f.0, Some(true));
        assert_eq!(probe(r#"{"f":"false"}"#).f.0, Some(false));
        assert_eq!(probe(r#"{"f":1}"#).f.0, Some(true));
        assert_eq!(probe(r#"{"f":null}"#).f.0, None);
        assert_eq!(probe(r#"{"f":"maybe"}"#).f.0, None);
    }

    #[test]
    fn list_takes_null() {
        assert!(probe(r#"{"l":null}"#).l.0.is_empty());
        assert_eq!(probe(r#"{"l":[1,2]}"#).l.0, vec![1, 2]);
    }
}
