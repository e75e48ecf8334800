//! line_echo driven as a separate process, as docs/protocols.md describes it.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;

use std::time::{Duration, Instant};

use common::{assert_refused, Client, ExampleServer, WAIT};

#[test]
fn a_malformed_command_line_exits_2_with_one_line() {
    for args in [
        &["--workers", "0"][..],
        &["--addr", "not-an-address"],
        &["--frobnicate"],
        &["--max-line"],
        &["--idle-timeout", "-3"],
    ] {
        assert_refused("line_echo", args);
    }
}

#[test]
fn echoes_errs_and_half_closes_per_the_protocol() {
    let server = ExampleServer::start("line_echo", &["--max-line", "8"]);
    let mut c = Client::connect_plain(&server);
    c.send("12345678\n\r\0\n");
    c.expect("12345678");
    c.expect("\r\0");
    c.send("123456789");
    c.expect("ERR line too long");
    c.expect_closed();

    let mut h = Client::connect_plain(&server);
    h.send("one\ntwo\npartial");
    h.writer.shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    h.reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "one\ntwo\n");
}

#[test]
fn sigterm_flushes_and_exits_0_within_the_shutdown_timeout() {
    let mut server = ExampleServer::start("line_echo", &["--shutdown-timeout", "1"]);
    let mut reader = Client::connect_plain(&server);
    reader.send("owed\n");
    reader.expect("owed");
    // A client that never reads cannot hold the shutdown past its deadline.
    let mut hog = std::net::TcpStream::connect(server.addr).unwrap();
    let mut line = vec![b'a'; 1000];
    line.push(b'\n');
    let hog_writer = std::thread::spawn(move || {
        for _ in 0..20_000 {
            if hog.write_all(&line).is_err() {
                break;
            }
        }
        hog
    });
    std::thread::sleep(Duration::from_millis(200)); // let the hog fill its buffers
    let started = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < WAIT, "server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < WAIT);
    reader.expect_closed();
    drop(hog_writer.join());
}

/// Reads until EOF (or a reset), within the bounded wait: what arrived.
fn read_to_close(c: &mut Client) -> String {
    let mut rest = Vec::new();
    match c.reader.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the connection to close, got {e}"),
    }
    String::from_utf8(rest).unwrap()
}

#[test]
fn a_trickled_line_times_out_while_slow_complete_lines_are_served() {
    let server = ExampleServer::start("line_echo", &["--frame-timeout", "1"]);
    let mut trickler = Client::connect_plain(&server);
    let mut steady = Client::connect_plain(&server);
    let started = Instant::now();
    // Two replies owed, then a line that never completes: one byte every 200 ms.
    trickler.send("first\nsecond\nx");
    let mut w = trickler.writer.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(200));
            if w.write_all(b"x").is_err() {
                return; // closed, as it should be
            }
        }
    });
    // Meanwhile a whole line every 200 ms for 2 s: each one is complete when it arrives.
    for i in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        steady.send(&format!("line {i}\n"));
        steady.expect(&format!("line {i}"));
    }
    // The owed replies came first, then the close, at the frame timeout (not the idle one,
    // 300 s: the trickler is never idle).
    trickler.expect("first");
    trickler.expect("second");
    assert_eq!(
        read_to_close(&mut trickler),
        "",
        "the partial line is not echoed"
    );
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_millis(900),
        "{closed_after:?}"
    );
    assert!(closed_after < WAIT, "{closed_after:?}");
    // The steady client outlived the trickler's timeout and is still served.
    steady.send("still here\n");
    steady.expect("still here");
    trickle.join().unwrap();
}

#[test]
fn max_line_must_leave_room_below_max_pending() {
    for args in [
        &["--max-line", "2000000", "--max-pending", "1048576"][..],
        &["--max-line", "1048576", "--max-pending", "1048576"],
    ] {
        assert_refused("line_echo", args);
    }
}

#[test]
fn a_line_near_max_pending_is_echoed_and_reading_goes_on() {
    // Issue 18: the echo of a line this long leaves the output above the high watermark,
    // and reading used to stop for good.
    const LEN: usize = 1_048_000;
    let server = ExampleServer::start(
        "line_echo",
        &["--max-line", "1048000", "--max-pending", "1048576"],
    );
    let mut c = Client::connect_plain(&server);
    let mut big = vec![b'q'; LEN];
    big.push(b'\n');
    let mut w = c.writer.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&big).unwrap();
        w.write_all(b"next\n").unwrap();
    });
    let echoed = c.line();
    assert_eq!(echoed.len(), LEN);
    assert!(echoed.bytes().all(|b| b == b'q'));
    c.expect("next");
    writer.join().unwrap();
}

/// The server's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(server: &ExampleServer) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).unwrap();
    // The fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime 14 and stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn at_max_connections_a_newcomer_waits_without_the_server_spinning() {
    let server = ExampleServer::start("line_echo", &["--max-connections", "3"]);
    let mut open: Vec<Client> = (0..3)
        .map(|i| {
            let mut c = Client::connect_plain(&server);
            c.send(&format!("hello {i}\n"));
            c.expect(&format!("hello {i}"));
            c
        })
        .collect();
    // The handshake completes (the listen backlog), but nobody reads it yet.
    let mut waiting = Client::connect_plain(&server);
    waiting.send("waiting\n");
    waiting
        .reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut line = String::new();
    match std::io::BufRead::read_line(&mut waiting.reader, &mut line) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the fourth connection was served at the limit: {other:?} {line:?}"),
    }
    // Not spinning on the pending connection meanwhile.
    let before = cpu_ticks(&server);
    std::thread::sleep(Duration::from_secs(1));
    let burned = cpu_ticks(&server) - before;
    assert!(
        burned <= 5,
        "the server used {burned} ticks of CPU in 1 s while at the limit"
    );
    // The open ones are still served.
    for (i, c) in open.iter_mut().enumerate() {
        c.send(&format!("again {i}\n"));
        c.expect(&format!("again {i}"));
    }
    // One closes: the fourth is accepted and served.
    drop(open.pop());
    waiting
        .reader
        .get_ref()
        .set_read_timeout(Some(WAIT))
        .unwrap();
    waiting.expect("waiting");
}
