//! A score card as `app/store/write_cards.lua` takes it: one JSON row per card, holding the
//! card's stored hash fields (the names of `CARD_FIELDS` in `app/store/card_fields.py`, whose
//! readers parse them back) and its daily snapshot (`Snapshot` in `app/scoring/attribution.py`).
//!
//! Encoding a card was a third of the worker's Python time per score write; here it is one
//! pass of string formatting. Numbers are written as orjson writes them (shortest round trip),
//! the visible score with one decimal as `format_score`, so the readers get back the same
//! values (tests/unit/kernel/test_card_rows.py compares them on random cards).

use std::cmp::Ordering;
use std::io::Write;

use serde_json::to_writer;

/// Networks a snapshot names per kind; the rest are summed under `OTHER_NETWORKS`.
pub const SNAPSHOT_NETWORKS_PER_KIND: usize = 4;
/// The snapshot's component key of a kind's remaining networks.
pub const OTHER_NETWORKS: &str = "*";

/// The hash fields of a card, in the order `CARD_FIELDS` lists them, then the fence.
pub const HASH_FIELDS: [&str; 11] = [
    "score",
    "raw",
    "style",
    "engagers",
    "updated_at",
    "model_version",
    "curve_version",
    "components",
    "top_actors",
    "influential_about",
    "fence",
];

/// One topic the user is influential about, as the card has it.
pub struct Topic {
    pub topic: String,
    pub share: f64,
    pub raw: f64,
    pub score: f64,
    pub curve: String,
}

/// A score card's fields (`ScoreCard` in `app/scoring/card.py`), dictionaries in their order.
pub struct Card {
    pub user_id: String,
    pub score: f64,
    pub raw: f64,
    pub components: Vec<(String, Vec<(String, f64)>)>,
    pub style: String,
    pub engagers: i64,
    pub top_actors: Vec<(String, f64)>,
    pub updated_at_ms: i64,
    pub model_version: String,
    pub curve_version: i64,
    pub influential_about: Vec<Topic>,
}

/// What a row carries beside the card: the writer's fence, the card's UTC day, the first day
/// its history keeps, and the threshold levels its visible score allows (0, 0 without a feed).
pub struct RowHead<'a> {
    pub fence: i64,
    pub day: &'a str,
    pub first_kept_day: &'a str,
    pub band: (i64, i64),
}

/// The visible score's stored text: one decimal, ties to even as Python's `f"{x:.1f}"`.
pub fn format_score(score: f64) -> String {
    format!("{score:.1}")
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    to_writer(&mut *out, value).expect("writing JSON to memory cannot fail");
}

fn number(value: f64) -> String {
    // serde_json writes floats as orjson does: shortest round trip, `null` for NaN and infinity.
    serde_json::to_string(&value).expect("a float always serializes")
}

/// `items` between `open` and `close`, comma-separated, each written by `item`.
fn joined<T>(
    out: &mut Vec<u8>,
    (open, close): (u8, u8),
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(open);
    for (i, each) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, each);
    }
    out.push(close);
}

const ARRAY: (u8, u8) = (b'[', b']');
const OBJECT: (u8, u8) = (b'{', b'}');

/// `"name":value`, an object's entry.
fn entry(out: &mut Vec<u8>, (name, value): (&str, f64)) {
    json(out, name);
    out.push(b':');
    json(out, &value);
}

/// `[[name, value], ...]`, as the top actors are stored.
fn pairs_json(out: &mut Vec<u8>, pairs: &[(String, f64)]) {
    joined(out, ARRAY, pairs, |out, (name, value)| {
        out.push(b'[');
        json(out, name);
        out.push(b',');
        json(out, value);
        out.push(b']');
    });
}

fn components_json(out: &mut Vec<u8>, components: &[(String, Vec<(String, f64)>)]) {
    joined(out, OBJECT, components, |out, (kind, networks)| {
        json(out, kind);
        out.push(b':');
        joined(
            out,
            OBJECT,
            networks.iter().map(|(n, v)| (n.as_str(), *v)),
            entry,
        );
    });
}

fn topics_json(out: &mut Vec<u8>, topics: &[Topic]) {
    joined(out, ARRAY, topics, |out, t| {
        out.extend_from_slice(b"{\"topic\":");
        json(out, &t.topic);
        out.extend_from_slice(b",\"share\":");
        json(out, &t.share);
        out.extend_from_slice(b",\"raw\":");
        json(out, &t.raw);
        out.extend_from_slice(b",\"score\":");
        json(out, &t.score);
        out.extend_from_slice(b",\"curve\":");
        json(out, &t.curve);
        out.push(b'}');
    });
}

