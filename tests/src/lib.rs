//! Support for the end-to-end tests: read .dev/env, unique topics, SSL PostgreSQL.
