//! The PROXY protocol option on real sockets (`ServerBuilder::proxy_protocol`): the header
//! is read before the pipeline hears anything, the peer becomes its source, and every
//! refusal closes without a reply, is counted, and never runs the pipeline.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use weft::codec::proxy_protocol::{encode_v2, ProxyCommand, V2_SIGNATURE};
use weft::codec::LineCodec;
use weft::{
    CloseReason, Context, Handler, Idle, IdleTimeouts, Pipeline, ProxyProtocol, ProxyRejection,
    Server,
};

/// What the handlers saw, shared with the test.
#[derive(Clone, Default)]
struct Calls {
    active: Arc<AtomicUsize>,
    inactive: Arc<AtomicUsize>,
    idle: Arc<AtomicUsize>,
}

/// Says what it sees of its connection in `on_active`, then echoes lines.
struct Who(Calls);

impl Handler for Who {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        self.0.active.fetch_add(1, Ordering::SeqCst);
        let header = ctx.proxy_header();
        let line = format!(
            "peer {} socket {} local {} command {:?} alpn {:?} authority {:?} id {:?}\n",
            ctx.peer_addr(),
            ctx.socket_peer_addr(),
            ctx.local_addr().unwrap(),
            header.map(|h| h.command()),
            header.and_then(|h| h.alpn()).map(String::from_utf8_lossy),
            header.and_then(|h| h.authority()),
            header
                .and_then(|h| h.unique_id())
                .map(String::from_utf8_lossy),
        );
        ctx.write(line.as_bytes());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }

    fn on_idle(&mut self, _ctx: &mut Context<'_, Self>, _idle: Idle) {
        self.0.idle.fetch_add(1, Ordering::SeqCst);
    }

    fn on_inactive(&mut self, _ctx: &mut Context<'_, Self>, _reason: CloseReason) {
        self.0.inactive.fetch_add(1, Ordering::SeqCst);
    }
}

fn server_with(proxy: ProxyProtocol, header_timeout: Duration) -> (Server, Calls) {
    let calls = Calls::default();
    let seen = calls.clone();
    let server = builder(1)
        .proxy_protocol(proxy)
        .proxy_header_timeout(header_timeout)
        .idle_timeouts(IdleTimeouts {
            read: Some(Duration::from_millis(50)),
            ..IdleTimeouts::default()
        })
        .pipeline(move || Pipeline::new(LineCodec::new(256), Who(seen.clone())))
        .bind()
        .expect("bind");
    (server, calls)
}

fn server() -> (Server, Calls) {
    server_with(ProxyProtocol::required(), WAIT)
}

