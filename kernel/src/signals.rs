//! Per-user signal state and the fold of one event into it: `app/scoring/signals.py` in Rust.
//!
//! Every operation is the Python model's, in the same order, so results are bit-identical:
//! powers of two go through the C library's `pow` (what CPython's `**` calls), never `exp2`,
//! and maps keep insertion order (the heavy-actor eviction takes the first of equals).

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use indexmap::IndexMap;
use serde::ser::{Serialize, SerializeMap, Serializer};

pub const MS_PER_DAY: i64 = 86_400_000;
pub const REBASE_AFTER_MS: i64 = 28 * MS_PER_DAY;
pub const PRUNE_BELOW: f64 = 1e-4;
pub const HLL_REGISTERS: usize = 64;
const HLL_ALPHA: f64 = 0.709;
const HLL_SPARSE_MAX: usize = 8;
const B64: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/// `2.0 ** x` exactly as CPython computes it. `black_box` keeps LLVM from rewriting
/// `pow(2, x)` into `exp2(x)`, which differs in the last bit for some inputs.
#[inline]
pub fn pow2(x: f64) -> f64 {
    std::hint::black_box(2.0f64).powf(x)
}

/// `decay_factor(dt, h)`: what one unit is worth `dt_ms` later.
#[inline]
pub fn decay_factor(dt_ms: f64, half_life_ms: f64) -> f64 {
    pow2(-dt_ms / half_life_ms)
}

/// Signal kinds by their one-letter code, in the model's order (like, share, mention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Like,
    Share,
    Mention,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Like, Kind::Share, Kind::Mention];

    pub fn code(self) -> char {
        match self {
            Kind::Like => 'l',
            Kind::Share => 's',
            Kind::Mention => 'm',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Like => "like",
            Kind::Share => "share",
            Kind::Mention => "mention",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_code(code: char) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// The model parameters the fold and the reads use (`ModelParams`, in milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub half_lives: [f64; 3],
    pub base_weights: [f64; 3],
    pub actor_weight_floor: f64,
    pub actor_weight_pivot: f64,
    pub actor_weight_exponent: f64,
    pub actor_weight_cap: f64,
    pub repeat_half_life_ms: f64,
    pub top_actors: usize,
    pub top_topics: usize,
    pub burst_half_life_ms: f64,
    pub burst_tolerance: f64,
    pub trusted_actor_score: f64,
    pub horizon_ms: f64,
}

impl Default for Params {
    /// `ModelParams()`'s defaults (used by the Rust tests).
    fn default() -> Self {
        Params {
            half_lives: [
                14.0 * 86_400_000.0,
                30.0 * 86_400_000.0,
                30.0 * 86_400_000.0,
            ],
            base_weights: [1.0, 3.0, 2.0],
            actor_weight_floor: 0.1,
            actor_weight_pivot: 50.0,
            actor_weight_exponent: 2.0,
            actor_weight_cap: 4.0,
            repeat_half_life_ms: 30.0 * 86_400_000.0,
            top_actors: 32,
            top_topics: 16,
            burst_half_life_ms: 6.0 * 3_600_000.0,
            burst_tolerance: 2.0,
            trusted_actor_score: 30.0,
            horizon_ms: 90.0 * 86_400_000.0,
        }
    }
}

impl Params {
    /// `actor_weight(score, params)`.
    pub fn actor_weight(&self, actor_score: Option<f64>) -> f64 {
        let Some(score) = actor_score else {
            return self.actor_weight_floor;
        };
        let base = std::hint::black_box(score.max(0.0) / self.actor_weight_pivot);
        let weight = base.powf(std::hint::black_box(self.actor_weight_exponent));
        if weight < self.actor_weight_floor {
            self.actor_weight_floor
        } else if weight > self.actor_weight_cap {
            self.actor_weight_cap
        } else {
            weight
        }
    }

    /// `is_unproven(score, params)`.
    pub fn is_unproven(&self, actor_score: Option<f64>) -> bool {
        actor_score.is_none_or(|score| score < self.trusted_actor_score)
    }

    fn epoch_ms(&self) -> i64 {
        let half = (self.horizon_ms.trunc() as i64).div_euclid(2);
        if half == 0 { 1 } else { half }
    }
}

/// One event as the fold needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Engagement<'a> {
    pub kind: Kind,
    pub network: &'a str,
    pub actor_id: &'a str,
    pub ts_ms: i64,
    /// Distinct topic slugs (empty: the event is about no topic).
    pub topics: Vec<&'a str>,
}

