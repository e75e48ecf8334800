//! Zero heap allocations per echoed message in steady state, counted by a global allocator.
//! (Its own test binary: the counter sees the whole process.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Cleared on the test's own thread where it allocates for bookkeeping (metrics).
    static COUNTED: Cell<bool> = const { Cell::new(true) };
}

/// The counter sees the whole process: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn count() {
    if COUNTED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Waits until every offload pool thread of this process is asleep in its queue's `recv`.
/// A pool thread allocates once, for its channel's blocking context, the first time it
/// waits; on a loaded machine that can fall inside a measured window, though no message
/// ever goes near the pool. (Linux: the threads' names and states from `/proc`.)
fn wait_for_parked_pool() {
    let counted = COUNTED.with(|c| c.replace(false));
    wait_until("the pool threads to wait for jobs", || {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return true;
        };
        tasks.flatten().all(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !name.starts_with("weft-pool") {
                return true;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised name: "tid (name) S ...".
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('S'))
        })
    });
    COUNTED.with(|c| c.set(counted));
}

/// Runs `round` `warmup` times (buffers, lists and the slab reach their size), waits for
/// the pool to be parked, then returns the allocations made while it runs `rounds` times.
fn allocations_in(warmup: usize, rounds: usize, mut round: impl FnMut()) -> u64 {
    for _ in 0..warmup {
        round();
    }
    wait_for_parked_pool();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..rounds {
        round();
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// 16 lines of 64 bytes with their newlines, line `i` made by `line(i)` (63 bytes), as in
/// the `pipelined` benchmark.
fn sixteen_lines(line: impl Fn(usize) -> String) -> Vec<u8> {
    let mut batch = Vec::new();
    for i in 0..16 {
        let line = line(i);
        assert_eq!(line.len(), 63);
        batch.extend_from_slice(line.as_bytes());
        batch.push(b'\n');
    }
    batch
}

#[test]
fn echoing_allocates_nothing_in_steady_state() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = echo_server(1, 128);
    let mut client = connect(server.local_addr());
    // 16 pipelined 64-byte lines per round trip, as in the `pipelined` benchmark.
    let batch = sixteen_lines(|i| {
        format!("{i:02} steady state line, sixty-four bytes long incl. newline:.....")
    });
    let mut reply = vec![0u8; batch.len()];
    let mut round = |client: &mut std::net::TcpStream| {
        client.write_all(&batch).unwrap();
        client.read_exact(&mut reply).unwrap();
        assert!(reply == batch);
    };
    let rounds = 1_000;
    let allocations = allocations_in(200, rounds, || round(&mut client));
    eprintln!(
        "{allocations} allocations for {} echoed messages",
        rounds * 16
    );
    assert_eq!(
        allocations,
        0,
        "heap allocations while echoing {} messages",
        rounds * 16
    );
}

#[test]
fn reads_that_end_mid_line_allocate_nothing_in_steady_state() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = echo_server(1, 128);
    let mut client = connect(server.local_addr());
    let line = b"a line that the server receives in two separate reads, cut here|and here\n";
    let (head, tail) = line.split_at(64);
    let mut reply = vec![0u8; line.len()];
    let mut sent = 0u64;
    let mut round = |client: &mut std::net::TcpStream| {
        client.write_all(head).unwrap();
        sent += head.len() as u64;
        // Wait until the server has read the head on its own, so it holds a partial line.
        COUNTED.with(|c| c.set(false));
        wait_until("the server to read the head", || {
            server.metrics().bytes_read == sent
        });
        COUNTED.with(|c| c.set(true));
        client.write_all(tail).unwrap();
        sent += tail.len() as u64;
        client.read_exact(&mut reply).unwrap();
        assert!(reply == line);
    };
    let allocations = allocations_in(50, 300, || round(&mut client));
    eprintln!("{allocations} allocations for 300 lines each split over two reads");
    assert_eq!(allocations, 0);
}

/// Splices every client to `upstream` (a relay with no codec in the way).
struct Splicer(std::net::SocketAddr);

impl weft::Handler for Splicer {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];
    fn on_active(&mut self, ctx: &mut weft::Context<'_, Self>) {
        ctx.splice(weft::Dial::addr(self.0), |_, ctx, result| {
            if result.is_err() {
                ctx.abort();
            }
        });
    }
    fn on_message(&mut self, _ctx: &mut weft::Context<'_, Self>, _bytes: &[u8]) {}
}

#[test]
fn relaying_through_a_splice_allocates_nothing_in_steady_state() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let backend = echo_server(1, 4096);
    let upstream = backend.local_addr();
    let proxy = builder(1)
        .pipeline(move || {
            let codec = weft::codec::BytesCodec::new(65536).unwrap();
            weft::Pipeline::new(codec, Splicer(upstream))
        })
        .bind()
        .unwrap();
    let mut client = connect(proxy.local_addr());
    let batch = sixteen_lines(|i| {
        format!("{i:02} a relayed line, sixty-four bytes long with its newline:.....")
    });
    let mut reply = vec![0u8; batch.len()];
    let mut round = |client: &mut std::net::TcpStream| {
        client.write_all(&batch).unwrap();
        client.read_exact(&mut reply).unwrap();
        assert!(reply == batch);
    };
    let rounds = 1_000;
    let allocations = allocations_in(200, rounds, || round(&mut client));
    eprintln!("{allocations} allocations for {rounds} round trips through a splice");
    assert_eq!(
        allocations, 0,
        "heap allocations while relaying {rounds} chunks each way"
    );
}

