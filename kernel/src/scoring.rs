//! A user's score card and next refresh time: `app/scoring/model.py` and `curve.py` in Rust.
//!
//! Same operations in the same order as the Python model; Python's `round(x, n)` (correctly
//! rounded decimal, ties to even) is Rust's exact decimal formatting parsed back.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::signals::{Kind, Params, Signals, pow2};

/// A score curve: grid scores in ln(raw) and the constants of `app/scoring/curve.py`.
#[derive(Clone, Debug)]
pub struct Curve {
    pub scores: Vec<f64>,
    pub x0: f64,
    pub step: f64,
    pub raw_min: f64,
    pub raw_max: f64,
    pub tail: f64,
    pub min_score: f64,
    pub max_score: f64,
}

impl Curve {
    /// `Curve.score`: the unrounded score for `raw`.
    pub fn score(&self, raw: f64) -> f64 {
        let s = &self.scores;
        let last = s[s.len() - 1];
        if raw.is_nan() || raw <= 0.0 {
            return self.min_score;
        }
        if raw < self.raw_min {
            return self.min_score + (s[0] - self.min_score) * (raw / self.raw_min).powf(self.tail);
        }
        if raw >= self.raw_max {
            if raw.is_infinite() {
                return self.max_score;
            }
            return self.max_score - (self.max_score - last) * (self.raw_max / raw).powf(self.tail);
        }
        let t = (raw.ln() - self.x0) / self.step;
        let i = (t.trunc() as usize).min(s.len() - 2);
        s[i] + (s[i + 1] - s[i]) * (t - i as f64)
    }

    /// `Curve.raw_for_score`: the highest raw whose unrounded score is `score`.
    pub fn raw_for_score(&self, score: f64) -> f64 {
        let s = &self.scores;
        let last = s[s.len() - 1];
        if score <= self.min_score {
            return 0.0;
        }
        if score >= self.max_score {
            return f64::INFINITY;
        }
        if score < s[0] {
            let share = (score - self.min_score) / (s[0] - self.min_score);
            return self.raw_min * share.powf(1.0 / self.tail);
        }
        if score >= last {
            let share = (self.max_score - last) / (self.max_score - score);
            return self.raw_max * share.powf(1.0 / self.tail);
        }
        let i = s.partition_point(|v| *v <= score); // bisect_right
        let x = self.x0 + ((i - 1) as f64 + (score - s[i - 1]) / (s[i] - s[i - 1])) * self.step;
        x.exp()
    }

    /// `score_from_raw`: the displayed score, one decimal.
    pub fn shown(&self, raw: f64) -> f64 {
        round_to(self.score(raw), 1)
    }
}

/// Python's `round(x, digits)`.
pub fn round_to(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.digits$}")
        .parse()
        .expect("a formatted float parses")
}

/// The style rules' thresholds (`ModelParams`).
#[derive(Clone, Debug)]
pub struct StyleRules {
    pub celebrity_score: f64,
    pub style_dominance: f64,
    pub specialist_share: f64,
    pub influential_share: f64,
}

/// One entry of `influential_about` (`TopicInfluence`).
#[derive(Debug, PartialEq)]
pub struct TopicInfluence<'a> {
    pub topic: &'a str,
    pub share: f64,
    pub raw: f64,
    pub score: f64,
    /// Graded on the topic's own curve (else the global one).
    pub own_curve: bool,
}

/// `score_card`, without its identity fields: what the card says at `now_ms`.
#[derive(Debug, PartialEq)]
pub struct Card<'a> {
    pub score: f64,
    pub raw: f64,
    /// Per kind (like, share, mention): (network, decayed value rounded to 6 decimals).
    pub components: [Vec<(&'a str, f64)>; 3],
    pub style: &'static str,
    pub engagers: i64,
    pub top_actors: Vec<(&'a str, f64)>,
    pub influential_about: Vec<TopicInfluence<'a>>,
}

pub fn card<'a>(
    state: &'a Signals,
    now_ms: i64,
    params: &Params,
    rules: &StyleRules,
    curve: &Curve,
    topic_curves: &HashMap<String, Curve>,
    top_actors: usize,
) -> Card<'a> {
    let mut components = state.components_at(now_ms, &params.half_lives);
    let mut raw = 0.0;
    for networks in &mut components {
        for (_, value) in networks.iter_mut() {
            *value = round_to(*value, 6);
            raw += *value;
        }
    }
    let score = curve.shown(raw);
    let top = state.top_actors_at(now_ms, params.repeat_half_life_ms, top_actors);
    let (tagged, topics) = state.topics_at(now_ms, &params.half_lives);
    // Python's max(..., default=0.0); topic values are never negative.
    let top_topic = topics.iter().fold(0.0, |best: f64, (_, v)| best.max(*v));
    Card {
        score,
        raw,
        style: style(score, &components, rules, top_topic),
        influential_about: influential_about(tagged, &topics, rules, curve, topic_curves),
        components,
        engagers: state.engagers_at(now_ms, params),
        top_actors: top
            .into_iter()
            .map(|(actor, value)| (actor, round_to(value, 6)))
            .collect(),
    }
}

