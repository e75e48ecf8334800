//! Limits between threads and on each connection: nothing dropped in silence, everything
//! bounded. Writes through handles and broadcasts are charged to their target's output
//! limit; a reply past the limit closes the connection as a slow consumer; a frame must
//! finish in time; new connections wait for a reactor with room; offloaded work is capped
//! per connection and skipped once its connection has gone.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::*;
use crossbeam_channel::{Receiver, Sender};
use weft::codec::LineCodec;
use weft::testing::EmbeddedPipeline;
use weft::{
    Bytes, CloseReason, ConnectionHandle, Context, Group, Handler, IdleTimeouts, Pipeline, Server,
};

/// Hands each connection's handle out on `active`, its close reason on `inactive`; echoes.
struct Exposed {
    handles: mpsc::Sender<ConnectionHandle>,
    closed: mpsc::Sender<CloseReason>,
    group: Option<Group>,
}

impl Handler for Exposed {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        if let Some(group) = &self.group {
            ctx.join_group(group);
        }
        let _ = self.handles.send(ctx.handle());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }

    fn on_inactive(&mut self, _ctx: &mut Context<'_, Self>, reason: CloseReason) {
        let _ = self.closed.send(reason);
    }
}

fn exposed_server(
    reactors: usize,
    limit: usize,
    group: Option<Group>,
) -> (
    Server,
    mpsc::Receiver<ConnectionHandle>,
    mpsc::Receiver<CloseReason>,
) {
    let (handles_tx, handles) = mpsc::channel();
    let (closed_tx, closed) = mpsc::channel();
    let handles_tx = std::sync::Mutex::new(handles_tx);
    let closed_tx = std::sync::Mutex::new(closed_tx);
    let server = builder(reactors)
        .output_limit(limit)
        .close_timeout(Duration::from_secs(1))
        .pipeline(move || {
            Pipeline::new(
                LineCodec::new(1024),
                Exposed {
                    handles: handles_tx.lock().unwrap().clone(),
                    closed: closed_tx.lock().unwrap().clone(),
                    group: group.clone(),
                },
            )
        })
        .bind()
        .unwrap();
    (server, handles, closed)
}

/// Reads numbered lines `"<n>\n"` until EOF; checks they count up from 0 with no gap.
fn read_counting(stream: std::net::TcpStream) -> u64 {
    read_counting_into(stream, &AtomicU64::new(0))
}