/// One user's decayed signals (`UserSignals`).
#[derive(Clone, Debug, PartialEq)]
pub struct Signals {
    pub landmark_ms: i64,
    pub t_ms: i64,
    /// kind code + network -> forward-decayed sum, in insertion order.
    pub sums: IndexMap<String, f64>,
    /// actor -> [forward-decayed count, forward-decayed contribution], in insertion order.
    pub actors: IndexMap<String, [f64; 2]>,
    pub burst: f64,
    pub epoch: i64,
    pub hll: [u8; HLL_REGISTERS],
    pub hll_prev: Option<[u8; HLL_REGISTERS]>,
    /// topic -> forward-decayed weighted engagement per kind, in insertion order.
    pub topics: IndexMap<String, [f64; 3]>,
    /// Every topic-tagged engagement per kind, evicted topics' included.
    pub tagged: [f64; 3],
}

impl Signals {
    pub fn new(landmark_ms: i64, params: &Params) -> Self {
        Signals {
            landmark_ms,
            t_ms: landmark_ms,
            sums: IndexMap::new(),
            actors: IndexMap::new(),
            burst: 0.0,
            epoch: landmark_ms.div_euclid(params.epoch_ms()),
            hll: [0; HLL_REGISTERS],
            hll_prev: None,
            topics: IndexMap::new(),
            tagged: [0.0; 3],
        }
    }

    /// `apply_event`: fold one valid event in, weighted by its actor's standing.
    pub fn apply(&mut self, event: &Engagement<'_>, actor_score: Option<f64>, params: &Params) {
        let ts = event.ts_ms;
        let landmark = self.landmark_ms;
        let code = event.kind.index();
        let mut weight = params.base_weights[code] * params.actor_weight(actor_score);

        if params.is_unproven(actor_score) {
            if ts >= self.t_ms {
                let recent =
                    self.burst * pow2(-((ts - self.t_ms) as f64) / params.burst_half_life_ms);
                let crowd = recent / params.burst_tolerance;
                weight /= 1.0 + crowd * crowd;
                self.burst = recent + 1.0;
            } else {
                let back = pow2(-((self.t_ms - ts) as f64) / params.burst_half_life_ms);
                let crowd = self.burst / back / params.burst_tolerance;
                weight /= 1.0 + crowd * crowd;
                self.burst += back;
            }
        }

        let forward = pow2(((ts - landmark) as f64) / params.repeat_half_life_ms);
        if let Some(entry) = self.actors.get_mut(event.actor_id) {
            weight /= 1.0 + entry[0] / forward;
            entry[0] += forward;
            entry[1] += weight * forward;
        } else {
            if self.actors.len() >= params.top_actors {
                // The lightest contributor makes room: the first of equals, in insertion order.
                let mut lightest = 0;
                let mut least = f64::INFINITY;
                for (i, entry) in self.actors.values().enumerate() {
                    if i == 0 || entry[1] < least {
                        lightest = i;
                        least = entry[1];
                    }
                }
                self.actors.shift_remove_index(lightest);
            }
            self.actors
                .insert(event.actor_id.to_owned(), [forward, weight * forward]);
        }

        let mut key = String::with_capacity(1 + event.network.len());
        key.push(event.kind.code());
        key.push_str(event.network);
        let added = weight * pow2(((ts - landmark) as f64) / params.half_lives[code]);
        let sum = self.sums.entry(key).or_insert(0.0);
        *sum += added;
        if !event.topics.is_empty() {
            self.add_topics(&event.topics, code, added, params.top_topics);
        }

        self.hll_add(event.actor_id, ts, params);

        if ts > self.t_ms {
            self.t_ms = ts;
            if ts - landmark > REBASE_AFTER_MS {
                self.rebase(ts, params);
            }
        }
    }

