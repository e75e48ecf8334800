//! The proxy sample driven as a separate process against real backends (line_echo, and
//! small servers that stream, answer after the end of stream, or read the PROXY header),
//! as docs/protocols.md ("proxy") describes it.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{assert_refused, ExampleServer, WAIT};

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

fn refused_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn a_malformed_command_line_exits_2_with_one_line() {
    let up = refused_port();
    for args in [
        &[][..],
        &["--upstream", "nowhere"],
        &["--upstream", &up, "--max-line", "10"],
        &["--upstream", &up, "--frame-timeout", "10"],
        &["--upstream", &up, "--connect-timeout", "0"],
        &["--upstream", &up, "--workers", "0"],
    ] {
        assert_refused("proxy", args);
    }
}

#[test]
fn relays_pipelined_lines_byte_exact_and_passes_half_close_to_line_echo() {
    let echo = ExampleServer::start("line_echo", &[]);
    let up = echo.addr.to_string();
    let proxy = ExampleServer::start("proxy", &["--upstream", &up]);
    let mut c = client(proxy.addr);
    let mut sent = Vec::new();
    for i in 0..10_000 {
        sent.extend_from_slice(format!("line {i} \0\r\x7f").as_bytes());
        sent.extend_from_slice(b"\xff\xfe\n");
    }
    let writer = {
        let mut w = c.try_clone().unwrap();
        let sent = sent.clone();
        std::thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(Shutdown::Write).unwrap(); // passed on; line_echo then closes
        })
    };
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == sent, "{} bytes back of {}", got.len(), sent.len());
}

#[test]
fn fails_over_round_robin_and_closes_without_a_byte_when_every_upstream_fails() {
    let echo = ExampleServer::start("line_echo", &[]);
    let (dead, live) = (refused_port(), echo.addr.to_string());
    let proxy = ExampleServer::start("proxy", &["--upstream", &dead, "--upstream", &live]);
    for i in 0..4 {
        // Sessions start at each upstream in turn; the dead one is skipped every time.
        let mut c = client(proxy.addr);
        c.write_all(format!("session {i}\n").as_bytes()).unwrap();
        let mut line = vec![0u8; format!("session {i}\n").len()];
        c.read_exact(&mut line).unwrap();
        assert_eq!(line, format!("session {i}\n").as_bytes());
    }
    let none = ExampleServer::start(
        "proxy",
        &["--upstream", &dead, "--upstream", &refused_port()],
    );
    let mut c = client(none.addr);
    let _ = c.write_all(b"anyone?\n");
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "no byte from a proxy with no upstream"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn holds_bytes_sent_while_an_unanswering_upstream_times_out() {
    // An upstream whose accept queue is full never answers: the proxy waits
    // --connect-timeout, then goes on to line_echo with the bytes it held.
    let silent = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    silent
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    silent.listen(0).unwrap();
    let silent_addr = silent.local_addr().unwrap().as_socket().unwrap();
    let _fillers: Vec<_> = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&silent_addr, Duration::from_millis(300)).ok())
        .collect();
    let echo = ExampleServer::start("line_echo", &[]);
    let (s, e) = (silent_addr.to_string(), echo.addr.to_string());
    let proxy = ExampleServer::start(
        "proxy",
        &[
            "--upstream",
            &s,
            "--upstream",
            &e,
            "--connect-timeout",
            "0.5",
        ],
    );
    let mut c = client(proxy.addr);
    c.write_all(b"said before the upstream was up\n").unwrap();
    let mut got = vec![0u8; 32];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"said before the upstream was up\n");
}

