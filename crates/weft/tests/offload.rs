//! The worker pool, connection handles and tasks, on real sockets.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use common::*;
use crossbeam_channel::{Receiver, Sender};
use weft::codec::LineCodec;
use weft::{Bytes, ConnectionHandle, Context, Handler, Pipeline};

/// Counts a continuation run or dropped unrun.
struct Witness {
    ran: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// "work": a pool job that waits for the test's gate, then answers "done".
/// "ping": answered at once. "task": answered from `Context::execute`.
struct Worker {
    gate: Receiver<()>,
    started: Sender<()>,
    ran: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Handler for Worker {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        match line {
            b"work\n" => {
                let (gate, started) = (self.gate.clone(), self.started.clone());
                let witness = Witness {
                    ran: self.ran.clone(),
                    dropped: self.dropped.clone(),
                };
                let submitted = ctx.offload(
                    move || {
                        let _ = started.send(());
                        gate.recv_timeout(WAIT).expect("the test opens the gate");
                        7 * 6
                    },
                    move |_handler, ctx, answer| {
                        witness.ran.fetch_add(1, Ordering::SeqCst);
                        ctx.write(format!("done {answer}\n").as_bytes());
                    },
                );
                if let Err(e) = submitted {
                    assert!(e.is_full());
                    ctx.write(b"busy\n");
                }
            }
            b"task\n" => ctx.execute(|_handler, ctx| ctx.write(b"from task\n")),
            _ => ctx.write(b"pong\n"),
        }
    }
}

struct Fixture {
    server: weft::Server,
    gate: Sender<()>,
    started: Receiver<()>,
    ran: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

fn worker_server(pool_queue: usize) -> Fixture {
    let (gate_tx, gate_rx) = crossbeam_channel::unbounded();
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let ran = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (r, d) = (ran.clone(), dropped.clone());
    let server = builder(1)
        .pool_threads(1)
        .pool_queue(pool_queue)
        .pipeline(move || {
            Pipeline::new(
                LineCodec::new(64),
                Worker {
                    gate: gate_rx.clone(),
                    started: started_tx.clone(),
                    ran: r.clone(),
                    dropped: d.clone(),
                },
            )
        })
        .bind()
        .unwrap();
    Fixture {
        server,
        gate: gate_tx,
        started: started_rx,
        ran,
        dropped,
    }
}

#[test]
fn a_ping_is_answered_while_the_pool_is_busy_for_a_neighbour_on_the_same_reactor() {
    let f = worker_server(16);
    let mut busy = connect(f.server.local_addr());
    let mut pinger = connect(f.server.local_addr());
    busy.write_all(b"work\n").unwrap();
    f.started.recv_timeout(WAIT).unwrap(); // the job is running and blocked on the gate
    pinger.write_all(b"ping\n").unwrap();
    expect_bytes(&mut pinger, b"pong\n"); // not waiting for the job
    f.gate.send(()).unwrap();
    expect_bytes(&mut busy, b"done 42\n");
    assert_eq!(f.ran.load(Ordering::SeqCst), 1);
}

#[test]
fn a_continuation_for_a_closed_connection_is_dropped_without_harm() {
    let f = worker_server(16);
    let mut leaver = connect(f.server.local_addr());
    leaver.write_all(b"work\n").unwrap();
    f.started.recv_timeout(WAIT).unwrap();
    drop(leaver);
    wait_until("the connection to close", || {
        f.server.metrics().open_connections == 0
    });
    f.gate.send(()).unwrap();
    wait_until("the continuation to be dropped", || {
        f.dropped.load(Ordering::SeqCst) == 1
    });
    assert_eq!(
        f.ran.load(Ordering::SeqCst),
        0,
        "ran for a closed connection"
    );
    let mut next = connect(f.server.local_addr());
    next.write_all(b"ping\n").unwrap();
    expect_bytes(&mut next, b"pong\n");
}

#[test]
fn a_full_pool_queue_refuses_at_once_and_runs_nothing_it_refused() {
    let f = worker_server(1);
    let mut client = connect(f.server.local_addr());
    client.write_all(b"work\n").unwrap();
    f.started.recv_timeout(WAIT).unwrap(); // job 1 runs; the queue (capacity 1) is empty
    client.write_all(b"work\nwork\n").unwrap(); // job 2 queued, job 3 refused
    expect_bytes(&mut client, b"busy\n");
    f.gate.send(()).unwrap();
    f.gate.send(()).unwrap();
    expect_bytes(&mut client, b"done 42\ndone 42\n");
    assert_eq!(f.ran.load(Ordering::SeqCst), 2);
}

#[test]
fn a_task_runs_later_on_the_connection_own_reactor() {
    let f = worker_server(16);
    let mut client = connect(f.server.local_addr());
    client.write_all(b"task\nping\n").unwrap();
    // The task runs after the batch that scheduled it.
    expect_bytes(&mut client, b"pong\nfrom task\n");
}

/// Hands its connection handle to the test on activation.
struct Registers(Mutex<mpsc::Sender<ConnectionHandle>>);

impl Handler for Registers {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        self.0.lock().unwrap().send(ctx.handle()).unwrap();
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
    }
}

#[test]
fn foreign_threads_write_and_close_through_handles() {
    let (tx, rx) = mpsc::channel();
    let tx = Arc::new(Mutex::new(tx));
    let server = builder(2)
        .pipeline(move || {
            let tx = tx.lock().unwrap().clone();
            Pipeline::new(LineCodec::new(64), Registers(Mutex::new(tx)))
        })
        .bind()
        .unwrap();
    let mut clients: Vec<_> = (0..4).map(|_| connect(server.local_addr())).collect();
    let handles: Vec<ConnectionHandle> = (0..4).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    let reactors: std::collections::HashSet<usize> = handles
        .iter()
        .map(ConnectionHandle::reactor_index)
        .collect();
    assert_eq!(reactors.len(), 2, "handles on both reactors");

    // Several threads, each writing its own numbered lines to every connection.
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let handles = handles.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    for h in &handles {
                        h.write(Bytes::from(format!("t{t} {i}\n"))).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for client in &mut clients {
        let mut reader = std::io::BufReader::new(client.try_clone().unwrap());
        let mut next = [0; 3];
        for _ in 0..300 {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            let (t, i) = line.trim_end()[1..].split_once(' ').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "writes from one thread arrive in order");
            next[t] += 1;
        }
    }
    // Which handle is which client's?
    for (k, h) in handles.iter().enumerate() {
        h.write(Bytes::from(format!("handle {k}\n"))).unwrap();
    }
    let mut owner = [0; 4];
    for (c, client) in clients.iter_mut().enumerate() {
        let line = read_exactly(client, b"handle 0\n".len());
        let k: usize = (line[7] - b'0') as usize;
        owner[k] = c;
    }
    handles[0].close();
    expect_closed(&mut clients[owner[0]]);
    wait_until("the closed connection to be removed", || {
        server.metrics().open_connections == 3
    });
    // A handle outliving its connection is harmless, and says so.
    let late = handles[0].write(Bytes::from_static(b"late\n")).unwrap_err();
    assert!(
        !late.is_full() && late.into_inner() == "late\n",
        "Closed, with the bytes back"
    );
    assert!(!handles[0].is_open());
    let survivor = owner[1];
    clients[survivor].write_all(b"echo\n").unwrap();
    expect_bytes(&mut clients[survivor], b"echo\n");
}

#[test]
fn server_execute_runs_a_closure_on_the_chosen_reactor() {
    let server = echo_server(2, 64);
    let (tx, rx) = mpsc::channel();
    for reactor in 0..2 {
        let tx = tx.clone();
        assert!(server.execute(reactor, move || {
            let name = std::thread::current().name().unwrap_or("").to_string();
            tx.send(name).unwrap();
        }));
    }
    let mut names: Vec<String> = (0..2).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    names.sort();
    assert_eq!(names, ["weft-reactor-0", "weft-reactor-1"]);
}