/// The `on_active` line of a connection from `client` as the handler reports it.
fn read_line(client: &mut std::net::TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        assert_eq!(
            client.read(&mut byte).expect("read"),
            1,
            "closed mid-line: {line:?}"
        );
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

fn wait_closed(server: &Server, count: u64) {
    wait_until("the connection to be removed", || {
        server.metrics().closed_for(CloseReason::ProxyHeader) >= count
    });
}

#[test]
fn a_v1_header_names_the_peer_and_what_follows_it_goes_to_the_pipeline() {
    let (server, calls) = server();
    let mut client = connect(server.local_addr());
    let socket = client.local_addr().unwrap();
    client
        .write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nfirst line\nsecond ")
        .unwrap();
    assert_eq!(
        read_line(&mut client),
        format!("peer 1.2.3.4:1111 socket {socket} local 5.6.7.8:2222 command Some(Proxy) alpn None authority None id None\n")
    );
    expect_bytes(&mut client, b"first line\n");
    client.write_all(b"line\n").unwrap();
    expect_bytes(&mut client, b"second line\n");
    assert_eq!(server.metrics().proxy_headers(), 1);
    drop(client);
    wait_until("on_inactive", || calls.inactive.load(Ordering::SeqCst) == 1);
    assert_eq!(calls.active.load(Ordering::SeqCst), 1);
}

#[test]
fn a_header_cut_into_many_writes_is_waited_for() {
    let (server, _calls) = server();
    let mut client = connect(server.local_addr());
    let header = encode_v2(
        "[2001:db8::7]:51000".parse().unwrap(),
        "[2001:db8::1]:443".parse().unwrap(),
    );
    for byte in header.iter() {
        client.write_all(&[*byte]).unwrap();
    }
    let line = read_line(&mut client);
    assert!(
        line.starts_with("peer [2001:db8::7]:51000 socket 127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains(" local [2001:db8::1]:443 "), "{line}");
    client.write_all(b"echo\n").unwrap();
    expect_bytes(&mut client, b"echo\n");
}

/// A version 2 header from `source` to `destination` (IPv4) with the given TLVs.
fn v2_with_tlvs(
    command: u8,
    source: SocketAddr,
    destination: SocketAddr,
    tlvs: &[(u8, &[u8])],
) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (source, destination) else {
        panic!("IPv4 only");
    };
    let mut body = Vec::new();
    body.extend_from_slice(&src.ip().octets());
    body.extend_from_slice(&dst.ip().octets());
    body.extend_from_slice(&src.port().to_be_bytes());
    body.extend_from_slice(&dst.port().to_be_bytes());
    for (kind, value) in tlvs {
        body.push(*kind);
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
    }
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[command, 0x11]);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn v2_tlvs_reach_the_handler() {
    let (server, _calls) = server();
    let mut client = connect(server.local_addr());
    let header = v2_with_tlvs(
        0x21,
        "192.0.2.7:51000".parse().unwrap(),
        "198.51.100.1:443".parse().unwrap(),
        &[(0x01, b"h2"), (0x02, b"example.com"), (0x05, b"conn-42")],
    );
    client.write_all(&header).unwrap();
    let line = read_line(&mut client);
    assert!(line.starts_with("peer 192.0.2.7:51000 "), "{line}");
    assert!(
        line.ends_with(
            "command Some(Proxy) alpn Some(\"h2\") authority Some(\"example.com\") id Some(\"conn-42\")\n"
        ),
        "{line}"
    );
}

#[test]
fn a_v2_local_header_keeps_the_real_addresses() {
    let (server, _calls) = server();
    let mut client = connect(server.local_addr());
    let socket = client.local_addr().unwrap();
    // A LOCAL header with an address block: the block is ignored.
    let header = v2_with_tlvs(
        0x20,
        "1.2.3.4:1".parse().unwrap(),
        "5.6.7.8:2".parse().unwrap(),
        &[],
    );
    client.write_all(&header).unwrap();
    assert_eq!(
        read_line(&mut client),
        format!(
            "peer {socket} socket {socket} local {} command Some({:?}) alpn None authority None id None\n",
            server.local_addr(),
            ProxyCommand::Local
        )
    );
}

/// Asserts `client` is closed without a byte, and the server counted `cause`.
fn expect_refused(server: &Server, mut client: std::net::TcpStream, cause: ProxyRejection) {
    let mut buf = [0u8; 64];
    let n = client.read(&mut buf).expect("EOF, not a reset");
    assert_eq!(n, 0, "a reply: {:?}", String::from_utf8_lossy(&buf[..n]));
    drop(client); // our EOF ends the server's linger
    wait_closed(server, 1);
    let metrics = server.metrics();
    assert_eq!(metrics.proxy_rejected_for(cause), 1, "{cause:?}");
    assert_eq!(metrics.proxy_headers(), 0);
    assert_eq!(metrics.open_connections, 0);
}

#[test]
fn a_connection_without_a_header_is_closed_without_a_reply() {
    let (server, calls) = server();
    let mut client = connect(server.local_addr());
    client.write_all(b"hello\n").unwrap();
    expect_refused(&server, client, ProxyRejection::Missing);
    assert_eq!(calls.active.load(Ordering::SeqCst), 0, "no on_active");
    assert_eq!(calls.inactive.load(Ordering::SeqCst), 0, "no on_inactive");
    let text = server.metrics().to_prometheus();
    assert!(text.contains("weft_proxy_header_rejections_total{cause=\"missing\"} 1\n"));
    assert!(text.contains("weft_connections_closed_total{reason=\"proxy_header\"} 1\n"));
}

#[test]
fn a_peer_that_closes_before_its_header_is_refused() {
    let (server, _calls) = server();
    let mut client = connect(server.local_addr());
    client.write_all(b"PROXY TCP4 1.2.").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    expect_refused(&server, client, ProxyRejection::Malformed);
}

#[test]
fn malformed_headers_are_closed_without_a_reply() {
    let (server, calls) = server();
    for (i, bad) in [
        &b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\nhello\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nhello\n",
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c",
    ]
    .iter()
    .enumerate()
    {
        let mut client = connect(server.local_addr());
        client.write_all(bad).unwrap();
        let n = client.read(&mut [0u8; 64]).expect("EOF");
        assert_eq!(n, 0, "case {i}");
        drop(client);
        wait_closed(&server, i as u64 + 1);
    }
    assert_eq!(
        server
            .metrics()
            .proxy_rejected_for(ProxyRejection::Malformed),
        3
    );
    assert_eq!(calls.active.load(Ordering::SeqCst), 0);
}

#[test]
fn a_v2_header_over_the_cap_is_refused_on_its_length_alone() {
    let (server, _calls) = server();
    let mut client = connect(server.local_addr());
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]); // announces 64 KiB; none sent
    client.write_all(&header).unwrap();
    expect_refused(&server, client, ProxyRejection::Malformed);
}

#[test]
fn a_slow_header_is_closed_at_the_deadline_and_the_idle_timer_waits_for_the_pipeline() {
    let deadline = Duration::from_millis(400);
    let (server, calls) = server_with(ProxyProtocol::required(), deadline);
    let started = Instant::now();
    let mut client = connect(server.local_addr());
    client.write_all(b"PROXY TCP4 1.2").unwrap();
    expect_refused(&server, client, ProxyRejection::Timeout);
    assert!(
        started.elapsed() >= deadline,
        "closed after {:?}",
        started.elapsed()
    );
    // The idle timeout (50 ms) never ran for a pipeline that never became active.
    assert_eq!(calls.idle.load(Ordering::SeqCst), 0);
    assert_eq!(calls.active.load(Ordering::SeqCst), 0);
    assert_eq!(calls.inactive.load(Ordering::SeqCst), 0);
}

