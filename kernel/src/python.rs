//! The Python module `clout_kernel._kernel`: one call per Kafka batch for triage and for the fold.
//!
//! Triage builds the worker's own frozen dataclasses (`EngagementEvent`, `Position`,
//! `Accepted`, handed in once) the way their generated `__init__` does, with
//! `object.__new__` and `object.__setattr__`, so everything after triage is unchanged Python.

use std::collections::HashMap;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern};

use crate::cards::{Card, RowHead, Topic, write_row};
use crate::events::{Event, Outcome, Rules, Triaged, triage_value};
use crate::scoring::{Curve, StyleRules, card, next_refresh_ms};
use crate::signals::{Engagement, Kind, Params, Signals};
use crate::signals::{decode_dense_registers, decode_sparse_registers};
use indexmap::IndexMap;

/// Validates the record values of a batch against the worker's topics and rules.
#[pyclass(module = "clout_kernel", name = "Triager", frozen)]
struct Triager {
    kinds_by_topic: HashMap<String, Kind>,
    kind_members: [Py<PyAny>; 3],
    partitions: u32,
    rules: Rules,
    event_type: Py<PyType>,
    position_type: Py<PyType>,
    accepted_type: Py<PyType>,
}

/// One part of a batch as the kernel judged it (see `triage`).
struct Part<'py> {
    accepted: Bound<'py, PyList>,
    refused: Bound<'py, PyList>,
    rekeyed: Bound<'py, PyList>,
    events: Bound<'py, PyDict>,
    deferred: Bound<'py, PyList>,
    size: usize,
}

impl<'py> Part<'py> {
    fn new(py: Python<'py>) -> Self {
        Part {
            accepted: PyList::empty(py),
            refused: PyList::empty(py),
            rekeyed: PyList::empty(py),
            events: PyDict::new(py),
            deferred: PyList::empty(py),
            size: 0,
        }
    }

    fn count(&mut self, topic: &Bound<'py, PyString>, events: usize) -> PyResult<()> {
        let before: usize = match self.events.get_item(topic)? {
            Some(count) => count.extract()?,
            None => 0,
        };
        self.events.set_item(topic, before + events)?;
        self.size += events;
        Ok(())
    }

    fn into_tuple(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [
                self.accepted.into_any(),
                self.refused.into_any(),
                self.rekeyed.into_any(),
                self.events.into_any(),
                self.deferred.into_any(),
            ],
        )
    }
}

#[pymethods]
impl Triager {
    #[new]
    #[pyo3(signature = (*, kinds, kinds_by_topic, partitions, horizon_ms, max_future_ms, max_id_len, event_type, position_type, accepted_type))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        kinds: &Bound<'_, PyAny>,
        kinds_by_topic: &Bound<'_, PyAny>,
        partitions: u32,
        horizon_ms: i64,
        max_future_ms: i64,
        max_id_len: usize,
        event_type: Py<PyType>,
        position_type: Py<PyType>,
        accepted_type: Py<PyType>,
    ) -> PyResult<Self> {
        if partitions == 0 {
            return Err(PyValueError::new_err("partitions must be at least 1"));
        }
        let mut members: [Option<Py<PyAny>>; 3] = [None, None, None];
        for member in kinds.try_iter()? {
            let member = member?;
            let kind = kind_named(member.cast::<PyString>()?.to_str()?)?;
            members[kind.index()] = Some(member.unbind());
        }
        let mut topics = HashMap::new();
        for item in kinds_by_topic
            .call_method0(intern!(py, "items"))?
            .try_iter()?
        {
            let (topic, kind): (String, Bound<'_, PyAny>) = item?.extract()?;
            topics.insert(topic, kind_named(kind.cast::<PyString>()?.to_str()?)?);
        }
        let [like, share, mention] = members;
        let missing = || PyValueError::new_err("kinds must hold every kind");
        Ok(Triager {
            kinds_by_topic: topics,
            kind_members: [
                like.ok_or_else(missing)?,
                share.ok_or_else(missing)?,
                mention.ok_or_else(missing)?,
            ],
            partitions,
            rules: Rules {
                horizon_ms,
                max_future_ms,
                max_id_len,
            },
            event_type,
            position_type,
            accepted_type,
        })
    }

    /// Judge the messages of `batch`, in parts of about `max_events` events (whole messages),
    /// one part each time the returned iterator is advanced: a batch of envelopes can hold
    /// hundreds of thousands of events, and only the part being carried out is ever held as
    /// Python objects.
    ///
    /// Each part is `(accepted, refused, rekeyed, events, deferred)`: `Accepted` objects,
    /// `(message, reason, index, item bytes or None)`, `(message, index, EngagementEvent)`,
    /// events per topic, and the numbers of the messages handed to `defer(number, message)`,
    /// which judges one message the Python way and returns how many events it held.
    #[pyo3(signature = (batch, now_ms, max_events, defer))]
    fn triage(
        slf: &Bound<'_, Self>,
        batch: &Bound<'_, PyAny>,
        now_ms: i64,
        max_events: Option<usize>,
        defer: &Bound<'_, PyAny>,
    ) -> PyResult<Parts> {
        Ok(Parts {
            triager: slf.clone().unbind(),
            messages: batch.try_iter()?.unbind(),
            next_number: 0,
            now_ms,
            max_events,
            defer: defer.clone().unbind(),
        })
    }
}

