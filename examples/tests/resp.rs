//! The Redis-compatible sample server, driven by the real `redis-cli` and `redis-benchmark`
//! (Debian package redis-tools; `./scripts/test.sh` installs it) and by raw sockets.

mod common;
mod real_clients;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{example_binary, ExampleServer};
use real_clients::{connect, read_to_close, resp_server, resp_server_on, run, tool, WAIT};
use weft::codec::{Encoder, RespCodec, RespLimits, RespRequestEncoder};
use weft::{Bytes, BytesMut};
use weft_examples::resp::Reply;

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
    let (server, store) = resp_server_on(1, RespLimits::default());
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

/// One request as a client encodes it.
fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    RespRequestEncoder.encode(args, &mut out).unwrap();
    out.to_vec()
}

/// What the server sends for `reply`, as `RespCodec` encodes it.
fn encoded(reply: Reply) -> Vec<u8> {
    let mut out = BytesMut::new();
    RespCodec::new(RespLimits::default())
        .encode(reply.into_value(), &mut out)
        .unwrap();
    out.to_vec()
}

/// Reads exactly `expected.len()` bytes and checks they are `expected`.
fn expect_bytes(stream: &mut TcpStream, expected: &[u8], what: &str) {
    let mut got = vec![0u8; expected.len()];
    if let Err(e) = stream.read_exact(&mut got) {
        panic!("{what}: {e} while reading {} bytes", expected.len());
    }
    if got != expected {
        let at = got.iter().zip(expected).position(|(a, b)| a != b).unwrap();
        panic!(
            "{what}: differs at byte {at} of {}: got {:?}",
            expected.len(),
            String::from_utf8_lossy(&got[at.saturating_sub(16)..(at + 48).min(got.len())])
        );
    }
}

/// A value of `len` bytes that a shifted or repeated piece would not match.
fn value_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(31))
        .collect()
}

const MIB: usize = 1 << 20;

/// `SET key value` over `stream`, answered `+OK`.
fn set(stream: &mut TcpStream, key: &[u8], value: &[u8]) {
    stream.write_all(&request(&[b"SET", key, value])).unwrap();
    expect_bytes(stream, b"+OK\r\n", "SET");
}

fn ping(stream: &mut TcpStream) {
    stream.write_all(b"PING\r\n").unwrap();
    expect_bytes(stream, b"+PONG\r\n", "PING after the large reply");
}

/// Waits `settle` for the server to act on what was sent, then returns how much its peak
/// resident memory grew over `baseline`.
fn peak_growth_after(server: &ExampleServer, baseline: u64, settle: Duration) -> u64 {
    std::thread::sleep(settle);
    server.peak_rss_bytes().saturating_sub(baseline)
}

/// `MGET big` × 1023 (a 9 KB request, the most arguments a request may have) on `clients`
/// connections at once, none reading: the server must not copy the 1 GiB replies into
/// memory, and must then deliver each byte for byte.
fn mget_amplification(clients: usize) {
    let server = ExampleServer::start("resp_server", &[]);
    let value = value_of(MIB, 7);
    let mut setter = connect(server.addr);
    set(&mut setter, b"big", &value);
    ping(&mut setter);
    const KEYS: usize = 1023;
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(std::iter::repeat_n(&b"big"[..], KEYS));
    let mget = request(&args);
    assert!(mget.len() < 10_000, "{} bytes", mget.len());

    let mut streams: Vec<TcpStream> = (0..clients).map(|_| connect(server.addr)).collect();
    for stream in &mut streams {
        ping(stream);
    }
    let baseline = server.peak_rss_bytes();
    for stream in &mut streams {
        stream.write_all(&mget).unwrap();
    }
    let growth = peak_growth_after(&server, baseline, Duration::from_secs(1));
    eprintln!(
        "{clients} × MGET big×{KEYS}: peak RSS {} MiB, +{} KiB while nobody reads",
        baseline >> 20,
        growth >> 10
    );
    assert!(
        growth < 64 << 20,
        "peak RSS grew by {} MiB for {clients} unread MGET replies",
        growth >> 20
    );

    // Each client reads its reply: 1023 copies of the value, byte for byte.
    let header = format!("${MIB}\r\n");
    std::thread::scope(|scope| {
        for (i, stream) in streams.iter_mut().enumerate() {
            let (value, header) = (&value, &header);
            scope.spawn(move || {
                expect_bytes(stream, format!("*{KEYS}\r\n").as_bytes(), "array header");
                for n in 0..KEYS {
                    let what = format!("client {i}, value {n}");
                    expect_bytes(stream, header.as_bytes(), &what);
                    expect_bytes(stream, value, &what);
                    expect_bytes(stream, b"\r\n", &what);
                }
                ping(stream);
            });
        }
    });
    let growth = server.peak_rss_bytes().saturating_sub(baseline);
    eprintln!(
        "after reading {clients} GiB: peak RSS +{} KiB",
        growth >> 10
    );
    assert!(growth < 64 << 20, "peak RSS grew by {} MiB", growth >> 20);
}

#[test]
fn mget_of_one_large_value_1023_times_is_not_copied() {
    mget_amplification(1);
}

#[test]
fn four_clients_each_mget_a_large_value_1023_times() {
    mget_amplification(4);
}