/// How many allocations weft makes per echoed message over TLS in steady state: weft's
/// own path allocates nothing, rustls allocates per TLS record (the plaintext it decrypted,
/// and each encrypted record it queues). Only the server's threads are counted (the
/// in-process client is rustls too).
#[test]
fn tls_echo_allocates_only_what_rustls_needs_per_record() {
    use std::sync::Arc;
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    COUNTED.with(|c| c.set(false)); // this thread is the client
    let ca = weft::testing::TestCa::new("alloc");
    ca.issue("server", &["localhost"]);
    let acceptor = weft::tls::TlsAcceptor::new(ca.config("server")).unwrap();
    let server = builder(1)
        .tls(acceptor)
        .pipeline(|| weft::Pipeline::new(weft::codec::LineCodec::new(128), Echo))
        .bind()
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let session = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut client = rustls::StreamOwned::new(session, connect(server.local_addr()));
    let batch = sixteen_lines(|i| {
        format!("{i:02} steady state line, sixty-four bytes long incl. newline:.....")
    });
    let mut reply = vec![0u8; batch.len()];
    let mut round = |client: &mut rustls::StreamOwned<_, _>| {
        client.write_all(&batch).unwrap(); // one TLS record
        client.read_exact(&mut reply).unwrap();
        assert!(reply == batch);
    };
    let rounds = 1_000;
    let allocations = allocations_in(200, rounds, || round(&mut client));
    COUNTED.with(|c| c.set(true));
    eprintln!(
        "{allocations} allocations on the server for {rounds} round trips of 16 messages over TLS \
         ({:.2} per round trip: one record each way)",
        allocations as f64 / rounds as f64
    );
    // One record in, one record out per round trip: rustls's copy of the plaintext it
    // received and the record it queues. Anything more would be weft's own.
    assert!(
        allocations <= rounds as u64 * 2,
        "{allocations} allocations for {rounds} TLS round trips"
    );
}

/// Writes every line it receives to the connection registered as the sink (the first to
/// say `sink`), through that connection's handle: a write across reactors when the sink
/// lives on another one. Its lines are `Shared` (`Bytes` that share the read buffer), so
/// each goes to the other reactor as it is.
struct Forward {
    sink: std::sync::Arc<std::sync::Mutex<Option<weft::ConnectionHandle>>>,
    /// This connection's copy of the sink's handle, taken on its first line.
    target: Option<weft::ConnectionHandle>,
}

impl weft::Handler for Forward {
    type In<'a> = weft::Bytes;
    type Out<'a> = weft::Bytes;
    fn on_message(&mut self, ctx: &mut weft::Context<'_, Self>, line: weft::Bytes) {
        if &line[..] == b"sink\n" {
            let handle = ctx.handle();
            ctx.write_bytes(weft::Bytes::from(format!("{}\n", handle.reactor_index())));
            *self.sink.lock().unwrap() = Some(handle);
            return;
        }
        if self.target.is_none() {
            self.target = self.sink.lock().unwrap().clone();
        }
        let target = self.target.as_ref().expect("a sink registered first");
        if target.reactor_index() == ctx.reactor_index() {
            ctx.abort(); // the test wants a write across reactors
        } else if target.write(line).is_err() {
            ctx.abort();
        }
    }
}

#[test]
fn writes_across_reactors_allocate_nothing_in_steady_state() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sink = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = sink.clone();
    let server = builder(2)
        .pipeline(move || {
            weft::Pipeline::new(
                weft::codec::Shared::new(weft::codec::LineCodec::new(128)),
                Forward {
                    sink: slot.clone(),
                    target: None,
                },
            )
        })
        .bind()
        .unwrap();
    // Connections go to the reactors in turn: the sink to one, the source to the other.
    let mut sink_client = connect(server.local_addr());
    sink_client.write_all(b"sink\n").unwrap();
    let mut index = [0u8; 2];
    sink_client.read_exact(&mut index).unwrap();
    let mut source = connect(server.local_addr());
    let batch = sixteen_lines(|i| {
        format!("{i:02} a line written across reactors, sixty-four bytes long:......")
    });
    let mut relayed = vec![0u8; batch.len()];
    let mut round = || {
        source.write_all(&batch).unwrap();
        sink_client.read_exact(&mut relayed).unwrap();
        assert!(relayed == batch);
    };
    let rounds = 1_000;
    let allocations = allocations_in(200, rounds, &mut round);
    eprintln!(
        "{allocations} allocations for {} messages written across reactors",
        rounds * 16
    );
    assert_eq!(
        allocations,
        0,
        "heap allocations while writing {} messages across reactors",
        rounds * 16
    );
}
