//! The Redis-compatible sample server, driven by the real `redis-cli` and `redis-benchmark`
//! (Debian package redis-tools; `./scripts/test.sh` installs it) and by raw sockets.

mod real_clients;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::process::Command;
use std::time::{Duration, Instant};

use real_clients::{connect, read_to_close, resp_server, resp_server_on, run, tool, WAIT};
use weft::codec::RespLimits;

/// Reads `len` bytes of replies, or what arrived before the server closed the connection.
fn read_replies(stream: &mut TcpStream, len: usize) -> String {
    let mut all = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match stream.read(&mut all[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "reading replies: {e} (after {:?})",
                String::from_utf8_lossy(&all[..filled])
            ),
        }
    }
    String::from_utf8_lossy(&all[..filled]).into_owned()
}

/// `redis-cli -p PORT args...`: what it printed (its non-tty format: raw values, one per
/// line, an empty line for nil).
fn cli(addr: SocketAddr, args: &[&str]) -> String {
    let mut command = Command::new(tool("redis-cli", "redis-tools"));
    command
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args);
    let output = run(&mut command, WAIT);
    assert!(output.status.success(), "{args:?}: {output:?}");
    output.stdout
}

#[test]
fn redis_cli_reads_back_what_it_wrote() {
    let (server, _store) = resp_server(RespLimits::default());
    let addr = server.local_addr();
    let cases: &[(&[&str], &str)] = &[
        (&["PING"], "PONG\n"),
        (&["ping", "hello world"], "hello world\n"),
        (&["ECHO", "a\r\nb"], "a\r\nb\n"),
        (&["GET", "missing"], "\n"),
        (&["SET", "k", "v1"], "OK\n"),
        (&["GET", "k"], "v1\n"),
        (&["SET", "k", "v2", "XX"], "OK\n"),
        (&["SET", "k", "v3", "NX"], "\n"),
        (&["GET", "k"], "v2\n"),
        (&["INCR", "n"], "1\n"),
        (&["incr", "n"], "2\n"),
        (&["MSET", "a", "1", "b", "2"], "OK\n"),
        (&["MGET", "a", "missing", "b"], "1\n\n2\n"),
        (&["EXISTS", "a", "a", "missing"], "2\n"),
        (&["DBSIZE"], "4\n"),
        (&["DEL", "a", "b", "missing"], "2\n"),
        (&["DBSIZE"], "2\n"),
        (&["FLUSHALL"], "OK\n"),
        (&["DBSIZE"], "0\n"),
    ];
    for (args, expected) in cases {
        assert_eq!(cli(addr, args), *expected, "redis-cli {args:?}");
    }
    // Binary-safe values: 256 byte values through redis-cli's -x (value from stdin) is
    // awkward; a value with spaces, quotes and UTF-8 will do.
    let value = "späce \"quoted\" 'single' \\ end";
    assert_eq!(cli(addr, &["SET", "bin", value]), "OK\n");
    assert_eq!(cli(addr, &["GET", "bin"]), format!("{value}\n"));
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn errors_are_worded_like_redis_server() {
    let (server, _store) = resp_server(RespLimits::default());
    let addr = server.local_addr();
    let cases: &[(&[&str], &str)] = &[
        (
            &["FOO", "bar", "baz"],
            "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' ",
        ),
        (
            &["nope"],
            "ERR unknown command 'nope', with args beginning with: ",
        ),
        (&["GET"], "ERR wrong number of arguments for 'get' command"),
        (
            &["get", "a", "b"],
            "ERR wrong number of arguments for 'get' command",
        ),
        (
            &["MSET", "a"],
            "ERR wrong number of arguments for 'mset' command",
        ),
        (
            &["SET", "k", "v", "EX", "soon"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["SET", "k", "v", "EX", "0"],
            "ERR invalid expire time in 'set' command",
        ),
        (&["SET", "k", "v", "BOGUS"], "ERR syntax error"),
        (&["SET", "s", "abc"], "OK"),
        (
            &["INCR", "s"],
            "ERR value is not an integer or out of range",
        ),
        (&["SET", "big", "9223372036854775807"], "OK"),
        (
            &["INCR", "big"],
            "ERR increment or decrement would overflow",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(
            cli(addr, args).trim_end_matches('\n'),
            *expected,
            "redis-cli {args:?}"
        );
    }
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn keys_expire() {
    let (server, store) = resp_server(RespLimits::default());
    let addr = server.local_addr();
    assert_eq!(cli(addr, &["SET", "px", "v", "PX", "100"]), "OK\n");
    assert_eq!(cli(addr, &["SET", "ex", "v", "EX", "100"]), "OK\n");
    assert_eq!(cli(addr, &["GET", "px"]), "v\n");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(cli(addr, &["GET", "px"]), "\n");
    assert_eq!(cli(addr, &["EXISTS", "px", "ex"]), "1\n");
    assert_eq!(store.len(), 1);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn redis_benchmark_completes_without_errors() {
    let (server, store) = resp_server(RespLimits::default());
    let addr = server.local_addr();
    let mut command = Command::new(tool("redis-benchmark", "redis-tools"));
    command.args([
        "-h",
        "127.0.0.1",
        "-p",
        &addr.port().to_string(),
        "-t",
        "ping,set,get,incr",
        "-n",
        "100000",
        "-P",
        "16",
        "-q",
    ]);
    let output = run(&mut command, Duration::from_secs(180));
    assert!(output.status.success(), "{output:?}");
    let everything = format!("{}{}", output.stdout, output.stderr).to_ascii_lowercase();
    assert!(
        !everything.contains("err") && !everything.contains("warn"),
        "{output:?}"
    );
    // redis-benchmark -q ends each test's line with its rate; \r-separated progress
    // lines precede the final ones.
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"] {
        let done = output.stdout.split(['\r', '\n']).any(|line| {
            line.starts_with(&format!("{test}: ")) && line.contains("requests per second")
        });
        assert!(done, "no result for {test}: {output:?}");
    }
    // Without -r every INCR hits the same key: all 100000 of them counted.
    assert_eq!(cli(addr, &["GET", "counter:__rand_int__"]), "100000\n");
    // SET wrote its (random, 3-byte by default) payload to one key.
    assert_eq!(cli(addr, &["GET", "key:__rand_int__"]).len(), 4);
    assert_eq!(store.len(), 2);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn inline_pipelined_and_protocol_errors_over_a_socket() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut stream = connect(server.local_addr());
    // Inline and array requests, pipelined in one write, then a malformed one.
    stream
        .write_all(
            b"PING\r\nset k \"a b\"\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*0\r\n\r\nECHO x\n\
*1\r\n$-5\r\n*1\r\n$4\r\nPING\r\n",
        )
        .unwrap();
    let replies = read_to_close(&mut stream);
    assert_eq!(
        String::from_utf8_lossy(&replies),
        "+PONG\r\n+OK\r\n$3\r\na b\r\n$1\r\nx\r\n-ERR Protocol error: invalid bulk length\r\n"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn an_oversize_argument_is_refused_on_its_length_line() {
    let limits = RespLimits {
        max_bulk_len: 1024,
        ..RespLimits::default()
    };
    let (server, _store) = resp_server(limits);
    let mut stream = connect(server.local_addr());
    // Only the length line: the answer must not wait for the announced bytes.
    stream
        .write_all(b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n")
        .unwrap();
    let replies = read_to_close(&mut stream);
    assert_eq!(
        String::from_utf8_lossy(&replies),
        "+PONG\r\n-ERR Protocol error: request too large (limit 1024 bytes)\r\n"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn an_expire_time_past_the_clock_is_refused_and_the_connection_stays_open() {
    let (server, store) = resp_server(RespLimits::default());
    let mut stream = connect(server.local_addr());
    // EX i64::MAX: the deadline overflows, in seconds and in milliseconds alike.
    stream
        .write_all(
            b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$19\r\n9223372036854775807\r\n\
*1\r\n$4\r\nPING\r\n",
        )
        .unwrap();
    let expected = "-ERR invalid expire time in 'set' command\r\n+PONG\r\n";
    assert_eq!(read_replies(&mut stream, expected.len()), expected);
    // Still open, and nothing more was owed.
    stream.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_replies(&mut stream, 7), "+PONG\r\n");
    assert!(store.is_empty());
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn dbsize_with_a_million_keys_does_not_hold_up_other_clients() {
    // One reactor, so that the client asking DBSIZE and the one asking PING share it: with
    // two, they would be dealt to different reactors and a slow DBSIZE would go unseen.
    let (server, store) = resp_server_on(NonZeroUsize::new(1).unwrap(), RespLimits::default());
    let addr = server.local_addr();
    const KEYS: usize = 1_000_000;
    let now = Instant::now();
    let value = [b'v'; 8];
    let mut key = Vec::with_capacity(16);
    for i in 0..KEYS {
        key.clear();
        write!(key, "key:{i}").unwrap();
        store.set(&key, &value, None, now);
    }
    let mut counter = connect(addr);
    let mut pinger = connect(addr);
    // Both connections served once, so that what is timed below is only the PING.
    for stream in [&mut counter, &mut pinger] {
        stream.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_replies(stream, 7), "+PONG\r\n");
    }

    const ASKS: usize = 200;
    counter
        .write_all(&b"*1\r\n$6\r\nDBSIZE\r\n".repeat(ASKS))
        .unwrap();
    let asked = Instant::now();
    pinger.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_replies(&mut pinger, 7), "+PONG\r\n");
    let waited = asked.elapsed();

    let expected = ":1000000\r\n".repeat(ASKS);
    assert_eq!(read_replies(&mut counter, expected.len()), expected);
    // Generous: walking a million keys 200 times took seconds.
    assert!(
        waited < Duration::from_secs(1),
        "PING answered after {waited:?} behind {ASKS} DBSIZE"
    );
    server.shutdown(Duration::from_secs(5));
}