/// [`read_counting`], publishing how far it got.
fn read_counting_into(stream: std::net::TcpStream, progress: &AtomicU64) -> u64 {
    let mut next = 0u64;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return next,
            Ok(_) => {
                let n: u64 = line.trim_end().parse().expect("a numbered line");
                assert_eq!(n, next, "lines arrive in order with no gap");
                next += 1;
                progress.store(next, Ordering::Relaxed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return next,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

#[test]
fn handle_writes_past_the_output_limit_are_refused_with_the_bytes_back_and_none_lost() {
    let (server, handles, _closed) = exposed_server(2, 64 * 1024, None);
    let client = connect(server.local_addr());
    let handle = handles.recv_timeout(WAIT).unwrap();
    // The client does not read: kernel buffers fill, then the connection's output limit.
    let mut admitted = 0u64;
    let mut refused = None;
    for n in 0..2_000_000u64 {
        match handle.write(Bytes::from(format!("{n}\n"))) {
            Ok(()) => admitted += 1,
            Err(e) => {
                assert!(e.is_full(), "refused for being full, not closed: {e:?}");
                assert_eq!(e.into_inner(), format!("{n}\n"), "the bytes come back");
                refused = Some(n);
                break;
            }
        }
    }
    assert!(
        refused.is_some(),
        "a writer that outruns its reader is told"
    );
    handle.close();
    // Every admitted line arrives, in order, then the close.
    assert_eq!(read_counting(client), admitted);
}

#[test]
fn a_broadcast_burst_reaches_each_member_whole_or_closes_it_as_a_slow_consumer() {
    let group = Group::new();
    let (server, handles, closed) = exposed_server(2, 4 << 20, Some(group.clone()));
    let addr = server.local_addr();
    // Connections alternate between the two reactors.
    let mut clients = Vec::new();
    let mut members = Vec::new();
    for _ in 0..4 {
        clients.push(connect(addr));
        members.push(handles.recv_timeout(WAIT).unwrap());
    }
    let never_reads = clients.pop().unwrap();
    let slow = members.pop().unwrap();
    let progress: Vec<_> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let reading: Vec<_> = clients
        .into_iter()
        .zip(progress.clone())
        .map(|(c, p)| std::thread::spawn(move || read_counting_into(c, &p)))
        .collect();
    // 300,000 messages of 101 bytes are 30 MB: more than the kernel's buffers and far past
    // the 4 MiB limit for the member that never reads. The readers are kept within 10,000
    // messages (1.7 MB with the per-chunk cost) of the sender, so they stay under it.
    const MESSAGES: u64 = 300_000;
    let sender = std::thread::spawn(move || {
        for n in 0..MESSAGES {
            group.broadcast(Bytes::from(format!("{n:0>100}\n")));
            if n % 1000 == 0 {
                let behind = || {
                    progress
                        .iter()
                        .any(|p| p.load(Ordering::Relaxed) + 10_000 < n)
                };
                let until = std::time::Instant::now() + WAIT;
                while behind() && std::time::Instant::now() < until {
                    std::thread::yield_now();
                }
            }
        }
    });
    sender.join().unwrap();
    // The member that never reads passed its limit and was closed as a slow consumer.
    wait_until("the member that never reads to be closed", || {
        !slow.is_open()
    });
    for h in &members {
        h.close();
    }
    // Each reader saw a gapless run (checked while reading); the ones that kept up saw
    // every message, the others were closed as slow consumers.
    let whole = reading
        .into_iter()
        .map(|r| r.join().unwrap())
        .filter(|&got| got == MESSAGES)
        .count();
    let reasons: Vec<_> = (0..4).map(|_| closed.recv_timeout(WAIT).unwrap()).collect();
    let slow_closes = reasons
        .iter()
        .filter(|r| **r == CloseReason::SlowConsumer)
        .count();
    assert_eq!(
        slow_closes, 1,
        "only the member that never reads: {reasons:?}"
    );
    assert_eq!(whole, 3, "every reader got every message, in order");
    drop(never_reads);
}

/// On "big", writes a reply far over the limit; its last reply is an error line.
struct Amplifier;

impl Handler for Amplifier {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        if line == b"big\n" {
            ctx.write(&vec![b'x'; 100_000]);
        } else {
            ctx.write(line);
        }
    }

    fn on_output_limit(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.write(b"ERR reply too large\n");
    }
}

#[test]
fn a_reply_past_the_output_limit_is_replaced_by_the_last_reply_and_the_connection_closes() {
    let config = Server::builder().output_limit(10_000);
    let mut pipe =
        EmbeddedPipeline::with_config(config, Pipeline::new(LineCodec::new(64), Amplifier));
    pipe.push(b"a\nbig\nb\n");
    assert_eq!(pipe.take_written(), &b"a\nERR reply too large\n"[..]);
    pipe.push_eof();
    assert_eq!(pipe.close_reason(), Some(CloseReason::SlowConsumer));
}

#[test]
fn a_reply_past_the_output_limit_on_a_socket_leaves_what_came_before_intact() {
    let server = builder(1)
        .output_limit(10_000)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Amplifier))
        .bind()
        .unwrap();
    let mut client = connect(server.local_addr());
    client.write_all(b"a\nbig\nb\n").unwrap();
    expect_bytes(&mut client, b"a\nERR reply too large\n");
    expect_closed(&mut client);
}

#[test]
fn the_frame_clock_starts_at_a_frame_s_first_byte_and_stops_between_frames() {
    let config = Server::builder().frame_timeout(Duration::from_secs(60));
    let mut pipe = EmbeddedPipeline::with_config(config, Pipeline::new(LineCodec::new(64), Echo));
    // Complete frames, however far apart, never time out.
    pipe.push(b"one\n");
    pipe.advance(Duration::from_secs(100));
    pipe.push(b"two\n");
    assert_eq!(pipe.take_written(), &b"one\ntwo\n"[..]);
    // A frame that trickles: every byte resets no clock.
    pipe.push(b"t");
    for _ in 0..5 {
        pipe.advance(Duration::from_secs(10));
        pipe.push(b"r");
    }
    assert!(!pipe.is_closed(), "50 s into the frame");
    pipe.advance(Duration::from_secs(11));
    pipe.push_eof();
    assert_eq!(pipe.close_reason(), Some(CloseReason::FrameTimeout));
}

