//! A test certificate authority and the certificates it signs, as PEM
//! files: a node's `tls_cert` and `tls_key`, and the root a client trusts.

use crate::TempDir;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::PathBuf;

/// A certificate authority for one test, in a directory of its own.
pub struct TestCa {
    dir: TempDir,
    issuer: Issuer<'static, KeyPair>,
    /// The authority's certificate: the root to trust.
    pub root: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("root", &self.root).finish()
    }
}

impl TestCa {
    /// A new authority; its certificate is written to `root`.
    pub fn new() -> TestCa {
        let dir = TempDir::new("tls");
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Skirmish test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("the CA certificate");
        let root = dir.path().join("ca.pem");
        std::fs::write(&root, cert.pem()).expect("write the CA certificate");
        TestCa {
            issuer: Issuer::new(params, key),
            dir,
            root,
        }
    }

    /// Signs a certificate for `localhost` and `127.0.0.1` and writes it and
    /// its key as `NAME.pem` and `NAME-key.pem`; returns the two paths and
    /// the certificate's DER (to tell which one a server presents).
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let key = KeyPair::generate().expect("a key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.issuer).expect("a certificate");
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}-key.pem")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write the key");
        (cert_path, key_path, cert.der().to_vec())
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}
