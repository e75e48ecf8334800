//! Helpers for driving the sample servers with real clients: servers started in-process on
//! 127.0.0.1:0, external tools looked up with a clear message when missing, and every
//! child process bounded by a timeout.

#![allow(dead_code)] // each test file uses a different subset

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::codec::{HttpLimits, RespCodec, RespLimits};
use weft::{Pipeline, Server, ServerBuilder};
use weft_examples::http::{hello_codec, HelloHandler};
use weft_examples::resp::{RespHandler, Store};

/// Every blocking wait in these tests gives up after this long.
pub const WAIT: Duration = Duration::from_secs(60);

/// The path of `command`, or a failure saying how to install it.
pub fn tool(command: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{command}` (Debian package {package}) is not installed: run ./scripts/test.sh, \
                 which installs the tools the tests drive"
            )
        })
}

/// What a finished child printed.
#[derive(Debug)]
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Checks a finished `wrk` run: it succeeded with no socket errors and no non-2xx
/// answers. Returns the number of requests it made.
pub fn wrk_requests(out: &Output) -> u64 {
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("Socket errors"), "{out:?}");
    assert!(!out.stdout.contains("Non-2xx"), "{out:?}");
    out.stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.parse().unwrap())
        })
        .expect("a request count")
}

/// Runs `command` to completion, killing it and failing after `timeout`.
pub fn run(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!("{command:?} did not finish within {timeout:?}; stderr: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

/// A builder on 127.0.0.1:0 with two unpinned reactors.
pub fn builder() -> ServerBuilder<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Server::builder()
        .addr("127.0.0.1:0")
        .reactors(2)
        .pin_reactors(false)
}

/// The Redis-compatible server with its own store.
pub fn resp_server(limits: RespLimits) -> (Server, Arc<Store>) {
    resp_server_on(2, limits)
}

/// The Redis-compatible server with its own store, on `reactors` reactors (one, to make
/// every connection share a reactor: connections are dealt to reactors in turn).
pub fn resp_server_on(reactors: usize, limits: RespLimits) -> (Server, Arc<Store>) {
    let store = Arc::new(Store::new());
    let shared = Arc::clone(&store);
    let server = builder()
        .reactors(reactors)
        .pipeline(move || Pipeline::new(RespCodec::new(limits), RespHandler::new(shared.clone())))
        .bind()
        .expect("bind");
    (server, store)
}

/// The hello server.
pub fn http_server(limits: HttpLimits) -> Server {
    builder()
        .pipeline(move || Pipeline::new(hello_codec(limits), HelloHandler::new()))
        .bind()
        .expect("bind")
}

/// A client with read and write timeouts of [`WAIT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

/// Reads until the server closes the connection (a reset after our unread data counts as
/// closed too).
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!(
                "reading until close: {e} (after {:?})",
                String::from_utf8_lossy(&all)
            ),
        }
    }
}
