//! Load: its plan (`plan.rs`, built by the scenario), intended start times
//! (`schedule.rs`), waiting for them precisely (`pacing.rs`) and the engine
//! that keeps them (`engine/`, whose `mod.rs` says where each of its parts
//! lives): open model by default, latency from the intended time, dropped
//! arrivals counted, one engine for every shape.

pub mod engine;
pub mod pacing;
pub mod plan;
pub mod schedule;
