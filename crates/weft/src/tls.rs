//! TLS with rustls (on its `ring` provider): the server side an accepted connection
//! speaks ([`TlsAcceptor`], given to [`ServerBuilder::tls`](crate::ServerBuilder::tls)) and
//! the client side of a dialled one ([`TlsConnector`], given to
//! [`Dial::tls`](crate::Dial::tls)).
//!
//! TLS lives in the connection's transport, below the codec: codecs, stages and handlers
//! see plaintext and do not change. A connection's pipeline becomes active (`on_active`)
//! only once its handshake is complete; see `docs/tls.md` for the lifecycle, reloading,
//! ALPN, mutual TLS and what is measured.
//!
//! ```
//! use weft::tls::{TlsAcceptor, TlsConfig};
//! # let dir = std::env::temp_dir().join(format!("weft-tls-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let key = rcgen::KeyPair::generate()?;
//! # let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
//! # std::fs::write(dir.join("cert.pem"), cert.pem())?;
//! # std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
//! let config = TlsConfig::new(dir.join("cert.pem"), dir.join("key.pem"))
//!     .alpn(["http/1.1"]);
//! let acceptor = TlsAcceptor::new(config)?;
//! // Later, after the files were replaced (a SIGHUP): new connections get the new set;
//! // on an error the old set stays in use.
//! acceptor.reload()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, ServerName};

pub use rustls_pki_types::CertificateDer;

use crate::Error;

/// The TLS protocol versions a side allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsVersions {
    /// TLS 1.2 and TLS 1.3 (the default).
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl TlsVersions {
    fn list(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static BOTH: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            TlsVersions::Both => &BOTH,
            TlsVersions::Tls12 => &TLS12,
            TlsVersions::Tls13 => &TLS13,
        }
    }
}

/// The provider every TLS configuration of weft uses: rustls's `ring` backend (it builds
/// with a C compiler alone).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The provider of the server side: the same, its cipher suites reordered so that those
/// hashing with SHA-256 come first (AES-128-GCM, then ChaCha20-Poly1305, then AES-256-GCM
/// with SHA-384), and the server's order wins over the client's (`ignore_client_order`).
/// Many clients (OpenSSL's default among them) list AES-256-GCM-SHA384 first, and ring's
/// SHA-384 has no hardware path where its SHA-256 has one: a handshake hashes its
/// transcript and derives every key with the suite's hash.
fn server_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        let name = format!("{:?}", suite.suite());
        (!name.ends_with("SHA256"), name.contains("CHACHA20"))
    });
    Arc::new(provider)
}

/// A certificate chain and its key, named by their files.
#[derive(Debug, Clone)]
struct KeyFiles {
    cert: PathBuf,
    key: PathBuf,
}

/// What a [`TlsAcceptor`] is made of: the files it reads (again on every
/// [`reload`](TlsAcceptor::reload)) and the options of its handshakes.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    default: KeyFiles,
    by_name: Vec<(String, KeyFiles)>,
    alpn: Vec<Vec<u8>>,
    client_ca: Option<PathBuf>,
    versions: TlsVersions,
}

impl TlsConfig {
    /// The certificate chain in `cert` (PEM, the server's certificate first) and its
    /// private key in `key` (PEM: PKCS#8, PKCS#1 or SEC1), served to every client whose
    /// SNI names no other certificate (or that sends none). Nothing is read until
    /// [`TlsAcceptor::new`].
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig {
            default: KeyFiles {
                cert: cert.into(),
                key: key.into(),
            },
            by_name: Vec::new(),
            alpn: Vec::new(),
            client_ca: None,
            versions: TlsVersions::Both,
        }
    }

    /// A further certificate, served to clients whose SNI is `name` (compared without
    /// regard to case). The certificate must be valid for that name.
    pub fn sni(
        mut self,
        name: impl Into<String>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> TlsConfig {
        let files = KeyFiles {
            cert: cert.into(),
            key: key.into(),
        };
        self.by_name.push((name.into().to_ascii_lowercase(), files));
        self
    }

    /// The ALPN protocols offered, in order of preference (`h2`, `http/1.1`, ...). A
    /// client that offers ALPN but none of these is refused, as RFC 7301 asks. The one
    /// chosen is [`Context::alpn_protocol`](crate::Context::alpn_protocol).
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> TlsConfig {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Requires a client certificate issued by one of the CAs in `bundle` (PEM): mutual
    /// TLS. A client without one, or with one that does not verify, fails its handshake.
    pub fn client_ca(mut self, bundle: impl Into<PathBuf>) -> TlsConfig {
        self.client_ca = Some(bundle.into());
        self
    }

    /// The protocol versions allowed (default both TLS 1.2 and 1.3).
    pub fn versions(mut self, versions: TlsVersions) -> TlsConfig {
        self.versions = versions;
        self
    }

    /// Reads every file and makes the rustls configuration.
    fn build(&self) -> Result<Arc<ServerConfig>, Error> {
        let provider = server_provider();
        let default = Arc::new(load_key(&self.default, &provider)?);
        let mut by_name = HashMap::new();
        for (name, files) in &self.by_name {
            by_name.insert(name.clone(), Arc::new(load_key(files, &provider)?));
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.versions.list())
            .map_err(|e| Error::config(format!("TLS versions: {e}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let roots = load_roots(path, "client CA")?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| {
                            Error::config(format!("TLS client CA file {}: {e}", path.display()))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(SniResolver { default, by_name }));
        config.alpn_protocols = self.alpn.clone();
        config.ignore_client_order = true; // see `server_provider`
        Ok(Arc::new(config))
    }
}

/// Picks a certificate by the client's SNI, falling back to the default one.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello
            .server_name()
            .and_then(|name| self.by_name.get(&name.to_ascii_lowercase()));
        Some(named.unwrap_or(&self.default).clone())
    }
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::config(format!("TLS {what} file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "TLS {what} file {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(files: &KeyFiles, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let chain = read_certs(&files.cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        let why = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".to_string()
            }
            other => other.to_string(),
        };
        Error::config(format!("TLS key file {}: {why}", files.key.display()))
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        Error::config(format!(
            "TLS key file {} (for {}): {e}",
            files.key.display(),
            files.cert.display()
        ))
    })
}

fn load_roots(path: &Path, what: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, what)? {
        roots
            .add(cert)
            .map_err(|e| Error::config(format!("TLS {what} file {}: {e}", path.display())))?;
    }
    Ok(roots)
}

struct AcceptorInner {
    /// What new connections are given; replaced whole by a reload.
    current: RwLock<Arc<ServerConfig>>,
    /// The files a reload reads.
    source: RwLock<TlsConfig>,
}

/// The server side of TLS: the certificates, keys and options accepted connections
/// handshake with. Cheap to clone (clones share one set); give it to
/// [`ServerBuilder::tls`](crate::ServerBuilder::tls).
///
/// [`reload`](TlsAcceptor::reload) swaps the set atomically: connections accepted after it
/// returns handshake with the new one; open connections keep what they began with.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: Arc<AcceptorInner>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self.inner.source.read().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("TlsAcceptor")
            .field("config", &*source)
            .finish()
    }
}

