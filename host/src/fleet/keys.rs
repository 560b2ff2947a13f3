//! Signing keys and the keys a host trusts.
//!
//! Files are PEM, as OpenSSL writes them: the secret key as PKCS#8 (`PRIVATE KEY`), the
//! public key as SubjectPublicKeyInfo (`PUBLIC KEY`); `openssl genpkey -algorithm ed25519`
//! makes a usable key too. A key is named by its id: the first 8 bytes of the sha256 of
//! the 32-byte public key, in hex.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A key file is a few hundred bytes; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub fn key_id(key: &VerifyingKey) -> KeyId {
    let digest = Sha256::digest(key.as_bytes());
    KeyId(digest[..8].try_into().expect("sha256 is 32 bytes"))
}

/// The public keys whose bundles this host runs.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: HashMap<KeyId, VerifyingKey>,
}

impl TrustedKeys {
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        TrustedKeys {
            keys: keys.into_iter().map(|k| (key_id(&k), k)).collect(),
        }
    }

    /// Read every file; an unreadable or unparsable one is an error naming it.
    pub fn load(files: &[PathBuf]) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for file in files {
            let pem = read_key_file(file)?;
            let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not an ed25519 public key in PEM (\"PUBLIC KEY\"): {e}",
                    file.display()
                )
            })?;
            keys.push(key);
        }
        Ok(TrustedKeys::new(keys))
    }

    pub fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.keys.keys().map(|k| k.to_string()).collect();
        ids.sort();
        ids
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?
        .len();
    if len > MAX_KEY_FILE_BYTES {
        anyhow::bail!(
            "{}: {len} bytes is not a key file (at most {MAX_KEY_FILE_BYTES})",
            path.display()
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))
}

/// The secret key of `host probes publish --signing-key`.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = read_key_file(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{}: not an ed25519 secret key in PKCS#8 PEM (\"PRIVATE KEY\"): {e}",
            path.display()
        )
    })
}

/// A fresh key pair written to `<stem>.key` (0600, never overwritten) and `<stem>.pub`.
/// Returns the two paths and the key id.
pub fn generate(stem: &Path) -> anyhow::Result<(PathBuf, PathBuf, KeyId)> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let secret = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the secret key: {e}"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))?;
    let secret_path = stem.with_extension("key");
    let public_path = stem.with_extension("pub");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            anyhow::bail!("{} exists; not overwriting a key", path.display());
        }
    }
    write_new(&secret_path, secret.as_bytes(), 0o600)?;
    write_new(&public_path, public.as_bytes(), 0o644)?;
    Ok((secret_path, public_path, key_id(&key.verifying_key())))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_read_back_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (secret, public, id) = generate(&dir.path().join("release")).unwrap();
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = load_signing_key(&secret).unwrap();
        let trusted = TrustedKeys::load(&[public]).unwrap();
        assert_eq!(trusted.ids(), vec![id.to_string()]);
        assert_eq!(trusted.get(&id), Some(&key.verifying_key()));
        let again = generate(&dir.path().join("release")).unwrap_err();
        assert!(again.to_string().contains("not overwriting"), "{again}");
    }

    #[test]
    fn a_secret_key_is_not_a_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, _, _) = generate(&dir.path().join("k")).unwrap();
        let err = TrustedKeys::load(std::slice::from_ref(&secret))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an ed25519 public key"), "{err}");
        assert!(err.contains(&secret.display().to_string()), "{err}");
    }
}