    /// `_add_topics`: the event's weight shared evenly among its topics in the bounded map; a
    /// new topic finding it full replaces the lightest (smallest total, the first of equals).
    fn add_topics(&mut self, topics: &[&str], slot: usize, added: f64, limit: usize) {
        self.tagged[slot] += added;
        let part = added / topics.len() as f64;
        for topic in topics {
            if let Some(entry) = self.topics.get_mut(*topic) {
                entry[slot] += part;
                continue;
            }
            if self.topics.len() >= limit {
                let mut lightest = 0;
                let mut least = f64::INFINITY;
                for (i, entry) in self.topics.values().enumerate() {
                    let total = entry[0] + entry[1] + entry[2];
                    if i == 0 || total < least {
                        lightest = i;
                        least = total;
                    }
                }
                self.topics.shift_remove_index(lightest);
            }
            let mut entry = [0.0; 3];
            entry[slot] += part;
            self.topics.insert((*topic).to_owned(), entry);
        }
    }

    fn rebase(&mut self, landmark_ms: i64, params: &Params) {
        let dt = (landmark_ms - self.landmark_ms) as f64;
        let factors = params.half_lives.map(|h| decay_factor(dt, h));
        self.sums = self
            .sums
            .drain(..)
            .filter_map(|(key, g)| {
                let value = g * factors[kind_of_key(&key).index()];
                (value >= PRUNE_BELOW).then_some((key, value))
            })
            .collect();
        let factor = pow2(-dt / params.repeat_half_life_ms);
        self.actors = self
            .actors
            .drain(..)
            .filter_map(|(actor, [count, contribution])| {
                let (count, contribution) = (count * factor, contribution * factor);
                (count >= 0.01 || contribution >= PRUNE_BELOW)
                    .then_some((actor, [count, contribution]))
            })
            .collect();
        if !self.topics.is_empty() {
            let scale = |e: [f64; 3]| [e[0] * factors[0], e[1] * factors[1], e[2] * factors[2]];
            self.topics = self
                .topics
                .drain(..)
                .filter_map(|(topic, entry)| {
                    let scaled = scale(entry);
                    (scaled[0] + scaled[1] + scaled[2] >= PRUNE_BELOW).then_some((topic, scaled))
                })
                .collect();
            self.tagged = if self.topics.is_empty() {
                [0.0; 3]
            } else {
                scale(self.tagged)
            };
        }
        self.landmark_ms = landmark_ms;
    }

    fn hll_add(&mut self, actor_id: &str, ts: i64, params: &Params) {
        let epoch = ts.div_euclid(params.epoch_ms());
        let registers = if epoch > self.epoch {
            self.hll_prev = (epoch == self.epoch + 1).then_some(self.hll);
            self.hll = [0; HLL_REGISTERS];
            self.epoch = epoch;
            &mut self.hll
        } else if epoch == self.epoch {
            &mut self.hll
        } else {
            // Late events (previous epoch or older) all count toward the previous epoch.
            self.hll_prev.get_or_insert([0; HLL_REGISTERS])
        };
        let h = actor_hash(actor_id);
        let index = (h & (HLL_REGISTERS as u64 - 1)) as usize;
        let rest = h >> 6;
        let rank = (59 - (64 - rest.leading_zeros())) as u8;
        if rank > registers[index] {
            registers[index] = rank;
        }
    }

    /// `kind_totals`: decayed total per kind at `now_ms`, in kind order.
    pub fn kind_totals(&self, now_ms: i64, half_lives: &[f64; 3]) -> [f64; 3] {
        let mut totals = [0.0f64; 3];
        for (key, g) in &self.sums {
            totals[kind_of_key(key).index()] += g;
        }
        let dt = (now_ms - self.landmark_ms) as f64;
        for (total, h) in totals.iter_mut().zip(half_lives) {
            if *total != 0.0 {
                *total *= decay_factor(dt, *h);
            }
        }
        totals
    }

    /// `raw_at`: every decayed, weighted engagement summed (in kind order, as Python's `sum`).
    pub fn raw_at(&self, now_ms: i64, half_lives: &[f64; 3]) -> f64 {
        self.kind_totals(now_ms, half_lives)
            .iter()
            .fold(0.0, |acc, v| acc + v)
    }

