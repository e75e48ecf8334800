//! Helpers for loopback tests: servers on 127.0.0.1:0, clients with bounded waits, and
//! checks named for what they check.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use weft::codec::LineCodec;
use weft::{Bytes, Context, Error, Handler, Pipeline, Server, ServerBuilder};

/// Every blocking wait in the tests gives up after this long.
pub const WAIT: Duration = Duration::from_secs(20);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A builder on 127.0.0.1:0 with `reactors` unpinned reactors.
pub fn builder(reactors: usize) -> ServerBuilder<()> {
    init_logging();
    Server::builder()
        .addr("127.0.0.1:0")
        .reactors(reactors)
        .pin_reactors(false)
}

/// The line echo handler used across tests.
pub struct Echo;

impl Handler for Echo {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_frame_too_long() {
            ctx.write_bytes(Bytes::from_static(b"ERR line too long\n"));
        }
    }
}

/// A line-echo server with `reactors` reactors and lines of at most `max_line` bytes.
pub fn echo_server(reactors: usize, max_line: usize) -> Server {
    builder(reactors)
        .pipeline(move || Pipeline::new(LineCodec::new(max_line), Echo))
        .bind()
        .expect("bind")
}

/// A client with read and write timeouts of [`WAIT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads exactly `len` bytes (panics on timeout or early EOF).
pub fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).expect("read_exact");
    buf
}

/// Asserts that the next bytes from `stream` are exactly `expected`.
pub fn expect_bytes(stream: &mut TcpStream, expected: &[u8]) {
    let got = read_exactly(stream, expected.len());
    assert!(
        got == expected,
        "expected {:?}, got {:?}",
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(&got)
    );
}

/// Asserts that the server closed the connection (EOF, or a reset after our unread data),
/// with nothing more to read.
pub fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected EOF, got {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected EOF, got error {e}"),
    }
}

/// Polls `condition` until it holds, failing after [`WAIT`]. Only for state that has no
/// event to wait on (metrics); never a stand-in for a reply.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Writes `data` from a separate thread (so a test can read while a big write is going),
/// returning the thread.
pub fn write_in_background(
    mut stream: TcpStream,
    data: Vec<u8>,
) -> std::thread::JoinHandle<TcpStream> {
    std::thread::spawn(move || {
        stream.write_all(&data).expect("background write");
        stream
    })
}

/// A server running in a child process: this test binary re-run with one test selected
/// and an environment variable set, so the child can change process-wide state (limits,
/// signal dispositions) without disturbing the other tests.
pub struct ChildServer {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// The child's stderr, line by line (its logs).
    pub stderr: std::sync::mpsc::Receiver<String>,
}

impl ChildServer {
    /// Runs test `entry` of this binary with `env_var=1`; waits for its port.
    pub fn spawn(entry: &str, env_var: &str) -> ChildServer {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([entry, "--exact", "--nocapture", "--test-threads=1"])
            .env(env_var, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the port, then keep draining stdout so the child's harness can finish.
        let stdout = io::BufReader::new(child.stdout.take().unwrap());
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(port) = line.split("PORT ").nth(1) {
                    let _ = port_tx.send(port.trim().parse::<u16>().unwrap());
                }
            }
        });
        let (line_tx, stderr) = std::sync::mpsc::channel();
        let err = io::BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let port = port_rx.recv_timeout(WAIT).expect("child printed its port");
        ChildServer {
            child,
            addr: ([127, 0, 0, 1], port).into(),
            stderr,
        }
    }

    /// Waits (bounded) for a stderr line containing `needle`, and returns it.
    pub fn expect_log_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("the child never logged {needle:?}"),
            }
        }
    }

    /// Like [`ChildServer::finish`], and returns the stderr lines not read yet.
    pub fn finish_collecting(mut self) -> (std::process::ExitStatus, Vec<String>) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        let mut lines = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(1)) {
            lines.push(line);
        }
        (status, lines)
    }

    /// Waits (bounded) for a stderr line containing `needle`.
    pub fn expect_log(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("the child never logged {needle:?}"),
            }
        }
    }

    /// Closes the child's stdin (its signal to shut down) and waits for it to exit.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.child.stdin.take());
        self.child.wait().unwrap()
    }
}

/// In the child: log to stderr, announce the port, serve until stdin closes.
pub fn serve_as_child(server: Server) {
    println!("\nPORT {}", server.local_addr().port()); // the harness may have begun a line
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.shutdown(Duration::from_secs(1));
}

/// In the child: logs to stderr at debug level, without colours.
pub fn child_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .init();
}