/// The card's snapshot as `orjson.dumps(snapshot_of(card).to_dict())` writes it: per kind its
/// largest networks (ties by name) named, the rest summed in that order under `*`, and `n`
/// (how many each `*` sums) only when some kind has one.
pub fn snapshot_json(card: &Card) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write!(
        out,
        "{{\"t\":{},\"s\":{},\"r\":{},\"v\":{},\"c\":",
        card.updated_at_ms,
        number(card.score),
        number(card.raw),
        card.curve_version
    )
    .expect("writing to memory cannot fail");
    let mut summed: Vec<(&str, usize)> = Vec::new();
    joined(
        &mut out,
        OBJECT,
        &card.components,
        |out, (kind, networks)| {
            let mut ranked: Vec<(&str, f64)> =
                networks.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            // Python's `sorted(key=(-value, name))`: equal values (0.0 and -0.0 too) by name.
            ranked.sort_by(|a, b| {
                b.1.partial_cmp(&a.1)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.0.cmp(b.0))
            });
            let rest = &ranked[ranked.len().min(SNAPSHOT_NETWORKS_PER_KIND)..];
            let other = (!rest.is_empty()).then(|| {
                summed.push((kind.as_str(), rest.len()));
                (
                    OTHER_NETWORKS,
                    rest.iter().fold(0.0, |total, (_, value)| total + value),
                )
            });
            json(out, kind);
            out.push(b':');
            let named = ranked.iter().take(SNAPSHOT_NETWORKS_PER_KIND).copied();
            joined(out, OBJECT, named.chain(other), entry);
        },
    );
    out.extend_from_slice(b",\"a\":");
    pairs_json(&mut out, &card.top_actors);
    if !summed.is_empty() {
        out.extend_from_slice(b",\"n\":");
        joined(&mut out, OBJECT, summed, |out, (kind, count)| {
            json(out, kind);
            write!(out, ":{count}").expect("writing to memory cannot fail");
        });
    }
    out.push(b'}');
    out
}

/// The stored text of each of `HASH_FIELDS`, in that order.
pub fn hash_values(card: &Card, fence: i64) -> [String; 11] {
    let text = |write: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::with_capacity(64);
        write(&mut out);
        String::from_utf8(out).expect("JSON of strings is UTF-8")
    };
    [
        format_score(card.score),
        number(card.raw),
        card.style.clone(),
        card.engagers.to_string(),
        card.updated_at_ms.to_string(),
        card.model_version.clone(),
        card.curve_version.to_string(),
        text(&|out| components_json(out, &card.components)),
        text(&|out| pairs_json(out, &card.top_actors)),
        text(&|out| topics_json(out, &card.influential_about)),
        fence.to_string(),
    ]
}

/// Append the card's row: `[user_id, day, first_kept_day, band low, band high, snapshot JSON
/// text, [field, value, ...]]`.
pub fn write_row(out: &mut Vec<u8>, card: &Card, head: &RowHead<'_>) {
    out.push(b'[');
    json(out, &card.user_id);
    out.push(b',');
    json(out, head.day);
    out.push(b',');
    json(out, head.first_kept_day);
    write!(out, ",{},{},", head.band.0, head.band.1).expect("writing to memory cannot fail");
    let snapshot = String::from_utf8(snapshot_json(card)).expect("JSON of strings is UTF-8");
    json(out, &snapshot);
    out.push(b',');
    let fields = HASH_FIELDS.iter().zip(hash_values(card, head.fence));
    joined(out, ARRAY, fields, |out, (name, value)| {
        json(out, name);
        out.push(b',');
        json(out, &value);
    });
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(networks: &[(&str, f64)]) -> Card {
        Card {
            user_id: "al\"ice".into(),
            score: 41.25,
            raw: 1e-7,
            components: vec![(
                "like".into(),
                networks.iter().map(|(n, v)| ((*n).into(), *v)).collect(),
            )],
            style: "broadcaster".into(),
            engagers: 3,
            top_actors: vec![("bob".into(), 0.5)],
            updated_at_ms: 1_700_000_000_000,
            model_version: "m1".into(),
            curve_version: 2,
            influential_about: vec![],
        }
    }

    #[test]
    fn a_snapshot_names_the_largest_networks_and_sums_the_rest() {
        let c = card(&[
            ("a", 1.0),
            ("b", 5.0),
            ("c", 3.0),
            ("d", 3.0),
            ("e", 2.0),
            ("f", 0.5),
        ]);
        let text = String::from_utf8(snapshot_json(&c)).unwrap();
        assert_eq!(
            text,
            "{\"t\":1700000000000,\"s\":41.25,\"r\":1e-7,\"v\":2,\"c\":{\"like\":{\"b\":5.0,\
             \"c\":3.0,\"d\":3.0,\"e\":2.0,\"*\":1.5}},\"a\":[[\"bob\",0.5]],\"n\":{\"like\":2}}"
        );
    }

    #[test]
    fn the_visible_score_rounds_ties_to_even_as_python_does() {
        assert_eq!(format_score(41.25), "41.2");
        assert_eq!(format_score(41.75), "41.8");
        assert_eq!(format_score(99.95), "100.0");
    }

    #[test]
    fn a_row_escapes_what_it_embeds() {
        let mut out = Vec::new();
        let head = RowHead {
            fence: 7,
            day: "2026-12-07",
            first_kept_day: "2026-09-09",
            band: (1, 2),
        };
        write_row(&mut out, &card(&[("a", 1.0)]), &head);
        let row: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(row[0], "al\"ice");
        assert_eq!(row[3], 1);
        let snapshot: serde_json::Value = serde_json::from_str(row[5].as_str().unwrap()).unwrap();
        assert_eq!(snapshot["c"]["like"]["a"], 1.0);
        assert_eq!(row[6][0], "score");
        assert_eq!(row[6][1], "41.2");
        assert_eq!(row[6][21], "7");
    }
}
