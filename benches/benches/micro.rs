//! Micro-benchmarks of weft's hot paths: the line codec, the outbound writev path, the
//! timer wheel and the inbox wake-up. Run with `cargo bench -p weft-benches --bench micro`.
//! (The side-by-side comparison with tokio is `benches/compare.py`; see
//! docs/performance.md.)

#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Read;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weft::bench_internals::{OutboundQueue, Wakeup, Wheel};
use weft::codec::{Decoder, Encoder, LineCodec};
use weft::{Bytes, BytesMut};

fn lines(count: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * len);
    for i in 0..count {
        let start = out.len();
        out.extend_from_slice(format!("{i:08} ").as_bytes());
        out.resize(start + len - 1, b'x');
        out.push(b'\n');
    }
    out
}

fn line_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("line_codec");
    for len in [16usize, 64, 1024] {
        let input = lines(256, len);
        group.throughput(Throughput::Elements(256));
        group.bench_function(format!("decode_256_lines_of_{len}B"), |b| {
            let mut codec = LineCodec::new(8192);
            b.iter_batched_ref(
                || BytesMut::from(&input[..]),
                |buf| {
                    while let Some(frame) = codec.decode(buf).unwrap() {
                        black_box(frame);
                    }
                },
                BatchSize::SmallInput,
            );
        });
        group.bench_function(format!("encode_256_lines_of_{len}B"), |b| {
            let mut codec = LineCodec::new(8192);
            let frames: Vec<Bytes> = input
                .split_inclusive(|&b| b == b'\n')
                .map(Bytes::copy_from_slice)
                .collect();
            let mut dst = BytesMut::with_capacity(input.len());
            b.iter(|| {
                dst.clear();
                for frame in &frames {
                    codec.encode(frame.clone(), &mut dst).unwrap();
                }
                black_box(dst.len());
            });
        });
    }
    group.finish();
}

fn outbound(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbound");
    let (mut queue, mut peer) = OutboundQueue::connected().unwrap();
    std::thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        while matches!(peer.read(&mut sink), Ok(n) if n > 0) {}
    });
    let line = lines(1, 64);
    group.throughput(Throughput::Elements(16));
    group.bench_function("16_encoded_lines_one_send", |b| {
        b.iter(|| {
            for _ in 0..16 {
                queue.encode(&line);
            }
            while queue.pending() > 0 {
                queue.flush().unwrap();
            }
        });
    });
    let chunk = Bytes::from(lines(1, 64));
    group.bench_function("16_shared_chunks_one_sendmsg", |b| {
        b.iter(|| {
            for _ in 0..16 {
                queue.push_chunk(chunk.clone());
            }
            while queue.pending() > 0 {
                queue.flush().unwrap();
            }
        });
    });
    group.finish();
}

fn timer_wheel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_wheel");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("insert_then_cancel_1000", |b| {
        let mut wheel = Wheel::default();
        let mut keys = Vec::with_capacity(1000);
        b.iter(|| {
            keys.clear();
            for i in 0..1000u64 {
                keys.push(wheel.insert(300_000 + i * 7, i));
            }
            for &k in &keys {
                black_box(wheel.cancel(k));
            }
        });
    });
    group.bench_function("insert_then_expire_1000", |b| {
        let mut now = 0u64;
        let mut wheel = Wheel::default();
        b.iter(|| {
            for i in 0..1000u64 {
                wheel.insert(now + 1 + i % 50, i);
            }
            now += 60;
            black_box(wheel.expire(now));
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("next_deadline_with_10k_idle_timers", |b| {
        let mut wheel = Wheel::default();
        for i in 0..10_000u64 {
            wheel.insert(300_000 + i * 13, i);
        }
        b.iter(|| black_box(wheel.next_deadline()));
    });
    group.finish();
}

fn inbox_wakeup(c: &mut Criterion) {
    let mut group = c.benchmark_group("inbox");
    let mut wakeup = Wakeup::new().unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_command_wake_poll_drain", |b| {
        b.iter(|| assert_eq!(wakeup.round_trip(1).unwrap(), 1));
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("64_commands_one_coalesced_wake", |b| {
        b.iter(|| assert_eq!(wakeup.round_trip(64).unwrap(), 64));
    });
    group.finish();
}

criterion_group!(benches, line_codec, outbound, timer_wheel, inbox_wakeup);
criterion_main!(benches);
