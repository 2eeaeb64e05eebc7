//! The chunk worker's handler, as a library so the cost benchmark (`examples/cost.rs`) drives
//! the very code the Lambda runs. `main.rs` is the Lambda wiring.

mod batch;
pub mod handler;
mod merge;
