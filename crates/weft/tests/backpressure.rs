//! A client that sends 200 MiB without reading: the server stops reading once the owed
//! output passes its high watermark, memory stays bounded, and every byte comes back once
//! the client reads. (Its own test binary, so no other test shares the process's RSS.)

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use weft::codec::LineCodec;
use weft::{Context, Handler, Pipeline, WriteWatermarks};

const LINE: usize = 64;
const TOTAL: u64 = 200 << 20;
const MAX_PENDING: usize = 1 << 20;
/// The bound this test states: growth of the whole process's resident memory.
const RSS_BOUND: u64 = 16 << 20;

fn line(i: u64, out: &mut Vec<u8>) {
    let start = out.len();
    write!(out, "{i:012} ").unwrap();
    let fill = b'a' + (i % 26) as u8;
    out.resize(start + LINE - 1, fill);
    out.push(b'\n');
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

struct Echo {
    flips: Arc<AtomicUsize>,
}

impl Handler for Echo {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        ctx.write(line);
        assert!(
            ctx.pending_bytes() <= MAX_PENDING,
            "pending output {} above the limit",
            ctx.pending_bytes()
        );
    }

    fn on_writability_changed(&mut self, _ctx: &mut Context<'_, Self>, _writable: bool) {
        self.flips.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_client_sending_200_mib_without_reading_costs_bounded_memory_and_loses_nothing() {
    let flips = Arc::new(AtomicUsize::new(0));
    let counter = flips.clone();
    let high = MAX_PENDING - (LINE + 1);
    let server = builder(1)
        .write_watermarks(WriteWatermarks::new(MAX_PENDING / 2, high).unwrap())
        .pipeline(move || {
            Pipeline::new(
                LineCodec::new(LINE),
                Echo {
                    flips: counter.clone(),
                },
            )
        })
        .bind()
        .unwrap();
    let client = connect(server.local_addr());
    let mut reader = client.try_clone().unwrap();

    let baseline = rss_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let written = written.clone();
        std::thread::spawn(move || {
            let mut client = client;
            let mut chunk = Vec::with_capacity(64 * 1024);
            let mut i = 0u64;
            while i * (LINE as u64) < TOTAL {
                chunk.clear();
                while chunk.len() + LINE <= 64 * 1024 && i * (LINE as u64) < TOTAL {
                    line(i, &mut chunk);
                    i += 1;
                }
                client.write_all(&chunk).unwrap();
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        })
    };

    // Let the writer run into the server's backpressure: wait until it stops making
    // progress (the check below holds however long this wait is).
    let mut last = 0;
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = written.load(Ordering::SeqCst);
        if now == last || started.elapsed() > WAIT {
            break;
        }
        last = now;
    }
    let stalled_at = written.load(Ordering::SeqCst);
    assert!(stalled_at < TOTAL, "the writer was never held back");
    assert!(
        flips.load(Ordering::SeqCst) >= 1,
        "the connection never became unwritable"
    );

    // Now read and check every byte, in order.
    let mut expected = Vec::with_capacity(64 * 1024);
    let mut got = vec![0u8; 64 * 1024];
    let mut i = 0u64;
    let mut received = 0u64;
    while received < TOTAL {
        let want = ((TOTAL - received) as usize).min(got.len()) / LINE * LINE;
        let want = want.max(LINE);
        reader.read_exact(&mut got[..want]).unwrap();
        expected.clear();
        for _ in 0..want / LINE {
            line(i, &mut expected);
            i += 1;
        }
        assert!(got[..want] == expected[..], "mismatch near line {i}");
        received += want as u64;
    }
    writer.join().unwrap();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();

    let growth = peak.load(Ordering::SeqCst).saturating_sub(baseline);
    eprintln!(
        "writer stalled at {} MiB; peak RSS growth {:.1} MiB; {} writability flips",
        stalled_at >> 20,
        growth as f64 / (1 << 20) as f64,
        flips.load(Ordering::SeqCst)
    );
    assert!(
        growth < RSS_BOUND,
        "RSS grew by {growth} bytes (bound {RSS_BOUND})"
    );
}