#[test]
fn a_new_frame_after_a_completed_one_gets_its_own_time() {
    let config = Server::builder().frame_timeout(Duration::from_secs(60));
    let mut pipe = EmbeddedPipeline::with_config(config, Pipeline::new(LineCodec::new(64), Echo));
    pipe.push(b"fir");
    pipe.advance(Duration::from_secs(50));
    pipe.push(b"st\nsec"); // completes the first, starts the second
    pipe.advance(Duration::from_secs(50));
    assert!(!pipe.is_closed(), "the second frame is 50 s old, not 100");
    pipe.push(b"ond\n");
    assert_eq!(pipe.take_written(), &b"first\nsecond\n"[..]);
    pipe.advance(Duration::from_secs(120));
    assert!(!pipe.is_closed(), "no frame in progress");
}

#[test]
fn a_trickled_frame_is_closed_while_a_slow_sender_of_whole_frames_stays() {
    let server = builder(2)
        .frame_timeout(Duration::from_millis(300))
        .idle_timeouts(IdleTimeouts::default())
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    let mut trickler = connect(server.local_addr());
    let mut steady = connect(server.local_addr());
    trickler.write_all(b"owed\n").unwrap();
    expect_bytes(&mut trickler, b"owed\n");
    let closed = std::thread::spawn(move || {
        // One byte every 50 ms: never idle, never a whole line.
        for _ in 0..100 {
            if trickler.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        expect_closed(&mut trickler);
    });
    for i in 0..12 {
        let line = format!("line {i}\n");
        steady.write_all(line.as_bytes()).unwrap();
        expect_bytes(&mut steady, line.as_bytes());
        std::thread::sleep(Duration::from_millis(50));
    }
    closed.join().unwrap();
    steady.write_all(b"still here\n").unwrap();
    expect_bytes(&mut steady, b"still here\n");
}

#[test]
fn connections_arriving_while_the_reactor_is_stuck_wait_and_are_all_served() {
    // The first draft's inbox dropped registrations past its capacity; now the acceptor
    // waits for the reactor, and the capacity bounds only foreign tasks.
    let server = builder(1)
        .inbox_capacity(16)
        .backlog(4096)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    assert!(server.execute(0, move || {
        let _ = gate_rx.recv_timeout(WAIT);
    }));
    let mut clients: Vec<_> = (0..1500).map(|_| connect(server.local_addr())).collect();
    for c in &mut clients {
        c.write_all(b"hi\n").unwrap();
    }
    gate_tx.send(()).unwrap();
    for c in &mut clients {
        expect_bytes(c, b"hi\n");
    }
    assert_eq!(server.metrics().accepted, 1500);
}

#[test]
fn zero_counts_are_refused_at_bind_naming_the_setting() {
    type Set = fn(weft::ServerBuilder<()>) -> weft::ServerBuilder<()>;
    let cases: [(&str, Set); 7] = [
        ("reactors", |b| b.reactors(0)),
        ("max_connections", |b| b.max_connections(0)),
        ("read_budget", |b| b.read_budget(0)),
        ("inbox_capacity", |b| b.inbox_capacity(0)),
        ("pool_threads", |b| b.pool_threads(0)),
        ("pool_queue", |b| b.pool_queue(0)),
        ("jobs_per_connection", |b| b.jobs_per_connection(0)),
    ];
    for (name, set) in cases {
        let err = set(builder(1))
            .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
            .bind()
            .unwrap_err();
        assert!(err.is_config(), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[test]
fn addr_takes_host_names_and_refuses_what_resolves_to_nothing() {
    let server = builder(1)
        .addr("localhost:0")
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap();
    assert!(server.local_addr().ip().is_loopback());
    let mut client = connect(server.local_addr());
    client.write_all(b"hi\n").unwrap();
    expect_bytes(&mut client, b"hi\n");
    drop(client);

    let none: &[std::net::SocketAddr] = &[];
    let err = builder(1)
        .addr(none)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
        .bind()
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("addr"), "{err}");
}

#[test]
fn absurd_timeouts_are_refused_at_bind_and_absurd_delays_do_not_panic() {
    for config in [
        builder(1).idle_timeouts(IdleTimeouts {
            read: Some(Duration::MAX),
            ..IdleTimeouts::default()
        }),
        builder(1).close_timeout(Duration::from_secs(u64::MAX)),
        builder(1).frame_timeout(Duration::from_secs(1 << 40)),
    ] {
        let err = config
            .pipeline(|| Pipeline::new(LineCodec::new(64), Echo))
            .bind()
            .unwrap_err();
        assert!(err.is_config(), "{err}");
    }

    struct Forever;
    impl Handler for Forever {
        type In<'a> = &'a [u8];
        type Out<'a> = &'a [u8];
        fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
            ctx.schedule(Duration::MAX);
            ctx.schedule_repeating(Duration::MAX);
        }
        fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
            ctx.write(line);
        }
    }
    let server = builder(1)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Forever))
        .bind()
        .unwrap();
    let mut client = connect(server.local_addr());
    client.write_all(b"alive\n").unwrap();
    expect_bytes(&mut client, b"alive\n");
    // A grace too long to add to the clock still shuts down (the clients here are gone).
    drop(client);
    wait_until("the client to be gone", || {
        server.metrics().open_connections == 0
    });
    server.shutdown(Duration::MAX);
}

