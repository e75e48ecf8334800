//! The core runtime on real sockets: framing, ordering, byte transparency, spreading,
//! isolation, scale.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use weft::codec::LineCodec;
use weft::{Context, Handler, Pipeline};

#[test]
fn byte_at_a_time_input_is_reassembled() {
    let server = echo_server(1, 64);
    let mut client = connect(server.local_addr());
    for &b in b"hello, world\nsecond\n" {
        client.write_all(&[b]).unwrap();
        client.flush().unwrap();
    }
    expect_bytes(&mut client, b"hello, world\nsecond\n");
}

#[test]
fn ten_thousand_pipelined_lines_in_one_send_come_back_in_order() {
    let server = echo_server(2, 8192);
    let client = connect(server.local_addr());
    let mut payload = Vec::new();
    for i in 0..10_000 {
        writeln!(payload, "line number {i} with some padding").unwrap();
    }
    let expected = payload.clone();
    let mut reader = client.try_clone().unwrap();
    let writer = write_in_background(client, payload);
    expect_bytes(&mut reader, &expected);
    writer.join().unwrap();
}

#[test]
fn a_one_mib_line_passes_when_max_line_allows_it() {
    let server = echo_server(1, 2 << 20);
    let client = connect(server.local_addr());
    let mut line: Vec<u8> = (0..(1 << 20)).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    let mut reader = client.try_clone().unwrap();
    let writer = write_in_background(client, line.clone());
    expect_bytes(&mut reader, &line);
    writer.join().unwrap();
}

#[test]
fn all_256_byte_values_pass_unchanged() {
    let server = echo_server(1, 1024);
    let mut client = connect(server.local_addr());
    let mut line: Vec<u8> = (0..=255u8).filter(|&b| b != b'\n').collect();
    line.extend_from_slice(b"\r\0\xff\n");
    client.write_all(&line).unwrap();
    expect_bytes(&mut client, &line);
}

#[test]
fn connections_spread_over_every_reactor() {
    let server = echo_server(4, 64);
    let mut clients: Vec<_> = (0..8).map(|_| connect(server.local_addr())).collect();
    for client in &mut clients {
        client.write_all(b"ping\n").unwrap();
        expect_bytes(client, b"ping\n");
    }
    // A reactor counts a write after the send returns: the client may see the reply first.
    wait_until("every reactor to count its writes", || {
        server.metrics().bytes_written == 40
    });
    let metrics = server.metrics();
    assert_eq!(metrics.reactors.len(), 4);
    for (i, reactor) in metrics.reactors.iter().enumerate() {
        assert_eq!(reactor.open_connections, 2, "reactor {i}: {metrics:?}");
        assert_eq!(reactor.bytes_read, 10, "reactor {i}");
        assert_eq!(reactor.bytes_written, 10, "reactor {i}");
    }
    assert_eq!(metrics.accepted, 8);
}

#[test]
fn an_oversize_line_gets_err_after_owed_replies_and_spares_other_connections() {
    let server = echo_server(1, 16);
    let mut bystander = connect(server.local_addr());
    let mut offender = connect(server.local_addr());
    bystander.write_all(b"before\n").unwrap();
    expect_bytes(&mut bystander, b"before\n");

    // One owed reply, then 17 bytes without a newline: the error must come without
    // waiting for the newline, after the owed reply.
    offender.write_all(b"ok\n0123456789abcdefg").unwrap();
    expect_bytes(&mut offender, b"ok\nERR line too long\n");
    expect_closed(&mut offender);

    bystander.write_all(b"after\n").unwrap();
    expect_bytes(&mut bystander, b"after\n");
}