    /// `components_at`: per kind, (network, decayed value) in insertion order.
    pub fn components_at(&self, now_ms: i64, half_lives: &[f64; 3]) -> [Vec<(&str, f64)>; 3] {
        let dt = (now_ms - self.landmark_ms) as f64;
        let factors = half_lives.map(|h| decay_factor(dt, h));
        let mut out: [Vec<(&str, f64)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for (key, g) in &self.sums {
            let kind = kind_of_key(key);
            out[kind.index()].push((&key[1..], g * factors[kind.index()]));
        }
        out
    }

    /// `topics_at`: (decayed total of topic-tagged engagement, (topic, decayed engagement) in
    /// insertion order) at `now_ms`.
    pub fn topics_at(&self, now_ms: i64, half_lives: &[f64; 3]) -> (f64, Vec<(&str, f64)>) {
        if self.topics.is_empty() {
            return (0.0, Vec::new());
        }
        let dt = (now_ms - self.landmark_ms) as f64;
        let f = half_lives.map(|h| decay_factor(dt, h));
        let at = |g: &[f64; 3]| g[0] * f[0] + g[1] * f[1] + g[2] * f[2];
        let values = self
            .topics
            .iter()
            .map(|(topic, g)| (topic.as_str(), at(g)))
            .collect();
        (at(&self.tagged), values)
    }

    /// `top_actors_at`: the `limit` heaviest actors, by contribution then id, decayed to `now_ms`.
    pub fn top_actors_at(
        &self,
        now_ms: i64,
        repeat_half_life_ms: f64,
        limit: usize,
    ) -> Vec<(&str, f64)> {
        let factor = decay_factor((now_ms - self.landmark_ms) as f64, repeat_half_life_ms);
        let mut heaviest: Vec<(&str, f64)> = self
            .actors
            .iter()
            .map(|(a, e)| (a.as_str(), e[1]))
            .collect();
        heaviest.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(y.0)));
        heaviest.truncate(limit);
        heaviest
            .into_iter()
            .map(|(actor, c)| (actor, c * factor))
            .collect()
    }

    /// `engagers_at`: estimated distinct engagers in the current and previous epoch.
    pub fn engagers_at(&self, now_ms: i64, params: &Params) -> i64 {
        let now_epoch = now_ms.div_euclid(params.epoch_ms());
        if self.epoch < now_epoch - 1 {
            return 0;
        }
        let mut registers = self.hll;
        if let Some(prev) = &self.hll_prev
            && self.epoch > now_epoch - 1
        // Python: `self.epoch - 1 >= now_epoch - 1`
        {
            for (r, p) in registers.iter_mut().zip(prev) {
                *r = (*r).max(*p);
            }
        }
        hll_estimate(&registers)
    }
}

/// The kind of a sums key (its first letter is the kind code; keys are only made by the fold
/// or validated by the codec).
pub fn kind_of_key(key: &str) -> Kind {
    key.chars()
        .next()
        .and_then(Kind::from_code)
        .expect("sums keys start with a kind code")
}

/// blake2b with an 8-byte digest (hashlib's `digest_size=8`), read little-endian.
pub fn actor_hash(actor_id: &str) -> u64 {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid blake2b digest size");
    hasher.update(actor_id.as_bytes());
    let mut digest = [0u8; 8];
    hasher
        .finalize_variable(&mut digest)
        .expect("the buffer has the digest's size");
    u64::from_le_bytes(digest)
}

fn hll_estimate(registers: &[u8; HLL_REGISTERS]) -> i64 {
    let m = HLL_REGISTERS as f64;
    let zeros = registers.iter().filter(|r| **r == 0).count();
    if zeros == HLL_REGISTERS {
        return 0;
    }
    let inverse: f64 = registers
        .iter()
        .fold(0.0, |acc, r| acc + pow2(-f64::from(*r)));
    let mut estimate = HLL_ALPHA * m * m / inverse;
    if estimate <= 2.5 * m && zeros > 0 {
        estimate = m * (m / zeros as f64).ln();
    }
    estimate.round_ties_even() as i64
}

/// Registers as the table stores them: up to 8 non-zero ones as `index * 64 + rank`, else a
/// 64-character string.
pub enum EncodedRegisters {
    Sparse(Vec<i64>),
    Dense(String),
}