/// The parts of one batch, judged as they are asked for (see `Triager.triage`).
#[pyclass(module = "clout_kernel", name = "Parts")]
struct Parts {
    triager: Py<Triager>,
    messages: Py<PyIterator>,
    next_number: usize,
    now_ms: i64,
    max_events: Option<usize>,
    defer: Py<PyAny>,
}

#[pymethods]
impl Parts {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next part: messages judged until it holds `max_events` events or the batch ends.
    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let triager = self.triager.get();
        let defer = self.defer.bind(py);
        let mut messages = self.messages.bind(py).clone();
        let mut part = Part::new(py);
        for message in &mut messages {
            let message = message?;
            let number = self.next_number;
            self.next_number += 1;
            let topic = message
                .getattr(intern!(py, "topic"))?
                .cast_into::<PyString>()?;
            match triager.kinds_by_topic.get(topic.to_str()?) {
                None => triager.defer(&mut part, &topic, number, &message, defer)?,
                Some(kind) => triager.judge(
                    py,
                    &mut part,
                    &topic,
                    number,
                    &message,
                    *kind,
                    self.now_ms,
                    defer,
                )?,
            }
            if self.max_events.is_some_and(|max| part.size >= max) {
                return part.into_tuple(py).map(Some);
            }
        }
        if part.size > 0 {
            return part.into_tuple(py).map(Some);
        }
        Ok(None)
    }
}

