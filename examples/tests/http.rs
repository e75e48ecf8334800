//! The hello HTTP server, driven by the real `curl` and `wrk` (Debian packages curl and wrk;
//! `./scripts/test.sh` installs them) and by raw sockets.

mod real_clients;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use real_clients::{connect, http_server, read_to_close, run, tool, wrk_requests, Output, WAIT};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;
use weft::codec::HttpLimits;
use weft_examples::http::HELLO;

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
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
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
    let requests = wrk_requests(&out);
    assert!(requests > 100, "{out:?}");
    server.shutdown(Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------
// RFC 9110 / RFC 9112 conformance, on raw sockets.

const CLOSE: &[u8] = b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Sends `request` then a last `GET` asking to close, and reads everything until the close.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect(addr);
    stream.write_all(request).unwrap();
    let _ = stream.write_all(CLOSE); // the server may have closed already
    String::from_utf8(read_to_close(&mut stream)).unwrap()
}

/// The responses in `reply`, as (status line, head, body) triples, framed by Content-Length.
fn responses(reply: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = reply;
    while let Some((head, after)) = rest.split_once("\r\n\r\n") {
        let status = head.lines().next().unwrap().to_string();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.parse().unwrap());
        // (No body after 100 and 204; HEAD answers are checked by hand.)
        let len = if status.contains(" 100 ") || status.contains(" 204 ") {
            0
        } else {
            len.min(after.len())
        };
        out.push((status, head.to_string(), after[..len].to_string()));
        rest = &after[len..];
    }
    out
}

fn statuses(reply: &str) -> Vec<String> {
    responses(reply).into_iter().map(|(s, _, _)| s).collect()
}