#[test]
fn an_oversize_line_followed_by_more_data_still_gets_its_error() {
    // The client keeps sending after the limit: the server must not reset the connection
    // (which would destroy the ERR line) because of input it never read.
    let server = echo_server(1, 16);
    let client = connect(server.local_addr());
    let mut reader = client.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut client = client;
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..32 {
            if client.write_all(&chunk).is_err() {
                break; // the server may close before we finish: that is fine
            }
        }
    });
    expect_bytes(&mut reader, b"ERR line too long\n");
    expect_closed(&mut reader);
    writer.join().unwrap();
}

/// Panics on the line "panic\n", echoes everything else.
struct Fragile;

impl Handler for Fragile {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        if line == b"panic\n" {
            panic!("fragile handler asked to panic");
        }
        ctx.write(line);
    }
}

#[test]
fn a_panicking_handler_closes_only_its_own_connection() {
    let server = builder(1)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Fragile))
        .bind()
        .unwrap();
    let mut victim = connect(server.local_addr());
    let mut bystander = connect(server.local_addr());
    bystander.write_all(b"one\n").unwrap();
    expect_bytes(&mut bystander, b"one\n");

    victim.write_all(b"owed\npanic\nnever\n").unwrap();
    expect_bytes(&mut victim, b"owed\n");
    expect_closed(&mut victim);
    drop(victim);

    bystander.write_all(b"two\n").unwrap();
    expect_bytes(&mut bystander, b"two\n");
    wait_until("the victim to be removed", || {
        server.metrics().open_connections == 1
    });
}

#[test]
fn a_reset_by_the_peer_closes_only_that_connection() {
    let server = echo_server(1, 64);
    let mut bystander = connect(server.local_addr());
    {
        let resetter = connect(server.local_addr());
        let sock = socket2::SockRef::from(&resetter);
        sock.set_linger(Some(Duration::ZERO)).unwrap();
        let mut r = &resetter;
        r.write_all(b"unanswered").unwrap();
        // Dropped with linger 0: the kernel sends RST.
    }
    wait_until("the reset connection to be removed", || {
        let m = server.metrics();
        m.accepted == 2 && m.open_connections == 1
    });
    bystander.write_all(b"still here\n").unwrap();
    expect_bytes(&mut bystander, b"still here\n");
}

#[test]
fn five_hundred_concurrent_clients_are_all_served() {
    let server = echo_server(2, 256);
    let mut clients: Vec<_> = (0..500).map(|_| connect(server.local_addr())).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        writeln!(client, "hello from {i}").unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        expect_bytes(client, format!("hello from {i}\n").as_bytes());
    }
    for (i, client) in clients.iter_mut().enumerate() {
        writeln!(client, "again {i}").unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        expect_bytes(client, format!("again {i}\n").as_bytes());
    }
    assert_eq!(server.metrics().open_connections, 500);
}

#[test]
fn reuseport_mode_serves_on_every_reactor_without_an_acceptor() {
    let server = builder(2)
        .accept_mode(weft::AcceptMode::ReusePort)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    let mut clients: Vec<_> = (0..32).map(|_| connect(server.local_addr())).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        writeln!(client, "reuseport {i}").unwrap();
        expect_bytes(client, format!("reuseport {i}\n").as_bytes());
    }
    let metrics = server.metrics();
    assert_eq!(metrics.accepted, 32);
    // The kernel spreads connections by a hash of the 4-tuple: with 32 of them, both
    // reactors get some (the chance that one gets none is 2^-31).
    assert!(
        metrics.reactors.iter().all(|r| r.accepted > 0),
        "{metrics:?}"
    );
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn reuseport_mode_honours_the_connection_limit() {
    let server = builder(1)
        .accept_mode(weft::AcceptMode::ReusePort)
        .max_connections(1)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    let mut first = connect(server.local_addr());
    first.write_all(b"one\n").unwrap();
    expect_bytes(&mut first, b"one\n");
    let mut second = connect(server.local_addr());
    second.write_all(b"two\n").unwrap();
    wait_until("accepting to pause", || server.metrics().accept_pauses >= 1);
    drop(first);
    expect_bytes(&mut second, b"two\n");
}
