//! TLS on the sample servers (`--tls-cert`, `--tls-key`, `--tls-client-ca`,
//! `--handshake-timeout`, SIGHUP), driven by real clients: Python's `ssl` module,
//! `openssl s_client` and `curl --cacert` (Debian packages python3, openssl and curl;
//! `./scripts/test.sh` installs the last two). Certificates are made by each test.

mod common;
mod real_clients;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::{assert_refused, example_binary, run_bounded};
use real_clients::{run, tool, wrk_requests, Output, WAIT};
use weft::testing::TestCa;

/// The test's CA (`weft::testing::TestCa`), with paths as the strings a command line
/// takes.
struct Pki(TestCa);

impl Pki {
    fn new(test: &str) -> Pki {
        Pki(TestCa::new(&format!("ex-tls-{test}")))
    }

    fn path(&self, name: &str) -> String {
        self.0.path(name).to_str().unwrap().to_string()
    }

    /// Issues a certificate for localhost into `<stem>.pem`/`<stem>.key`; returns its DER
    /// in hex.
    fn issue(&self, stem: &str) -> String {
        let der = self.0.issue(stem, &["localhost"]);
        der.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn flags(&self, stem: &str) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.path(&format!("{stem}.pem")),
            "--tls-key".into(),
            self.path(&format!("{stem}.key")),
        ]
    }
}

/// A sample server whose stderr (its logs, at `info`) the test reads.
struct Sample {
    child: Child,
    addr: SocketAddr,
    logs: mpsc::Receiver<String>,
}

impl Sample {
    fn start(name: &str, args: &[String]) -> Sample {
        let mut child = Command::new(example_binary(name))
            .args(["--addr", "127.0.0.1:0", "--workers", "1"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .unwrap();
        let (tx, logs) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Sample { child, addr, logs }
    }

    /// Waits for a log line containing `needle`.
    fn expect_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?}"),
            }
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill with the pid of our own running child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A Python `ssl` client: connects to `addr` as `localhost`, trusting `ca`, allowing only
/// `version` (`TLSv1_2` or `TLSv1_3`); sends `lines` and reads the same number of lines
/// back; prints the version, then the server certificate's DER in hex, then each line.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, version, lines = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
ctx = ssl.create_default_context(cafile=ca)
v = getattr(ssl.TLSVersion, version)
ctx.minimum_version = v
ctx.maximum_version = v
with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        print(s.version())
        print(s.getpeercert(binary_form=True).hex())
        s.sendall("".join(l + "\n" for l in lines).encode())
        f = s.makefile("rb")
        for _ in lines:
            print(f.readline().decode().rstrip("\n"))
"#;

fn python(addr: SocketAddr, ca: &str, version: &str, lines: &[&str]) -> Output {
    let mut command = Command::new(tool("python3", "python3"));
    command
        .args(["-c", PY_CLIENT, &addr.port().to_string(), ca, version])
        .args(lines);
    run(&mut command, WAIT)
}

#[test]
fn line_echo_over_tls_1_2_and_1_3_with_python_ssl_and_openssl_s_client() {
    let pki = Pki::new("echo");
    let cert = pki.issue("server");
    let server = Sample::start("line_echo", &pki.flags("server"));
    for (version, name) in [("TLSv1_2", "TLSv1.2"), ("TLSv1_3", "TLSv1.3")] {
        let out = python(
            server.addr,
            &pki.path("ca.pem"),
            version,
            &["one", "two ü", "three"],
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            out.stdout,
            format!("{name}\n{cert}\none\ntwo ü\nthree\n"),
            "{out:?}"
        );
    }
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let mut command = Command::new(tool("openssl", "openssl"));
        command.args([
            "s_client",
            "-connect",
            &server.addr.to_string(),
            "-servername",
            "localhost",
            "-verify_hostname",
            "localhost",
            "-CAfile",
            &pki.path("ca.pem"),
            "-verify_return_error",
            "-brief",
            flag,
        ]);
        let out = run(&mut command, WAIT);
        assert!(out.status.success(), "{out:?}");
        assert!(out.stderr.contains("Verification: OK"), "{out:?}");
        assert!(
            out.stderr.contains(&format!("Protocol version: {name}")),
            "{out:?}"
        );
    }
}

fn curl(args: &[&str]) -> Output {
    let mut command = Command::new(tool("curl", "curl"));
    command
        .args(["-sS", "--max-time", "20", "--noproxy", "*"])
        .args(args);
    run(&mut command, WAIT)
}

#[test]
fn http_hello_over_https_with_curl_and_mutual_tls() {
    let pki = Pki::new("https");
    pki.issue("server");
    let server = Sample::start("http_hello", &pki.flags("server"));
    let port = server.addr.port();
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let ca = pki.path("ca.pem");
    for versions in [&["--tlsv1.2", "--tls-max", "1.2"][..], &["--tlsv1.3"]] {
        let mut args = vec!["--cacert", &ca, "--resolve", &resolve];
        args.extend_from_slice(versions);
        args.push(&url);
        let out = curl(&args);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, "Hello, World!", "{out:?}");
    }
    drop(server);

    // --tls-client-ca: curl with a certificate the CA issued gets in; without, it fails.
    pki.issue("client");
    let mut flags = pki.flags("server");
    flags.extend(["--tls-client-ca".into(), ca.clone()]);
    let server = Sample::start("http_hello", &flags);
    let port = server.addr.port();
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let with = curl(&[
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "--cert",
        &cert,
        "--key",
        &key,
        &url,
    ]);
    assert!(with.status.success(), "{with:?}");
    assert_eq!(with.stdout, "Hello, World!");
    let without = curl(&["--cacert", &ca, "--resolve", &resolve, &url]);
    assert!(!without.status.success(), "{without:?}");
    assert!(without.stdout.is_empty(), "{without:?}");
    server.expect_log("TLS handshake failed");
}