#[test]
fn rfc9110_7_2_and_rfc9112_3_2_invalid_host_is_400() {
    let server = http_server(limits());
    for host in [
        "Host: h/path\r\n",
        "Host: h, other.example.com\r\n",
        "Host: h\r\nHost: other.example.com\r\n",
        "",
        "Host: \r\n",
        "Host: h:port\r\n",
    ] {
        let request = format!("GET / HTTP/1.1\r\n{host}\r\n");
        let reply = exchange(server.local_addr(), request.as_bytes());
        assert_eq!(
            statuses(&reply),
            ["HTTP/1.1 400 Bad Request"],
            "{host:?}: {reply}"
        );
        assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    }
    let reply = exchange(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nHost: h.example:8080\r\n\r\n",
    );
    assert_eq!(
        statuses(&reply),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
        "{reply}"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn rfc9110_9_3_6_connect_is_refused_never_2xx() {
    let server = http_server(limits());
    // With a Content-Length, as in the issue: a 2xx would say a tunnel is open.
    let request =
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 0\r\n\r\n";
    let reply = exchange(server.local_addr(), request);
    let all = responses(&reply);
    assert_eq!(all[0].0, "HTTP/1.1 405 Method Not Allowed", "{reply}");
    assert!(
        all[0].1.contains("\r\nAllow: GET, HEAD, POST, OPTIONS"),
        "{reply}"
    );
    // The connection stays usable: the next request is answered.
    assert_eq!(all[1].0, "HTTP/1.1 200 OK", "{reply}");
    // RFC 9112 §3.2.3: CONNECT needs the authority form.
    let reply = exchange(
        server.local_addr(),
        b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(statuses(&reply), ["HTTP/1.1 400 Bad Request"], "{reply}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn rfc9112_3_2_4_asterisk_form_only_with_options() {
    let server = http_server(limits());
    let reply = exchange(server.local_addr(), b"GET * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(statuses(&reply), ["HTTP/1.1 400 Bad Request"], "{reply}");
    // RFC 9110 §9.3.7: OPTIONS * (and OPTIONS /) describe the server: 204 with Allow.
    let reply = exchange(
        server.local_addr(),
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let all = responses(&reply);
    assert_eq!(all.len(), 3, "{reply}");
    for (status, head, body) in &all[..2] {
        assert_eq!(status, "HTTP/1.1 204 No Content", "{reply}");
        assert!(
            head.contains("\r\nAllow: GET, HEAD, POST, OPTIONS"),
            "{reply}"
        );
        assert!(!head.contains("Content-Length"), "{reply}");
        assert!(body.is_empty());
    }
    assert_eq!(all[2].0, "HTTP/1.1 200 OK");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn rfc9112_3_long_request_target_is_414_not_431() {
    // The case, under the default limits: a 9,000-byte target.
    let server = http_server(HttpLimits::default());
    let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let reply = exchange(server.local_addr(), request.as_bytes());
    assert_eq!(statuses(&reply), ["HTTP/1.1 414 URI Too Long"], "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    // 8000 bytes (what RFC 9112 §3 recommends supporting) is fine.
    let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(7999));
    let reply = exchange(server.local_addr(), request.as_bytes());
    assert_eq!(
        statuses(&reply),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
        "{reply}"
    );
    server.shutdown(Duration::from_secs(5));
    // A long header field is still 431.
    let server = http_server(limits());
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(5000)
    );
    let reply = exchange(server.local_addr(), request.as_bytes());
    assert_eq!(
        statuses(&reply),
        ["HTTP/1.1 431 Request Header Fields Too Large"],
        "{reply}"
    );
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn rfc9112_7_1_chunked_request_bodies_are_read() {
    let server = http_server(limits());
    // Extensions and trailers, pipelined with requests before and after.
    let request = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer-Field: v\r\n\r\n\
GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = exchange(server.local_addr(), request);
    let all = statuses(&reply);
    assert_eq!(all, ["HTTP/1.1 200 OK"; 3], "{reply}");
    // Sent a byte at a time.
    let mut stream = connect(server.local_addr());
    for &b in &request[..] {
        stream.write_all(&[b]).unwrap();
    }
    stream.write_all(CLOSE).unwrap();
    let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(statuses(&reply), ["HTTP/1.1 200 OK"; 3], "{reply}");
    // Over the body limit (1024 = 0x400): 413 on the chunk size, before its data.
    let reply = exchange(
        server.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n",
    );
    assert_eq!(
        statuses(&reply),
        ["HTTP/1.1 413 Content Too Large"],
        "{reply}"
    );
    // RFC 9112 §6.3: Transfer-Encoding with Content-Length is refused (request smuggling).
    let reply = exchange(
        server.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(statuses(&reply), ["HTTP/1.1 400 Bad Request"], "{reply}");
    // A malformed chunk size.
    let reply = exchange(
        server.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert_eq!(statuses(&reply), ["HTTP/1.1 400 Bad Request"], "{reply}");
    server.shutdown(Duration::from_secs(5));
}

/// Reads until `reply` holds a complete response head.
fn read_head(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    while !all.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&all));
        all.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(all).unwrap()
}

#[test]
fn rfc9110_10_1_1_expect_100_continue_gets_100_first() {
    let server = http_server(limits());
    for (head, body) in [
        (
            &b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"[..],
            &b"hello"[..],
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\r\n",
        ),
    ] {
        let mut stream = connect(server.local_addr());
        stream.write_all(head).unwrap();
        // The interim response comes before any body byte is sent.
        let interim = read_head(&mut stream);
        assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(body).unwrap();
        stream.write_all(CLOSE).unwrap();
        let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
        assert_eq!(statuses(&reply), ["HTTP/1.1 200 OK"; 2], "{reply}");
    }
    // A method that is refused gets its final answer at once, and the body is not awaited.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
    let reply = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(
        statuses(&reply),
        ["HTTP/1.1 405 Method Not Allowed"],
        "{reply}"
    );
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    // A body sent with the head anyway: no 100 needed (RFC 9110 §10.1.1 allows omitting it).
    let reply = exchange(
        server.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(statuses(&reply), ["HTTP/1.1 200 OK"; 2], "{reply}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn rfc9110_9_3_2_head_gets_no_body() {
    let server = http_server(limits());
    let reply = exchange(server.local_addr(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, rest) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(head.contains("\r\nContent-Length: 13"), "{reply}");
    // What follows the head is the next response, not a body.
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert_eq!(reply.matches(HELLO).count(), 1, "{reply}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn rfc9110_15_5_6_other_methods_get_405_with_allow() {
    let server = http_server(limits());
    let reply = exchange(
        server.local_addr(),
        b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\nPUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiBREW / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let all = responses(&reply);
    assert_eq!(all.len(), 4, "{reply}");
    for (status, head, _) in &all[..3] {
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed", "{reply}");
        assert!(
            head.contains("\r\nAllow: GET, HEAD, POST, OPTIONS"),
            "{reply}"
        );
    }
    assert_eq!(all[3].0, "HTTP/1.1 200 OK", "keep-alive kept: {reply}");
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn curl_chunked_upload_and_expect_100_continue() {
    let server = http_server(limits());
    let url = format!("http://{}/", server.local_addr());
    let dir = std::env::temp_dir().join(format!("weft-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body");
    std::fs::write(&file, vec![b'z'; 1000]).unwrap();
    let data = format!("@{}", file.display());
    // RFC 9112 §7.1: a chunked upload.
    let out = curl(&[
        "-v",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &data,
        "-w",
        "\n%{http_code}",
        &url,
    ]);
    assert_eq!(out.stdout, "Hello, World!\n200", "{out:?}");
    assert!(out.stderr.contains("Transfer-Encoding: chunked"), "{out:?}");
    // RFC 9110 §10.1.1: curl waits for 100 Continue (10 s here); it comes at once.
    let start = Instant::now();
    let out = curl(&[
        "-v",
        "--expect100-timeout",
        "10",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &data,
        "-w",
        "\n%{http_code}",
        &url,
    ]);
    assert_eq!(out.stdout, "Hello, World!\n200", "{out:?}");
    assert!(out.stderr.contains("HTTP/1.1 100 Continue"), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "{out:?}");
    // Both at once.
    let out = curl(&[
        "-H",
        "Expect: 100-continue",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &data,
        "-w",
        "\n%{http_code}",
        &url,
    ]);
    assert_eq!(out.stdout, "Hello, World!\n200", "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown(Duration::from_secs(5));
}

#[test]
fn python_http_client_sends_a_chunked_body() {
    let server = http_server(limits());
    let script = "import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=20)
def body():
    yield b'hello '
    yield b'chunked '
    yield b'world'
c.request('POST', '/py', body=body(), encode_chunked=True)
r = c.getresponse()
print(r.status, r.read().decode())
c.request('OPTIONS', '*')
r = c.getresponse()
print(r.status, r.getheader('Allow'), len(r.read()))
";
    let addr = server.local_addr();
    let mut command = Command::new(tool("python3", "python3"));
    command.args([
        "-c",
        script,
        &addr.ip().to_string(),
        &addr.port().to_string(),
    ]);
    let out = run(&mut command, WAIT);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        out.stdout, "200 Hello, World!\n204 GET, HEAD, POST, OPTIONS 0\n",
        "{out:?}"
    );
    server.shutdown(Duration::from_secs(5));
}