/// `influential_about`: topics holding at least `influential_share` of the tagged total,
/// largest (rounded) share first, then by slug.
fn influential_about<'a>(
    tagged: f64,
    topics: &[(&'a str, f64)],
    rules: &StyleRules,
    curve: &Curve,
    topic_curves: &HashMap<String, Curve>,
) -> Vec<TopicInfluence<'a>> {
    if tagged.is_nan() || tagged <= 0.0 {
        return Vec::new();
    }
    let mut found: Vec<TopicInfluence<'a>> = Vec::new();
    for (topic, value) in topics {
        let share = value / tagged;
        if share >= rules.influential_share {
            let raw = round_to(*value, 6);
            let own = topic_curves.get(*topic);
            found.push(TopicInfluence {
                topic,
                share: round_to(share, 4),
                raw,
                score: own.unwrap_or(curve).shown(raw),
                own_curve: own.is_some(),
            });
        }
    }
    found.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then_with(|| a.topic.cmp(b.topic))
    });
    found
}

/// `style`: the first rule that matches.
fn style(
    score: f64,
    components: &[Vec<(&str, f64)>; 3],
    rules: &StyleRules,
    top_topic_raw: f64,
) -> &'static str {
    if score >= rules.celebrity_score {
        return "celebrity";
    }
    let mut by_kind: IndexMap<Kind, f64> = IndexMap::new();
    let mut by_network: IndexMap<&str, f64> = IndexMap::new();
    for (kind, networks) in Kind::ALL.into_iter().zip(components) {
        for (network, value) in networks {
            *by_kind.entry(kind).or_insert(0.0) += value;
            *by_network.entry(network).or_insert(0.0) += value;
        }
    }
    let total = by_kind.values().fold(0.0, |acc, v| acc + v);
    if total <= 0.0 {
        return "explorer";
    }
    let of = |kind| by_kind.get(&kind).copied().unwrap_or(0.0);
    if of(Kind::Share) >= rules.style_dominance * total {
        return "broadcaster";
    }
    if of(Kind::Mention) >= rules.style_dominance * total {
        return "conversationalist";
    }
    let heaviest = by_network
        .values()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if heaviest.max(top_topic_raw) >= rules.specialist_share * total {
        return "specialist";
    }
    "explorer"
}

/// `next_refresh_ms`: when the displayed score will have dropped by 0.1 through decay alone.
pub fn next_refresh_ms(
    state: &Signals,
    now_ms: i64,
    params: &Params,
    curve: &Curve,
    max_refresh_ms: i64,
) -> i64 {
    let cap = now_ms + max_refresh_ms;
    let totals = state.kind_totals(now_ms, &params.half_lives);
    let terms: Vec<(f64, f64)> = totals
        .iter()
        .zip(params.half_lives)
        .filter(|(g, _)| **g > 0.0)
        .map(|(g, h)| (*g, h))
        .collect();
    let raw_now = terms.iter().fold(0.0, |acc, (g, _)| acc + g);
    let shown = curve.shown(raw_now);
    if shown <= curve.min_score || terms.is_empty() {
        return cap;
    }
    let target = curve.raw_for_score(shown - 0.05);
    let ln2 = std::hint::black_box(2.0f64).ln();
    let mut dt = 0.0;
    for _ in 0..64 {
        let mut value = 0.0;
        let mut slope = 0.0;
        for (g, half_life) in &terms {
            let v = g * pow2(-dt / half_life);
            value += v;
            slope -= v * ln2 / half_life;
        }
        if value <= target || now_ms as f64 + dt >= cap as f64 {
            break;
        }
        let step = (value - target) / -slope;
        dt += step;
        if step < 0.5 {
            break;
        }
    }
    let mut when = now_ms + (dt.ceil() as i64).max(1);
    let mut step_ms = 1;
    while when < cap && curve.shown(state.raw_at(when, &params.half_lives)) > shown - 0.05 {
        when += step_ms;
        step_ms *= 2;
    }
    when.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_pythons() {
        // round(0.0078125, 6) == 0.007812 and round(40.25, 1) == 40.2: ties to even.
        assert_eq!(round_to(0.0078125, 6), 0.007812);
        assert_eq!(round_to(40.25, 1), 40.2);
        assert_eq!(round_to(40.35, 1), 40.4); // 40.35 is just above the tie in binary
        assert_eq!(round_to(2.675, 2), 2.67); // just below
    }
}
