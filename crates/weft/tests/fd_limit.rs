//! A server process at its descriptor limit (RLIMIT_NOFILE lowered): it keeps serving the
//! connections it has, does not spin, and accepts again once descriptors free up.
//!
//! The server runs in a child process (this test binary re-run with `WEFT_FD_CHILD=1`), so
//! lowering its limit cannot disturb the tests.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::Duration;

use common::{child_logging, serve_as_child, ChildServer, Echo, WAIT};
use weft::codec::LineCodec;
use weft::{Pipeline, Server};

const FD_LIMIT: u64 = 40;

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
    child_logging();
    let server = Server::builder()
        .addr("127.0.0.1:0")
        .reactors(1)
        .pool_threads(1)
        .pin_reactors(false)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    serve_as_child(server);
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
    let server = ChildServer::spawn("child_server_entry", "WEFT_FD_CHILD");
    let addr = server.addr;
    eprintln!("child serves on {addr}");

    // More connections than the child has descriptors for.
    let mut clients: Vec<TcpStream> = (0..2 * FD_LIMIT).map(|_| client(addr)).collect();
    for c in &mut clients {
        c.write_all(b"ping\n").unwrap();
    }
    eprintln!("clients connected");
    server.expect_log("accept failing");

    // Existing connections keep being served.
    expect(&mut clients[0], b"ping\n");
    clients[0].write_all(b"again\n").unwrap();
    expect(&mut clients[0], b"again\n");

    // At the limit the process is near idle: a spinning acceptor would burn ~100 ticks/s.
    let before = cpu_ticks(&server.child);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(&server.child) - before;
    eprintln!("child CPU while at the descriptor limit: {spent} ticks in 1 s");
    assert!(
        spent < 30,
        "server used {spent} CPU ticks in 1 s at the fd limit"
    );

    // Free descriptors: the last client (surely still in the backlog) gets served.
    let mut last = clients.pop().unwrap();
    clients.clear();
    expect(&mut last, b"ping\n");

    let status = server.finish();
    assert!(status.success(), "child exited with {status}");
}
