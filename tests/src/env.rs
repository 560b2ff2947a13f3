//! Where the services are: environment variables first, then `<workspace>/.dev/env`
//! (written by `just up`, removed by `just down`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The message every test prints when the stack cannot be found or reached.
pub const STACK_DOWN: &str = "local stack not running: run `just up`";

/// Endpoints and credentials of the Kafka broker and PostgreSQL the tests use.
///
/// Every field comes from the `SONDE_*` variable of the same name; a variable set in the
/// process environment wins over `.dev/env`, so a user can point the tests at their own
/// Kafka/PostgreSQL. Paths are absolute in `.dev/env`.
#[derive(Debug, Clone)]
pub struct Env {
    /// `SONDE_KAFKA_BROKERS`: bootstrap servers speaking mutual TLS.
    pub kafka_brokers: String,
    /// `SONDE_KAFKA_PLAIN`: plaintext loopback listener of the local broker, if any.
    pub kafka_plain: Option<String>,
    /// `SONDE_KAFKA_CA`: CA that signed the broker's and the clients' certificates.
    pub kafka_ca: PathBuf,
    /// `SONDE_HOST_CERT_DIR`: `ca.pem`, `service.cert`, `service.key` for the host.
    pub host_cert_dir: PathBuf,
    /// `SONDE_RECORDER_CERT_DIR`: same layout, for the recorder.
    pub recorder_cert_dir: PathBuf,
    /// `SONDE_WRONG_CERT_DIR`: same layout, CA and client cert from an unrelated CA.
    pub wrong_cert_dir: Option<PathBuf>,
    /// `SONDE_PG_HOST`: host name as it appears in the server certificate.
    pub pg_host: String,
    /// `SONDE_PG_PORT`.
    pub pg_port: u16,
    /// `SONDE_PG_USER`: a role with LOGIN and CREATEDB.
    pub pg_user: String,
    /// `SONDE_PG_DATABASE`: an existing database the role can connect to.
    pub pg_database: String,
    /// `SONDE_PG_PASSWORDFILE`: file holding the role's password (one line).
    pub pg_password_file: PathBuf,
    /// `SONDE_PG_ROOTCERT`: CA the server certificate is verified against (verify-full).
    pub pg_root_cert: PathBuf,
    /// `SONDE_PKI_DIR`: the local stack's PKI (`.dev/pki`), if the local stack is used.
    pub pki_dir: Option<PathBuf>,
    /// `SONDE_TANSU_BIN`: the broker binary of the local stack, if any.
    pub tansu_bin: Option<PathBuf>,
    /// `SONDE_STUNNEL_BIN`: the TLS front binary of the local stack, if any.
    pub stunnel_bin: Option<PathBuf>,
}

impl Env {
    /// Reads the environment, then `.dev/env`.
    ///
    /// # Panics
    /// With "local stack not running: run `just up`" and the missing variable when a
    /// required value is in neither place, or with the offending key when a value is malformed.
    pub fn load() -> Env {
        match Env::try_load() {
            Ok(env) => env,
            Err(e) => panic!("{e:#}"),
        }
    }

    /// Like [`Env::load`], but returns the error instead of panicking.
    pub fn try_load() -> anyhow::Result<Env> {
        Env::try_load_from(&workspace_root().join(".dev/env"))
    }

    /// Like [`Env::try_load`] with another file in place of `.dev/env`.
    pub fn try_load_from(file: &Path) -> anyhow::Result<Env> {
        Env::resolve(file, |key| std::env::var(key).ok())
    }

    /// `getenv` first, then `file`.
    fn resolve(file: &Path, getenv: impl Fn(&str) -> Option<String>) -> anyhow::Result<Env> {
        let from_file = match std::fs::read_to_string(file) {
            Ok(text) => parse_env_file(&text),
            Err(_) => HashMap::new(),
        };
        let get = |key: &str| -> Option<String> {
            getenv(key)
                .filter(|v| !v.is_empty())
                .or_else(|| from_file.get(key).cloned())
        };
        let need = |key: &str| -> anyhow::Result<String> {
            get(key).ok_or_else(|| {
                anyhow::anyhow!(
                    "{STACK_DOWN} ({key} is not set and not in {})",
                    file.display()
                )
            })
        };
        let port_text = need("SONDE_PG_PORT")?;
        let pg_port = port_text
            .parse()
            .map_err(|_| anyhow::anyhow!("SONDE_PG_PORT={port_text:?} is not a port number"))?;
        let host_cert_dir = PathBuf::from(need("SONDE_HOST_CERT_DIR")?);
        Ok(Env {
            kafka_brokers: need("SONDE_KAFKA_BROKERS")?,
            kafka_plain: get("SONDE_KAFKA_PLAIN"),
            kafka_ca: get("SONDE_KAFKA_CA")
                .map(PathBuf::from)
                .unwrap_or_else(|| host_cert_dir.join("ca.pem")),
            host_cert_dir,
            recorder_cert_dir: PathBuf::from(need("SONDE_RECORDER_CERT_DIR")?),
            wrong_cert_dir: get("SONDE_WRONG_CERT_DIR").map(PathBuf::from),
            pg_host: need("SONDE_PG_HOST")?,
            pg_port,
            pg_user: need("SONDE_PG_USER")?,
            pg_database: need("SONDE_PG_DATABASE")?,
            pg_password_file: PathBuf::from(need("SONDE_PG_PASSWORDFILE")?),
            pg_root_cert: PathBuf::from(need("SONDE_PG_ROOTCERT")?),
            pki_dir: get("SONDE_PKI_DIR").map(PathBuf::from),
            tansu_bin: get("SONDE_TANSU_BIN").map(PathBuf::from),
            stunnel_bin: get("SONDE_STUNNEL_BIN").map(PathBuf::from),
        })
    }

    /// The PostgreSQL password (first line of `pg_password_file`).
    ///
    /// # Panics
    /// When the file cannot be read, naming it.
    pub fn pg_password(&self) -> String {
        match std::fs::read_to_string(&self.pg_password_file) {
            Ok(text) => text.lines().next().unwrap_or("").to_owned(),
            Err(e) => panic!(
                "cannot read PostgreSQL password file {}: {e} ({STACK_DOWN})",
                self.pg_password_file.display()
            ),
        }
    }

    /// The client dir with a CA and a client cert unrelated to the stack's CA.
    ///
    /// # Panics
    /// When `SONDE_WRONG_CERT_DIR` is not set (only the local stack provides one).
    pub fn wrong_cert_dir(&self) -> &Path {
        match &self.wrong_cert_dir {
            Some(dir) => dir,
            None => {
                panic!("SONDE_WRONG_CERT_DIR is not set; the local stack (`just up`) provides it")
            }
        }
    }
}

/// `KEY=VALUE` lines; blank lines and `#` comments ignored; no quoting (paths have no spaces).
fn parse_env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The workspace checkout this crate belongs to.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_are_parsed_and_comments_skipped() {
        let parsed = parse_env_file("# comment\n\nSONDE_PG_PORT=55432\nSONDE_X = a=b \n");
        assert_eq!(
            parsed.get("SONDE_PG_PORT").map(String::as_str),
            Some("55432")
        );
        assert_eq!(parsed.get("SONDE_X").map(String::as_str), Some("a=b"));
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn missing_env_file_says_to_run_just_up() {
        let err = Env::resolve(Path::new("/nonexistent/.dev/env"), |_| None).unwrap_err();
        assert!(err.to_string().contains("run `just up`"), "{err}");
    }

    #[test]
    fn workspace_root_holds_the_justfile() {
        assert!(workspace_root().join("justfile").is_file());
    }
}
