//! TLS on both of the recorder's connections, on by default.
//!
//! Kafka: `security.protocol=ssl` unless `kafka.security_protocol = plaintext` (or the
//! pass-through option) asks otherwise; brokers are checked against `kafka.ssl.cafile`,
//! or the system's trusted CAs, host name included.
//!
//! PostgreSQL, as libpq's `sslmode`: over TCP the default is `verify-full`, against
//! `postgres.ssl.rootcertfile` when given, else against the system's trusted CAs (libpq's
//! `sslrootcert=system`). A root file is the only root trusted, by `verify-full` and
//! `verify-ca` alike. `require` (encrypted, not verified) and `disable` over TCP are used
//! only when asked for, and logged loudly; a UNIX socket needs no TLS.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use postgres_openssl::MakeTlsConnector;
use sonde_tls_policy::{kafka_option_warning, loud, secret_file_warning};

use crate::config::{Config, PgSettings, SecurityProtocol, SslMode};

/// The sslmode used: explicit, else disable over a UNIX socket, else verify-full.
pub fn effective_sslmode(s: &PgSettings) -> SslMode {
    match (s.sslmode, &s.host) {
        (Some(mode), _) => mode,
        (None, None) => SslMode::Disable,
        (None, Some(h)) if h.starts_with('/') => SslMode::Disable,
        (None, Some(_)) => SslMode::VerifyFull,
    }
}

fn over_socket(s: &PgSettings) -> bool {
    s.host.as_deref().is_none_or(|h| h.starts_with('/'))
}

/// What to warn about at start: each weakening of TLS (loudly, all alike) and secret
/// files that other users can read.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let k = &config.kafka;
    if k.security_protocol == SecurityProtocol::Plaintext {
        out.extend(kafka_option_warning(
            "kafka.security_protocol = plaintext",
            "security.protocol",
            "plaintext",
        ));
    }
    for (key, value) in &k.options {
        out.extend(kafka_option_warning(
            &format!("kafka.option.{key} = {value}"),
            key,
            value,
        ));
    }
    let p = &config.postgres;
    match effective_sslmode(p) {
        SslMode::Require => out.push(loud(
            "postgres.sslmode = require: the PostgreSQL server's certificate is NOT verified; \
             anyone on the network path can read and change what is written",
        )),
        SslMode::Disable if !over_socket(p) => out.push(loud(
            "postgres.sslmode = disable: the connection to PostgreSQL is not encrypted",
        )),
        _ => {}
    }
    out.extend(
        k.key_file
            .as_deref()
            .and_then(|f| secret_file_warning("kafka.ssl.keyfile", f)),
    );
    out.extend(
        p.password_file
            .as_deref()
            .and_then(|f| secret_file_warning("postgres.passwordfile", f)),
    );
    out
}

/// Log [`warnings`] (at start, once).
pub fn log_warnings(config: &Config) {
    for warning in warnings(config) {
        tracing::warn!("{warning}");
    }
}

/// The TLS connector for `mode` (not `Disable`) with `root` as the only trusted root when
/// given, else the system's trusted CAs.
pub fn pg_connector(mode: SslMode, root: Option<&Path>) -> Result<MakeTlsConnector> {
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).context("initialising OpenSSL")?;
    if let Some(path) = root {
        builder.set_cert_store(root_store(path)?);
    }
    if mode == SslMode::Require {
        builder.set_verify(SslVerifyMode::NONE);
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    if mode == SslMode::VerifyCa {
        connector.set_callback(|cfg, _| {
            cfg.set_verify_hostname(false);
            Ok(())
        });
    }
    Ok(connector)
}

/// A store trusting exactly the certificates in the PEM file `path`.
fn root_store(path: &Path) -> Result<openssl::x509::store::X509Store> {
    let named = |e: &dyn std::fmt::Display| {
        anyhow!(
            "postgres.ssl.rootcertfile {}: not a readable PEM certificate: {e}",
            path.display()
        )
    };
    let pem = std::fs::read(path).map_err(|e| named(&e))?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| named(&e))?;
    if certs.is_empty() {
        return Err(named(&"no certificate in it"));
    }
    let mut store = X509StoreBuilder::new().context("initialising OpenSSL")?;
    for cert in certs {
        store.add_cert(cert).map_err(|e| named(&e))?;
    }
    Ok(store.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_defaults_deny_by_default() {
        let mut p = Config::default().postgres;
        assert_eq!(effective_sslmode(&p), SslMode::Disable); // UNIX socket
        p.host = Some("/run/postgresql".into());
        assert_eq!(effective_sslmode(&p), SslMode::Disable);
        p.host = Some("db.example".into());
        assert_eq!(effective_sslmode(&p), SslMode::VerifyFull, "system roots");
        p.root_cert_file = Some("ca.pem".into());
        assert_eq!(effective_sslmode(&p), SslMode::VerifyFull);
        p.sslmode = Some(SslMode::VerifyCa);
        assert_eq!(effective_sslmode(&p), SslMode::VerifyCa);
    }

    #[test]
    fn weakenings_are_loud_and_alike() {
        let mut c = Config::default();
        assert_eq!(warnings(&c), Vec::<String>::new());
        c.kafka.security_protocol = SecurityProtocol::Plaintext;
        c.kafka
            .options
            .insert("enable.ssl.certificate.verification".into(), "false".into());
        c.kafka.options.insert(
            "ssl.endpoint.identification.algorithm".into(),
            "none".into(),
        );
        c.postgres.host = Some("db.example".into());
        c.postgres.sslmode = Some(SslMode::Require);
        let w = warnings(&c);
        assert_eq!(w.len(), 4, "{w:#?}");
        assert!(w.iter().all(|l| l.starts_with("!!! ")), "{w:#?}");
        c.postgres.sslmode = Some(SslMode::Disable);
        assert!(warnings(&c).iter().any(|l| l.contains("not encrypted")));
        c.postgres.host = None;
        assert_eq!(warnings(&c).len(), 3, "no TLS over a UNIX socket is fine");
    }

    #[test]
    fn a_root_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "nothing").unwrap();
        let err = pg_connector(SslMode::VerifyCa, Some(&path))
            .err()
            .expect("must fail")
            .to_string();
        assert!(err.contains("postgres.ssl.rootcertfile"), "{err}");
        let err = pg_connector(SslMode::VerifyFull, Some(&dir.path().join("missing")))
            .err()
            .expect("must fail")
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