#[test]
fn after_the_header_the_idle_timer_runs() {
    let (server, calls) = server();
    let mut client = connect(server.local_addr());
    client
        .write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n")
        .unwrap();
    read_line(&mut client);
    wait_until("on_idle", || calls.idle.load(Ordering::SeqCst) > 0);
}

#[test]
fn only_trusted_sources_may_connect() {
    let trusted = ProxyProtocol::required_from(["10.0.0.0/8".parse().unwrap()]);
    let (server, calls) = server_with(trusted, WAIT);
    let mut client = connect(server.local_addr());
    // Not even read: the source is wrong.
    client
        .write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n")
        .unwrap();
    expect_refused(&server, client, ProxyRejection::Untrusted);
    assert_eq!(calls.active.load(Ordering::SeqCst), 0);

    let trusted = ProxyProtocol::required_from(["127.0.0.0/8".parse().unwrap()]);
    let (server, _calls) = server_with(trusted, WAIT);
    let mut client = connect(server.local_addr());
    client
        .write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n")
        .unwrap();
    assert!(read_line(&mut client).starts_with("peer 1.2.3.4:1111 "));
}

#[test]
fn shutdown_closes_connections_still_awaiting_their_header() {
    let (server, calls) = server();
    let mut client = connect(server.local_addr());
    client.write_all(b"\r\n\r\n").unwrap();
    wait_until("the connection to be open", || {
        server.metrics().open_connections == 1
    });
    let started = Instant::now();
    server.shutdown(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(5));
    expect_closed(&mut client);
    assert_eq!(calls.active.load(Ordering::SeqCst), 0);
    assert_eq!(calls.inactive.load(Ordering::SeqCst), 0);
}

#[test]
fn with_the_option_off_a_header_is_the_pipelines_data() {
    let (server, calls) = server_with(ProxyProtocol::Off, WAIT);
    let mut client = connect(server.local_addr());
    let socket = client.local_addr().unwrap();
    client
        .write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n")
        .unwrap();
    let line = read_line(&mut client);
    assert!(
        line.starts_with(&format!("peer {socket} socket {socket} ")),
        "{line}"
    );
    assert!(line.contains(" command None "), "{line}");
    expect_bytes(&mut client, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n");
    assert_eq!(calls.active.load(Ordering::SeqCst), 1);
}

mod embedded {
    use super::*;
    use weft::testing::EmbeddedPipeline;

    fn pipe(calls: &Calls) -> EmbeddedPipeline<LineCodec, weft::Identity<LineCodec>, Who> {
        let config = Server::builder()
            .proxy_protocol(ProxyProtocol::required())
            .proxy_header_timeout(Duration::from_secs(5));
        EmbeddedPipeline::with_config(
            config,
            Pipeline::new(LineCodec::new(256), Who(calls.clone())),
        )
    }

    #[test]
    fn the_pipeline_becomes_active_once_the_header_is_read() {
        let calls = Calls::default();
        let mut pipe = pipe(&calls);
        assert_eq!(calls.active.load(Ordering::SeqCst), 0);
        pipe.push(b"PROXY TCP6 2001:db8::7 2001:db8::1 51000");
        assert_eq!(calls.active.load(Ordering::SeqCst), 0);
        assert!(pipe.take_written().is_empty());
        pipe.push(b" 443\r\nhello\nwor");
        assert_eq!(calls.active.load(Ordering::SeqCst), 1);
        let written = pipe.take_written();
        let text = String::from_utf8_lossy(&written);
        assert!(
            text.starts_with("peer [2001:db8::7]:51000 socket 127.0.0.1:"),
            "{text}"
        );
        assert!(text.ends_with("\nhello\n"), "{text}");
        pipe.push(b"ld\n");
        assert_eq!(&pipe.take_written()[..], b"world\n");
    }

    #[test]
    fn the_header_deadline_is_a_timer() {
        let calls = Calls::default();
        let mut pipe = pipe(&calls);
        pipe.push(b"\r\n\r\n\0");
        pipe.advance(Duration::from_millis(4_900));
        assert!(!pipe.fin_sent());
        pipe.advance(Duration::from_millis(200));
        assert!(pipe.fin_sent(), "closed at the deadline");
        assert!(pipe.take_written().is_empty(), "without a reply");
        pipe.push_eof();
        assert_eq!(pipe.close_reason(), Some(CloseReason::ProxyHeader));
        assert_eq!(calls.active.load(Ordering::SeqCst), 0);
        assert_eq!(calls.inactive.load(Ordering::SeqCst), 0);
    }
}
