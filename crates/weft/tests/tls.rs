//! TLS on real sockets (`ServerBuilder::tls`, `Dial::tls`): handshakes in TLS 1.2 and 1.3,
//! ALPN and SNI, bulk and pipelined data, half-close, handshake deadlines and failures,
//! reloading, mutual TLS, and a dialled TLS client. Certificates are made by each test
//! (`weft::testing::TestCa`) in a directory of its own.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use weft::codec::LineCodec;
use weft::testing::TestCa;
use weft::tls::{TlsAcceptor, TlsConfig, TlsConnector, TlsVersions};
use weft::{Bytes, Client, CloseReason, Context, Dial, Handler, Pipeline, Server, TlsFailure};

/// The test's CA (`weft::testing::TestCa`), with what these tests need of it as a client.
struct Pki(TestCa);

impl std::ops::Deref for Pki {
    type Target = TestCa;
    fn deref(&self) -> &TestCa {
        &self.0
    }
}

impl Pki {
    fn new(test: &str) -> Pki {
        Pki(TestCa::new(&format!("tls-{test}")))
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).unwrap();
        roots
    }

    /// A client trusting this CA only.
    fn client(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> ClientConfig {
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(self.roots())
            .with_no_client_auth()
    }
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client connection (the handshake runs on first use).
fn tls_connect(addr: SocketAddr, config: ClientConfig, name: &str) -> Tls {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let session = ClientConnection::new(Arc::new(config), name).unwrap();
    StreamOwned::new(session, connect(addr))
}

/// Reads one line (panics on EOF or timeout).
fn read_line(stream: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            Ok(_) => panic!("EOF after {:?}", String::from_utf8_lossy(&line)),
            Err(e) => panic!(
                "read failed after {:?}: {e}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    line.pop();
    String::from_utf8(line).unwrap()
}

/// Reads until a clean close_notify (an error if the connection ends without one).
fn read_to_close(stream: &mut Tls) -> io::Result<String> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let start = std::time::Instant::now();
    loop {
        assert!(
            start.elapsed() < WAIT,
            "no close after {:?}",
            String::from_utf8_lossy(&all)
        );
        match stream.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8(all).unwrap()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            // The socket blocks: this only means a read found a record without plaintext.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Says what it sees of the TLS session in `on_active`, then echoes lines.
struct Show;

impl Handler for Show {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        let line = format!(
            "tls {} alpn {:?} sni {:?} client certs {}\n",
            ctx.is_tls(),
            ctx.alpn_protocol().map(String::from_utf8_lossy),
            ctx.tls_server_name(),
            ctx.peer_certificates().map_or(0, <[_]>::len),
        );
        ctx.write(line.as_bytes());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }
}

fn show_server(acceptor: TlsAcceptor, handshake_timeout: Duration) -> Server {
    builder(2)
        .tls(acceptor)
        .tls_handshake_timeout(handshake_timeout)
        .pipeline(|| Pipeline::new(LineCodec::new(2 << 20), Show))
        .bind()
        .expect("bind")
}

fn echo_tls_server(acceptor: TlsAcceptor) -> Server {
    builder(1)
        .tls(acceptor)
        .pipeline(|| Pipeline::new(LineCodec::new(2 << 20), Echo))
        .bind()
        .expect("bind")
}

#[test]
fn tls_1_2_and_1_3_handshake_with_alpn_and_sni_and_echo() {
    let pki = Pki::new("versions");
    pki.issue("server", &["localhost"]);
    let config = pki.config("server").alpn(["x-weft", "http/1.1"]);
    let server = show_server(TlsAcceptor::new(config).unwrap(), WAIT);
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let mut client_config = pki.client(&[version]);
        client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut client = tls_connect(server.local_addr(), client_config, "localhost");
        assert_eq!(
            read_line(&mut client),
            "tls true alpn Some(\"http/1.1\") sni Some(\"localhost\") client certs 0"
        );
        assert_eq!(client.conn.protocol_version(), Some(expected));
        client.write_all(b"hello over tls\n").unwrap();
        assert_eq!(read_line(&mut client), "hello over tls");
    }
    assert_eq!(server.metrics().tls_handshakes(), 2);
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn a_server_limited_to_tls_1_3_refuses_a_tls_1_2_client() {
    let pki = Pki::new("only13");
    pki.issue("server", &["localhost"]);
    let config = pki.config("server").versions(TlsVersions::Tls13);
    let server = show_server(TlsAcceptor::new(config).unwrap(), WAIT);
    let mut client = tls_connect(
        server.local_addr(),
        pki.client(&[&rustls::version::TLS12]),
        "localhost",
    );
    assert!(
        client.read(&mut [0; 64]).is_err(),
        "the handshake must fail"
    );
    wait_until("the failure counted", || {
        server.metrics().tls_failed_for(TlsFailure::Protocol) == 1
    });
    wait_until("the close counted", || {
        server.metrics().closed_for(CloseReason::TlsHandshake) == 1
    });
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn sni_chooses_the_certificate_and_unknown_names_get_the_default() {
    let pki = Pki::new("sni");
    let default = pki.issue("default", &["localhost"]);
    let other = pki.issue("other", &["other.test"]);
    let config =
        pki.config("default")
            .sni("Other.Test", pki.path("other.pem"), pki.path("other.key"));
    let server = show_server(TlsAcceptor::new(config).unwrap(), WAIT);
    for (name, expected) in [("other.test", &other), ("localhost", &default)] {
        let mut client = tls_connect(server.local_addr(), pki.client(BOTH), name);
        assert!(read_line(&mut client).starts_with("tls true"));
        let presented = &client.conn.peer_certificates().unwrap()[0];
        assert_eq!(presented, expected, "certificate for {name}");
    }
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn ten_thousand_pipelined_lines_and_a_one_mib_line_round_trip() {
    let pki = Pki::new("bulk");
    pki.issue("server", &["localhost"]);
    let server = echo_tls_server(TlsAcceptor::new(pki.config("server")).unwrap());
    let mut client = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    let mut big = vec![b'x'; 1 << 20];
    big.push(b'\n');
    batch.extend_from_slice(&big);
    // One thread, non-blocking: writes and reads interleave, so the server's replies
    // never wait for the client to stop writing.
    client.sock.set_nonblocking(true).unwrap();
    let mut written = 0;
    let mut got = Vec::with_capacity(batch.len());
    let mut buf = vec![0u8; 64 * 1024];
    let start = std::time::Instant::now();
    while got.len() < batch.len() {
        assert!(
            start.elapsed() < WAIT,
            "timed out after {} bytes",
            got.len()
        );
        if written < batch.len() && !client.conn.wants_write() {
            let end = (written + 16 * 1024).min(batch.len());
            written += client.conn.writer().write(&batch[written..end]).unwrap();
        }
        while client.conn.wants_write() {
            match client.conn.write_tls(&mut client.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        match client.conn.read_tls(&mut client.sock) {
            Ok(0) => panic!("EOF after {} bytes", got.len()),
            Ok(_) => {
                client.conn.process_new_packets().unwrap();
                loop {
                    match client.conn.reader().read(&mut buf) {
                        Ok(0) => panic!("close_notify after {} bytes", got.len()),
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("read: {e}"),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let more_to_send = written < batch.len() || client.conn.wants_write();
                wait_ready(&client.sock, more_to_send);
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    let expected = batch;
    assert!(got == expected, "the echo differs from what was sent");
    server.shutdown(Duration::from_secs(1));
}

/// Waits (at most a second) until `sock` is readable, or writable when `write` is set.
fn wait_ready(sock: &TcpStream, write: bool) {
    use std::os::fd::AsRawFd;
    let events = libc::POLLIN | if write { libc::POLLOUT } else { 0 };
    let mut fd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe { libc::poll(&mut fd, 1, 1000) };
}

#[test]
fn a_peer_close_notify_is_a_half_close_and_the_reply_still_comes_before_ours() {
    let pki = Pki::new("halfclose");
    pki.issue("server", &["localhost"]);
    let server = echo_tls_server(TlsAcceptor::new(pki.config("server")).unwrap());
    let mut client = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    client.write_all(b"one\ntwo\n").unwrap();
    client.conn.send_close_notify();
    client.flush().unwrap();
    while client.conn.wants_write() {
        client.conn.write_tls(&mut client.sock).unwrap();
    }
    // Half-closed: the server still answers, then closes with its own close_notify.
    let rest = read_to_close(&mut client).expect("a clean close_notify after the replies");
    assert_eq!(rest, "one\ntwo\n");
    wait_until("the close counted", || {
        server.metrics().closed_for(CloseReason::PeerClosed) == 1
    });
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn the_server_closing_sends_close_notify() {
    struct Bye;
    impl Handler for Bye {
        type In<'a> = &'a [u8];
        type Out<'a> = &'a [u8];
        fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
            ctx.write(line);
            ctx.close();
        }
    }
    let pki = Pki::new("closenotify");
    pki.issue("server", &["localhost"]);
    let server = builder(1)
        .tls(TlsAcceptor::new(pki.config("server")).unwrap())
        .pipeline(|| Pipeline::new(LineCodec::new(1024), Bye))
        .bind()
        .unwrap();
    let mut client = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    client.write_all(b"last words\n").unwrap();
    // Fails with UnexpectedEof if the FIN came without close_notify.
    let rest = read_to_close(&mut client).expect("close_notify before the FIN");
    assert_eq!(rest, "last words\n");
    server.shutdown(Duration::from_secs(1));
}

/// The first flight of a real client: a whole ClientHello.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut session = ClientConnection::new(Arc::new(pki.client(BOTH)), name).unwrap();
    let mut hello = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut hello).unwrap();
    }
    hello
}

#[test]
fn a_stalled_handshake_and_half_a_client_hello_are_closed_at_the_deadline() {
    let pki = Pki::new("deadline");
    pki.issue("server", &["localhost"]);
    let server = show_server(
        TlsAcceptor::new(pki.config("server")).unwrap(),
        Duration::from_millis(300),
    );
    let mut silent = connect(server.local_addr());
    let mut half = connect(server.local_addr());
    let hello = client_hello(&pki);
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    expect_closed(&mut silent);
    expect_closed(&mut half);
    wait_until("both deadlines counted", || {
        server.metrics().tls_failed_for(TlsFailure::Timeout) == 2
    });
    // The close is counted when the connection is removed, after the failure.
    wait_until("both closes counted", || {
        server.metrics().closed_for(CloseReason::TlsHandshake) == 2
    });
    assert_eq!(server.metrics().tls_handshakes(), 0);
    server.shutdown(Duration::from_secs(1));
}

/// Reads until the server closes, ignoring what it sends (an alert).
fn read_until_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("expected the server to close, got {e}"),
        }
    }
}

#[test]
fn garbage_and_plaintext_at_a_tls_port_are_closed_and_others_unaffected() {
    let pki = Pki::new("garbage");
    pki.issue("server", &["localhost"]);
    let server = show_server(TlsAcceptor::new(pki.config("server")).unwrap(), WAIT);
    let mut good = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    assert!(read_line(&mut good).starts_with("tls true"));
    let mut plaintext = connect(server.local_addr());
    plaintext
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    read_until_closed(&mut plaintext);
    let mut garbage = connect(server.local_addr());
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .unwrap();
    read_until_closed(&mut garbage);
    good.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut good), "still here");
    wait_until("both failures counted", || {
        server.metrics().tls_failed_for(TlsFailure::Protocol) == 2
    });
    server.shutdown(Duration::from_secs(1));
}

fn first_cert(client: &Tls) -> CertificateDer<'static> {
    client.conn.peer_certificates().unwrap()[0].clone()
}

#[test]
fn reload_swaps_certificates_for_new_connections_and_a_bad_file_keeps_the_old_set() {
    let pki = Pki::new("reload");
    let first = pki.issue("server", &["localhost"]);
    let acceptor = TlsAcceptor::new(pki.config("server")).unwrap();
    let server = show_server(acceptor.clone(), WAIT);
    let mut old = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    assert!(read_line(&mut old).starts_with("tls true"));
    assert_eq!(first_cert(&old), first);

    let second = pki.issue("server", &["localhost"]); // the same files, a new certificate
    acceptor.reload().expect("a good reload");
    let mut new = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    assert!(read_line(&mut new).starts_with("tls true"));
    assert_eq!(first_cert(&new), second);
    old.write_all(b"old one\n").unwrap();
    assert_eq!(
        read_line(&mut old),
        "old one",
        "an open connection is unaffected"
    );

    std::fs::write(pki.path("server.key"), "not a key\n").unwrap();
    let err = acceptor.reload().expect_err("a bad key file");
    let text = err.to_string();
    assert!(
        text.contains("server.key"),
        "the error names the file: {text}"
    );
    std::fs::remove_file(pki.path("server.pem")).unwrap();
    let err = acceptor.reload().expect_err("a missing certificate file");
    assert!(err.to_string().contains("server.pem"), "{err}");
    let mut after = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    assert!(read_line(&mut after).starts_with("tls true"));
    assert_eq!(first_cert(&after), second, "the old set stays in use");
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn bad_files_are_refused_naming_the_file() {
    let pki = Pki::new("badfiles");
    pki.issue("server", &["localhost"]);
    pki.issue("other", &["localhost"]);
    let missing = TlsAcceptor::new(TlsConfig::new(pki.path("nope.pem"), pki.path("server.key")));
    assert!(missing.unwrap_err().to_string().contains("nope.pem"));
    // A key that is not the certificate's.
    let mismatch = TlsAcceptor::new(TlsConfig::new(
        pki.path("server.pem"),
        pki.path("other.key"),
    ));
    assert!(mismatch.unwrap_err().to_string().contains("other.key"));
    std::fs::write(pki.path("empty.pem"), "").unwrap();
    let empty = TlsAcceptor::new(TlsConfig::new(
        pki.path("empty.pem"),
        pki.path("server.key"),
    ));
    assert!(empty.unwrap_err().to_string().contains("empty.pem"));
    let ca = TlsAcceptor::new(pki.config("server").client_ca(pki.path("missing-ca.pem")));
    assert!(ca.unwrap_err().to_string().contains("missing-ca.pem"));
}

fn client_with_cert(pki: &Pki, stem: &str) -> ClientConfig {
    let chain = vec![CertificateDer::from_pem_file(pki.path(&format!("{stem}.pem"))).unwrap()];
    let key = PrivateKeyDer::from_pem_file(pki.path(&format!("{stem}.key"))).unwrap();
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_client_auth_cert(chain, key)
        .unwrap()
}

use rustls::pki_types::pem::PemObject;

#[test]
fn mutual_tls_admits_a_client_with_a_certificate_and_refuses_one_without() {
    let pki = Pki::new("mtls");
    pki.issue("server", &["localhost"]);
    pki.issue("client", &["client.test"]);
    let config = pki.config("server").client_ca(pki.path("ca.pem"));
    let server = show_server(TlsAcceptor::new(config).unwrap(), WAIT);
    let mut with = tls_connect(
        server.local_addr(),
        client_with_cert(&pki, "client"),
        "localhost",
    );
    assert_eq!(
        read_line(&mut with),
        "tls true alpn None sni Some(\"localhost\") client certs 1"
    );
    with.write_all(b"trusted\n").unwrap();
    assert_eq!(read_line(&mut with), "trusted");

    let mut without = tls_connect(server.local_addr(), pki.client(BOTH), "localhost");
    // TLS 1.3: the client finishes first and learns of the refusal on its next read.
    let _ = without.write_all(b"let me in\n");
    let mut buf = [0u8; 64];
    match without.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("a client without a certificate got {:?}", &buf[..n]),
    }
    wait_until("the refusal counted", || {
        server.metrics().tls_failed_for(TlsFailure::Protocol) == 1
    });
    assert_eq!(server.metrics().tls_handshakes(), 1);
    server.shutdown(Duration::from_secs(1));
}

/// A dialled client: says hello once up, reports every line it receives.
struct Caller(mpsc::Sender<String>);

impl Handler for Caller {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = self.0.send(format!("active tls {}", ctx.is_tls()));
        ctx.write(b"from the dialler\n");
    }

    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
        let _ = self
            .0
            .send(String::from_utf8_lossy(line).trim_end().to_owned());
    }
}

