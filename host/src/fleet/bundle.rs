//! The probe bundle: a component and the metadata that says which job runs it where,
//! signed with ed25519.
//!
//! Wire form (the Kafka value, and the file kept in the state directory):
//!
//! ```text
//! magic      8 bytes   "SONDEPB1"
//! key id     8 bytes   first 8 bytes of sha256(the signer's 32-byte public key)
//! signature 64 bytes   ed25519 over SIGNING_CONTEXT || metadata
//! length     4 bytes   metadata length, big-endian, at most MAX_METADATA_BYTES
//! metadata   JSON      [`Metadata`], exactly the bytes that were signed
//! component  the rest  the .wasm file (empty for a stop bundle)
//! ```
//!
//! The signature covers the metadata bytes as sent, never a re-serialisation of them; the
//! metadata names the component by its sha256 and length, so the signature covers the
//! component too. The metadata is parsed only after the signature checks, strictly
//! (unknown and duplicate fields refused).

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{key_id, KeyId, TrustedKeys};

pub const MAGIC: &[u8; 8] = b"SONDEPB1";
/// Prefixed to the metadata before signing, so a signature made for anything else never
/// verifies as a bundle's.
pub const SIGNING_CONTEXT: &[u8] = b"sonde probe bundle v1\0";
pub const HEADER_BYTES: usize = 8 + 8 + 64 + 4;
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// The metadata format this host reads.
pub const METADATA_FORMAT: u32 = 1;
/// A job name: what the watcher, logs and the state directory's file names use.
pub const MAX_JOB_NAME_BYTES: usize = 64;

/// What a bundle asks of the hosts it targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run the component as the job (start it, or replace what the job runs).
    Run,
    /// A tombstone: stop the job.
    Stop,
}

/// Which hosts a bundle is for; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A glob over the host name (`web-*`); `None`: every host name.
    #[serde(default)]
    pub hostname_glob: Option<String>,
    /// Labels the host must carry (`[fleet] labels`), all of them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// 1..=100: the share of the hosts that pass the other conditions.
    pub percent: u8,
}

/// The signed part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub format: u32,
    /// The job this bundle is for. The Kafka key is not trusted; this is.
    pub job: String,
    /// Per job, strictly increasing: a bundle wins over every bundle of a lower version.
    pub version: u64,
    pub action: Action,
    /// Hex sha256 of the component ("" for a stop bundle).
    pub component_sha256: String,
    pub component_bytes: u64,
    pub target: Target,
    /// The job's settings (`interval_ms`, `params`, `allow_http`, limits), as a host.toml
    /// `[[job]]` table without `name` and `probe`.
    #[serde(default)]
    pub job_toml: String,
}

/// Why a bundle was refused; each is a metric label and one log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a signed bundle: {0}")]
    Unsigned(String),
    #[error("signed by unknown key {0}")]
    UnknownKey(KeyId),
    #[error("bad signature (key {0})")]
    BadSignature(KeyId),
    #[error("malformed signed metadata: {0}")]
    Malformed(String),
    #[error("{0} bytes > the limit of {1}")]
    Oversize(u64, u64),
    #[error("component sha256 {found} does not match the signed {signed}")]
    Sha256Mismatch { signed: String, found: String },
    #[error("version {found} of job {job:?} is not newer than {current}")]
    Replay {
        job: String,
        found: u64,
        current: u64,
    },
}

impl Refusal {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unsigned(_) => "unsigned",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::Malformed(_) => "malformed",
            Refusal::Oversize(..) => "oversize",
            Refusal::Sha256Mismatch { .. } => "sha256_mismatch",
            Refusal::Replay { .. } => "replay",
        }
    }
}

/// A bundle whose signature, metadata and component all checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub meta: Metadata,
    pub key_id: KeyId,
    /// The whole bundle as received, kept in the state directory and checked again there.
    pub bytes: Vec<u8>,
    header_and_meta: usize,
}

impl Verified {
    pub fn component(&self) -> &[u8] {
        &self.bytes[self.header_and_meta..]
    }

