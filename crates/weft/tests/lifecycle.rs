//! Connection and server lifecycle on real sockets: half-close, idle timeouts, timers,
//! graceful shutdown, the connection limit.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use weft::codec::LineCodec;
use weft::{Context, Handler, Idle, IdleTimeouts, Pipeline, TimerId, WriteWatermarks};

#[test]
fn half_close_gets_every_owed_reply_then_eof() {
    let server = echo_server(1, 64);
    let mut client = connect(server.local_addr());
    let mut sent = Vec::new();
    for i in 0..2_000 {
        writeln!(sent, "owed line {i}").unwrap();
    }
    client.write_all(&sent).unwrap();
    client.write_all(b"trailing partial line").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap(); // ends at the server's FIN (bounded by WAIT)
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "replies differ from the lines sent");
}

/// A handler that keeps writing after the peer half-closed, then closes.
struct Farewell;

impl Handler for Farewell {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }

    fn on_read_closed(&mut self, ctx: &mut Context<'_, Self>) {
        // Kept open on purpose: answer later, from a timer.
        ctx.schedule(Duration::from_millis(10));
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId) {
        ctx.write(b"goodbye\n");
        ctx.close();
    }
}

#[test]
fn a_handler_may_keep_a_half_closed_connection_open_to_write_more() {
    let server = builder(1)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Farewell))
        .bind()
        .unwrap();
    let mut client = connect(server.local_addr());
    client.write_all(b"hi\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hi\ngoodbye\n");
}

/// Closes a connection when it has been idle.
struct IdleCloser;

impl Handler for IdleCloser {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }

    fn on_idle(&mut self, ctx: &mut Context<'_, Self>, idle: Idle) {
        assert_eq!(idle, Idle::Read);
        ctx.close();
    }
}

#[test]
fn idle_timeout_closes_a_silent_connection_and_spares_an_active_one() {
    let server = builder(1)
        .idle_timeouts(IdleTimeouts {
            read: Some(Duration::from_millis(1000)),
            ..IdleTimeouts::default()
        })
        .pipeline(|| Pipeline::new(LineCodec::new(64), IdleCloser))
        .bind()
        .unwrap();
    let mut silent = connect(server.local_addr());
    let mut active = connect(server.local_addr());
    let started = Instant::now();
    // Keep `active` busy (a line every 50 ms) until `silent` has been closed.
    let watcher = std::thread::spawn(move || {
        expect_closed(&mut silent);
        started.elapsed()
    });
    while !watcher.is_finished() {
        active.write_all(b"still here\n").unwrap();
        expect_bytes(&mut active, b"still here\n");
        std::thread::sleep(Duration::from_millis(50));
        assert!(started.elapsed() < WAIT, "silent connection never closed");
    }
    let closed_after = watcher.join().unwrap();
    assert!(
        closed_after >= Duration::from_millis(600),
        "closed early: {closed_after:?}"
    );
    active.write_all(b"after\n").unwrap();
    expect_bytes(&mut active, b"after\n");
}

/// Writes "tick" on a repeating timer three times, cancels it, then "done" from a one-shot.
struct Ticker {
    ticks: usize,
    repeating: Option<TimerId>,
}

impl Handler for Ticker {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        self.repeating = Some(ctx.schedule_repeating(Duration::from_millis(5)));
    }

    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: &[u8]) {}

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TimerId) {
        if Some(timer) == self.repeating {
            self.ticks += 1;
            ctx.write(b"tick\n");
            if self.ticks == 3 {
                assert!(ctx.cancel_timer(timer));
                assert!(!ctx.cancel_timer(timer), "cancelled twice");
                // If the cancel did not work, a fourth tick would arrive before "done".
                ctx.schedule(Duration::from_millis(50));
            }
        } else {
            ctx.write(b"done\n");
        }
    }
}

#[test]
fn repeating_timers_fire_until_cancelled() {
    let server = builder(1)
        .pipeline(|| {
            Pipeline::new(
                LineCodec::new(64),
                Ticker {
                    ticks: 0,
                    repeating: None,
                },
            )
        })
        .bind()
        .unwrap();
    let mut client = connect(server.local_addr());
    expect_bytes(&mut client, b"tick\ntick\ntick\ndone\n");
}

#[test]
fn graceful_shutdown_delivers_every_reply_owed_before_it_began() {
    // Large watermarks so the server reads everything while the client is not reading.
    let server = builder(2)
        .write_watermarks(WriteWatermarks::new(32 << 20, 64 << 20).unwrap())
        .pipeline(|| Pipeline::new(LineCodec::new(128), Echo))
        .bind()
        .unwrap();
    let addr = server.local_addr();
    let client = connect(addr);
    let mut sent = Vec::new();
    for i in 0..200_000 {
        writeln!(sent, "owed before shutdown {i}").unwrap();
    }
    let total = sent.len() as u64;
    let mut reader = client.try_clone().unwrap();
    let writer = write_in_background(client, sent.clone());
    wait_until("the server to read every line", || {
        server.metrics().bytes_read == total
    });
    let handle = server.shutdown_handle();
    let stopper = std::thread::spawn(move || server.shutdown(Duration::from_secs(15)));
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), sent.len(), "every owed reply arrives");
    assert!(got == sent);
    writer.join().unwrap();
    stopper.join().unwrap();
    handle.shutdown(Duration::ZERO); // a second call is harmless
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "a stopped server must refuse connections"
    );
}

#[test]
fn shutdown_aborts_at_the_deadline_a_client_that_never_reads() {
    let server = builder(1)
        .write_watermarks(WriteWatermarks::new(32 << 20, 64 << 20).unwrap())
        .pipeline(|| Pipeline::new(LineCodec::new(128), Echo))
        .bind()
        .unwrap();
    let client = connect(server.local_addr());
    let mut sent = Vec::new();
    for i in 0..400_000 {
        writeln!(sent, "never read {i}").unwrap();
    }
    let total = sent.len() as u64;
    let writer = write_in_background(client, sent);
    wait_until("the server to read every line", || {
        server.metrics().bytes_read == total
    });
    let started = Instant::now();
    server.shutdown(Duration::from_millis(300));
    let took = started.elapsed();
    assert!(
        took < WAIT,
        "shutdown must not wait for the client: {took:?}"
    );
    let _client = writer.join().unwrap();
}

/// Counts connections the server has seen become active.
struct Counting(Arc<AtomicUsize>);

impl Handler for Counting {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, _ctx: &mut Context<'_, Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }
}

#[test]
fn the_connection_limit_pauses_accepting_until_a_connection_closes() {
    let active = Arc::new(AtomicUsize::new(0));
    let counter = active.clone();
    let server = builder(2)
        .max_connections(2)
        .pipeline(move || Pipeline::new(LineCodec::new(64), Counting(counter.clone())))
        .bind()
        .unwrap();
    let mut first = connect(server.local_addr());
    let mut second = connect(server.local_addr());
    for c in [&mut first, &mut second] {
        c.write_all(b"in\n").unwrap();
        expect_bytes(c, b"in\n");
    }
    // The kernel completes the third handshake, but weft must not take it yet.
    let mut third = connect(server.local_addr());
    third.write_all(b"waiting\n").unwrap();
    wait_until("the acceptor to pause", || {
        server.metrics().accept_pauses >= 1
    });
    assert_eq!(active.load(Ordering::SeqCst), 2);
    drop(first);
    expect_bytes(&mut third, b"waiting\n");
    assert_eq!(active.load(Ordering::SeqCst), 3);
    second.write_all(b"still\n").unwrap();
    expect_bytes(&mut second, b"still\n");
}
