//! Decoding and validating record values: `app/scoring/events.py` and `app/step/plan.py`'s triage.
//!
//! The reasons are the Python model's strings, checked in the same order. What this parser
//! cannot judge exactly is `Verdict::Defer`red to the Python reference: JSON that serde refuses
//! (orjson's own message is the reason, and a document orjson accepts must be judged the Python
//! way), and a `ts` of `-0.0`, which orjson reads as the integer 0 when it was written `-0`.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::json::{Doc, Field, Fields, Topics};
use crate::signals::Kind;

pub const ENVELOPE_MAX_EVENTS: usize = 500;
/// Most distinct topics one event may name (`MAX_TOPICS`).
pub const MAX_TOPICS: usize = 5;

/// What makes an event acceptable (`EventRules`).
#[derive(Clone, Debug)]
pub struct Rules {
    pub horizon_ms: i64,
    pub max_future_ms: i64,
    pub max_id_len: usize,
}

/// One valid engagement (`EngagementEvent`), its strings borrowed from the record if it can.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub kind: Kind,
    pub network: Cow<'a, str>,
    pub actor_id: Cow<'a, str>,
    pub target_id: Cow<'a, str>,
    pub post_id: Option<Cow<'a, str>>,
    pub ts_ms: i64,
    /// Distinct topic slugs in first-seen order.
    pub topics: Vec<Cow<'a, str>>,
}

/// The judgement on one event.
#[derive(Debug, PartialEq)]
pub enum Verdict<'a> {
    Valid(Event<'a>),
    Invalid(String),
    Defer,
}

/// `validate_event`: one decoded JSON value against the rules, at `now_ms`.
pub fn validate<'a>(doc: Doc<'a>, kind: Kind, now_ms: i64, rules: &Rules) -> Verdict<'a> {
    let Doc::Object(fields) = doc else {
        return Verdict::Invalid("not an object".into());
    };
    match check(fields, kind, now_ms, rules) {
        Ok(Some(event)) => Verdict::Valid(event),
        Ok(None) => Verdict::Defer,
        Err(reason) => Verdict::Invalid(reason),
    }
}

fn check<'a>(
    fields: Fields<'a>,
    kind: Kind,
    now_ms: i64,
    rules: &Rules,
) -> Result<Option<Event<'a>>, String> {
    let event_id = id_field(fields.event_id, "event_id", rules.max_id_len)?;
    let network = match fields.network {
        Field::Missing => return Err("missing field: network".into()),
        Field::Str(network) => network,
        _ => return Err("wrong type: network".into()),
    };
    if !is_network(&network) {
        return Err("invalid network".into());
    }
    let topics = topics_field(fields.topics)?;
    let actor_id = id_field(fields.actor_id, "actor_id", rules.max_id_len)?;
    let target_id = id_field(fields.target_id, "target_id", rules.max_id_len)?;
    let post_id = match fields.post_id {
        Field::Missing => return Err("missing field: post_id".into()),
        Field::Null => None,
        Field::Str(post_id) if post_id.is_empty() => return Err("empty id: post_id".into()),
        Field::Str(post_id) if post_id.chars().count() > rules.max_id_len => {
            return Err("id too long: post_id".into());
        }
        Field::Str(post_id) => Some(post_id),
        _ => return Err("wrong type: post_id".into()),
    };
    // Wide enough for any integer JSON holds, compared exactly as Python's ints are.
    let ts = match fields.ts {
        Field::Missing => return Err("missing field: ts".into()),
        Field::Int(ts) => ts,
        Field::NegativeZero => return Ok(None),
        _ => return Err("wrong type: ts".into()),
    };
    if ts > i128::from(now_ms) + i128::from(rules.max_future_ms) {
        return Err("ts in the future".into());
    }
    if ts < i128::from(now_ms) - i128::from(rules.horizon_ms) {
        return Err("ts older than horizon".into());
    }
    if actor_id == target_id {
        return Err("self-engagement".into());
    }
    Ok(Some(Event {
        event_id,
        kind,
        network,
        actor_id,
        target_id,
        post_id,
        ts_ms: i64::try_from(ts).expect("ts lies within the horizon of an i64 now"),
        topics,
    }))
}

