//! Support for the end-to-end tests against the local stack (`just up`): where the
//! services are ([`Env`]), TLS Kafka clients and unique topics, SSL PostgreSQL connections
//! and per-test databases, and private broker/PostgreSQL instances for fault drills.
//!
//! Helpers that only set a test up panic with a message naming what failed (and hinting
//! at `just up`); helpers whose failure a test may want to assert return a `Result`.

pub mod browser;
mod env;
mod http;
mod kafka;
pub mod poison;
mod postgres;
mod private;
mod recorder_ini;
pub mod wat;

pub use env::{workspace_root, Env, STACK_DOWN};
pub use http::{http_get, program};
pub use kafka::{
    create_topic, kafka_client_config, produce_raw, test_consumer_config, try_create_topic,
    unique_topic, TEST_HEARTBEAT_INTERVAL_MS, TEST_SESSION_TIMEOUT_MS,
};
pub use postgres::{
    create_test_database, pg_config, pg_connect, verify_full_tls, TEST_DATABASE_PREFIX,
};
pub use private::{free_port, PrivateBroker, PrivatePostgres};
pub use recorder_ini::{recorder_ini, RecorderTarget};