pub fn encode_registers(registers: &[u8; HLL_REGISTERS]) -> EncodedRegisters {
    let nonzero = registers.iter().filter(|r| **r != 0).count();
    if nonzero <= HLL_SPARSE_MAX {
        return EncodedRegisters::Sparse(
            registers
                .iter()
                .enumerate()
                .filter(|(_, r)| **r != 0)
                .map(|(i, r)| i as i64 * 64 + i64::from(*r))
                .collect(),
        );
    }
    EncodedRegisters::Dense(
        registers
            .iter()
            .map(|r| B64[usize::from(*r & 63)] as char)
            .collect(),
    )
}

pub fn decode_dense_registers(text: &str) -> Result<[u8; HLL_REGISTERS], String> {
    if text.chars().count() != HLL_REGISTERS || !text.is_ascii() {
        return Err("bad register string".into());
    }
    let mut registers = [0u8; HLL_REGISTERS];
    for (register, byte) in registers.iter_mut().zip(text.bytes()) {
        // Python's translate table maps a byte outside the alphabet to 0.
        *register = B64.iter().position(|b| *b == byte).unwrap_or(0) as u8;
    }
    Ok(registers)
}

pub fn decode_sparse_registers(items: &[i64]) -> Result<[u8; HLL_REGISTERS], String> {
    let mut registers = [0u8; HLL_REGISTERS];
    for item in items {
        let index = item.div_euclid(64);
        if !(0..HLL_REGISTERS as i64).contains(&index) {
            return Err("register index out of range".into());
        }
        registers[index as usize] = item.rem_euclid(64) as u8;
    }
    Ok(registers)
}

/// The table's form of a state (`UserSignals.to_dict()`'s, key for key and in its order), as
/// JSON: what `StoredUser.to_bytes` stores.
impl Serialize for Signals {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("L", &self.landmark_ms)?;
        map.serialize_entry("t", &self.t_ms)?;
        map.serialize_entry("s", &InOrder(&self.sums))?;
        map.serialize_entry("e", &self.epoch)?;
        map.serialize_entry("h", &encode_registers(&self.hll))?;
        if !self.actors.is_empty() {
            map.serialize_entry("a", &InOrder(&self.actors))?;
        }
        if self.burst != 0.0 {
            map.serialize_entry("b", &self.burst)?;
        }
        if let Some(prev) = &self.hll_prev {
            map.serialize_entry("p", &encode_registers(prev))?;
        }
        if !self.topics.is_empty() {
            map.serialize_entry("T", &InOrder(&self.topics))?;
            map.serialize_entry("W", &self.tagged)?;
        }
        map.end()
    }
}

/// An insertion-ordered map as a JSON object in that order.
struct InOrder<'a, V>(&'a IndexMap<String, V>);

impl<V: Serialize> Serialize for InOrder<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0)
    }
}