impl Triager {
    #[allow(clippy::too_many_arguments)]
    fn judge<'py>(
        &self,
        py: Python<'py>,
        part: &mut Part<'py>,
        topic: &Bound<'py, PyString>,
        number: usize,
        message: &Bound<'py, PyAny>,
        kind: Kind,
        now_ms: i64,
        defer: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let partition: u32 = message.getattr(intern!(py, "partition"))?.extract()?;
        let value = message.getattr(intern!(py, "value"))?;
        let bytes = if value.is_none() {
            None
        } else {
            Some(value.cast::<PyBytes>()?.as_bytes())
        };
        let (events, outcomes) =
            match triage_value(bytes, kind, partition, self.partitions, now_ms, &self.rules) {
                Triaged::Defer => return self.defer(part, topic, number, message, defer),
                Triaged::Judged { events, outcomes } => (events, outcomes),
            };
        part.count(topic, events)?;
        let mut position = None;
        for outcome in outcomes {
            match outcome {
                Outcome::Accepted { index, event } => {
                    let (partition, offset) = position.get_or_insert((
                        partition.into_pyobject(py)?.into_any(),
                        message.getattr(intern!(py, "offset"))?,
                    ));
                    let position = instance(
                        py,
                        &self.position_type,
                        &[
                            (intern!(py, "topic"), topic.clone().into_any()),
                            (intern!(py, "partition"), partition.clone()),
                            (intern!(py, "offset"), offset.clone()),
                            (intern!(py, "index"), index.into_pyobject(py)?.into_any()),
                        ],
                    )?;
                    let accepted = instance(
                        py,
                        &self.accepted_type,
                        &[
                            (intern!(py, "event"), self.event(py, &event)?),
                            (intern!(py, "position"), position),
                            (intern!(py, "message"), number.into_pyobject(py)?.into_any()),
                        ],
                    )?;
                    part.accepted.append(accepted)?;
                }
                Outcome::Rekeyed { index, event } => {
                    part.rekeyed
                        .append((number, index, self.event(py, &event)?))?;
                }
                Outcome::Refused {
                    index,
                    reason,
                    item,
                } => {
                    let item = item.map(|item| PyBytes::new(py, item));
                    part.refused.append((number, reason, index, item))?;
                }
            }
        }
        Ok(())
    }

    fn defer<'py>(
        &self,
        part: &mut Part<'py>,
        topic: &Bound<'py, PyString>,
        number: usize,
        message: &Bound<'py, PyAny>,
        defer: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let events: usize = defer.call1((number, message))?.extract()?;
        part.deferred.append(number)?;
        part.count(topic, events)
    }

    fn event<'py>(&self, py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyAny>> {
        instance(
            py,
            &self.event_type,
            &[
                (
                    intern!(py, "event_id"),
                    PyString::new(py, &event.event_id).into_any(),
                ),
                (
                    intern!(py, "kind"),
                    self.kind_members[event.kind.index()].bind(py).clone(),
                ),
                (
                    intern!(py, "network"),
                    PyString::new(py, &event.network).into_any(),
                ),
                (
                    intern!(py, "actor_id"),
                    PyString::new(py, &event.actor_id).into_any(),
                ),
                (
                    intern!(py, "target_id"),
                    PyString::new(py, &event.target_id).into_any(),
                ),
                (
                    intern!(py, "post_id"),
                    event.post_id.as_deref().into_pyobject(py)?.into_any(),
                ),
                (
                    intern!(py, "ts_ms"),
                    event.ts_ms.into_pyobject(py)?.into_any(),
                ),
                (
                    intern!(py, "topics"),
                    PyTuple::new(py, event.topics.iter().map(|t| PyString::new(py, t)))?.into_any(),
                ),
            ],
        )
    }
}

/// A frozen slots dataclass instance, built as its generated `__init__` builds it:
/// `object.__new__(cls)`, then `object.__setattr__` for each field.
fn instance<'py>(
    py: Python<'py>,
    cls: &Py<PyType>,
    fields: &[(&Bound<'py, PyString>, Bound<'py, PyAny>)],
) -> PyResult<Bound<'py, PyAny>> {
    let args = PyTuple::empty(py);
    // SAFETY: `object` always has `tp_new`; it takes any type deriving from it and no arguments.
    let obj = unsafe {
        let new = (*std::ptr::addr_of!(ffi::PyBaseObject_Type))
            .tp_new
            .expect("object.__new__");
        let raw = new(cls.as_ptr().cast(), args.as_ptr(), std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(py, raw)?
    };
    for (name, value) in fields {
        // SAFETY: three valid, owned references; this is `object.__setattr__`.
        let status =
            unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) };
        if status != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(obj)
}

fn kind_named(name: &str) -> PyResult<Kind> {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown kind {name:?}")))
}

/// One user's decayed signals: `app.scoring.signals.UserSignals`, compiled.
#[pyclass(module = "clout_kernel", name = "Signals")]
struct PySignals {
    inner: Signals,
}

fn half_lives(params: &Bound<'_, PyAny>) -> PyResult<[f64; 3]> {
    let py = params.py();
    Ok([
        params
            .getattr(intern!(py, "like_half_life_ms"))?
            .extract()?,
        params
            .getattr(intern!(py, "share_half_life_ms"))?
            .extract()?,
        params
            .getattr(intern!(py, "mention_half_life_ms"))?
            .extract()?,
    ])
}

