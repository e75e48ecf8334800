//! Every sample server refuses out-of-range durations on its command line the same way:
//! exit status 2, one line on stderr, nothing on stdout; never a panic or a hang.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::example_binary;

const SAMPLES: [&str; 5] = ["line_echo", "chat", "offload", "http_hello", "resp_server"];

/// Runs `bin args` with a bounded wait; returns (status code, stdout, stderr).
fn run(name: &str, args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
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

fn assert_refused(name: &str, args: &[&str]) {
    let (code, stdout, stderr) = run(name, args);
    assert_eq!(code, Some(2), "{name} {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{name} {args:?}: {stderr}");
    assert!(stdout.is_empty(), "{name} {args:?}: nothing on stdout");
}

#[test]
fn out_of_range_durations_exit_2_with_one_line() {
    for name in SAMPLES {
        for args in [
            &["--shutdown-timeout", "1e19"][..],
            &["--frame-timeout", "0"],
            &["--frame-timeout", "-1"],
            &["--frame-timeout", "nan"],
            &["--frame-timeout", "1e300"],
            &["--max-pending", "0"],
            &["--max-connections", "0"],
            &["--workers", "0"],
        ] {
            assert_refused(name, args);
        }
    }
    // Where the flag exists.
    for name in ["line_echo", "http_hello"] {
        for value in ["1e300", "0", "nan", "-1"] {
            assert_refused(name, &["--idle-timeout", value]);
        }
    }
}

#[test]
fn line_limits_are_checked_where_the_protocol_has_lines() {
    for name in ["line_echo", "chat", "offload"] {
        assert_refused(name, &["--max-line", "0"]);
        assert_refused(name, &["--max-line", "x"]);
    }
    // chat: one longest message must fit in a receiver's pending output.
    assert_refused("chat", &["--max-line", "4096", "--max-pending", "4000"]);
}

#[test]
fn the_common_flags_are_accepted() {
    for name in ["line_echo", "chat", "offload", "http_hello"] {
        let server = common::ExampleServer::start(
            name,
            &[
                "--max-pending",
                "2000000",
                "--frame-timeout",
                "5",
                "--max-connections",
                "10",
                "--shutdown-timeout",
                "1",
            ],
        );
        std::net::TcpStream::connect(server.addr).unwrap();
    }
}

#[test]
fn an_address_in_use_exits_2_with_the_os_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for name in SAMPLES {
        let (code, stdout, stderr) = run(name, &["--addr", &addr]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}: nothing on stdout");
        // What failed, and why (the error's source, not only its own Display).
        assert!(
            stderr.contains(&format!("cannot listen on {addr}: I/O error: "))
                && stderr.contains("in use"),
            "{name}: {stderr}"
        );
    }
}
