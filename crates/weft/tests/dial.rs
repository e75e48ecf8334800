//! Outbound connections: dialling from a handler and from any thread, the outcomes a dial
//! reports, and splices (coupled relays) between two connections of one reactor.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use weft::codec::{BytesCodec, LineCodec};
use weft::{Bytes, Client, ConnectErrorKind, ConnectionHandle, Context, Dial, Handler, Pipeline};

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
fn refused_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A listener whose accept queue is full and is never accepted from: further SYNs to it
/// are dropped, so a connect to it gets no answer. Returned to be kept alive.
fn silent_listener() -> (socket2::Socket, Vec<std::net::TcpStream>, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue (backlog 0 holds one) and the SYN path behind it.
    let mut fillers = Vec::new();
    for _ in 0..2 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    (socket, fillers, addr)
}

struct Quiet;

impl Handler for Quiet {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: &[u8]) {}
}

fn dial_outcome(client: &Client, dial: Dial) -> Result<SocketAddr, ConnectErrorKind> {
    let (tx, rx) = mpsc::channel();
    client.connect(
        None,
        dial,
        || Pipeline::new(LineCodec::new(1024), Quiet),
        move |result| {
            let _ = tx.send(result.map(|c| c.peer_addr()).map_err(|e| e.kind()));
        },
    );
    rx.recv_timeout(WAIT).expect("the dial's outcome")
}

#[test]
fn a_dial_reports_refused_timed_out_unresolvable_and_empty_and_fails_over() {
    init_logging();
    let client = Client::builder().reactors(1).build_client().unwrap();
    let refused = refused_port();
    assert_eq!(
        dial_outcome(&client, Dial::addr(refused)),
        Err(ConnectErrorKind::Refused)
    );
    let (_silent, _fillers, silent) = silent_listener();
    let quick = Duration::from_millis(300);
    assert_eq!(
        dial_outcome(&client, Dial::addr(silent).timeout(quick)),
        Err(ConnectErrorKind::TimedOut)
    );
    assert_eq!(
        dial_outcome(&client, Dial::to("no-such-host.invalid:80").unwrap()),
        Err(ConnectErrorKind::Resolve)
    );
    assert_eq!(
        dial_outcome(&client, Dial::addrs([])),
        Err(ConnectErrorKind::NoAddress)
    );
    // Refused, then silent, then one that answers: the dial moves on each time.
    let server = echo_server(1, 1024);
    let dial = Dial::addr(refused)
        .or_addr(silent)
        .or_addr(server.local_addr())
        .timeout(quick);
    assert_eq!(dial_outcome(&client, dial), Ok(server.local_addr()));
    let metrics = client.metrics();
    assert_eq!((metrics.dialled, metrics.connect_failures), (1, 4));
    client.shutdown(Duration::from_secs(1));
    server.shutdown(Duration::from_secs(1));
}

/// Writes one line to its connection once up, and hands every line it receives back.
struct Probe(mpsc::Sender<Bytes>);

impl Handler for Probe {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];
    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.write(b"ping\n");
    }
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
        let _ = self.0.send(Bytes::copy_from_slice(line));
    }
}

#[test]
fn a_client_runtime_dials_a_name_and_serves_the_connection_like_an_accepted_one() {
    init_logging();
    let server = echo_server(1, 1024);
    let client = Client::builder().reactors(1).build_client().unwrap();
    let (lines, received) = mpsc::channel();
    let (up_tx, up) = mpsc::channel();
    let dial = Dial::to(&format!("localhost:{}", server.local_addr().port())).unwrap();
    client.connect(
        None,
        dial,
        move || Pipeline::new(LineCodec::new(1024), Probe(lines)),
        move |result| {
            let _ = up_tx.send(
                result
                    .map(|c| c.peer_addr().port())
                    .map_err(|e| e.to_string()),
            );
        },
    );
    assert_eq!(
        up.recv_timeout(WAIT).unwrap(),
        Ok(server.local_addr().port())
    );
    assert_eq!(&received.recv_timeout(WAIT).unwrap()[..], b"ping\n");
    client.shutdown(Duration::from_secs(1));
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn shutting_down_ends_a_dial_under_way_with_stopped() {
    init_logging();
    let (_silent, _fillers, silent) = silent_listener();
    let client = Client::builder().reactors(1).build_client().unwrap();
    let (tx, rx) = mpsc::channel();
    client.connect(
        None,
        Dial::addr(silent).timeout(Duration::from_secs(60)),
        || Pipeline::new(LineCodec::new(1024), Quiet),
        move |result| {
            let _ = tx.send(result.map(|_| ()).map_err(|e| e.kind()));
        },
    );
    // The dial's outcome cannot come for 60 s: the shutdown (queued behind it) ends it.
    client.shutdown(Duration::from_secs(1));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Err(ConnectErrorKind::Stopped)
    );
}

/// A front that dials the backend from its own handler and relays lines through handles.
#[derive(Default)]
struct Front {
    backend: Option<ConnectionHandle>,
    early: Vec<Bytes>,
    backend_addr: Option<SocketAddr>,
}

struct Back(ConnectionHandle);

impl Handler for Back {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
        self.0.write(Bytes::copy_from_slice(line)).unwrap();
    }
}

