//! line_echo driven as a separate process, as PROTOCOLS.md describes it.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{example_binary, Client, ExampleServer, WAIT};

#[test]
fn a_malformed_command_line_exits_2_with_one_line() {
    let bin = example_binary("line_echo");
    for args in [
        &["--workers", "0"][..],
        &["--addr", "not-an-address"],
        &["--frobnicate"],
        &["--max-line"],
        &["--idle-timeout", "-3"],
    ] {
        let out = Command::new(&bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
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