/// `_topics`: absent or null is none; a list of slugs, every item checked before the count of
/// distinct ones.
fn topics_field(field: Topics<'_>) -> Result<Vec<Cow<'_, str>>, String> {
    let items = match field {
        Topics::Missing | Topics::Other(Field::Null) => return Ok(Vec::new()),
        Topics::Other(_) => return Err("wrong type: topics".into()),
        Topics::List(items) => items,
    };
    let mut topics: Vec<Cow<'_, str>> = Vec::new();
    let mut slugs = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Field::Str(topic) if is_network(&topic) => slugs.push(topic),
            Field::Str(_) => return Err("invalid topic".into()),
            _ => return Err("wrong type: topics".into()),
        }
    }
    for topic in slugs {
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    if topics.len() > MAX_TOPICS {
        return Err("too many topics".into());
    }
    Ok(topics)
}

fn id_field<'a>(field: Field<'a>, name: &str, max_len: usize) -> Result<Cow<'a, str>, String> {
    match field {
        Field::Missing => Err(format!("missing field: {name}")),
        Field::Str(value) if value.is_empty() => Err(format!("empty id: {name}")),
        Field::Str(value) if value.chars().count() > max_len => Err(format!("id too long: {name}")),
        Field::Str(value) => Ok(value),
        _ => Err(format!("wrong type: {name}")),
    }
}

/// `NETWORK_PATTERN.fullmatch`: `[a-z0-9][a-z0-9_-]{0,31}` (network and topic slugs).
fn is_network(network: &str) -> bool {
    let bytes = network.as_bytes();
    let slug = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 32
        && slug(&bytes[0])
        && bytes[1..]
            .iter()
            .all(|b| slug(b) || *b == b'_' || *b == b'-')
}

/// `envelope_item_kind`: an envelope item names its kind, and it is its topic's.
pub fn envelope_item_kind(doc: &Doc<'_>, topic_kind: Kind) -> Result<(), String> {
    let Doc::Object(fields) = doc else {
        return Err("not an object".into());
    };
    match &fields.kind {
        Field::Missing => Err("missing field: kind".into()),
        Field::Str(kind) if kind == topic_kind.name() => Ok(()),
        _ => Err(format!(
            "kind is not '{}' (the topic's kind)",
            topic_kind.name()
        )),
    }
}

/// A record value, decoded: one event, or the raw items of an envelope.
#[allow(clippy::large_enum_variant)] // one per record value, on the stack; as `Doc`
pub enum Decoded<'a> {
    One(Doc<'a>),
    Envelope(Vec<&'a RawValue>),
}

/// Decode a record value; None when serde refuses it (the Python reference then judges it).
pub fn decode(value: &[u8]) -> Option<Decoded<'_>> {
    let first = value
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first == Some(&b'[') {
        serde_json::from_slice(value).ok().map(Decoded::Envelope)
    } else {
        serde_json::from_slice(value).ok().map(Decoded::One)
    }
}

/// Kafka's default partitioner (murmur2 of the key's UTF-8 bytes, as the Java client).
pub fn partition_for(user_id: &str, partitions: u32) -> u32 {
    (murmur2(user_id.as_bytes()) & 0x7fff_ffff) % partitions
}

fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// What one record value holds, judged event by event.
#[derive(Debug, PartialEq)]
pub enum Outcome<'a> {
    /// A valid event on this partition; `index` is its place in an envelope.
    Accepted {
        index: Option<usize>,
        event: Event<'a>,
    },
    /// A valid event whose target lives on another partition.
    Rekeyed {
        index: Option<usize>,
        event: Event<'a>,
    },
    /// A refusal; `item` is the refused JSON (None: the whole message, undecoded).
    Refused {
        index: Option<usize>,
        reason: String,
        item: Option<&'a [u8]>,
    },
}