impl Serialize for EncodedRegisters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EncodedRegisters::Sparse(items) => items.serialize(serializer),
            EncodedRegisters::Dense(text) => text.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MS_PER_DAY;
    const T0: i64 = 1_795_310_000_000;

    fn like<'a>(actor: &'a str, ts: i64) -> Engagement<'a> {
        Engagement {
            kind: Kind::Like,
            network: "twitter",
            actor_id: actor,
            ts_ms: ts,
            topics: Vec::new(),
        }
    }

    #[test]
    fn a_half_life_halves_exactly() {
        let params = Params::default();
        let mut state = Signals::new(T0, &params);
        state.apply(&like("bob", T0), Some(50.0), &params);
        let h = params.half_lives[0];
        assert_eq!(state.raw_at(T0, &params.half_lives), 1.0);
        assert_eq!(state.raw_at(T0 + h as i64, &params.half_lives), 0.5);
    }

    #[test]
    fn the_table_form_keeps_to_dicts_keys_and_leaves_empty_parts_out() {
        let params = Params::default();
        let mut state = Signals::new(T0, &params);
        let fresh = serde_json::to_string(&state).unwrap();
        let epoch = state.epoch;
        assert_eq!(
            fresh,
            format!(r#"{{"L":{T0},"t":{T0},"s":{{}},"e":{epoch},"h":[]}}"#)
        );
        state.apply(&like("bob", T0), Some(50.0), &params);
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains(r#""a":{"bob":["#), "{json}");
    }

    #[test]
    fn repeats_are_damped_one_over_n() {
        let params = Params::default();
        let mut state = Signals::new(T0, &params);
        state.apply(&like("bob", T0), Some(50.0), &params);
        state.apply(&like("bob", T0), Some(50.0), &params);
        assert_eq!(state.raw_at(T0, &params.half_lives), 1.5);
    }

    #[test]
    fn a_full_actor_map_evicts_the_first_lightest() {
        let params = Params {
            top_actors: 2,
            ..Params::default()
        };
        let mut state = Signals::new(T0, &params);
        state.apply(&like("a", T0), Some(50.0), &params);
        state.apply(&like("b", T0), Some(50.0), &params);
        state.apply(&like("c", T0), Some(60.0), &params);
        let actors: Vec<&str> = state.actors.keys().map(String::as_str).collect();
        assert_eq!(actors, ["b", "c"]);
    }

    #[test]
    fn a_rebase_moves_the_landmark_and_prunes() {
        let params = Params::default();
        let mut state = Signals::new(T0, &params);
        state.apply(&like("bob", T0), None, &params);
        let before = state.raw_at(T0 + 40 * DAY, &params.half_lives);
        state.apply(
            &Engagement {
                kind: Kind::Share,
                ..like("carol", T0 + 40 * DAY)
            },
            None,
            &params,
        );
        assert_eq!(state.landmark_ms, T0 + 40 * DAY);
        assert!(state.sums.contains_key("ltwitter"));
        assert!(
            (state.components_at(T0 + 40 * DAY, &params.half_lives)[0][0].1 - before).abs() < 1e-15
        );
    }

    #[test]
    fn topics_share_the_weight_and_the_lightest_is_evicted() {
        let params = Params {
            top_topics: 2,
            ..Params::default()
        };
        let mut state = Signals::new(T0, &params);
        let about = |topics: Vec<&'static str>, actor: &'static str| Engagement {
            topics,
            ..like(actor, T0)
        };
        state.apply(&about(vec!["coffee", "tea"], "a"), Some(50.0), &params);
        state.apply(&about(vec!["coffee"], "b"), Some(50.0), &params);
        state.apply(&about(vec!["cocoa"], "c"), Some(50.0), &params);
        let (tagged, topics) = state.topics_at(T0, &params.half_lives);
        assert_eq!(tagged, 3.0);
        assert_eq!(topics, [("coffee", 1.5), ("cocoa", 1.0)]);
        let (_, later) = state.topics_at(T0 + 14 * DAY, &params.half_lives);
        assert_eq!(later[0], ("coffee", 0.75));
    }

    #[test]
    fn the_actor_hash_is_blake2b_with_an_8_byte_digest() {
        // hashlib.blake2b(b"bob", digest_size=8).digest() read little-endian.
        assert_eq!(actor_hash("bob"), 0x92a4_66b9_2b2b_f374);
    }

    #[test]
    fn registers_round_trip_sparse_and_dense() {
        let mut registers = [0u8; HLL_REGISTERS];
        registers[3] = 5;
        match encode_registers(&registers) {
            EncodedRegisters::Sparse(items) => {
                assert_eq!(items, [3 * 64 + 5]);
                assert_eq!(decode_sparse_registers(&items).unwrap(), registers);
            }
            EncodedRegisters::Dense(_) => panic!("one register is sparse"),
        }
        let dense = [7u8; HLL_REGISTERS];
        match encode_registers(&dense) {
            EncodedRegisters::Dense(text) => {
                assert_eq!(decode_dense_registers(&text).unwrap(), dense)
            }
            EncodedRegisters::Sparse(_) => panic!("64 registers are dense"),
        }
    }

    #[test]
    fn engagers_count_distinct_actors() {
        let params = Params::default();
        let mut state = Signals::new(T0, &params);
        for actor in ["a", "b", "c", "a"] {
            state.apply(&like(actor, T0), None, &params);
        }
        assert_eq!(state.engagers_at(T0, &params), 3);
        assert_eq!(state.engagers_at(T0 + 200 * DAY, &params), 0);
    }
}