#[test]
fn sighup_reloads_a_good_certificate_and_keeps_the_old_one_on_a_bad_file() {
    let pki = Pki::new("sighup");
    let first = pki.issue("server");
    let server = Sample::start("line_echo", &pki.flags("server"));
    let ca = pki.path("ca.pem");
    let seen = |version| {
        let out = python(server.addr, &ca, version, &["ping"]);
        assert!(out.status.success(), "{out:?}");
        out.stdout.lines().nth(1).unwrap().to_string()
    };
    assert_eq!(seen("TLSv1_3"), first);

    let second = pki.issue("server");
    server.signal(libc::SIGHUP);
    server.expect_log("TLS certificates reloaded");
    assert_eq!(seen("TLSv1_3"), second);

    std::fs::write(
        pki.path("server.key"),
        "-----BEGIN PRIVATE KEY-----\nbroken\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    let line = server.expect_log("not reloaded");
    assert!(
        line.contains("server.key"),
        "the log names the file: {line}"
    );
    assert_eq!(seen("TLSv1_2"), second, "the old certificate stays in use");
}

#[test]
fn bad_tls_flags_exit_2_with_one_line_naming_the_file() {
    let pki = Pki::new("flags");
    pki.issue("server");
    pki.issue("other");
    let cert = pki.path("server.pem");
    let key = pki.path("server.key");
    let missing = pki.path("missing.pem");
    let other_key = pki.path("other.key");
    for name in [
        "line_echo",
        "chat",
        "offload",
        "http_hello",
        "resp_server",
        "proxy",
    ] {
        let mut base: Vec<&str> = Vec::new();
        if name == "proxy" {
            base.extend(["--upstream", "127.0.0.1:1"]);
        }
        for (args, file) in [
            (
                vec!["--tls-cert", &missing, "--tls-key", &key],
                Some(&missing),
            ),
            (vec!["--tls-cert", &cert, "--tls-key", &cert], Some(&cert)),
            (
                vec!["--tls-cert", &cert, "--tls-key", &other_key],
                Some(&other_key),
            ),
            (
                vec![
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &key,
                    "--tls-client-ca",
                    &missing,
                ],
                Some(&missing),
            ),
            (vec!["--tls-cert", &cert], None),
            (vec!["--tls-key", &key], None),
            (vec!["--tls-client-ca", &cert], None),
            (
                vec![
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &key,
                    "--handshake-timeout",
                    "0",
                ],
                None,
            ),
        ] {
            let mut all = base.clone();
            all.extend(args.iter().copied());
            assert_refused(name, &all);
            if let Some(file) = file {
                let (_, _, stderr) = run_bounded(name, &all);
                assert!(stderr.contains(file.as_str()), "{name} {all:?}: {stderr}");
            }
        }
    }
}

#[test]
fn the_proxy_terminates_tls_and_relays_plaintext_upstream() {
    use std::io::{Read, Write};
    // A plaintext upstream that echoes each connection's bytes.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in upstream.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let pki = Pki::new("proxy");
    let cert = pki.issue("server");
    let mut flags = vec!["--upstream".to_string(), up];
    flags.extend(pki.flags("server"));
    let proxy = Sample::start("proxy", &flags);
    let out = python(
        proxy.addr,
        &pki.path("ca.pem"),
        "TLSv1_3",
        &["through", "the proxy"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, format!("TLSv1.3\n{cert}\nthrough\nthe proxy\n"));
}

#[test]
fn wrk_over_https_sees_no_errors_with_keep_alive_and_a_handshake_per_request() {
    let pki = Pki::new("wrk");
    pki.issue("server");
    let server = Sample::start("http_hello", &pki.flags("server"));
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    for extra in [&[][..], &["-H", "Connection: close"]] {
        let mut command = Command::new(tool("wrk", "wrk"));
        command
            .args(["-t1", "-c8", "-d1s", "--timeout", "5s"])
            .args(extra)
            .arg(&url);
        let out = run(&mut command, WAIT);
        let requests = wrk_requests(&out);
        assert!(requests > 10, "{out:?}");
    }
}

#[test]
fn handshake_timeout_closes_a_silent_client_and_half_a_client_hello() {
    use std::io::{Read, Write};
    let pki = Pki::new("hstimeout");
    pki.issue("server");
    let mut flags = pki.flags("server");
    flags.extend(["--handshake-timeout".into(), "0.3".into()]);
    let server = Sample::start("line_echo", &flags);
    let connect = || {
        let s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s
    };
    let mut silent = connect();
    let mut half = connect();
    // The first bytes of a TLS 1.2/1.3 ClientHello record: a header that promises more.
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
        .unwrap();
    for stream in [&mut silent, &mut half] {
        match stream.read(&mut [0u8; 64]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the server to close at the deadline, got {other:?}"),
        }
    }
    server.expect_log("TLS handshake failed");
}
