//! The Sonde recorder: Kafka → PostgreSQL over SSL, exactly once.
//!
//! [`app::run`] is the whole service; the other modules are its parts, each testable alone.

pub mod allocator;
pub mod app;
pub mod batch;
pub mod check;
pub mod cli;
pub mod commit;
pub mod config;
pub mod consumer;
pub mod copy_binary;
pub mod db;
pub mod migrations;
pub mod partitions;
pub mod pg_error;
pub mod pipeline;
pub mod report;
pub mod series;
pub mod stall;
pub mod telemetry;
pub mod tls;
pub mod topic_watch;
pub mod turn;
pub mod writer;
