//! Clout's compiled per-event path: decode and validate a batch's record values, and fold its
//! events into per-user signal state, with the Python model's exact semantics.

pub mod events;
pub mod json;
mod python;
pub mod scoring;
pub mod signals;