/// `ModelParams` (or anything with its attributes) as the fold uses it.
fn model_params(params: &Bound<'_, PyAny>) -> PyResult<Params> {
    let py = params.py();
    let get = |name: &Bound<'_, PyString>| -> PyResult<f64> { params.getattr(name)?.extract() };
    Ok(Params {
        half_lives: half_lives(params)?,
        base_weights: [
            get(intern!(py, "like_weight"))?,
            get(intern!(py, "share_weight"))?,
            get(intern!(py, "mention_weight"))?,
        ],
        actor_weight_floor: get(intern!(py, "actor_weight_floor"))?,
        actor_weight_pivot: get(intern!(py, "actor_weight_pivot"))?,
        actor_weight_exponent: get(intern!(py, "actor_weight_exponent"))?,
        actor_weight_cap: get(intern!(py, "actor_weight_cap"))?,
        repeat_half_life_ms: get(intern!(py, "repeat_half_life_ms"))?,
        top_actors: params.getattr(intern!(py, "top_actors"))?.extract()?,
        top_topics: params.getattr(intern!(py, "top_topics"))?.extract()?,
        burst_half_life_ms: get(intern!(py, "burst_half_life_ms"))?,
        burst_tolerance: get(intern!(py, "burst_tolerance"))?,
        trusted_actor_score: get(intern!(py, "trusted_actor_score"))?,
        horizon_ms: get(intern!(py, "horizon_ms"))?,
    })
}

/// Only the horizon matters to the HyperLogLog's epochs.
fn horizon_params(params: &Bound<'_, PyAny>) -> PyResult<Params> {
    let horizon_ms = params
        .getattr(intern!(params.py(), "horizon_ms"))?
        .extract()?;
    Ok(Params {
        horizon_ms,
        ..Params::default()
    })
}

#[pymethods]
impl PySignals {
    /// Decayed total per kind code at `now_ms`.
    fn kind_totals<'py>(
        &self,
        py: Python<'py>,
        now_ms: i64,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let totals = self.inner.kind_totals(now_ms, &half_lives(params)?);
        let out = PyDict::new(py);
        for kind in Kind::ALL {
            out.set_item(kind.code(), totals[kind.index()])?;
        }
        Ok(out)
    }

    /// Raw influence at `now_ms`.
    fn raw_at(&self, now_ms: i64, params: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.inner.raw_at(now_ms, &half_lives(params)?))
    }

    /// `{kind: {network: decayed value}}` at `now_ms`; always has all three kinds.
    fn components_at<'py>(
        &self,
        py: Python<'py>,
        now_ms: i64,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let components = self.inner.components_at(now_ms, &half_lives(params)?);
        let out = PyDict::new(py);
        for kind in Kind::ALL {
            let networks = PyDict::new(py);
            for (network, value) in &components[kind.index()] {
                networks.set_item(*network, *value)?;
            }
            out.set_item(kind.name(), networks)?;
        }
        Ok(out)
    }

    /// The `limit` heaviest tracked actors with their contributions at `now_ms`.
    fn top_actors_at(
        &self,
        now_ms: i64,
        params: &Bound<'_, PyAny>,
        limit: usize,
    ) -> PyResult<Vec<(String, f64)>> {
        let repeat: f64 = params
            .getattr(intern!(params.py(), "repeat_half_life_ms"))?
            .extract()?;
        let top = self.inner.top_actors_at(now_ms, repeat, limit);
        Ok(top
            .into_iter()
            .map(|(actor, value)| (actor.to_owned(), value))
            .collect())
    }

    /// (decayed topic-tagged total, `{topic: decayed engagement}`) at `now_ms`.
    fn topics_at<'py>(
        &self,
        py: Python<'py>,
        now_ms: i64,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, Bound<'py, PyDict>)> {
        let (tagged, topics) = self.inner.topics_at(now_ms, &half_lives(params)?);
        let out = PyDict::new(py);
        for (topic, value) in topics {
            out.set_item(topic, value)?;
        }
        Ok((tagged, out))
    }

    /// Estimated distinct engagers in the current and previous epoch.
    fn engagers_at(&self, now_ms: i64, params: &Bound<'_, PyAny>) -> PyResult<i64> {
        Ok(self.inner.engagers_at(now_ms, &horizon_params(params)?))
    }

    /// The table form (`UserSignals.to_dict()`'s, key for key) as JSON bytes: the table
    /// value's `"s"`.
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let json = serde_json::to_vec(&self.inner).expect("a state always serializes");
        PyBytes::new(py, &json)
    }

    /// Rebuild the state from the table form (`to_json`'s, decoded, or `UserSignals.to_dict()`);
    /// ValueError when malformed.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        signals_from_dict(data)
            .map(|inner| PySignals { inner })
            .map_err(|err| PyValueError::new_err(format!("malformed UserSignals: {err}")))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PySignals>()
            .is_ok_and(|other| other.borrow().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        let json = serde_json::to_string(&self.inner).expect("a state always serializes");
        format!("Signals({json})")
    }
}