impl TlsAcceptor {
    /// Reads the files of `config`. Fails with a configuration error naming the file that
    /// is missing, unreadable, holds no certificate or key, or whose key does not match
    /// its certificate.
    pub fn new(config: TlsConfig) -> Result<TlsAcceptor, Error> {
        let built = config.build()?;
        Ok(TlsAcceptor {
            inner: Arc::new(AcceptorInner {
                current: RwLock::new(built),
                source: RwLock::new(config),
            }),
        })
    }

    /// Reads the same files again and, if they all load, makes them the set new
    /// connections get. On an error nothing changes: the old set stays in use, and the
    /// error names the file.
    pub fn reload(&self) -> Result<(), Error> {
        let config = self
            .inner
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.replace(config)
    }

    /// Like [`reload`](Self::reload), from a different configuration (other files, other
    /// options), which later reloads read.
    pub fn replace(&self, config: TlsConfig) -> Result<(), Error> {
        let built = config.build()?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = built;
        *self.inner.source.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// The configuration a connection accepted now gets.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The client side of TLS for dialled connections: the roots a server's certificate must
/// chain to, and the ALPN protocols offered. Cheap to clone. Give it, with the name to
/// verify, to [`Dial::tls`](crate::Dial::tls).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    roots: Arc<RootCertStore>,
    versions: TlsVersions,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// Trusts the CA certificates in `roots` (PEM) and nothing else. Fails with a
    /// configuration error naming the file.
    pub fn from_roots_file(roots: impl AsRef<Path>) -> Result<TlsConnector, Error> {
        TlsConnector::with_options(roots.as_ref(), TlsVersions::Both, Vec::<Vec<u8>>::new())
    }

    /// As [`from_roots_file`](Self::from_roots_file), allowing only `versions` and
    /// offering the ALPN `protocols` (in order of preference).
    pub fn with_options<P: AsRef<[u8]>>(
        roots: &Path,
        versions: TlsVersions,
        protocols: impl IntoIterator<Item = P>,
    ) -> Result<TlsConnector, Error> {
        let roots = Arc::new(load_roots(roots, "root CA")?);
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions.list())
            .map_err(|e| Error::config(format!("TLS versions: {e}")))?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        Ok(TlsConnector {
            config: Arc::new(config),
            roots,
            versions,
        })
    }

    /// Presents the certificate chain in `cert` (PEM, its own certificate first) with the
    /// private key in `key` (PKCS#8, PKCS#1 or SEC1) to servers that ask for one (mutual
    /// TLS). Fails with a configuration error naming the file.
    pub fn client_cert(
        self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<TlsConnector, Error> {
        let files = KeyFiles {
            cert: cert.into(),
            key: key.into(),
        };
        let provider = provider();
        let certified = Arc::new(load_key(&files, &provider)?);
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(self.versions.list())
            .map_err(|e| Error::config(format!("TLS versions: {e}")))?
            .with_root_certificates(self.roots.clone())
            .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        config.alpn_protocols = self.config.alpn_protocols.clone();
        Ok(TlsConnector {
            config: Arc::new(config),
            ..self
        })
    }

    /// A client session for `name`.
    pub(crate) fn connect(
        &self,
        name: ServerName<'static>,
    ) -> Result<rustls::ClientConnection, rustls::Error> {
        rustls::ClientConnection::new(self.config.clone(), name)
    }
}

/// Checks `name` (a DNS name or an IP address) as the name a server must prove.
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| Error::config(format!("{name:?} is not a DNS name or an IP address")))
}
