//! An event object as validation reads it: the eight fields it checks, each as the JSON type
//! orjson would have given Python, strings borrowed from the record where they have no escapes.
//!
//! Everything else in the document is still parsed (not skipped) so that what serde refuses
//! (a number that overflows to infinity, a lone surrogate, nesting past serde's limit) is
//! refused wherever it sits, as orjson refuses it. A key given twice keeps its last value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value, reduced to what validation distinguishes.
#[derive(Debug, Default, PartialEq)]
pub enum Field<'a> {
    #[default]
    Missing,
    Null,
    Bool,
    /// An integer: orjson gives Python an int for anything within 64 bits.
    Int(i128),
    /// `-0`, `-0.0` or an underflow to it: serde cannot tell `-0` (orjson: the int 0) apart.
    NegativeZero,
    Float,
    Str(Cow<'a, str>),
    Array,
    Object,
}

/// The fields of an event object that validation reads.
#[derive(Debug, Default, PartialEq)]
pub struct Fields<'a> {
    pub event_id: Field<'a>,
    pub network: Field<'a>,
    pub actor_id: Field<'a>,
    pub target_id: Field<'a>,
    pub post_id: Field<'a>,
    pub ts: Field<'a>,
    pub kind: Field<'a>,
    pub topics: Topics<'a>,
}

/// The `topics` field: an array keeps its items (as `Field`s), anything else only its type.
#[derive(Debug, Default, PartialEq)]
pub enum Topics<'a> {
    #[default]
    Missing,
    List(Vec<Field<'a>>),
    Other(Field<'a>),
}

struct TopicsVisitor;

impl<'de> Visitor<'de> for TopicsVisitor {
    type Value = Topics<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Topics<'de>, E> {
        Ok(Topics::Other(Field::Null))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Topics<'de>, E> {
        Ok(Topics::Other(Field::Bool))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Topics<'de>, E> {
        Ok(Topics::Other(Field::Int(i128::from(v))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Topics<'de>, E> {
        Ok(Topics::Other(Field::Int(i128::from(v))))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Topics<'de>, E> {
        Ok(Topics::Other(Field::Float))
    }
    fn visit_str<E>(self, _: &str) -> Result<Topics<'de>, E> {
        Ok(Topics::Other(Field::Str(Cow::Borrowed(""))))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Topics<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Field<'de>>()? {
            items.push(item);
        }
        Ok(Topics::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Topics<'de>, A::Error> {
        FieldVisitor.visit_map(map).map(Topics::Other)
    }
}

impl<'de> Deserialize<'de> for Topics<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopicsVisitor)
    }
}

/// A decoded document: an object's fields, or any other value.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // lives on the stack for one event; boxing costs an allocation
pub enum Doc<'a> {
    Object(Fields<'a>),
    Other,
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Field<'de>, E> {
        Ok(Field::Bool)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(Field::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
        Ok(if v == 0.0 && v.is_sign_negative() {
            Field::NegativeZero
        } else {
            Field::Float
        })
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<Field<'de>>()?.is_some() {}
        Ok(Field::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<Field<'de>, Field<'de>>()?.is_some() {}
        Ok(Field::Object)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Doc<'de>, E> {
        Ok(Doc::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Doc<'de>, E> {
        Ok(Doc::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Doc<'de>, A::Error> {
        FieldVisitor.visit_seq(seq).map(|_| Doc::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Field<'de>>()? {
            let Field::Str(key) = key else {
                return Err(de::Error::custom("object keys are strings"));
            };
            let slot = match key.as_ref() {
                "event_id" => &mut fields.event_id,
                "network" => &mut fields.network,
                "actor_id" => &mut fields.actor_id,
                "target_id" => &mut fields.target_id,
                "post_id" => &mut fields.post_id,
                "ts" => &mut fields.ts,
                "kind" => &mut fields.kind,
                "topics" => {
                    fields.topics = map.next_value()?;
                    continue;
                }
                _ => {
                    map.next_value::<Field<'de>>()?;
                    continue;
                }
            };
            *slot = map.next_value()?;
        }
        Ok(Doc::Object(fields))
    }
}

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Option<Doc<'_>> {
        serde_json::from_str(json).ok()
    }

    #[test]
    fn fields_keep_their_json_type_and_the_last_duplicate() {
        let Some(Doc::Object(fields)) =
            doc(r#"{"ts":1,"ts":-0,"event_id":"a\"b","kind":null,"x":[{"y":1.5}]}"#)
        else {
            panic!("not an object")
        };
        assert_eq!(fields.ts, Field::NegativeZero);
        assert_eq!(fields.event_id, Field::Str(Cow::Owned("a\"b".into())));
        assert_eq!(fields.kind, Field::Null);
        assert_eq!(fields.network, Field::Missing);
    }

    #[test]
    fn what_orjson_refuses_anywhere_in_the_document_is_refused() {
        assert_eq!(doc(r#"{"x":[1e400]}"#), None);
        assert_eq!(doc(r#"{"x":{"\ud800":1}}"#), None);
        assert_eq!(
            doc(&format!(
                "{{\"x\":{}1{}}}",
                "[".repeat(200),
                "]".repeat(200)
            )),
            None
        );
        assert_eq!(doc("[1, 2]"), Some(Doc::Other));
    }
}