/// `_Triager.add` for a message of an input topic: its events and what became of each.
#[derive(Debug, PartialEq)]
pub enum Triaged<'a> {
    Judged {
        events: usize,
        outcomes: Vec<Outcome<'a>>,
    },
    /// Left to the Python reference, whole (see the module docstring).
    Defer,
}

/// Judge one record value of a `kind` topic, read on `partition` of `partitions`.
pub fn triage_value<'a>(
    value: Option<&'a [u8]>,
    kind: Kind,
    partition: u32,
    partitions: u32,
    now_ms: i64,
    rules: &Rules,
) -> Triaged<'a> {
    let Some(value) = value else {
        return refuse_message("empty message".into());
    };
    let judge = |doc: Doc<'a>, index: Option<usize>, item: &'a [u8]| match validate(
        doc, kind, now_ms, rules,
    ) {
        Verdict::Valid(event) if partition_for(&event.target_id, partitions) == partition => {
            Some(Outcome::Accepted { index, event })
        }
        Verdict::Valid(event) => Some(Outcome::Rekeyed { index, event }),
        Verdict::Invalid(reason) => Some(Outcome::Refused {
            index,
            reason,
            item: Some(item),
        }),
        Verdict::Defer => None,
    };
    match decode(value) {
        None => Triaged::Defer,
        Some(Decoded::One(doc)) => match judge(doc, None, value) {
            Some(outcome) => Triaged::Judged {
                events: 1,
                outcomes: vec![outcome],
            },
            None => Triaged::Defer,
        },
        Some(Decoded::Envelope(items)) if !(1..=ENVELOPE_MAX_EVENTS).contains(&items.len()) => {
            refuse_message(format!(
                "envelope of {} events (1..{ENVELOPE_MAX_EVENTS})",
                items.len()
            ))
        }
        Some(Decoded::Envelope(items)) => {
            let mut outcomes = Vec::with_capacity(items.len());
            for (index, raw) in items.iter().enumerate() {
                let item = raw.get().as_bytes();
                let Ok(doc) = serde_json::from_str::<Doc<'a>>(raw.get()) else {
                    return Triaged::Defer;
                };
                let outcome = match envelope_item_kind(&doc, kind) {
                    Err(reason) => Some(Outcome::Refused {
                        index: Some(index),
                        reason,
                        item: Some(item),
                    }),
                    Ok(()) => judge(doc, Some(index), item),
                };
                match outcome {
                    Some(outcome) => outcomes.push(outcome),
                    None => return Triaged::Defer,
                }
            }
            Triaged::Judged {
                events: items.len(),
                outcomes,
            }
        }
    }
}

