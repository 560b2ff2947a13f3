//! When probes run: jobs (a probe with its params and limits), the scheduler that runs
//! each job on its interval, the watcher that keeps jobs in step with the probe files,
//! and `--once`.

mod dir_events;
pub mod job;
pub mod once;
pub mod publishable;
pub mod scheduler;
pub mod watch;