#[test]
fn a_dialled_tls_client_verifies_the_server_name_and_talks() {
    let pki = Pki::new("dial");
    pki.issue("server", &["localhost"]);
    let server = echo_tls_server(TlsAcceptor::new(pki.config("server")).unwrap());
    let client = Client::builder().reactors(1).build_client().unwrap();
    let connector = TlsConnector::from_roots_file(pki.path("ca.pem")).unwrap();
    let (tx, rx) = mpsc::channel();
    let dial = Dial::addr(server.local_addr())
        .tls(&connector, "localhost")
        .unwrap();
    let lines = tx.clone();
    client.connect(
        None,
        dial,
        move || Pipeline::new(LineCodec::new(1024), Caller(lines.clone())),
        |_| {},
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "active tls true");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "from the dialler");

    // A name the certificate is not for: the handshake fails, the pipeline never runs.
    let wrong = Dial::addr(server.local_addr())
        .tls(&connector, "elsewhere.test")
        .unwrap();
    client.connect(
        None,
        wrong,
        move || Pipeline::new(LineCodec::new(1024), Caller(tx.clone())),
        |_| {},
    );
    wait_until("the client's failed handshake counted", || {
        client.metrics().tls_failed_for(TlsFailure::Protocol) == 1
    });
    assert!(
        rx.try_recv().is_err(),
        "no on_active for a failed handshake"
    );
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn the_proxy_header_is_read_before_the_handshake_even_in_the_same_segment() {
    struct Peer;
    impl Handler for Peer {
        type In<'a> = &'a [u8];
        type Out<'a> = &'a [u8];
        fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
            let line = format!("peer {} tls {}\n", ctx.peer_addr(), ctx.is_tls());
            ctx.write(line.as_bytes());
        }
        fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
            ctx.write(line);
        }
    }
    let pki = Pki::new("proxyheader");
    pki.issue("server", &["localhost"]);
    let server = builder(1)
        .proxy_protocol(weft::ProxyProtocol::required())
        .tls(TlsAcceptor::new(pki.config("server")).unwrap())
        .pipeline(|| Pipeline::new(LineCodec::new(1024), Peer))
        .bind()
        .unwrap();
    // The header and the ClientHello in one write: the bytes after the header are the
    // handshake's.
    let name = ServerName::try_from("localhost").unwrap();
    let mut session = ClientConnection::new(Arc::new(pki.client(BOTH)), name).unwrap();
    let mut first = b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n".to_vec();
    while session.wants_write() {
        session.write_tls(&mut first).unwrap();
    }
    let mut socket = connect(server.local_addr());
    socket.write_all(&first).unwrap();
    let mut client = StreamOwned::new(session, socket);
    assert_eq!(read_line(&mut client), "peer 192.0.2.7:51000 tls true");
    client.write_all(b"after both\n").unwrap();
    assert_eq!(read_line(&mut client), "after both");
    assert_eq!(server.metrics().proxy_headers(), 1);
    assert_eq!(server.metrics().tls_handshakes(), 1);
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn the_handshake_deadline_counts_from_the_accept_even_behind_a_proxy_header() {
    let pki = Pki::new("proxydeadline");
    pki.issue("server", &["localhost"]);
    // The header may take 5 s, the handshake 300 ms from the accept: a client that sends
    // nothing, or only the header, is closed by the handshake's deadline.
    let server = builder(1)
        .proxy_protocol(weft::ProxyProtocol::required())
        .proxy_header_timeout(Duration::from_secs(5))
        .tls(TlsAcceptor::new(pki.config("server")).unwrap())
        .tls_handshake_timeout(Duration::from_millis(300))
        .pipeline(|| Pipeline::new(LineCodec::new(1024), Echo))
        .bind()
        .unwrap();
    let mut silent = connect(server.local_addr());
    let mut header_only = connect(server.local_addr());
    header_only
        .write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n")
        .unwrap();
    expect_closed(&mut silent);
    expect_closed(&mut header_only);
    wait_until("both closes counted", || {
        server.metrics().closed_for(CloseReason::TlsHandshake) == 2
    });
    assert_eq!(server.metrics().closed_for(CloseReason::ProxyHeader), 0);
    assert_eq!(server.metrics().tls_failed_for(TlsFailure::Timeout), 2);
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn writes_before_the_handshake_completes_are_queued_then_sent_encrypted() {
    struct Quiet(mpsc::Sender<String>);
    impl Handler for Quiet {
        type In<'a> = &'a [u8];
        type Out<'a> = &'a [u8];
        fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
            let _ = self
                .0
                .send(String::from_utf8_lossy(line).trim_end().to_owned());
        }
    }
    let pki = Pki::new("early");
    pki.issue("server", &["localhost"]);
    let server = echo_tls_server(TlsAcceptor::new(pki.config("server")).unwrap());
    let client = Client::builder().reactors(1).build_client().unwrap();
    let connector = TlsConnector::from_roots_file(pki.path("ca.pem")).unwrap();
    let (tx, rx) = mpsc::channel();
    let dial = Dial::addr(server.local_addr())
        .tls(&connector, "localhost")
        .unwrap();
    // The caller hears of the connection once TCP is up, before the handshake: what it
    // writes then waits in the queue.
    client.connect(
        None,
        dial,
        move || Pipeline::new(LineCodec::new(1024), Quiet(tx.clone())),
        |result| {
            let connected = result.expect("the dial");
            connected
                .handle()
                .write(Bytes::from_static(b"early one\nearly two\n"))
                .expect("queued");
        },
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "early one");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "early two");
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn a_dialled_client_presents_its_certificate_to_a_mutual_tls_server() {
    let pki = Pki::new("dialmtls");
    pki.issue("server", &["localhost"]);
    pki.issue("client", &["client.test"]);
    let config = pki.config("server").client_ca(pki.path("ca.pem"));
    let server = show_server(TlsAcceptor::new(config).unwrap(), WAIT);
    let client = Client::builder().reactors(1).build_client().unwrap();
    let connector = TlsConnector::from_roots_file(pki.path("ca.pem"))
        .unwrap()
        .client_cert(pki.path("client.pem"), pki.path("client.key"))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let dial = Dial::addr(server.local_addr())
        .tls(&connector, "localhost")
        .unwrap();
    client.connect(
        None,
        dial,
        move || Pipeline::new(LineCodec::new(1024), Caller(tx.clone())),
        |_| {},
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "active tls true");
    // The server's greeting says it saw one client certificate.
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        "tls true alpn None sni Some(\"localhost\") client certs 1"
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "from the dialler");
    let bad = TlsConnector::from_roots_file(pki.path("ca.pem"))
        .unwrap()
        .client_cert(pki.path("client.pem"), pki.path("server.key"));
    assert!(bad.unwrap_err().to_string().contains("server.key"));
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn the_server_prefers_sha256_suites_over_the_client_order() {
    let pki = Pki::new("suites");
    pki.issue("server", &["localhost"]);
    let server = show_server(TlsAcceptor::new(pki.config("server")).unwrap(), WAIT);
    // ring's default client order lists AES-256-GCM-SHA384 first.
    for (versions, expected) in [
        (
            &[&rustls::version::TLS13][..],
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        ),
        (
            &[&rustls::version::TLS12][..],
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        let mut client = tls_connect(server.local_addr(), pki.client(versions), "localhost");
        assert!(read_line(&mut client).starts_with("tls true"));
        let suite = client.conn.negotiated_cipher_suite().unwrap().suite();
        assert_eq!(suite, expected);
    }
    server.shutdown(Duration::from_secs(1));
}
