//! Helpers for driving the sample servers as separate processes, exactly as a user would.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

pub mod haproxy;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(20);

/// The path of an example binary, built first (once per test process) so that a test run
/// never drives a stale build.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    // Integration tests live in target/<profile>/deps; examples next door.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "weft-examples", "--examples"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the examples failed");
    });
    profile_dir.join("examples").join(name)
}

/// A sample server process, stopped with SIGTERM when dropped.
pub struct ExampleServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ExampleServer {
    pub fn start(name: &str, extra: &[&str]) -> ExampleServer {
        let (server, lines) = ExampleServer::start_reading(name, extra, 1);
        assert_eq!(lines.len(), 1);
        server
    }

    /// Starts `name` with `--metrics-addr 127.0.0.1:0`; returns the server and the
    /// address of its metrics endpoint (the second stdout line).
    pub fn start_with_metrics(name: &str, extra: &[&str]) -> (ExampleServer, SocketAddr) {
        let mut args = vec!["--metrics-addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let (server, lines) = ExampleServer::start_reading(name, &args, 2);
        let metrics = lines[1]
            .strip_prefix("metrics on ")
            .unwrap_or_else(|| panic!("unexpected second line {:?}", lines[1]))
            .trim()
            .parse()
            .unwrap();
        (server, metrics)
    }

    /// Starts `name` and reads its first `lines` stdout lines (the first is `listening on`).
    fn start_reading(name: &str, extra: &[&str], lines: usize) -> (ExampleServer, Vec<String>) {
        let bin = example_binary(name);
        let mut child = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("CHAT_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let read: Vec<String> = (0..lines)
            .map(|_| {
                let mut line = String::new();
                stdout.read_line(&mut line).unwrap();
                line
            })
            .collect();
        let addr = read[0]
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {:?}", read[0]))
            .trim()
            .parse()
            .unwrap();
        (ExampleServer { child, addr }, read)
    }

    /// The server's resident memory now.
    pub fn rss_bytes(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// The most resident memory the server has had since it started.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A line client reading line by line with bounded waits.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    pub nick: String,
}

impl Client {
    /// Connects and reads the chat greeting (`* you are <nick>`).
    pub fn connect(server: &ExampleServer) -> Client {
        Client::connect_to(server.addr)
    }

    /// Connects to `addr` (a server, or a balancer in front of one) and reads the greeting.
    pub fn connect_to(addr: SocketAddr) -> Client {
        let mut client = Client::connect_plain_to(addr);
        let hello = client.line();
        client.nick = hello
            .strip_prefix("* you are ")
            .unwrap_or_else(|| panic!("unexpected greeting {hello:?}"))
            .to_string();
        assert!(client.nick.starts_with("guest"));
        client
    }

    /// Connects without expecting any greeting.
    pub fn connect_plain(server: &ExampleServer) -> Client {
        Client::connect_plain_to(server.addr)
    }

    /// Connects to `addr` without expecting any greeting.
    pub fn connect_plain_to(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            nick: String::new(),
        }
    }

    pub fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
    }

    /// The next line, without its `\n`.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap();
        assert!(n > 0, "connection closed while a line was expected");
        assert!(line.ends_with('\n'), "partial line {line:?}");
        line.pop();
        line
    }

    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    pub fn expect_closed(&mut self) {
        let mut rest = String::new();
        match self.reader.read_line(&mut rest) {
            Ok(0) => {}
            Ok(_) => panic!("expected EOF, got {rest:?}"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected EOF, got {e}"),
        }
    }
}

/// Runs sample `name` with `args` (after `--addr 127.0.0.1:0`) and a bounded wait; returns
/// (status code, stdout, stderr).
pub fn run_bounded(name: &str, args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(example_binary(name))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let out = child.wait_with_output().unwrap();
            panic!(
                "{name} {args:?} did not exit (it started: {:?})",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that sample `name` refuses `args`: exit status 2, one line on stderr, nothing
/// on stdout.
pub fn assert_refused(name: &str, args: &[&str]) {
    let (code, stdout, stderr) = run_bounded(name, args);
    assert_eq!(code, Some(2), "{name} {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{name} {args:?}: {stderr}");
    assert!(stdout.is_empty(), "{name} {args:?}: nothing on stdout");
}

/// `GET /metrics` on a fresh connection to a sample's metrics endpoint: (the response
/// head, the body).
pub fn scrape(addr: SocketAddr) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_string(), body.to_string())
}

/// The sum of a metric family's samples (over every label set) at `addr`.
pub fn metric_sum(addr: SocketAddr, family: &str) -> u64 {
    let (_, body) = scrape(addr);
    let samples: Vec<u64> = body
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse().ok()
        })
        .collect();
    assert!(!samples.is_empty(), "no {family} in {body}");
    samples.iter().sum()
}