    /// sha256 of the whole bundle: two bundles of one version are the same bundle only
    /// when this is equal.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

/// The largest bundle that can carry a component of `max_component_bytes`.
pub fn max_bundle_bytes(max_component_bytes: u64) -> u64 {
    max_component_bytes.saturating_add((HEADER_BYTES + MAX_METADATA_BYTES) as u64)
}

/// Sign `meta` (whose sha256 and length must describe `component`) into a bundle.
pub fn seal(meta: &Metadata, component: &[u8], key: &SigningKey) -> Vec<u8> {
    // Plain strings and numbers: serialising them cannot fail.
    let meta_bytes = serde_json::to_vec(meta).expect("metadata is always serialisable");
    let signature = key.sign(&signed_message(&meta_bytes));
    let mut out = Vec::with_capacity(HEADER_BYTES + meta_bytes.len() + component.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key_id(&key.verifying_key()).0);
    out.extend_from_slice(&signature.to_bytes());
    out.extend_from_slice(&(meta_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta_bytes);
    out.extend_from_slice(component);
    out
}

fn signed_message(meta: &[u8]) -> Vec<u8> {
    [SIGNING_CONTEXT, meta].concat()
}

/// Check everything a bundle claims before anything is done with it. The length is
/// checked first, so an oversize payload is neither hashed nor parsed.
pub fn open(
    bytes: Vec<u8>,
    keys: &TrustedKeys,
    max_component_bytes: u64,
) -> Result<Verified, Refusal> {
    let limit = max_bundle_bytes(max_component_bytes);
    if bytes.len() as u64 > limit {
        return Err(Refusal::Oversize(bytes.len() as u64, limit));
    }
    if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
        return Err(Refusal::Unsigned(format!(
            "{} bytes without the bundle header",
            bytes.len()
        )));
    }
    let key_id = KeyId(bytes[8..16].try_into().expect("8 bytes"));
    let signature = Signature::from_bytes(&bytes[16..80].try_into().expect("64 bytes"));
    let meta_len = u32::from_be_bytes(bytes[80..84].try_into().expect("4 bytes")) as usize;
    if meta_len > MAX_METADATA_BYTES || HEADER_BYTES + meta_len > bytes.len() {
        return Err(Refusal::Malformed(format!(
            "metadata length {meta_len} does not fit (at most {MAX_METADATA_BYTES}, bundle {} bytes)",
            bytes.len()
        )));
    }
    let header_and_meta = HEADER_BYTES + meta_len;
    let meta_bytes = &bytes[HEADER_BYTES..header_and_meta];
    let key: &VerifyingKey = keys.get(&key_id).ok_or(Refusal::UnknownKey(key_id))?;
    key.verify_strict(&signed_message(meta_bytes), &signature)
        .map_err(|_| Refusal::BadSignature(key_id))?;
    let meta: Metadata =
        serde_json::from_slice(meta_bytes).map_err(|e| Refusal::Malformed(e.to_string()))?;
    check_metadata(&meta).map_err(Refusal::Malformed)?;
    if meta.component_bytes > max_component_bytes {
        return Err(Refusal::Oversize(meta.component_bytes, max_component_bytes));
    }
    let component = &bytes[header_and_meta..];
    if component.len() as u64 != meta.component_bytes {
        return Err(Refusal::Malformed(format!(
            "component is {} bytes, the metadata says {}",
            component.len(),
            meta.component_bytes
        )));
    }
    if meta.action == Action::Run {
        let found = hex::encode(Sha256::digest(component));
        if found != meta.component_sha256 {
            return Err(Refusal::Sha256Mismatch {
                signed: meta.component_sha256.clone(),
                found,
            });
        }
    }
    Ok(Verified {
        meta,
        key_id,
        bytes,
        header_and_meta,
    })
}

/// Rules a signed metadata must also follow (a signer's tool may be buggy or old).
pub fn check_metadata(meta: &Metadata) -> Result<(), String> {
    if meta.format != METADATA_FORMAT {
        return Err(format!(
            "metadata format {} (this host reads {METADATA_FORMAT})",
            meta.format
        ));
    }
    check_job_name(&meta.job)?;
    if !(1..=100).contains(&meta.target.percent) {
        return Err(format!(
            "target percent {} is not in 1..=100",
            meta.target.percent
        ));
    }
    if let Some(glob) = &meta.target.hostname_glob {
        glob::Pattern::new(glob).map_err(|e| format!("hostname glob {glob:?}: {e}"))?;
    }
    match meta.action {
        Action::Run => {
            let sha = &meta.component_sha256;
            if sha.len() != 64
                || !sha
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(format!(
                    "component_sha256 {sha:?} is not 64 lowercase hex digits"
                ));
            }
        }
        Action::Stop => {
            if meta.component_bytes != 0 || !meta.component_sha256.is_empty() {
                return Err("a stop bundle carries no component".into());
            }
        }
    }
    Ok(())
}

/// Job names become file names in the state directory: letters, digits, `.`, `_`, `-`,
/// not starting with `.`.
pub fn check_job_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_JOB_NAME_BYTES
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "job name {name:?} must be 1..={MAX_JOB_NAME_BYTES} of [A-Za-z0-9._-], not starting with '.'"
        ))
    }
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
