//! A server process at its descriptor limit (RLIMIT_NOFILE lowered): it keeps serving the
//! connections it has, does not spin, and accepts again once descriptors free up.
//!
//! The server runs in a child process (this test binary re-run with `WEFT_FD_CHILD=1`), so
//! lowering its limit cannot disturb the tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use weft::codec::LineCodec;
use weft::{Bytes, Context, Handler, Pipeline, Server};

const WAIT: Duration = Duration::from_secs(20);
const FD_LIMIT: u64 = 40;

struct Echo;

impl Handler for Echo {
    type In = Bytes;
    type Out = Bytes;
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
        ctx.write(line);
    }
}

/// The child: lower the limit, serve, print the port, exit when stdin closes.
#[test]
fn child_server_entry() {
    if std::env::var_os("WEFT_FD_CHILD").is_none() {
        return; // only meaningful as the child of the test below
    }
    let limit = libc::rlimit {
        rlim_cur: FD_LIMIT,
        rlim_max: FD_LIMIT,
    };
    // SAFETY: setrlimit reads a valid, initialised struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .init();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .reactors(std::num::NonZeroUsize::new(1).unwrap())
        .pool_threads(std::num::NonZeroUsize::new(1).unwrap())
        .pin_reactors(false)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    // The harness may have started a line already ("test child_server_entry ... ").
    println!("\nPORT {}", server.local_addr().port());
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.shutdown(Duration::from_secs(1));
}

fn cpu_ticks(child: &Child) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn expect(stream: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0; want.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
}

#[test]
fn at_the_descriptor_limit_the_server_keeps_serving_stays_idle_and_recovers() {
    if std::env::var_os("WEFT_FD_CHILD").is_some() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEFT_FD_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the port, then keep draining the child's stdout so its harness can finish.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(port) = line.split("PORT ").nth(1) {
                let _ = port_tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = port_rx.recv_timeout(WAIT).expect("child printed its port");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    eprintln!("child serves on {addr}");

    // Watch the child's log for the back-off warning.
    let (tx, warned) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("accept failing") {
                let _ = tx.send(());
            }
        }
    });

    // More connections than the child has descriptors for.
    let mut clients: Vec<TcpStream> = (0..2 * FD_LIMIT).map(|_| client(addr)).collect();
    for c in &mut clients {
        c.write_all(b"ping\n").unwrap();
    }
    eprintln!("clients connected");
    warned
        .recv_timeout(WAIT)
        .expect("the server logs that accepting is failing");

    // Existing connections keep being served.
    expect(&mut clients[0], b"ping\n");
    clients[0].write_all(b"again\n").unwrap();
    expect(&mut clients[0], b"again\n");

    // At the limit the process is near idle: a spinning acceptor would burn ~100 ticks/s.
    let before = cpu_ticks(&child);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(&child) - before;
    eprintln!("child CPU while at the descriptor limit: {spent} ticks in 1 s");
    assert!(
        spent < 30,
        "server used {spent} CPU ticks in 1 s at the fd limit"
    );

    // Free descriptors: the last client (surely still in the backlog) gets served.
    let mut last = clients.pop().unwrap();
    clients.clear();
    expect(&mut last, b"ping\n");

    drop(child.stdin.take()); // the child shuts down when its stdin closes
    let status = child.wait().unwrap();
    assert!(status.success(), "child exited with {status}");
}