impl Handler for Front {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];
    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        let me = ctx.handle();
        let reactor = ctx.reactor_index();
        let back = Pipeline::new(LineCodec::new(1024), Back(me));
        let dial = Dial::addr(self.backend_addr.unwrap());
        ctx.connect(dial, back, move |front, ctx, result| {
            let up = result.expect("the backend is up");
            assert_eq!(
                up.reactor_index(),
                reactor,
                "dialled on the caller's reactor"
            );
            for line in front.early.drain(..) {
                up.handle().write(line).unwrap();
            }
            front.backend = Some(up.into_handle());
            ctx.write(b"connected\n");
        });
    }
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, line: &[u8]) {
        match &self.backend {
            Some(backend) => backend.write(Bytes::copy_from_slice(line)).unwrap(),
            None => self.early.push(Bytes::copy_from_slice(line)),
        }
    }
}

#[test]
fn a_handler_dials_a_backend_on_its_own_reactor_without_blocking() {
    let backend = echo_server(1, 1024);
    let backend_addr = backend.local_addr();
    let front = builder(2)
        .pipeline(move || {
            Pipeline::new(
                LineCodec::new(1024).terminator(weft::codec::line::Terminator::Keep),
                Front {
                    backend_addr: Some(backend_addr),
                    ..Front::default()
                },
            )
        })
        .bind()
        .unwrap();
    let mut client = connect(front.local_addr());
    client.write_all(b"one\ntwo\n").unwrap();
    expect_bytes(&mut client, b"connected\none\ntwo\n");
    client.write_all(b"three\n").unwrap();
    expect_bytes(&mut client, b"three\n");
    front.shutdown(Duration::from_secs(1));
    backend.shutdown(Duration::from_secs(1));
}

/// Splices every client to `upstream`; closes the client if the dial fails.
struct Splicer(Dial);

impl Handler for Splicer {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];
    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.splice(self.0.clone(), |_, ctx, result| {
            if result.is_err() {
                ctx.abort();
            }
        });
    }
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _bytes: &[u8]) {}
}

fn splicer(dial: Dial, output_limit: usize) -> weft::Server {
    builder(1)
        .output_limit(output_limit)
        .write_watermarks(weft::WriteWatermarks::new(output_limit / 4, output_limit / 2).unwrap())
        .pipeline(move || Pipeline::new(BytesCodec::new(65536).unwrap(), Splicer(dial.clone())))
        .bind()
        .unwrap()
}

#[test]
fn a_splice_relays_both_ways_holds_early_bytes_and_passes_half_close_on() {
    // The upstream reads to the end of the stream, then answers with what it got.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    let backend = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap(); // the client's FIN, passed on
        s.write_all(format!("got {} bytes\n", got.len()).as_bytes())
            .unwrap();
        got
    });
    // A silent first target: the client's bytes are held while its attempt times out.
    let (_silent, _fillers, silent) = silent_listener();
    let dial = Dial::addr(silent)
        .or_addr(addr)
        .timeout(Duration::from_millis(300));
    let proxy = splicer(dial, 1 << 20);
    let mut client = connect(proxy.local_addr());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    client.write_all(&data).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap(); // the upstream's FIN, passed on
    assert_eq!(reply, b"got 300000 bytes\n");
    assert!(
        backend.join().unwrap() == data,
        "the bytes arrived intact and in order"
    );
    wait_until("the session to end", || {
        proxy.metrics().open_connections == 0
    });
    assert_eq!(proxy.metrics().closed_for(weft::CloseReason::PeerClosed), 2);
    proxy.shutdown(Duration::from_secs(1));
}

#[test]
fn a_reset_on_one_side_resets_the_other_at_once() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    let proxy = splicer(Dial::addr(addr), 1 << 20);
    let mut client = connect(proxy.local_addr());
    let (mut s, _) = upstream.accept().unwrap();
    client.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s); // a reset
    let mut rest = [0u8; 16];
    let err = client.read(&mut rest).expect_err("the client is reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    proxy.shutdown(Duration::from_secs(1));
}

#[test]
fn a_reader_that_stops_holds_the_relay_to_its_limit_and_loses_nothing() {
    // The upstream streams 32 MiB; the client does not read until the proxy has stopped
    // reading from the upstream (its queue towards the client full).
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    const TOTAL: usize = 32 << 20;
    let streamer = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
        let mut sent = 0;
        while sent < TOTAL {
            s.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
    });
    let limit = 256 * 1024;
    let proxy = splicer(Dial::addr(addr), limit);
    let mut client = connect(proxy.local_addr());
    // The proxy reads until its queue to the client passes the high watermark, then stops:
    // the bytes it has read stop growing.
    let mut last = 0;
    let mut still = 0;
    wait_until("the relay to stop reading", || {
        let read = proxy.metrics().bytes_read;
        still = if read == last { still + 1 } else { 0 };
        last = read;
        still > 50
    });
    let written = proxy.metrics().bytes_written;
    assert!(
        last - written <= limit as u64,
        "the proxy holds {} bytes for a reader that stopped (limit {limit})",
        last - written
    );
    let mut got = vec![0u8; TOTAL];
    client.read_exact(&mut got).unwrap();
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, &b)| b == ((i % 65536) as u32 % 253) as u8));
    streamer.join().unwrap();
    proxy.shutdown(Duration::from_secs(1));
}

#[test]
fn a_failed_splice_gives_the_held_bytes_back_and_the_handler_decides() {
    let proxy = splicer(Dial::addr(refused_port()), 1 << 20);
    let mut client = connect(proxy.local_addr());
    let _ = client.write_all(b"early bytes");
    expect_closed(&mut client);
    proxy.shutdown(Duration::from_secs(1));
}
