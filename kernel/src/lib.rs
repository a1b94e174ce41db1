//! Clout's compiled per-event path: decode and validate a batch's record values, fold its
//! events into per-user signal state with the Python model's exact semantics, score the users
//! and encode their cards for the Redis writer.

pub mod cards;
pub mod events;
pub mod json;
mod python;
pub mod scoring;
pub mod signals;
