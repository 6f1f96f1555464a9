//! Differential and linearizability testing of `shadow-vars` against a sequential
//! model (SPEC §5). The model, the operation vocabulary and the executors live here
//! so the proptests (`tests/`) and the fuzz target (`../fuzz`) share one definition
//! of correct behaviour.
//!
//! - [`model`]: what one key must do under each operation.
//! - [`ops`]: the operation enum and the map configurations.
//! - [`api`]: one trait over `ShadowMap` and `ShadowMapRef`.
//! - [`diff`]: runs a sequence against the map and the model, comparing every result.
//! - [`lin`]: a linearizability checker for concurrent histories.
//! - [`value`]: tagged and drop-counting values.

pub mod api;
pub mod diff;
pub mod lin;
pub mod model;
pub mod ops;
pub mod value;

pub use diff::{Stats, run};
pub use model::{KeyOp, Obs, Ret, State, apply};
pub use ops::{Build, Config, Ctor, Key, Op};
pub use value::{DropLog, Plain, PlannedPanic, Tracked, Value};
