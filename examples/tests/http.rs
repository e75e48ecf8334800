//! The hello HTTP server, driven by the real `curl` and `wrk` (Debian packages curl and wrk;
//! `./scripts/test.sh` installs them) and by raw sockets.

mod real_clients;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use real_clients::{connect, http_server, read_to_close, run, tool, Output, WAIT};
use weft::codec::HttpLimits;

fn limits() -> HttpLimits {
    HttpLimits {
        max_head_len: 4096,
        max_headers: 50,
        max_body_len: 1024,
        max_target_len: 2048,
        max_chunk_line_len: 64,
    }
}

/// `curl -s args...`, failing on a timeout.
fn curl(args: &[&str]) -> Output {
    let mut command = Command::new(tool("curl", "curl"));
    command
        .args(["-s", "--max-time", "20", "--noproxy", "*"])
        .args(args);
    run(&mut command, WAIT)
}

#[test]
fn curl_gets_hello_and_reuses_the_connection() {
    let server = http_server(limits());
    let url = format!("http://{}/", server.local_addr());
    let other = format!("http://{}/some/path?q=1", server.local_addr());
    let out = curl(&["-w", "\n%{http_code} %{num_connects}\n", &url, &other, &url]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        out.stdout, "Hello, World!\n200 1\nHello, World!\n200 0\nHello, World!\n200 0\n",
        "one connection, reused: {out:?}"
    );

    let head = curl(&["-i", &url]);
    let text = head.stdout.to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200 ok\r\n"), "{head:?}");
    assert!(text.contains("\r\ncontent-length: 13\r\n"), "{head:?}");
    assert!(text.contains("\r\ndate: "), "{head:?}");
    assert!(!text.contains("connection: close"), "{head:?}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn connection_close_and_http_1_0_are_honoured() {
    let server = http_server(limits());
    let url = format!("http://{}/", server.local_addr());
    let w = "%{http_code} %{num_connects}\n";
    // (curl takes one -o per URL.)
    let null = ["-o", "/dev/null", "-o", "/dev/null"];
    let out = curl(&[&null[..], &["-w", w, "-H", "Connection: close", &url, &url]].concat());
    assert_eq!(
        out.stdout, "200 1\n200 1\n",
        "a new connection each time: {out:?}"
    );

    let out = curl(&[&null[..], &["-0", "-w", w, &url, &url]].concat());
    assert_eq!(out.stdout, "200 1\n200 1\n", "HTTP/1.0 closes: {out:?}");

    let out = curl(
        &[
            &null[..],
            &["-0", "-w", w, "-H", "Connection: keep-alive", &url, &url],
        ]
        .concat(),
    );
    assert_eq!(out.stdout, "200 1\n200 0\n", "HTTP/1.0 keep-alive: {out:?}");

    // On the wire: the response says it closes, and it does.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(reply.matches("HTTP/1.1 200 OK").count(), 1, "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nHello, World!"), "{reply}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn bad_requests_get_400_and_oversize_headers_431() {
    let server = http_server(limits());
    let url = format!("http://{}/", server.local_addr());
    let w = "%{http_code}";

    // A request target with a space breaks the request line.
    let out = curl(&["-o", "/dev/null", "-w", w, "--request-target", "/a b", &url]);
    assert_eq!(out.stdout, "400", "{out:?}");

    let big = format!("X-Big: {}", "v".repeat(5000));
    let out = curl(&["-o", "/dev/null", "-w", w, "-H", &big, &url]);
    assert_eq!(out.stdout, "431", "{out:?}");

    // On the wire: the answer, then the close (after flushing), for both.
    for (request, status) in [
        (b"garbage\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request\r\n"),
        (
            [&b"GET / HTTP/1.1\r\nHost: x\r\nX: "[..], &vec![b'v'; 8000]].concat(),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            "HTTP/1.1 501 Not Implemented\r\n",
        ),
    ] {
        let mut stream = connect(server.local_addr());
        stream
            .write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream.write_all(&request).unwrap();
        let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
        let (first, rest) = reply.split_once("Hello, World!").expect(&reply);
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(rest.starts_with(status), "{reply}");
        assert!(rest.contains("\r\nConnection: close\r\n"), "{reply}");
    }
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn bodies_are_read_and_discarded_up_to_the_limit() {
    let server = http_server(limits());
    let url = format!("http://{}/", server.local_addr());
    let w = "\n%{http_code} %{num_connects}\n";
    let small = "b".repeat(1024);
    // The body goes with each URL.
    let out = curl(&["-w", w, "--data-binary", &small, &url, &url]);
    assert_eq!(
        out.stdout, "Hello, World!\n200 1\nHello, World!\n200 0\n",
        "{out:?}"
    );
    let large = "b".repeat(1025);
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-binary",
        &large,
        &url,
    ]);
    assert_eq!(out.stdout, "413", "{out:?}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = http_server(limits());
    let mut stream = connect(server.local_addr());
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    batch.extend_from_slice(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(&batch).unwrap();
    let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(reply.matches("HTTP/1.1 200 OK\r\n").count(), 52, "{reply}");
    assert_eq!(
        reply.matches("Hello, World!").count(),
        51,
        "HEAD has no body: {reply}"
    );
    assert!(
        reply.ends_with("Connection: close\r\nContent-Length: 13\r\n\r\n"),
        "{reply}"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn wrk_sees_no_errors() {
    let server = http_server(limits());
    let url = format!("http://{}/", server.local_addr());
    let mut command = Command::new(tool("wrk", "wrk"));
    command.args(["-t1", "-c16", "-d2s", "--timeout", "5s", &url]);
    let out = run(&mut command, Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("Socket errors"), "{out:?}");
    assert!(!out.stdout.contains("Non-2xx"), "{out:?}");
    let requests: u64 = out
        .stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.parse().unwrap())
        })
        .expect("a request count");
    assert!(requests > 100, "{out:?}");
    server.shutdown(Duration::from_secs(5));
}
