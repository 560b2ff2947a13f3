use proptest::prelude::*;

use super::*;

const MAX: u64 = 1024 * 1024;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn meta_for(component: &[u8]) -> Metadata {
    Metadata {
        format: METADATA_FORMAT,
        job: "cpu".into(),
        version: 7,
        action: Action::Run,
        component_sha256: hex::encode(Sha256::digest(component)),
        component_bytes: component.len() as u64,
        target: Target {
            percent: 100,
            ..Target::default()
        },
        job_toml: "interval_ms = 1000\n".into(),
    }
}

fn trusted(seed: u8) -> TrustedKeys {
    TrustedKeys::new([key(seed).verifying_key()])
}

#[test]
fn a_sealed_bundle_opens_with_its_key() {
    let component = b"\0asm fake component".to_vec();
    let bytes = seal(&meta_for(&component), &component, &key(1));
    let v = open(bytes.clone(), &trusted(1), MAX).unwrap();
    assert_eq!(v.meta, meta_for(&component));
    assert_eq!(v.component(), &component[..]);
    assert_eq!(v.key_id, key_id(&key(1).verifying_key()));
    assert_eq!(v.digest(), hex::encode(Sha256::digest(&bytes)));
}

#[test]
fn each_kind_of_bad_bundle_has_its_reason() {
    let component = b"component".to_vec();
    let good = seal(&meta_for(&component), &component, &key(1));
    let reason = |bytes: Vec<u8>| open(bytes, &trusted(1), MAX).unwrap_err().reason();

    assert_eq!(reason(component.clone()), "unsigned");
    assert_eq!(reason(Vec::new()), "unsigned");
    assert_eq!(
        reason(seal(&meta_for(&component), &component, &key(2))),
        "unknown_key"
    );
    let mut flipped = good.clone();
    flipped[HEADER_BYTES + 5] ^= 1;
    assert_eq!(reason(flipped), "bad_signature");
    let mut other_component = good.clone();
    *other_component.last_mut().unwrap() ^= 1;
    assert_eq!(reason(other_component), "sha256_mismatch");
    let mut lying = meta_for(&component);
    lying.component_sha256 = hex::encode(Sha256::digest(b"something else"));
    assert_eq!(reason(seal(&lying, &component, &key(1))), "sha256_mismatch");
    let big = vec![0u8; (max_bundle_bytes(16) + 1) as usize];
    assert_eq!(open(big, &trusted(1), 16).unwrap_err().reason(), "oversize");
    assert_eq!(
        open(good.clone(), &trusted(1), 4).unwrap_err().reason(),
        "oversize"
    );
    let mut truncated = good.clone();
    truncated.pop();
    assert_eq!(reason(truncated), "malformed");
}

#[test]
fn signed_but_unacceptable_metadata_is_malformed() {
    let component = b"c".to_vec();
    type Change = Box<dyn Fn(&mut Metadata)>;
    let cases: Vec<(&str, Change)> = vec![
        ("job name", Box::new(|m| m.job = "../etc/passwd".into())),
        ("job name", Box::new(|m| m.job = String::new())),
        ("percent", Box::new(|m| m.target.percent = 0)),
        ("percent", Box::new(|m| m.target.percent = 101)),
        (
            "glob",
            Box::new(|m| m.target.hostname_glob = Some("[".into())),
        ),
        ("format", Box::new(|m| m.format = 2)),
        ("hex", Box::new(|m| m.component_sha256 = "AB".repeat(32))),
        (
            "no component",
            Box::new(|m| {
                m.action = Action::Stop;
            }),
        ),
    ];
    for (what, change) in cases {
        let mut meta = meta_for(&component);
        change(&mut meta);
        let err = open(seal(&meta, &component, &key(1)), &trusted(1), MAX).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{what}: {err}");
    }
}

#[test]
fn metadata_with_unknown_or_duplicate_fields_is_refused_even_when_signed() {
    let component = b"c".to_vec();
    let meta = serde_json::to_string(&meta_for(&component)).unwrap();
    let unknown = meta.replacen('{', "{\"extra\":1,", 1);
    let duplicate = meta.replacen('{', "{\"job\":\"other\",", 1);
    for text in [unknown, duplicate] {
        let sig = key(1).sign(&signed_message(text.as_bytes()));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&key_id(&key(1).verifying_key()).0);
        bytes.extend_from_slice(&sig.to_bytes());
        bytes.extend_from_slice(&(text.len() as u32).to_be_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(&component);
        let err = open(bytes, &trusted(1), MAX).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{text}: {err}");
    }
}

#[test]
fn a_signature_without_the_bundle_context_does_not_verify() {
    let component = b"c".to_vec();
    let meta = meta_for(&component);
    let mut bytes = seal(&meta, &component, &key(1));
    let raw = serde_json::to_vec(&meta).unwrap();
    bytes[16..80].copy_from_slice(&key(1).sign(&raw).to_bytes());
    assert_eq!(
        open(bytes, &trusted(1), MAX).unwrap_err().reason(),
        "bad_signature"
    );
}

#[test]
fn a_stop_bundle_carries_no_component() {
    let mut meta = meta_for(b"");
    meta.action = Action::Stop;
    meta.component_sha256 = String::new();
    meta.job_toml = String::new();
    let v = open(seal(&meta, b"", &key(1)), &trusted(1), MAX).unwrap();
    assert_eq!(v.meta.action, Action::Stop);
    assert!(v.component().is_empty());
}

proptest! {
    /// Whatever bytes arrive, `open` returns a refusal and never panics.
    #[test]
    fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(open(bytes, &trusted(1), MAX).is_err());
    }

    /// Changing any one byte of a good bundle makes it refused.
    #[test]
    fn any_changed_byte_is_refused(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let component = b"\0asm a component of some length".to_vec();
        let mut bytes = seal(&meta_for(&component), &component, &key(1));
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        prop_assert!(open(bytes, &trusted(1), MAX).is_err());
    }

    /// Any header prefix with arbitrary trailing bytes and length field is refused, not panicked on.
    #[test]
    fn forged_headers_are_refused(len in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&key_id(&key(1).verifying_key()).0);
        bytes.extend_from_slice(&[0u8; 64]);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&tail);
        prop_assert!(open(bytes, &trusted(1), MAX).is_err());
    }
}
