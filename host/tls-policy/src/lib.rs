//! The TLS policy the host and the recorder share. TLS and certificate checks are on by
//! default; anything that weakens them is allowed only when asked for, and then logged
//! loudly. These functions say what to log; the binaries log it.

use std::path::Path;

/// The banner every weakening is logged with, so one `grep '!!!'` finds them all.
pub fn loud(text: &str) -> String {
    format!("!!! {text} !!!")
}

/// What a librdkafka setting `key = value` gives up, when it weakens TLS: plain text,
/// certificates not verified, host names not checked. Keys and values are compared as
/// librdkafka does (values case-insensitively, booleans as `true/false/t/f/1/0`).
pub fn kafka_option_weakens_tls(key: &str, value: &str) -> Option<&'static str> {
    let value = value.trim().to_ascii_lowercase();
    match (key.trim(), value.as_str()) {
        ("security.protocol", "plaintext" | "sasl_plaintext") => {
            Some("the connection to Kafka is not encrypted")
        }
        ("enable.ssl.certificate.verification", "false" | "f" | "0") => {
            Some("the Kafka brokers' certificates are NOT verified")
        }
        ("ssl.endpoint.identification.algorithm", "none" | "") => {
            Some("the Kafka brokers' host names are NOT checked against their certificates")
        }
        _ => None,
    }
}

/// The loud warning for a weakening librdkafka setting given as `origin` (how the user
/// wrote it, e.g. `--kafka-option security.protocol=plaintext`), or `None`.
pub fn kafka_option_warning(origin: &str, key: &str, value: &str) -> Option<String> {
    kafka_option_weakens_tls(key, value).map(|what| {
        loud(&format!(
            "{origin}: {what}; anyone on the network path can read and forge the measurements"
        ))
    })
}

/// A warning when the secret file `path` (a private key, a password) can be read or
/// written by its group or by others; it names the file and its mode. `None` when the
/// file is private or cannot be inspected (reading it reports that).
pub fn secret_file_warning(what: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mode = std::fs::metadata(path).ok()?.mode() & 0o7777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{what} {} has mode {mode:04o}: its group or other users can read it (chmod 600 it)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn weakening_options() {
        let weak = [
            ("security.protocol", "plaintext"),
            ("security.protocol", "PLAINTEXT"),
            ("security.protocol", "sasl_plaintext"),
            ("enable.ssl.certificate.verification", "false"),
            ("enable.ssl.certificate.verification", "0"),
            (" ssl.endpoint.identification.algorithm ", " None"),
        ];
        for (k, v) in weak {
            assert!(kafka_option_weakens_tls(k, v).is_some(), "{k}={v}");
        }
        let fine = [
            ("security.protocol", "ssl"),
            ("security.protocol", "sasl_ssl"),
            ("enable.ssl.certificate.verification", "true"),
            ("ssl.endpoint.identification.algorithm", "https"),
            ("linger.ms", "0"),
        ];
        for (k, v) in fine {
            assert_eq!(kafka_option_weakens_tls(k, v), None, "{k}={v}");
        }
        let line = kafka_option_warning("--kafka-option a", "security.protocol", "plaintext")
            .unwrap_or_default();
        assert!(line.starts_with("!!! --kafka-option a: "), "{line}");
    }

    #[test]
    fn secret_files_readable_by_others_are_named_with_their_mode() {
        let dir = std::env::temp_dir().join(format!("tls-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("service.key");
        std::fs::write(&key, "k").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = secret_file_warning("Kafka client key", &key).unwrap_or_default();
        assert!(
            warning.contains(&key.display().to_string()) && warning.contains("mode 0644"),
            "{warning}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secret_file_warning("Kafka client key", &key), None);
        assert_eq!(secret_file_warning("missing", &dir.join("nope")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