fn signals_from_dict(data: &Bound<'_, PyAny>) -> Result<Signals, String> {
    let py = data.py();
    let data = data.cast::<PyDict>().map_err(|_| "not a dict".to_owned())?;
    let field = |name: &str| -> Result<Bound<'_, PyAny>, String> {
        data.get_item(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("KeyError('{name}')"))
    };
    let extract = |err: PyErr| {
        err.value(py)
            .repr()
            .map_or_else(|_| err.to_string(), |r| r.to_string())
    };
    let mut sums = indexmap::IndexMap::new();
    for (key, value) in field("s")?
        .cast::<PyDict>()
        .map_err(|_| "s".to_owned())?
        .iter()
    {
        let key: String = key.extract().map_err(extract)?;
        if key.chars().next().and_then(Kind::from_code).is_none() {
            return Err(format!("sums key {key:?}"));
        }
        sums.insert(key, value.extract::<f64>().map_err(extract)?);
    }
    let mut actors = indexmap::IndexMap::new();
    if let Some(value) = data.get_item("a").map_err(extract)? {
        for (actor, entry) in value.cast::<PyDict>().map_err(|_| "a".to_owned())?.iter() {
            let [count, contribution]: [f64; 2] = entry.extract().map_err(extract)?;
            actors.insert(
                actor.extract::<String>().map_err(extract)?,
                [count, contribution],
            );
        }
    }
    let burst = match data.get_item("b").map_err(extract)? {
        Some(value) => value.extract().map_err(extract)?,
        None => 0.0,
    };
    let hll_prev = match data.get_item("p").map_err(extract)? {
        Some(value) if !value.is_none() => Some(registers_from(&value)?),
        _ => None,
    };
    let mut topics = IndexMap::new();
    if let Some(value) = data.get_item("T").map_err(extract)? {
        for (topic, entry) in value.cast::<PyDict>().map_err(|_| "T".to_owned())?.iter() {
            let entry: [f64; 3] = entry.extract().map_err(extract)?;
            topics.insert(topic.extract::<String>().map_err(extract)?, entry);
        }
    }
    let tagged = match data.get_item("W").map_err(extract)? {
        Some(value) if !topics.is_empty() => value.extract().map_err(extract)?,
        _ => [0.0; 3],
    };
    Ok(Signals {
        landmark_ms: field("L")?.extract().map_err(extract)?,
        t_ms: field("t")?.extract().map_err(extract)?,
        sums,
        actors,
        burst,
        epoch: field("e")?.extract().map_err(extract)?,
        hll: registers_from(&field("h")?)?,
        hll_prev,
        topics,
        tagged,
    })
}

fn registers_from(value: &Bound<'_, PyAny>) -> Result<[u8; 64], String> {
    if let Ok(text) = value.cast::<PyString>() {
        return decode_dense_registers(text.to_str().map_err(|e| e.to_string())?);
    }
    let items: Vec<i64> = value.extract().map_err(|_| "registers".to_owned())?;
    decode_sparse_registers(&items)
}