#[test]
fn two_hundred_pipelined_gets_of_a_large_value_stay_bounded() {
    let server = ExampleServer::start("resp_server", &[]);
    let value = value_of(MIB, 3);
    let mut stream = connect(server.addr);
    set(&mut stream, b"big", &value);
    ping(&mut stream);
    let baseline = server.peak_rss_bytes();
    const GETS: usize = 200;
    stream
        .write_all(&request(&[b"GET", b"big"]).repeat(GETS))
        .unwrap();
    let growth = peak_growth_after(&server, baseline, Duration::from_secs(1));
    eprintln!(
        "{GETS} unread GET big: peak RSS {} MiB, +{} KiB",
        baseline >> 20,
        growth >> 10
    );
    assert!(growth < 64 << 20, "peak RSS grew by {} MiB", growth >> 20);
    let header = format!("${MIB}\r\n");
    for n in 0..GETS {
        let what = format!("GET {n}");
        expect_bytes(&mut stream, header.as_bytes(), &what);
        expect_bytes(&mut stream, &value, &what);
        expect_bytes(&mut stream, b"\r\n", &what);
    }
    ping(&mut stream);
    let growth = server.peak_rss_bytes().saturating_sub(baseline);
    assert!(growth < 64 << 20, "peak RSS grew by {} MiB", growth >> 20);
}

#[test]
fn stored_values_arrive_byte_exact_whether_shared_or_copied() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut stream = connect(server.local_addr());
    // Around the sharing threshold (1 KiB), empty, and large.
    let sizes = [0, 1, 1023, 1024, 1025, 5000, 70_000, 300_000];
    let mut values = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let value = value_of(len, i as u8);
        set(&mut stream, format!("k{i}").as_bytes(), &value);
        values.push(Bytes::from(value));
    }
    for (i, value) in values.iter().enumerate() {
        stream
            .write_all(&request(&[b"GET", format!("k{i}").as_bytes()]))
            .unwrap();
        let expected = encoded(Reply::Stored(Some(value.clone())));
        expect_bytes(&mut stream, &expected, &format!("GET k{i}"));
    }
    // Every key, with missing ones between, twice.
    let mut keys = Vec::new();
    let mut expected = Vec::new();
    for round in 0..2 {
        for (i, value) in values.iter().enumerate() {
            keys.push(format!("k{i}"));
            expected.push(Some(value.clone()));
            keys.push(format!("missing{round}{i}"));
            expected.push(None);
        }
    }
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    stream.write_all(&request(&args)).unwrap();
    expect_bytes(
        &mut stream,
        &encoded(Reply::StoredArray(expected)),
        "MGET of mixed sizes",
    );
    // 300 values of 900 bytes: copied until 64 KiB of them were, then shared.
    let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    let mut expected = Vec::new();
    for i in 0..300u32 {
        let value = value_of(900, i as u8);
        args.push(format!("small{i}").into_bytes());
        args.push(value.clone());
        expected.push(Some(Bytes::from(value)));
    }
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    stream.write_all(&request(&refs)).unwrap();
    expect_bytes(&mut stream, b"+OK\r\n", "MSET");
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(refs[1..].iter().step_by(2));
    stream.write_all(&request(&mget)).unwrap();
    expect_bytes(
        &mut stream,
        &encoded(Reply::StoredArray(expected)),
        "MGET of 300 small values",
    );
    ping(&mut stream);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn a_reply_larger_than_the_output_limit_gets_an_error_and_the_connection_closes() {
    let server = ExampleServer::start("resp_server", &["--max-pending", "65536"]);
    let limit_error = b"-ERR reply exceeds the output limit of 65536 bytes\r\n";
    // Not a stored value: ECHO's argument is encoded (copied), and 100 KB cannot fit.
    let mut stream = connect(server.addr);
    let mut sent = b"PING\r\n".to_vec();
    sent.extend(request(&[b"ECHO", &value_of(100_000, 1)]));
    sent.extend(b"PING\r\n");
    stream.write_all(&sent).unwrap();
    let mut expected = b"+PONG\r\n".to_vec();
    expected.extend(limit_error);
    assert_eq!(
        String::from_utf8_lossy(&read_to_close(&mut stream)),
        String::from_utf8_lossy(&expected)
    );
    // Stored values: 1023 of them cost more than 64 KiB of bookkeeping, so the reply is not
    // started (no torn array).
    let mut stream = connect(server.addr);
    set(&mut stream, b"big", &value_of(MIB, 2));
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(std::iter::repeat_n(&b"big"[..], 1023));
    stream.write_all(&request(&args)).unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&read_to_close(&mut stream)),
        String::from_utf8_lossy(limit_error)
    );
    // Other connections are unaffected, and a GET of the large value still fits.
    let mut stream = connect(server.addr);
    stream.write_all(&request(&[b"GET", b"big"])).unwrap();
    expect_bytes(
        &mut stream,
        &encoded(Reply::Stored(Some(Bytes::from(value_of(MIB, 2))))),
        "GET big under a 64 KiB limit",
    );
    ping(&mut stream);
}

#[test]
fn malformed_durations_exit_2_with_one_line() {
    for (args, says) in [
        (
            ["--shutdown-timeout", "1e19"],
            "--shutdown-timeout must be at most",
        ),
        (
            ["--frame-timeout", "0"],
            "--frame-timeout must be a positive number of seconds",
        ),
        (
            ["--frame-timeout", "NaN"],
            "--frame-timeout must be a positive number of seconds",
        ),
    ] {
        let mut command = Command::new(example_binary("resp_server"));
        command.args(["--addr", "127.0.0.1:0"]).args(args);
        let output = run(&mut command, WAIT);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {output:?}");
        assert!(
            output.stderr.starts_with("resp_server: ") && output.stderr.contains(says),
            "{args:?}: {output:?}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
    }
}
