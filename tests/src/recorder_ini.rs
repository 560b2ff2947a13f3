//! `recorder.ini` files for tests that run the real recorder against the stack.

use crate::{Env, TEST_HEARTBEAT_INTERVAL_MS, TEST_SESSION_TIMEOUT_MS};

/// Where one test's recorder reads from and writes to.
pub struct RecorderTarget<'a> {
    /// `recorder` or `writer` (the seed's section name).
    pub section: &'a str,
    pub topic: &'a str,
    pub group: &'a str,
    pub database: &'a str,
}

/// A complete `recorder.ini` for `env`'s broker (recorder client cert, mutual TLS) and
/// PostgreSQL (verify-full), with the quick group-join settings tests need and a short
/// reconnect interval. `extra` lines are appended (later keys must not repeat earlier ones).
pub fn recorder_ini(env: &Env, target: &RecorderTarget, extra: &str) -> String {
    let certs = &env.recorder_cert_dir;
    format!(
        "[{section}]
kafka.bootstrap_servers = {brokers}
kafka.topic = {topic}
kafka.group_id = {group}
kafka.ssl.cafile = {ca}
kafka.ssl.certfile = {cert}
kafka.ssl.keyfile = {key}
kafka.option.session.timeout.ms = {TEST_SESSION_TIMEOUT_MS}
kafka.option.heartbeat.interval.ms = {TEST_HEARTBEAT_INTERVAL_MS}
postgres.host = {pg_host}
postgres.port = {pg_port}
postgres.user = {pg_user}
postgres.database = {db}
postgres.passwordfile = {pw}
postgres.ssl.rootcertfile = {root}
postgres.connect_interval_secs = 0.2
{extra}
",
        section = target.section,
        brokers = env.kafka_brokers,
        topic = target.topic,
        group = target.group,
        ca = certs.join("ca.pem").display(),
        cert = certs.join("service.cert").display(),
        key = certs.join("service.key").display(),
        pg_host = env.pg_host,
        pg_port = env.pg_port,
        pg_user = env.pg_user,
        db = target.database,
        pw = env.pg_password_file.display(),
        root = env.pg_root_cert.display(),
    )
}