/// Fold each fresh first sighting into its user's state, in order: `app.step.plan.fold`'s loop.
///
/// `states` maps a target to its `StoredUser` (its `signals` is a `Signals`, created here for a
/// new user); each counted event is recorded with the state's own `mark_applied`.
#[pyfunction]
fn fold(
    fresh: &Bound<'_, PyList>,
    first_sightings: Vec<bool>,
    states: &Bound<'_, PyDict>,
    standing: &Bound<'_, PyDict>,
    params: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = fresh.py();
    if fresh.len() != first_sightings.len() {
        return Err(PyValueError::new_err(
            "fresh and first_sightings differ in length",
        ));
    }
    let model = model_params(params)?;
    for (item, first) in fresh.iter().zip(first_sightings) {
        if !first {
            continue;
        }
        let event = item.getattr(intern!(py, "event"))?;
        let target = event.getattr(intern!(py, "target_id"))?;
        let stored = states
            .get_item(&target)?
            .ok_or_else(|| PyKeyError::new_err(target.clone().unbind()))?;
        let actor = event
            .getattr(intern!(py, "actor_id"))?
            .cast_into::<PyString>()?;
        let score: Option<f64> = standing
            .get_item(&actor)?
            .ok_or_else(|| PyKeyError::new_err(actor.clone().unbind()))?
            .extract()?;
        let network = event
            .getattr(intern!(py, "network"))?
            .cast_into::<PyString>()?;
        let topic_items = event.getattr(intern!(py, "topics"))?;
        let topic_items = topic_items.cast::<PyTuple>()?;
        let topic_names: Vec<Bound<'_, PyString>> = topic_items
            .iter()
            .map(|t| t.cast_into::<PyString>().map_err(PyErr::from))
            .collect::<PyResult<_>>()?;
        let topics = topic_names
            .iter()
            .map(|t| t.to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        let engagement = Engagement {
            kind: kind_named(
                event
                    .getattr(intern!(py, "kind"))?
                    .cast::<PyString>()?
                    .to_str()?,
            )?,
            network: network.to_str()?,
            actor_id: actor.to_str()?,
            ts_ms: event.getattr(intern!(py, "ts_ms"))?.extract()?,
            topics,
        };
        let current = stored.getattr(intern!(py, "signals"))?;
        let signals = if current.is_none() {
            let created = Bound::new(
                py,
                PySignals {
                    inner: Signals::new(engagement.ts_ms, &model),
                },
            )?;
            stored.setattr(intern!(py, "signals"), &created)?;
            created
        } else {
            current.cast_into::<PySignals>()?
        };
        signals.borrow_mut().inner.apply(&engagement, score, &model);
        let position = item.getattr(intern!(py, "position"))?;
        stored.call_method1(
            intern!(py, "mark_applied"),
            (
                position.getattr(intern!(py, "topic"))?,
                position.getattr(intern!(py, "offset"))?,
                position.getattr(intern!(py, "index"))?,
            ),
        )?;
    }
    Ok(())
}

/// Scores users on one curve: `score_card` and `next_refresh_ms` for each, in one call.
#[pyclass(module = "clout_kernel", name = "Scorer", frozen)]
struct Scorer {
    curve: Curve,
    topic_curves: HashMap<String, Curve>,
    curve_version: i64,
    model_version: Py<PyString>,
    explain_top_actors: usize,
    max_refresh_ms: i64,
    card_type: Py<PyType>,
    contribution_type: Py<PyType>,
    topic_type: Py<PyType>,
}

#[pymethods]
impl Scorer {
    /// `topic_curves` maps a topic to its own curve's grid scores (same grid and tails).
    #[new]
    #[pyo3(signature = (*, scores, topic_curves, x0, step, raw_min, raw_max, tail, min_score, max_score, curve_version, model_version, explain_top_actors, max_refresh_ms, card_type, contribution_type, topic_type))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        scores: Vec<f64>,
        topic_curves: HashMap<String, Vec<f64>>,
        x0: f64,
        step: f64,
        raw_min: f64,
        raw_max: f64,
        tail: f64,
        min_score: f64,
        max_score: f64,
        curve_version: i64,
        model_version: Py<PyString>,
        explain_top_actors: usize,
        max_refresh_ms: i64,
        card_type: Py<PyType>,
        contribution_type: Py<PyType>,
        topic_type: Py<PyType>,
    ) -> PyResult<Self> {
        let curve = |scores: Vec<f64>| -> PyResult<Curve> {
            if scores.len() < 2 {
                return Err(PyValueError::new_err(
                    "a curve has at least two grid scores",
                ));
            }
            Ok(Curve {
                scores,
                x0,
                step,
                raw_min,
                raw_max,
                tail,
                min_score,
                max_score,
            })
        };
        Ok(Scorer {
            curve: curve(scores)?,
            topic_curves: topic_curves
                .into_iter()
                .map(|(topic, scores)| Ok((topic, curve(scores)?)))
                .collect::<PyResult<_>>()?,
            curve_version,
            model_version,
            explain_top_actors,
            max_refresh_ms,
            card_type,
            contribution_type,
            topic_type,
        })
    }

    /// `(ScoreCard, next refresh ms)` for each `(user id, Signals)`, scored at `now_ms`.
    fn score<'py>(
        &self,
        py: Python<'py>,
        users: &Bound<'py, PyList>,
        now_ms: i64,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let model = model_params(params)?;
        let get = |name: &Bound<'_, PyString>| -> PyResult<f64> { params.getattr(name)?.extract() };
        let rules = StyleRules {
            celebrity_score: get(intern!(py, "celebrity_score"))?,
            style_dominance: get(intern!(py, "style_dominance"))?,
            specialist_share: get(intern!(py, "specialist_share"))?,
            influential_share: get(intern!(py, "influential_share"))?,
        };
        let out = PyList::empty(py);
        for item in users.iter() {
            let (user_id, signals): (Bound<'py, PyString>, Bound<'py, PySignals>) =
                item.extract()?;
            let state = &signals.borrow().inner;
            let scored = card(
                state,
                now_ms,
                &model,
                &rules,
                &self.curve,
                &self.topic_curves,
                self.explain_top_actors,
            );
            let components = PyDict::new(py);
            for (kind, networks) in Kind::ALL.into_iter().zip(&scored.components) {
                let values = PyDict::new(py);
                for (network, value) in networks {
                    values.set_item(*network, *value)?;
                }
                components.set_item(kind.name(), values)?;
            }
            let mut top = Vec::with_capacity(scored.top_actors.len());
            for (actor, value) in &scored.top_actors {
                top.push(instance(
                    py,
                    &self.contribution_type,
                    &[
                        (intern!(py, "actor_id"), PyString::new(py, actor).into_any()),
                        (
                            intern!(py, "contribution"),
                            value.into_pyobject(py)?.into_any(),
                        ),
                    ],
                )?);
            }
            let mut about = Vec::with_capacity(scored.influential_about.len());
            for topic in &scored.influential_about {
                let curve = if topic.own_curve { "topic" } else { "global" };
                about.push(instance(
                    py,
                    &self.topic_type,
                    &[
                        (
                            intern!(py, "topic"),
                            PyString::new(py, topic.topic).into_any(),
                        ),
                        (
                            intern!(py, "share"),
                            topic.share.into_pyobject(py)?.into_any(),
                        ),
                        (intern!(py, "raw"), topic.raw.into_pyobject(py)?.into_any()),
                        (
                            intern!(py, "score"),
                            topic.score.into_pyobject(py)?.into_any(),
                        ),
                        (intern!(py, "curve"), PyString::new(py, curve).into_any()),
                    ],
                )?);
            }
            let built = instance(
                py,
                &self.card_type,
                &[
                    (intern!(py, "user_id"), user_id.into_any()),
                    (
                        intern!(py, "score"),
                        scored.score.into_pyobject(py)?.into_any(),
                    ),
                    (intern!(py, "raw"), scored.raw.into_pyobject(py)?.into_any()),
                    (intern!(py, "components"), components.into_any()),
                    (
                        intern!(py, "style"),
                        PyString::new(py, scored.style).into_any(),
                    ),
                    (
                        intern!(py, "engagers"),
                        scored.engagers.into_pyobject(py)?.into_any(),
                    ),
                    (intern!(py, "top_actors"), PyTuple::new(py, top)?.into_any()),
                    (
                        intern!(py, "updated_at_ms"),
                        now_ms.into_pyobject(py)?.into_any(),
                    ),
                    (
                        intern!(py, "model_version"),
                        self.model_version.bind(py).clone().into_any(),
                    ),
                    (
                        intern!(py, "curve_version"),
                        self.curve_version.into_pyobject(py)?.into_any(),
                    ),
                    (
                        intern!(py, "influential_about"),
                        PyTuple::new(py, about)?.into_any(),
                    ),
                ],
            )?;
            let due = next_refresh_ms(state, now_ms, &model, &self.curve, self.max_refresh_ms);
            out.append((built, due))?;
        }
        Ok(out)
    }

    /// `plan.standings` for states holding kernel `Signals`: each actor's displayed score at
    /// `now_ms` from its state in `unscored` (a `StoredUser`) when that has signals, else from
    /// its raw in `stored_raws` (None: not scored yet).
    fn standings<'py>(
        &self,
        py: Python<'py>,
        actors: &Bound<'py, PyList>,
        stored_raws: &Bound<'py, PyDict>,
        unscored: &Bound<'py, PyDict>,
        now_ms: i64,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let half_lives = half_lives(params)?;
        let out = PyDict::new(py);
        for actor in actors.iter() {
            let signals = match unscored.get_item(&actor)? {
                Some(state) => Some(state.getattr(intern!(py, "signals"))?),
                None => None,
            };
            let raw: Option<f64> = match signals {
                Some(signals) if !signals.is_none() => Some(
                    signals
                        .cast::<PySignals>()?
                        .borrow()
                        .inner
                        .raw_at(now_ms, &half_lives),
                ),
                _ => match stored_raws.get_item(&actor)? {
                    Some(raw) => raw.extract()?,
                    None => None,
                },
            };
            out.set_item(actor, raw.map(|raw| self.curve.shown(raw)))?;
        }
        Ok(out)
    }
}