#[test]
fn proxy_protocol_out_sends_a_v2_header_before_any_client_byte() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().to_string();
    let proxy = ExampleServer::start("proxy", &["--upstream", &up, "--proxy-protocol-out"]);
    let mut c = client(proxy.addr);
    c.write_all(b"hi").unwrap();
    let (mut s, _) = upstream.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut header = [0u8; 30];
    s.read_exact(&mut header).unwrap();
    assert_eq!(&header[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(&header[12..16], &[0x21, 0x11, 0, 12]);
    let me = c.local_addr().unwrap();
    assert_eq!(&header[16..20], &[127, 0, 0, 1]);
    assert_eq!(&header[20..24], &[127, 0, 0, 1]);
    assert_eq!(u16::from_be_bytes([header[24], header[25]]), me.port());
    assert_eq!(
        u16::from_be_bytes([header[26], header[27]]),
        proxy.addr.port()
    );
    assert_eq!(&header[28..], b"hi");
}

#[test]
fn an_idle_session_is_closed() {
    let echo = ExampleServer::start("line_echo", &[]);
    let up = echo.addr.to_string();
    let proxy = ExampleServer::start("proxy", &["--upstream", &up, "--idle-timeout", "0.5"]);
    let mut c = client(proxy.addr);
    c.write_all(b"x\n").unwrap();
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    let mut rest = [0u8; 8];
    assert_eq!(c.read(&mut rest).unwrap(), 0, "closed once idle");
}

#[test]
fn a_client_that_never_reads_a_200_mib_stream_costs_at_most_16_mib_and_gets_it_all() {
    const TOTAL: usize = 200 << 20;
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().to_string();
    let streamer = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < TOTAL {
            s.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
    });
    let proxy = ExampleServer::start("proxy", &["--upstream", &up]);
    let before = proxy.rss_bytes();
    // (The client sends nothing: a streamer that closed with unread input would reset.)
    let mut c = client(proxy.addr);
    // Not reading: watch the proxy's memory until the stream is stuck behind us.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let peak = proxy.peak_rss_bytes();
    let mut got = vec![0u8; TOTAL];
    c.read_exact(&mut got).unwrap();
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, &b)| b == ((i % 65536) as u32 % 251) as u8));
    streamer.join().unwrap();
    assert!(
        peak.saturating_sub(before) <= 16 << 20,
        "the proxy grew by {} bytes",
        peak - before
    );
}

#[test]
fn sigterm_stops_accepting_and_lets_open_sessions_run_until_the_deadline() {
    let echo = ExampleServer::start("line_echo", &[]);
    let up = echo.addr.to_string();
    let mut proxy = ExampleServer::start("proxy", &["--upstream", &up, "--shutdown-timeout", "1"]);
    let mut c = client(proxy.addr);
    c.write_all(b"before\n").unwrap();
    let mut buf = [0u8; 7];
    c.read_exact(&mut buf).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(proxy.child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    // The open session still relays until the deadline...
    c.write_all(b"after\n").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after\n");
    // ...then the proxy closes it and exits 0.
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < WAIT, "the proxy did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        TcpStream::connect(proxy.addr).is_err(),
        "no longer accepting"
    );
}

#[test]
fn a_reset_upstream_resets_the_client_and_a_deaf_one_stops_the_client_being_read() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().to_string();
    let proxy = ExampleServer::start("proxy", &["--upstream", &up, "--max-pending", "65536"]);

    // A deaf upstream: it accepts and never reads. The client's writes stall once the
    // proxy's queue towards it and the kernels' buffers are full; the proxy stays small.
    let before = proxy.rss_bytes();
    let c = client(proxy.addr);
    let (deaf, _) = upstream.accept().unwrap();
    let mut w = c.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![b'x'; 65536];
    let mut sent = 0usize;
    loop {
        match w.write(&chunk) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(
            sent < 256 << 20,
            "the proxy kept reading from a client whose upstream is deaf"
        );
    }
    assert!(proxy.peak_rss_bytes().saturating_sub(before) <= 16 << 20);

    // Now the upstream resets: the client is reset at once.
    socket2::SockRef::from(&deaf)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(deaf);
    let mut r = c;
    let mut buf = [0u8; 64];
    let err = r
        .read(&mut buf)
        .expect_err("a reset, not data or an end of stream");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}
