//! Every sample server refuses out-of-range durations on its command line the same way:
//! exit status 2, one line on stderr, nothing on stdout; never a panic or a hang.

mod common;

use common::{assert_refused, run_bounded};

const SAMPLES: [&str; 5] = ["line_echo", "chat", "offload", "http_hello", "resp_server"];

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
            &["--proxy-header-timeout", "0"],
            &["--proxy-header-timeout", "1e300"],
            &["--proxy-protocol=yes", "--proxy-header-timeout", "x"],
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
        let (code, stdout, stderr) = run_bounded(name, &["--addr", &addr]);
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
