//! The samples behind a load balancer (docs/protocols.md, "Behind a load balancer"; the
//! recipe in docs/scaling.md): `--proxy-protocol` on every sample, `http_hello`'s
//! `GET /whoami`, three instances behind a real HAProxy (Debian `haproxy`, installed by
//! scripts/test.sh) started here on free ports, and weft's own `proxy
//! --proxy-protocol-out` in front of a `--proxy-protocol` sample.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::haproxy::{free_port, Haproxy};
use common::{metric_sum, ExampleServer, WAIT};

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// Sends `GET target` (closing) on `stream`, after `prefix` in the same write; returns
/// the status line and the body.
fn get_on(mut stream: TcpStream, prefix: &[u8], target: &str) -> (String, String) {
    let mut request = prefix.to_vec();
    request.extend_from_slice(
        format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    stream.write_all(&request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {response:?}"));
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// `GET /whoami` through `addr`; returns the body and the client's own address.
fn whoami(addr: SocketAddr, prefix: &[u8]) -> (String, SocketAddr) {
    let stream = client(addr);
    let local = stream.local_addr().unwrap();
    let (status, body) = get_on(stream, prefix, "/whoami");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    (body, local)
}

/// Asserts the server closes `stream` without sending a byte, within `WAIT`.
fn expect_closed_without_a_reply(mut stream: TcpStream) {
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("a reply: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed: {e}"),
    }
}

const V1: &[u8] = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n";

/// A version 2 `LOCAL` header (what a balancer's health check sends).
fn v2_local() -> Vec<u8> {
    let mut header = weft::codec::proxy_protocol::V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    header
}

#[test]
fn whoami_answers_the_clients_address() {
    let server = ExampleServer::start("http_hello", &[]);
    let (body, local) = whoami(server.addr, b"");
    assert_eq!(body, format!("{local}\n"));
    // Exactly that target; anything else is the usual hello.
    let (_, body) = get_on(client(server.addr), b"", "/whoami/");
    assert_eq!(body, "Hello, World!");
}

#[test]
fn http_hello_with_proxy_protocol_takes_the_address_from_the_header() {
    let server = ExampleServer::start(
        "http_hello",
        &["--proxy-protocol", "--proxy-header-timeout", "0.5"],
    );
    // A hand-written version 1 header.
    let (body, _) = whoami(server.addr, V1);
    assert_eq!(body, "1.2.3.4:1111\n");
    // Version 2 LOCAL: served, with the connection's real addresses.
    let (body, local) = whoami(server.addr, &v2_local());
    assert_eq!(body, format!("{local}\n"));
    // Version 2 PROXY, IPv6.
    let header = weft::codec::proxy_protocol::encode_v2(
        "[2001:db8::7]:51000".parse().unwrap(),
        "[2001:db8::1]:443".parse().unwrap(),
    );
    let (body, _) = whoami(server.addr, &header);
    assert_eq!(body, "[2001:db8::7]:51000\n");

    // No header: closed without a reply.
    let mut direct = client(server.addr);
    direct
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    expect_closed_without_a_reply(direct);
    // Malformed headers: the same.
    for bad in [
        &b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 99999\r\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\n",
        b"\r\n\r\n\0\r\nQUIT\n\x22\x11\x00\x0c",
    ] {
        let mut c = client(server.addr);
        c.write_all(bad).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        expect_closed_without_a_reply(c);
    }
    // A slow header (a few bytes, then nothing): closed at the deadline, not before.
    let started = Instant::now();
    let mut slow = client(server.addr);
    slow.write_all(b"PROXY TCP4 1.2").unwrap();
    expect_closed_without_a_reply(slow);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "closed after {waited:?}"
    );
    assert!(waited < WAIT);
}

/// Connects with a version 1 header, sends `request`, and expects `answer` first.
fn expect_after_header(server: &ExampleServer, request: &[u8], answer: &[u8]) {
    let mut c = client(server.addr);
    let mut bytes = V1.to_vec();
    bytes.extend_from_slice(request);
    c.write_all(&bytes).unwrap();
    let mut got = vec![0u8; answer.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(answer)
    );
}

#[test]
fn every_sample_takes_proxy_protocol() {
    let pp = ["--proxy-protocol"];
    let echo = ExampleServer::start("line_echo", &pp);
    expect_after_header(&echo, b"hi\n", b"hi\n");
    let chat = ExampleServer::start("chat", &pp);
    expect_after_header(&chat, b"", b"* you are guest");
    let resp = ExampleServer::start("resp_server", &pp);
    expect_after_header(&resp, b"PING\r\n", b"+PONG\r\n");
    let offload = ExampleServer::start("offload", &pp);
    expect_after_header(&offload, b"ping\n", b"pong\n");
    let http = ExampleServer::start("http_hello", &pp);
    expect_after_header(
        &http,
        b"GET /whoami HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HTTP/1.1 200 OK",
    );
    let plain_echo = ExampleServer::start("line_echo", &[]);
    let up = plain_echo.addr.to_string();
    let proxy = ExampleServer::start("proxy", &["--proxy-protocol", "--upstream", &up]);
    expect_after_header(&proxy, b"hi\n", b"hi\n");
    for server in [&echo, &chat, &resp, &offload, &http, &proxy] {
        let mut direct = client(server.addr);
        direct.write_all(b"PING\r\n").unwrap();
        expect_closed_without_a_reply(direct);
    }
}

#[test]
fn weft_proxy_with_proxy_protocol_out_tells_the_sample_the_real_client() {
    let http = ExampleServer::start("http_hello", &["--proxy-protocol"]);
    let up = http.addr.to_string();
    let proxy = ExampleServer::start("proxy", &["--upstream", &up, "--proxy-protocol-out"]);
    let (body, local) = whoami(proxy.addr, b"");
    assert_eq!(body, format!("{local}\n"));
    // Both hops with the header: the first one's source is passed on.
    let proxy2 = ExampleServer::start(
        "proxy",
        &[
            "--upstream",
            &up,
            "--proxy-protocol",
            "--proxy-protocol-out",
        ],
    );
    let (body, _) = whoami(proxy2.addr, V1);
    assert_eq!(body, "1.2.3.4:1111\n");
}

// ---- HAProxy ------------------------------------------------------------------------

#[test]
fn three_instances_behind_haproxy_see_the_real_clients() {
    let backends: Vec<(ExampleServer, SocketAddr)> = (0..3)
        .map(|_| ExampleServer::start_with_metrics("http_hello", &["--proxy-protocol"]))
        .collect();
    let echo = ExampleServer::start("line_echo", &["--proxy-protocol"]);
    let (http_port, echo_port) = (free_port(), free_port());
    let mut config = format!(
        "global\n    maxconn 1000\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
         listen http\n    bind 127.0.0.1:{http_port}\n    balance roundrobin\n"
    );
    for (i, (backend, _)) in backends.iter().enumerate() {
        config += &format!("    server hello{i} {} send-proxy-v2\n", backend.addr);
    }
    // Version 1 from HAProxy too, into line_echo.
    config += &format!(
        "listen echo\n    bind 127.0.0.1:{echo_port}\n    server echo {} send-proxy\n",
        echo.addr
    );
    let _haproxy = Haproxy::start(&config, &[http_port, echo_port]);
    let front: SocketAddr = ([127, 0, 0, 1], http_port).into();

    for _ in 0..6 {
        // The client's own address, though HAProxy is the backends' peer.
        let (body, local) = whoami(front, b"");
        assert_eq!(body, format!("{local}\n"));
    }
    // Round robin: every instance read headers.
    for (_, metrics) in &backends {
        assert!(
            metric_sum(*metrics, "weft_proxy_headers_total") >= 2,
            "an instance served no client"
        );
    }

    let mut c = client(([127, 0, 0, 1], echo_port).into());
    c.write_all(b"through haproxy\n").unwrap();
    let mut got = [0u8; 16];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"through haproxy\n");

    // Direct connections to an instance, without a header, are refused.
    let mut direct = client(backends[0].0.addr);
    direct
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    expect_closed_without_a_reply(direct);
}