/// A `ScoreCard` read into the encoder's `Card` (its dictionaries in their order).
fn card_from<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Card> {
    let py = obj.py();
    let get = |name: &Bound<'py, PyString>| obj.getattr(name);
    let pairs =
        |items: Bound<'py, PyAny>, name: &Bound<'py, PyString>, value: &Bound<'py, PyString>| {
            items
                .try_iter()?
                .map(|item| {
                    let item = item?;
                    Ok((
                        item.getattr(name)?.extract()?,
                        item.getattr(value)?.extract()?,
                    ))
                })
                .collect::<PyResult<Vec<(String, f64)>>>()
        };
    let components = get(intern!(py, "components"))?;
    let components = components.cast::<PyDict>()?;
    let mut kinds = Vec::with_capacity(components.len());
    for (kind, networks) in components.iter() {
        let networks = networks.cast_into::<PyDict>()?;
        let mut values = Vec::with_capacity(networks.len());
        for (network, value) in networks.iter() {
            values.push((network.extract()?, value.extract()?));
        }
        kinds.push((kind.extract()?, values));
    }
    let mut about = Vec::new();
    for topic in get(intern!(py, "influential_about"))?.try_iter()? {
        let topic = topic?;
        about.push(Topic {
            topic: topic.getattr(intern!(py, "topic"))?.extract()?,
            share: topic.getattr(intern!(py, "share"))?.extract()?,
            raw: topic.getattr(intern!(py, "raw"))?.extract()?,
            score: topic.getattr(intern!(py, "score"))?.extract()?,
            curve: topic.getattr(intern!(py, "curve"))?.extract()?,
        });
    }
    Ok(Card {
        user_id: get(intern!(py, "user_id"))?.extract()?,
        score: get(intern!(py, "score"))?.extract()?,
        raw: get(intern!(py, "raw"))?.extract()?,
        components: kinds,
        style: get(intern!(py, "style"))?.extract()?,
        engagers: get(intern!(py, "engagers"))?.extract()?,
        top_actors: pairs(
            get(intern!(py, "top_actors"))?,
            intern!(py, "actor_id"),
            intern!(py, "contribution"),
        )?,
        updated_at_ms: get(intern!(py, "updated_at_ms"))?.extract()?,
        model_version: get(intern!(py, "model_version"))?.extract()?,
        curve_version: get(intern!(py, "curve_version"))?.extract()?,
        influential_about: about,
    })
}

/// The cards argument of one `write_cards.lua` call: a JSON array with one row per
/// `(ScoreCard, fence, day, first kept day, band low, band high)` (kernel/src/cards.rs).
#[pyfunction]
fn card_rows<'py>(rows: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(rows.len() * 768 + 2);
    out.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        let (card, fence, day, first_kept_day, low, high): (
            Bound<'py, PyAny>,
            i64,
            Bound<'py, PyString>,
            Bound<'py, PyString>,
            i64,
            i64,
        ) = row.extract()?;
        if i > 0 {
            out.push(b',');
        }
        let head = RowHead {
            fence,
            day: day.to_str()?,
            first_kept_day: first_kept_day.to_str()?,
            band: (low, high),
        };
        write_row(&mut out, &card_from(&card)?, &head);
    }
    out.push(b']');
    Ok(PyBytes::new(rows.py(), &out))
}

#[pymodule]
fn _kernel(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Triager>()?;
    module.add_class::<Parts>()?;
    module.add_class::<PySignals>()?;
    module.add_class::<Scorer>()?;
    module.add_function(wrap_pyfunction!(fold, module)?)?;
    module.add_function(wrap_pyfunction!(card_rows, module)?)?;
    Ok(())
}