fn refuse_message<'a>(reason: String) -> Triaged<'a> {
    Triaged::Judged {
        events: 1,
        outcomes: vec![Outcome::Refused {
            index: None,
            reason,
            item: None,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_310_000_000;

    fn rules() -> Rules {
        Rules {
            horizon_ms: 90 * 86_400_000,
            max_future_ms: 300_000,
            max_id_len: 128,
        }
    }

    fn judge(json: &str) -> Verdict<'_> {
        validate(
            serde_json::from_str(json).unwrap(),
            Kind::Like,
            NOW,
            &rules(),
        )
    }

    fn reason(json: &str) -> String {
        match judge(json) {
            Verdict::Invalid(reason) => reason,
            other => panic!("{json} was not refused: {other:?}"),
        }
    }

    const VALID: &str = r#"{"event_id":"e1","network":"twitter","actor_id":"bob","target_id":"alice","post_id":null,"ts":1795310000000}"#;

    #[test]
    fn a_valid_event_passes_with_every_field() {
        let Verdict::Valid(event) = judge(VALID) else {
            panic!("refused")
        };
        assert_eq!(event.actor_id, "bob");
        assert_eq!(event.post_id, None);
        assert_eq!(event.ts_ms, NOW);
        assert!(event.topics.is_empty());
    }

    #[test]
    fn reasons_are_the_python_models() {
        assert_eq!(reason("[1]"), "not an object");
        assert_eq!(reason(r#"{"network":"x"}"#), "missing field: event_id");
        assert_eq!(
            reason(&VALID.replace(r#""e1""#, "7")),
            "wrong type: event_id"
        );
        assert_eq!(
            reason(&VALID.replace(r#""e1""#, r#""""#)),
            "empty id: event_id"
        );
        assert_eq!(
            reason(&VALID.replace("twitter", "Twitter")),
            "invalid network"
        );
        assert_eq!(
            reason(&VALID.replace(r#""post_id":null,"#, "")),
            "missing field: post_id"
        );
        assert_eq!(
            reason(&VALID.replace("1795310000000", "1795310000000.0")),
            "wrong type: ts"
        );
        assert_eq!(
            reason(&VALID.replace("1795310000000", "true")),
            "wrong type: ts"
        );
        assert_eq!(
            reason(&VALID.replace("1795310000000", "99999999999999999999")),
            "wrong type: ts"
        );
        assert_eq!(
            reason(&VALID.replace("1795310000000", "18446744073709551615")),
            "ts in the future"
        );
        assert_eq!(
            reason(&VALID.replace("1795310000000", "-9223372036854775808")),
            "ts older than horizon"
        );
        assert_eq!(reason(&VALID.replace("alice", "bob")), "self-engagement");
    }

    fn with_topics(topics: &str) -> String {
        VALID.replace(r#""ts":"#, &format!(r#""topics":{topics},"ts":"#))
    }

    #[test]
    fn topics_are_distinct_slugs_and_at_most_five() {
        let topics = |json: &str| -> Vec<String> {
            match judge(json) {
                Verdict::Valid(event) => event.topics.iter().map(|t| t.to_string()).collect(),
                other => panic!("{json} was not accepted: {other:?}"),
            }
        };
        assert!(topics(VALID).is_empty());
        assert!(topics(&with_topics("null")).is_empty());
        assert!(topics(&with_topics("[]")).is_empty());
        assert_eq!(
            topics(&with_topics(r#"["coffee","tea","coffee","a","b","c"]"#)),
            ["coffee", "tea", "a", "b", "c"]
        );
        assert_eq!(reason(&with_topics(r#""coffee""#)), "wrong type: topics");
        assert_eq!(reason(&with_topics(r#"{"a":1}"#)), "wrong type: topics");
        assert_eq!(
            reason(&with_topics(r#"["coffee",1]"#)),
            "wrong type: topics"
        );
        assert_eq!(reason(&with_topics(r#"["Coffee"]"#)), "invalid topic");
        assert_eq!(reason(&with_topics(r##"["#coffee",7]"##)), "invalid topic");
        assert_eq!(
            reason(&with_topics(r#"["a","b","c","d","e","f"]"#)),
            "too many topics"
        );
        assert_eq!(
            reason(&with_topics(r#"["Twitter"]"#).replace("twitter", "T")),
            "invalid network"
        );
    }

    #[test]
    fn ids_are_measured_in_code_points() {
        let long = "é".repeat(128);
        assert!(matches!(
            judge(&VALID.replace("bob", &long)),
            Verdict::Valid(_)
        ));
        assert_eq!(
            reason(&VALID.replace("bob", &(long + "é"))),
            "id too long: actor_id"
        );
    }

    #[test]
    fn the_last_duplicate_key_wins_as_in_orjson() {
        let doubled = VALID.replace(
            r#""actor_id":"bob""#,
            r#""actor_id":"alice","actor_id":"bob""#,
        );
        assert!(matches!(judge(&doubled), Verdict::Valid(_)));
    }

    #[test]
    fn a_negative_zero_ts_is_left_to_python() {
        assert_eq!(judge(&VALID.replace("1795310000000", "-0")), Verdict::Defer);
    }

    #[test]
    fn an_array_is_an_envelope_and_never_an_object() {
        assert!(matches!(decode(b" [1, {}]"), Some(Decoded::Envelope(items)) if items.len() == 2));
        assert!(matches!(decode(b"\"x\""), Some(Decoded::One(Doc::Other))));
    }

    #[test]
    fn what_serde_refuses_is_left_to_python() {
        for bad in [
            &b""[..],
            b"NaN",
            b"1e400",
            b"{\"a\":1}x",
            b"\"\\ud800\"",
            b"\xef\xbb\xbf{}",
            b"\"\xff\"",
        ] {
            assert!(decode(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn envelope_items_name_the_topics_kind() {
        let item =
            |json: &str| envelope_item_kind(&serde_json::from_str(json).unwrap(), Kind::Like);
        assert_eq!(item(r#"{"kind":"like"}"#), Ok(()));
        assert_eq!(item(r#"{}"#), Err("missing field: kind".into()));
        assert_eq!(
            item(r#"{"kind":"share"}"#),
            Err("kind is not 'like' (the topic's kind)".into())
        );
        assert_eq!(item("3"), Err("not an object".into()));
    }

    #[test]
    fn the_partitioner_is_kafkas() {
        // app.kafka_topics.partition_for (aiokafka's murmur2) for these keys and 8 partitions.
        for (key, partition) in PARTITIONS {
            assert_eq!(partition_for(key, 8), partition, "{key}");
        }
    }

    const PARTITIONS: [(&str, u32); 10] = [
        ("alice", 5),
        ("bob", 6),
        ("u-1", 7),
        ("u-12345", 4),
        ("é-ünï", 7),
        ("", 1),
        ("abc", 3),
        ("abcd", 4),
        ("abcde", 5),
        ("abcdefg", 1),
    ];

    #[test]
    fn a_message_is_judged_event_by_event() {
        let partition = partition_for("alice", 8);
        let value = format!(
            "[{}, 3, {}]",
            VALID.replace("{", r#"{"kind":"like","#),
            VALID
        );
        let Triaged::Judged { events, outcomes } = triage_value(
            Some(value.as_bytes()),
            Kind::Like,
            partition,
            8,
            NOW,
            &rules(),
        ) else {
            panic!("deferred")
        };
        assert_eq!(events, 3);
        assert!(matches!(
            &outcomes[0],
            Outcome::Accepted { index: Some(0), .. }
        ));
        assert!(
            matches!(&outcomes[1], Outcome::Refused { index: Some(1), reason, item: Some(b"3") } if reason == "not an object")
        );
        assert!(
            matches!(&outcomes[2], Outcome::Refused { index: Some(2), reason, .. } if reason == "missing field: kind")
        );
        let elsewhere = triage_value(
            Some(VALID.as_bytes()),
            Kind::Like,
            partition + 1,
            8,
            NOW,
            &rules(),
        );
        assert!(
            matches!(elsewhere, Triaged::Judged { outcomes, .. } if matches!(outcomes[0], Outcome::Rekeyed { index: None, .. }))
        );
    }

    #[test]
    fn whole_messages_are_refused_with_their_reason() {
        let refused =
            |value: Option<&[u8]>| match triage_value(value, Kind::Like, 0, 8, NOW, &rules()) {
                Triaged::Judged {
                    events: 1,
                    outcomes,
                } => match &outcomes[0] {
                    Outcome::Refused {
                        index: None,
                        reason,
                        item: None,
                    } => reason.clone(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            };
        assert_eq!(refused(None), "empty message");
        assert_eq!(refused(Some(b"[]")), "envelope of 0 events (1..500)");
        let big = format!("[{}]", vec!["1"; 501].join(","));
        assert_eq!(
            refused(Some(big.as_bytes())),
            "envelope of 501 events (1..500)"
        );
        assert_eq!(
            triage_value(Some(b"{"), Kind::Like, 0, 8, NOW, &rules()),
            Triaged::Defer
        );
    }
}
