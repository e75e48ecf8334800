//! [`TestCa`]: a throwaway certificate authority for TLS tests.

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;

use crate::tls::TlsConfig;

/// A certificate authority made for one test, with the certificates it issues, as PEM
/// files in a directory of its own (removed when the `TestCa` is dropped). Keys are fresh
/// P-256 keys each time: nothing secret is ever checked in.
///
/// ```
/// use weft::testing::TestCa;
/// use weft::tls::TlsAcceptor;
///
/// let ca = TestCa::new("doc-example");
/// ca.issue("server", &["localhost"]); // server.pem (chain) and server.key
/// let acceptor = TlsAcceptor::new(ca.config("server")).unwrap();
/// // A client trusts `ca.ca_path()` (ca.pem); `ca.ca_der()` is the same certificate.
/// # drop(acceptor);
/// assert!(ca.ca_path().exists());
/// ```
pub struct TestCa {
    dir: PathBuf,
    ca: rcgen::Certificate,
    key: KeyPair,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").field("dir", &self.dir).finish()
    }
}

impl TestCa {
    /// A new CA in a fresh directory under the system's temporary directory, named after
    /// `label` and the process id (so tests running at once do not collide); its
    /// certificate is written to `ca.pem` there.
    ///
    /// # Panics
    ///
    /// If the directory or the certificate cannot be made: this is for tests.
    pub fn new(label: &str) -> TestCa {
        let dir = std::env::temp_dir().join(format!("weft-test-ca-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the CA's directory");
        let key = KeyPair::generate().expect("generate the CA's key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("weft test CA {label}"));
        let ca = params.self_signed(&key).expect("self-sign the CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
        TestCa { dir, ca, key }
    }

    /// The directory holding the CA's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `name` in the CA's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The CA's certificate file (`ca.pem`): what a client trusts.
    pub fn ca_path(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The CA's certificate, DER-encoded (for a client's root store).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// Issues a certificate for `names` (DNS names) with a fresh key, written to
    /// `<stem>.pem` and `<stem>.key` (PKCS#8) in the CA's directory; issuing a stem again
    /// replaces its files (as a renewed certificate would). Returns the certificate, DER.
    ///
    /// # Panics
    ///
    /// If the certificate cannot be made or written.
    pub fn issue(&self, stem: &str, names: &[&str]) -> CertificateDer<'static> {
        let key = KeyPair::generate().expect("generate a key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, stem);
        let cert = params
            .signed_by(&key, &self.ca, &self.key)
            .expect("sign the certificate");
        std::fs::write(self.path(&format!("{stem}.pem")), cert.pem())
            .expect("write the certificate");
        std::fs::write(self.path(&format!("{stem}.key")), key.serialize_pem())
            .expect("write the key");
        cert.der().clone()
    }

    /// A server configuration from `<stem>.pem` and `<stem>.key` (see [`issue`](TestCa::issue)).
    pub fn config(&self, stem: &str) -> TlsConfig {
        TlsConfig::new(
            self.path(&format!("{stem}.pem")),
            self.path(&format!("{stem}.key")),
        )
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
