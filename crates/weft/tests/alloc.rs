//! Zero heap allocations per echoed message in steady state, counted by a global allocator.
//! (Its own test binary: the counter sees the whole process.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn echoing_allocates_nothing_in_steady_state() {
    let server = echo_server(1, 128);
    let mut client = connect(server.local_addr());
    // 16 pipelined 64-byte lines per round trip, as in the `pipelined` benchmark.
    let mut batch = Vec::new();
    for i in 0..16 {
        let line = format!("{i:02} steady state line, sixty-four bytes long incl. newline:.....");
        assert_eq!(line.len(), 63);
        batch.extend_from_slice(line.as_bytes());
        batch.push(b'\n');
    }
    let mut reply = vec![0u8; batch.len()];
    let mut round = |client: &mut std::net::TcpStream| {
        client.write_all(&batch).unwrap();
        client.read_exact(&mut reply).unwrap();
        assert!(reply == batch);
    };
    for _ in 0..200 {
        round(&mut client); // warm up: buffers, lists and the slab reach their size
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let rounds = 1_000;
    for _ in 0..rounds {
        round(&mut client);
    }
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
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
