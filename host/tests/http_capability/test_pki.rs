//! A throw-away CA and a server certificate for `localhost`, made in memory so the
//! HTTPS tests need nothing from outside the test.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Name, X509};

pub struct TestPki {
    pub ca_pem: Vec<u8>,
    cert: X509,
    key: PKey<Private>,
}

fn name(cn: &str) -> X509Name {
    let mut b = X509Name::builder().expect("name builder");
    b.append_entry_by_text("CN", cn).expect("CN");
    b.build()
}

fn serial() -> openssl::asn1::Asn1Integer {
    let mut bn = BigNum::new().expect("bignum");
    bn.rand(64, MsbOption::MAYBE_ZERO, false).expect("rand");
    bn.to_asn1_integer().expect("serial")
}

impl TestPki {
    /// A CA and a leaf valid for DNS name `localhost` only (not for 127.0.0.1).
    pub fn new() -> TestPki {
        let ca_key = PKey::ec_gen("prime256v1").expect("CA key");
        let mut ca = X509::builder().expect("x509 builder");
        ca.set_version(2).expect("version");
        ca.set_serial_number(&serial()).expect("serial");
        ca.set_subject_name(&name("sonde test CA"))
            .expect("subject");
        ca.set_issuer_name(&name("sonde test CA")).expect("issuer");
        ca.set_pubkey(&ca_key).expect("pubkey");
        ca.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
            .expect("not before");
        ca.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
            .expect("not after");
        ca.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("bc");
        ca.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("ku"),
        )
        .expect("ku");
        ca.sign(&ca_key, MessageDigest::sha256()).expect("sign CA");
        let ca = ca.build();

        let key = PKey::ec_gen("prime256v1").expect("leaf key");
        let mut leaf = X509::builder().expect("x509 builder");
        leaf.set_version(2).expect("version");
        leaf.set_serial_number(&serial()).expect("serial");
        leaf.set_subject_name(&name("localhost")).expect("subject");
        leaf.set_issuer_name(ca.subject_name()).expect("issuer");
        leaf.set_pubkey(&key).expect("pubkey");
        leaf.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
            .expect("not before");
        leaf.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
            .expect("not after");
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .build(&leaf.x509v3_context(Some(&ca), None))
            .expect("san");
        leaf.append_extension(san).expect("san");
        leaf.append_extension(ExtendedKeyUsage::new().server_auth().build().expect("eku"))
            .expect("eku");
        leaf.sign(&ca_key, MessageDigest::sha256())
            .expect("sign leaf");

        TestPki {
            ca_pem: ca.to_pem().expect("CA pem"),
            cert: leaf.build(),
            key,
        }
    }

    pub fn acceptor(&self) -> SslAcceptor {
        let mut b =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("acceptor");
        b.set_private_key(&self.key).expect("key");
        b.set_certificate(&self.cert).expect("cert");
        b.build()
    }
}
