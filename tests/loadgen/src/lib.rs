//! `sonde-loadgen`: a fleet of simulated hosts publishing runs the way Sonde's host does
//! (the same `sonde-message` encoding, key and producer settings), at a steady pace, for
//! `just bench-scale` (tests/stack/bench-scale.sh).
//!
//! - [`fleet`]: what each host runs and the runs' samples (the bundled probes' shapes);
//! - [`pacing`]: when each run is due, spread evenly over the interval;
//! - [`publish`]: the Kafka producer loop, its pace and its summary;
//! - [`record`]: the list of acknowledged runs, to check a consumer for gaps and duplicates;
//! - [`topic`]: creating the topic with the partition count asked for.

pub mod fleet;
pub mod pacing;
pub mod publish;
pub mod record;
pub mod topic;
