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
        "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
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

/// Sends each request and checks the server answers exactly the expected bytes.
fn exchange(stream: &mut TcpStream, steps: &[(&[&str], &str)]) {
    for (args, expected) in steps {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        stream.write_all(&request(&args)).unwrap();
        expect_bytes(stream, expected.as_bytes(), &format!("{args:?}"));
    }
}

/// Reads one line, `\r\n` included.
fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).expect("reading a reply line");
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Reads one bulk string reply (`$N\r\n...\r\n`) and returns its text.
fn read_bulk(stream: &mut TcpStream) -> String {
    let header = read_line(stream);
    let len: usize = header
        .strip_prefix('$')
        .and_then(|n| n.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("not a bulk string: {header:?}"));
    let mut body = vec![0u8; len + 2];
    stream.read_exact(&mut body).unwrap();
    String::from_utf8_lossy(&body[..len]).into_owned()
}

#[test]
fn string_counter_and_expiry_commands_answer_as_redis_does() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut s = connect(server.local_addr());
    exchange(
        &mut s,
        &[
            (&["INCRBY", "n", "10"], ":10\r\n"),
            (&["DECR", "n"], ":9\r\n"),
            (&["DECRBY", "n", "20"], ":-11\r\n"),
            (
                &["INCRBY", "n", "x"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &["DECRBY", "n", "-9223372036854775808"],
                "-ERR decrement would overflow\r\n",
            ),
            (&["APPEND", "s", "ab"], ":2\r\n"),
            (&["APPEND", "s", "cde"], ":5\r\n"),
            (&["STRLEN", "s"], ":5\r\n"),
            (&["STRLEN", "missing"], ":0\r\n"),
            (&["SETNX", "s", "x"], ":0\r\n"),
            (&["SETNX", "t", "x"], ":1\r\n"),
            (&["GETSET", "t", "y"], "$1\r\nx\r\n"),
            (&["GETSET", "u", "y"], "$-1\r\n"),
            (&["SET", "t", "z", "GET"], "$1\r\ny\r\n"),
            (&["SET", "v", "z", "NX", "GET"], "$-1\r\n"),
            (&["GET", "v"], "$1\r\nz\r\n"),
            (&["TYPE", "v"], "+string\r\n"),
            (&["TYPE", "missing"], "+none\r\n"),
            (&["TTL", "missing"], ":-2\r\n"),
            (&["TTL", "v"], ":-1\r\n"),
            (&["EXPIRE", "v", "100"], ":1\r\n"),
            (&["TTL", "v"], ":100\r\n"),
            (&["EXPIRE", "v", "50", "GT"], ":0\r\n"),
            (&["EXPIRE", "v", "50", "LT"], ":1\r\n"),
            (&["EXPIRE", "v", "60", "NX"], ":0\r\n"),
            (&["EXPIRE", "missing", "10"], ":0\r\n"),
            (
                &["EXPIRE", "v", "10", "BOGUS"],
                "-ERR Unsupported option BOGUS\r\n",
            ),
            (
                &["EXPIRE", "v", "9223372036854775807"],
                "-ERR invalid expire time in 'expire' command\r\n",
            ),
            (&["SET", "w", "1", "EX", "100"], "+OK\r\n"),
            (&["SET", "w", "2", "KEEPTTL"], "+OK\r\n"),
            (&["TTL", "w"], ":100\r\n"),
            (&["SET", "w", "3"], "+OK\r\n"),
            (&["TTL", "w"], ":-1\r\n"),
            (&["PEXPIRE", "w", "0"], ":1\r\n"),
            (&["EXISTS", "w"], ":0\r\n"),
        ],
    );
    // PTTL counts down in milliseconds.
    s.write_all(&request(&[b"PTTL", b"v"])).unwrap();
    let left: i64 = read_line(&mut s)[1..].trim_end().parse().unwrap();
    assert!((49_000..=50_000).contains(&left), "PTTL {left}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn connection_commands_answer_as_redis_7_without_a_password() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut s = connect(server.local_addr());
    exchange(
        &mut s,
        &[
            (
                &["AUTH", "secret"],
                "-ERR AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?\r\n",
            ),
            (&["AUTH", "default", "anything"], "+OK\r\n"),
            (
                &["AUTH", "alice", "pw"],
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            ),
            (&["SELECT", "0"], "+OK\r\n"),
            (&["SELECT", "1"], "-ERR DB index is out of range\r\n"),
            (
                &["SELECT", "x"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["CLIENT", "GETNAME"], "$-1\r\n"),
            (&["CLIENT", "SETNAME", "worker-1"], "+OK\r\n"),
            (&["client", "getname"], "$8\r\nworker-1\r\n"),
            (
                &["CLIENT", "SETNAME", "a b"],
                "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
            ),
            (&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"], "+OK\r\n"),
            (&["CLIENT", "SETINFO", "lib-ver", "5.2.1"], "+OK\r\n"),
            (
                &["CLIENT", "NOPE"],
                "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n",
            ),
            (&["COMMAND", "COUNT"], ":35\r\n"),
            (&["COMMAND", "DOCS"], "*0\r\n"),
            (&["SET", "k", "v", "EX", "100"], "+OK\r\n"),
            (&["SET", "j", "v"], "+OK\r\n"),
        ],
    );
    s.write_all(&request(&[b"CLIENT", b"ID"])).unwrap();
    let id = read_line(&mut s);
    assert!(id.starts_with(':'), "{id:?}");

    s.write_all(&request(&[b"INFO"])).unwrap();
    let info = read_bulk(&mut s);
    for field in [
        "# Server\r\n",
        "redis_version:7.2.0\r\n",
        "redis_mode:standalone\r\n",
        "# Clients\r\nconnected_clients:1\r\n",
        "# Memory\r\nused_memory:",
        "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}: {info:?}");
    }
    let mut other = connect(server.local_addr());
    other.write_all(&request(&[b"INFO", b"clients"])).unwrap();
    assert_eq!(
        read_bulk(&mut other),
        "# Clients\r\nconnected_clients:2\r\n"
    );
    other.write_all(&request(&[b"INFO", b"KEYSPACE"])).unwrap();
    assert_eq!(
        read_bulk(&mut other),
        "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn keys_and_scan_find_every_key() {
    let (server, store) = resp_server(RespLimits::default());
    let now = Instant::now();
    for i in 0..500 {
        store.set(format!("user:{i}").as_bytes(), b"x", None, now);
    }
    store.set(b"other", b"x", None, now);
    let mut s = connect(server.local_addr());
    exchange(
        &mut s,
        &[
            (&["KEYS", "oth?r"], "*1\r\n$5\r\nother\r\n"),
            (&["KEYS", "user:4[0-9][^0-8]"], "*10\r\n"),
        ],
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        seen.insert(read_bulk(&mut s));
    }
    let expected: std::collections::HashSet<String> =
        (0..10).map(|i| format!("user:4{i}9")).collect();
    assert_eq!(seen, expected);

    // A full SCAN returns every matching key once, in bounded steps.
    let mut cursor = "0".to_string();
    let mut found = Vec::new();
    let mut calls = 0;
    loop {
        s.write_all(&request(&[
            b"SCAN",
            cursor.as_bytes(),
            b"MATCH",
            b"user:*",
            b"COUNT",
            b"20",
        ]))
        .unwrap();
        assert_eq!(read_line(&mut s), "*2\r\n");
        cursor = read_bulk(&mut s);
        let count: usize = read_line(&mut s)[1..].trim_end().parse().unwrap();
        for _ in 0..count {
            found.push(read_bulk(&mut s));
        }
        calls += 1;
        if cursor == "0" {
            break;
        }
        assert!(calls <= 64, "SCAN did not finish");
    }
    assert!(calls > 1, "one call returned every key");
    found.sort();
    let mut expected: Vec<String> = (0..500).map(|i| format!("user:{i}")).collect();
    expected.sort();
    assert_eq!(found, expected);
    exchange(
        &mut s,
        &[
            (&["SCAN", "x"], "-ERR invalid cursor\r\n"),
            (&["SCAN", "0", "COUNT", "0"], "-ERR syntax error\r\n"),
            (&["SCAN", "0", "TYPE", "list"], "*2\r\n$"),
        ],
    );
    server.shutdown(Duration::from_secs(5));
}

/// `HELLO 3`'s reply for connection `id`, as redis 7 sends it.
fn hello_reply(proto: u8, id: &str) -> String {
    let fields = [
        ("server", "$5\r\nredis\r\n".to_string()),
        ("version", "$5\r\n7.2.0\r\n".to_string()),
        ("proto", format!(":{proto}\r\n")),
        ("id", format!(":{id}\r\n")),
        ("mode", "$10\r\nstandalone\r\n".to_string()),
        ("role", "$6\r\nmaster\r\n".to_string()),
        ("modules", "*0\r\n".to_string()),
    ];
    let mut out = if proto == 3 { "%7\r\n" } else { "*14\r\n" }.to_string();
    for (key, value) in fields {
        out.push_str(&format!("${}\r\n{key}\r\n{value}", key.len()));
    }
    out
}

#[test]
fn hello_negotiates_the_protocol() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut s = connect(server.local_addr());
    s.write_all(&request(&[b"CLIENT", b"ID"])).unwrap();
    let id = read_line(&mut s)[1..].trim_end().to_string();
    let hello2 = hello_reply(2, &id);
    let hello3 = hello_reply(3, &id);
    exchange(
        &mut s,
        &[
            (&["HELLO", "4"], "-NOPROTO unsupported protocol version\r\n"),
            (
                &["HELLO", "x"],
                "-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                &["HELLO", "3", "BOGUS"],
                "-ERR Syntax error in HELLO option 'BOGUS'\r\n",
            ),
            (
                &["HELLO", "3", "AUTH", "bob", "pw"],
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            ),
            // Still RESP2: the failed HELLOs changed nothing.
            (&["GET", "missing"], "$-1\r\n"),
            (&["HELLO", "2"], &hello2),
            (
                &["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "r3"],
                &hello3,
            ),
            // RESP3 from here on: nulls are `_`, CONFIG GET is a map.
            (&["GET", "missing"], "_\r\n"),
            (&["MGET", "missing", "k"], "*2\r\n_\r\n_\r\n"),
            (&["CLIENT", "GETNAME"], "$2\r\nr3\r\n"),
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["MGET", "k", "missing"], "*2\r\n$1\r\nv\r\n_\r\n"),
            (&["SET", "k", "w", "NX"], "_\r\n"),
            (&["COMMAND", "DOCS"], "%0\r\n"),
            (
                &["CONFIG", "GET", "appendonly"],
                "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
            ),
            (&["HELLO"], &hello3),
            (&["HELLO", "2"], &hello2),
            (&["GET", "missing"], "$-1\r\n"),
            (
                &["CONFIG", "GET", "appendonly"],
                "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
            ),
        ],
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn multi_exec_and_execabort() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut s = connect(server.local_addr());
    exchange(
        &mut s,
        &[
            (&["EXEC"], "-ERR EXEC without MULTI\r\n"),
            (&["DISCARD"], "-ERR DISCARD without MULTI\r\n"),
            (&["MULTI"], "+OK\r\n"),
            (&["MULTI"], "-ERR MULTI calls can not be nested\r\n"),
            (&["SET", "k", "1"], "+QUEUED\r\n"),
            (&["INCR", "k"], "+QUEUED\r\n"),
            (&["GET", "k"], "+QUEUED\r\n"),
            (&["GET", "missing"], "+QUEUED\r\n"),
            // A runtime error is one of the replies, as in redis.
            (&["SET", "k", "v", "BOGUS"], "+QUEUED\r\n"),
            (
                &["EXEC"],
                "*5\r\n+OK\r\n:2\r\n$1\r\n2\r\n$-1\r\n-ERR syntax error\r\n",
            ),
            (&["MULTI"], "+OK\r\n"),
            (&["SET", "k", "3"], "+QUEUED\r\n"),
            (&["DISCARD"], "+OK\r\n"),
            (&["GET", "k"], "$1\r\n2\r\n"),
            // A command refused when queued aborts the whole transaction.
            (&["MULTI"], "+OK\r\n"),
            (&["SET", "k", "4"], "+QUEUED\r\n"),
            (
                &["GET"],
                "-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (
                &["NOPE", "x"],
                "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n",
            ),
            (
                &["EXEC"],
                "-EXECABORT Transaction discarded because of previous errors.\r\n",
            ),
            (&["GET", "k"], "$1\r\n2\r\n"),
        ],
    );
    // RESP3 transactions: nulls inside EXEC's array are `_`.
    s.write_all(&request(&[b"HELLO", b"3"])).unwrap();
    assert!(read_line(&mut s).starts_with("%7"));
    for _ in 0..14 {
        let line = read_line(&mut s);
        if line.starts_with('$') {
            read_line(&mut s);
        }
    }
    exchange(
        &mut s,
        &[
            (&["MULTI"], "+OK\r\n"),
            (&["GET", "missing"], "+QUEUED\r\n"),
            (&["EXEC"], "*1\r\n_\r\n"),
        ],
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn a_transaction_past_the_queue_limit_is_discarded() {
    let (server, _store) = resp_server(RespLimits::default());
    let mut s = connect(server.local_addr());
    let mut batch = request(&[b"MULTI"]);
    for _ in 0..weft_examples::resp::MAX_QUEUED {
        batch.extend_from_slice(&request(&[b"INCR", b"n"]));
    }
    batch.extend_from_slice(&request(&[b"INCR", b"n"]));
    s.write_all(&batch).unwrap();
    let mut expected = b"+OK\r\n".to_vec();
    for _ in 0..weft_examples::resp::MAX_QUEUED {
        expected.extend_from_slice(b"+QUEUED\r\n");
    }
    expected.extend_from_slice(
        format!(
            "-ERR Transaction discarded: a transaction queues at most {} commands and {} \
             bytes of arguments\r\n",
            weft_examples::resp::MAX_QUEUED,
            weft_examples::resp::MAX_QUEUED_BYTES
        )
        .as_bytes(),
    );
    expect_bytes(&mut s, &expected, "queue past the limit");
    exchange(
        &mut s,
        &[
            (&["EXEC"], "-ERR EXEC without MULTI\r\n"),
            (&["GET", "n"], "$-1\r\n"),
        ],
    );

    // The byte limit counts each argument's handle: commands of many empty arguments pass
    // it long before 10,000 of them.
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(std::iter::repeat_n(&b""[..], 1000));
    let per_command = 3 + del.len() * std::mem::size_of::<Bytes>();
    let fit = weft_examples::resp::MAX_QUEUED_BYTES / per_command;
    assert!(fit < 1000);
    let mut batch = request(&[b"MULTI"]);
    for _ in 0..=fit {
        batch.extend_from_slice(&request(&del));
    }
    s.write_all(&batch).unwrap();
    let mut expected = b"+OK\r\n".to_vec();
    for _ in 0..fit {
        expected.extend_from_slice(b"+QUEUED\r\n");
    }
    expected.extend_from_slice(b"-ERR Transaction discarded");
    expect_bytes(&mut s, &expected, "queue past the byte limit");
    read_line(&mut s);
    exchange(&mut s, &[(&["EXEC"], "-ERR EXEC without MULTI\r\n")]);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn exec_runs_with_no_other_command_in_between() {
    let (server, _store) = resp_server(RespLimits::default());
    let addr = server.local_addr();
    const STEP: usize = 200;
    let writer = std::thread::spawn(move || {
        let mut s = connect(addr);
        for _ in 0..20 {
            let mut batch = request(&[b"MULTI"]);
            for _ in 0..STEP {
                batch.extend_from_slice(&request(&[b"INCR", b"n"]));
            }
            batch.extend_from_slice(&request(&[b"EXEC"]));
            s.write_all(&batch).unwrap();
            read_line(&mut s); // +OK
            for _ in 0..STEP {
                read_line(&mut s); // +QUEUED
            }
            assert_eq!(read_line(&mut s), format!("*{STEP}\r\n"));
            for _ in 0..STEP {
                read_line(&mut s);
            }
        }
    });
    let mut s = connect(addr);
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        s.write_all(&request(&[b"GET", b"n"])).unwrap();
        let line = read_line(&mut s);
        if line != "$-1\r\n" {
            let n: usize = read_line(&mut s).trim_end().parse().unwrap();
            assert_eq!(n % STEP, 0, "saw a transaction half done: {n}");
        }
        reads += 1;
    }
    writer.join().unwrap();
    exchange(&mut s, &[(&["GET", "n"], "$4\r\n4000\r\n")]);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn protocol_errors_are_worded_as_redis_words_them() {
    let limits = RespLimits {
        max_inline_len: 64,
        ..RespLimits::default()
    };
    let (server, _store) = resp_server(limits);
    for (input, expected) in [
        (
            &b"*1\r\nfoo\r\n"[..],
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*1\r\n$x\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"GET \"a\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ] {
        let mut s = connect(server.local_addr());
        s.write_all(input).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&read_to_close(&mut s)),
            expected,
            "{input:?}"
        );
    }
    let mut s = connect(server.local_addr());
    s.write_all(&[b'a'; 100]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&read_to_close(&mut s)),
        "-ERR Protocol error: too big inline request\r\n"
    );
    server.shutdown(Duration::from_secs(5));
}

/// The Python that runs the redis-py test: `$WEFT_TEST_PYTHON`, the workspace's `.venv`
/// (where `./scripts/test.sh` installs redis-py), or `python3` on the PATH.
fn python() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("WEFT_TEST_PYTHON") {
        return Some(path.into());
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|candidate| candidate.is_file())
}

/// What the redis-py test runs: the default client, RESP2 and RESP3, as an application
/// would use it.
const REDIS_PY_SCRIPT: &str = r#"
import sys
import redis

port = int(sys.argv[1])
for protocol in (2, 3):
    if protocol == 2:
        r = redis.Redis(host="127.0.0.1", port=port)
    else:
        r = redis.Redis(host="127.0.0.1", port=port, protocol=3)
    key = lambda name: f"{name}:{protocol}"
    assert r.ping() is True
    assert r.set(key("k"), "v") is True
    assert r.get(key("k")) == b"v"
    assert r.get(key("missing")) is None
    assert r.incr(key("n")) == 1
    assert r.incrby(key("n"), 5) == 6
    assert r.decr(key("n")) == 5
    assert r.expire(key("k"), 100) is True
    assert 0 < r.ttl(key("k")) <= 100
    assert r.type(key("k")) == b"string"
    assert r.client_id() > 0
    assert r.client_setname("app") is True
    assert r.client_getname() in ("app", b"app")
    assert r.info()["redis_version"] == "7.2.0"
    assert r.info("keyspace")["db0"]["keys"] >= 2
    p = r.pipeline(transaction=True)
    p.set(key("a"), "1")
    p.incr(key("a"))
    p.get(key("a"))
    p.get(key("missing"))
    assert p.execute() == [True, 2, b"2", None], "transaction"
    p = r.pipeline(transaction=False)
    p.set(key("b"), "x")
    p.append(key("b"), "y")
    p.get(key("b"))
    p.setnx(key("b"), "z")
    assert p.execute() == [True, 2, b"xy", False], "pipeline"
    assert sorted(r.scan_iter(match=f"*:{protocol}")) == sorted(
        k.encode() for k in (key("k"), key("n"), key("a"), key("b"))
    )
    r.close()
print("redis-py ok")
"#;

#[test]
fn redis_py_default_client_works() {
    let Some(python) = python() else {
        eprintln!("SKIPPED redis_py_default_client_works: no python3 (./scripts/test.sh installs redis-py)");
        return;
    };
    let probe = run(
        Command::new(&python).args(["-c", "import redis; print(redis.__version__)"]),
        WAIT,
    );
    if !probe.status.success() {
        eprintln!(
            "SKIPPED redis_py_default_client_works: {} cannot import redis (pip install \
             redis==5.2.1, or run ./scripts/test.sh): {}",
            python.display(),
            probe.stderr.trim()
        );
        return;
    }
    let (server, _store) = resp_server(RespLimits::default());
    let port = server.local_addr().port().to_string();
    let output = run(
        Command::new(&python).args(["-c", REDIS_PY_SCRIPT, &port]),
        WAIT,
    );
    assert!(
        output.status.success() && output.stdout.contains("redis-py ok"),
        "redis-py {}: {output:?}",
        probe.stdout.trim()
    );
    server.shutdown(Duration::from_secs(5));
}

/// What node-redis's default client does: `HELLO 3` on connect, commands, a `MULTI`
/// transaction and a pipeline, then `QUIT`.
const NODE_REDIS_SCRIPT: &str = r#"
const { createClient } = require(process.argv[1]);
(async () => {
  const c = createClient({ url: 'redis://127.0.0.1:' + process.argv[2] });
  c.on('error', e => { console.error('client error', e.message); process.exit(1); });
  await c.connect();
  if (await c.ping() !== 'PONG') throw new Error('ping');
  if (await c.set('nk', 'v') !== 'OK' || await c.get('nk') !== 'v') throw new Error('set/get');
  if (await c.incr('nn') !== 1) throw new Error('incr');
  const t = await c.multi().set('na', '1').incrBy('na', 5).get('na').exec();
  if (JSON.stringify(t) !== '["OK",6,"6"]') throw new Error('multi ' + JSON.stringify(t));
  const p = await c.multi().set('nb', '2').get('nb').execAsPipeline();
  if (JSON.stringify(p) !== '["OK","2"]') throw new Error('pipeline ' + JSON.stringify(p));
  await c.quit();
  console.log('node-redis ok');
})().catch(e => { console.error(e); process.exit(1); });
"#;

#[test]
fn node_redis_default_client_works() {
    // ./scripts/test.sh installs node-redis (npm package `redis`, pinned) under .node/.
    let module =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.node/node_modules/redis");
    let node = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("node"))
        .find(|p| p.is_file());
    let (Some(node), true) = (node, module.is_dir()) else {
        eprintln!(
            "SKIPPED node_redis_default_client_works: node or {} missing (./scripts/test.sh \
             installs them)",
            module.display()
        );
        return;
    };
    let (server, _store) = resp_server(RespLimits::default());
    let port = server.local_addr().port().to_string();
    let output = run(
        Command::new(node).args(["-e", NODE_REDIS_SCRIPT, module.to_str().unwrap(), &port]),
        WAIT,
    );
    assert!(
        output.status.success() && output.stdout.contains("node-redis ok"),
        "node-redis: {output:?}"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn redis_cli_speaks_resp3_after_hello() {
    let (server, _store) = resp_server(RespLimits::default());
    let addr = server.local_addr();
    // `redis-cli -3` sends `HELLO 3` first, then reads every reply as RESP3.
    let cases: &[(&[&str], &str)] = &[
        (&["-3", "SET", "k", "v"], "OK\n"),
        (&["-3", "GET", "k"], "v\n"),
        (&["-3", "GET", "missing"], "\n"),
        (&["-3", "CONFIG", "GET", "appendonly"], "appendonly no\n"),
        (&["-3", "MGET", "k", "missing"], "v\n\n"),
    ];
    for (args, expected) in cases {
        assert_eq!(cli(addr, args), *expected, "redis-cli {args:?}");
    }
    server.shutdown(Duration::from_secs(5));
}