/// "job": offloads a job that waits for the gate and counts itself; answers "ok" or "busy".
struct Jobs {
    gate: Receiver<()>,
    started: Sender<()>,
    ran: Arc<AtomicUsize>,
    cancelled: Arc<AtomicUsize>,
}

impl Handler for Jobs {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        match line {
            b"job\n" => {
                let (gate, started) = (self.gate.clone(), self.started.clone());
                let (ran, cancelled) = (self.ran.clone(), self.cancelled.clone());
                let submitted = ctx.offload_cancellable(
                    move |cancel| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        let _ = started.send(());
                        let _ = gate.recv_timeout(WAIT);
                        // Wait (bounded) for the connection to go, as a long job would poll.
                        let until = std::time::Instant::now() + WAIT;
                        while !cancel.is_cancelled() && std::time::Instant::now() < until {
                            std::thread::yield_now();
                        }
                        if cancel.is_cancelled() {
                            cancelled.fetch_add(1, Ordering::SeqCst);
                        }
                    },
                    |_, ctx, ()| ctx.write(b"done\n"),
                );
                match submitted {
                    Ok(()) => ctx.write(b"ok\n"),
                    Err(e) => ctx.write(format!("{e:?}\n").as_bytes()),
                }
            }
            _ => ctx.write(line),
        }
    }
}

#[test]
fn offloaded_jobs_are_capped_per_connection_and_skipped_once_their_connection_is_gone() {
    let (gate_tx, gate) = crossbeam_channel::unbounded();
    let (started_tx, started) = crossbeam_channel::unbounded();
    let ran = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let server = {
        let (ran, cancelled) = (ran.clone(), cancelled.clone());
        builder(1)
            .pool_threads(1)
            .jobs_per_connection(4)
            .pipeline(move || {
                Pipeline::new(
                    LineCodec::new(64),
                    Jobs {
                        gate: gate.clone(),
                        started: started_tx.clone(),
                        ran: ran.clone(),
                        cancelled: cancelled.clone(),
                    },
                )
            })
            .bind()
            .unwrap()
    };
    let mut greedy = connect(server.local_addr());
    greedy.write_all(&b"job\n".repeat(6)).unwrap();
    expect_bytes(&mut greedy, b"ok\nok\nok\nok\nBusy\nBusy\n");
    // The one pool thread runs the first job; three wait in the queue.
    started.recv_timeout(WAIT).unwrap();
    // Another connection is not stuck behind more than the greedy one's cap.
    let mut other = connect(server.local_addr());
    other.write_all(b"job\n").unwrap();
    expect_bytes(&mut other, b"ok\n");
    // The greedy client leaves: its running job sees it, its queued jobs are skipped.
    drop(greedy);
    wait_until("the greedy connection to close", || {
        server.metrics().open_connections == 1
    });
    gate_tx.send(()).unwrap();
    // The other connection's job runs next, once the running job noticed the close.
    started.recv_timeout(WAIT).unwrap();
    gate_tx.send(()).unwrap();
    drop(other);
    wait_until("the other connection's job to see its close", || {
        cancelled.load(Ordering::SeqCst) == 2
    });
    assert_eq!(
        ran.load(Ordering::SeqCst),
        2,
        "the three queued jobs were skipped"
    );
}
