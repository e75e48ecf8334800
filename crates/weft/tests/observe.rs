//! Seeing inside the loops: counters that move by the right amounts, loop-turn histograms,
//! and the watchdog naming a callback that stalls or sticks its reactor.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use weft::codec::LineCodec;
use weft::{CloseReason, Context, Handler, Pipeline};

#[test]
fn counters_move_by_what_the_traffic_did() {
    let server = echo_server(2, 64);
    let mut clients: Vec<_> = (0..4).map(|_| connect(server.local_addr())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let line = format!("client {i}\n");
        c.write_all(line.as_bytes()).unwrap();
        expect_bytes(c, line.as_bytes());
    }
    drop(clients);
    wait_until("every connection to close", || {
        server.metrics().closed_for(CloseReason::PeerClosed) == 4
    });
    let m = server.metrics();
    let sent: u64 = (0..4).map(|i| format!("client {i}\n").len() as u64).sum();
    assert_eq!(m.accepted, 4);
    assert_eq!(m.open_connections, 0);
    assert_eq!((m.bytes_read, m.bytes_written), (sent, sent));
    assert_eq!(m.reactors.iter().map(|r| r.accepted).sum::<u64>(), 4);
    for r in &m.reactors {
        assert!(r.turns.count() > 0, "every reactor turned");
        assert!(r.events > 0);
        assert_eq!(r.stalls, 0, "an echo never stalls");
    }
    let text = m.to_prometheus();
    assert!(
        text.contains("weft_connections_accepted_total 4\n"),
        "{text}"
    );
    assert!(text.contains("weft_connections_closed_total{reason=\"peer_closed\"} 4\n"));
    assert!(text.contains(&format!("weft_received_bytes_total {sent}\n")));
}

/// "sleep MS": sleeps on the reactor thread (what a handler must never do), then answers.
struct Sleepy;

impl Handler for Sleepy {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        let ms: u64 = std::str::from_utf8(&line[6..line.len() - 1])
            .unwrap()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        ctx.write(line);
    }
}

/// The child: a server whose handler sleeps when asked, logging to stderr.
#[test]
fn stalling_child_entry() {
    if std::env::var_os("WEFT_STALL_CHILD").is_none() {
        return; // only meaningful as the child of the tests below
    }
    child_logging();
    let server = builder(1)
        // 30 ms: a 50 ms sleep is always caught (the watchdog looks every 15 ms), and a busy
        // test machine's scheduler is unlikely to hold the reactor that long by itself.
        .stall_threshold(Some(Duration::from_millis(30)))
        .stuck_threshold(Duration::from_millis(300))
        .pipeline(|| Pipeline::new(LineCodec::new(64), Sleepy))
        .bind()
        .unwrap();
    serve_as_child(server);
}

#[test]
fn a_handler_that_sleeps_50_ms_is_named_in_one_stall_report() {
    let child = ChildServer::spawn("stalling_child_entry", "WEFT_STALL_CHILD");
    let mut client = connect(child.addr);
    client.write_all(b"sleep 50\n").unwrap();
    expect_bytes(&mut client, b"sleep 50\n");
    let report = child.expect_log_line("stall:");
    assert!(
        report.contains("Sleepy"),
        "names the handler's type: {report}"
    );
    assert!(report.contains("conn#1"), "names the connection: {report}");
    assert!(
        report.contains("on_message"),
        "names the callback: {report}"
    );
    // One report for one stall: the next lines are not stall reports for it.
    client.write_all(b"sleep 0\n").unwrap();
    expect_bytes(&mut client, b"sleep 0\n");
    drop(client);
    let status = child.finish_collecting();
    assert!(status.0.success());
    assert_eq!(
        status.1.iter().filter(|l| l.contains("stall:")).count(),
        0,
        "no second stall report: {:?}",
        status.1
    );
}

#[test]
fn a_reactor_stuck_in_a_handler_is_reported_while_it_is_stuck() {
    let child = ChildServer::spawn("stalling_child_entry", "WEFT_STALL_CHILD");
    let mut client = connect(child.addr);
    client.write_all(b"sleep 2000\n").unwrap();
    // The report must come while the handler still sleeps: before its answer.
    let report = child.expect_log_line("reactor stuck");
    assert!(
        report.contains("Sleepy") && report.contains("conn#1"),
        "{report}"
    );
    client.set_nonblocking(true).unwrap();
    let mut probe = [0u8; 1];
    let still_stuck = matches!(
        std::io::Read::read(&mut client, &mut probe),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    );
    assert!(
        still_stuck,
        "the report came after the handler had answered"
    );
    client.set_nonblocking(false).unwrap();
    expect_bytes(&mut client, b"sleep 2000\n");
    drop(client);
    assert!(child.finish().success());
}
