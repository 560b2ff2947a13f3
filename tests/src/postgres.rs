//! PostgreSQL for tests: verify-full SSL connections and a fresh database per test.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config};

use crate::env::{Env, STACK_DOWN};

/// Prefix of the databases [`create_test_database`] makes; `postgres.sh` drops leftovers
/// when it starts the shared cluster.
pub const TEST_DATABASE_PREFIX: &str = "sonde_test_";

/// Connection settings for `dbname` on the configured server: user, password from the
/// password file, `sslmode=require` (the TLS connector from [`verify_full_tls`] adds the
/// certificate and host name checks that make it verify-full).
pub fn pg_config(env: &Env, dbname: &str) -> Config {
    let mut config = Config::new();
    config
        .host(&env.pg_host)
        .port(env.pg_port)
        .user(&env.pg_user)
        .password(env.pg_password())
        .dbname(dbname)
        .ssl_mode(SslMode::Require)
        .connect_timeout(std::time::Duration::from_secs(10));
    config
}

/// A TLS connector that trusts only `root_cert` and checks the server's host name:
/// libpq's `sslmode=verify-full`.
pub fn verify_full_tls(root_cert: &Path) -> anyhow::Result<MakeTlsConnector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    builder
        .set_ca_file(root_cert)
        .map_err(|e| anyhow::anyhow!("cannot load root cert {}: {e}", root_cert.display()))?;
    builder.set_verify(SslVerifyMode::PEER);
    Ok(MakeTlsConnector::new(builder.build()))
}

/// Connects to `dbname` over SSL (verify-full against `env.pg_root_cert`) and spawns the
/// connection task on the current tokio runtime.
pub async fn pg_connect(env: &Env, dbname: &str) -> anyhow::Result<Client> {
    let tls = verify_full_tls(&env.pg_root_cert)?;
    let connected = pg_config(env, dbname).connect(tls).await;
    let (client, connection) = connected.map_err(|e| {
        // `{:#}` of the result shows the cause too (refused, TLS, authentication).
        anyhow::Error::new(e).context(format!(
            "connecting to PostgreSQL {}:{} db {dbname} as {} ({STACK_DOWN}?)",
            env.pg_host, env.pg_port, env.pg_user
        ))
    })?;
    tokio::spawn(async move {
        // The error surfaces on the client's next call; nothing more to do with it here.
        let _ = connection.await;
    });
    Ok(client)
}

/// Creates an empty database with a unique name (`sonde_test_<pid>_<n>_<uuid>`), owned by
/// the configured role, and returns its name.
///
/// # Panics
/// When PostgreSQL cannot be reached or refuses, with the cause.
pub async fn create_test_database(env: &Env) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{TEST_DATABASE_PREFIX}{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::now_v7().simple()
    );
    let client = match pg_connect(env, &env.pg_database).await {
        Ok(client) => client,
        Err(e) => panic!("{e:#}"),
    };
    if let Err(e) = client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
    {
        panic!("CREATE DATABASE {name} failed: {e}");
    }
    name
}
