//! `offload`: CPU work on the worker pool while the reactor keeps serving.
//!
//! ```text
//! cargo run --release --example offload -- [--addr 127.0.0.1:7004] [--workers N] [--pool N]
//! ```
//!
//! Line protocol:
//!
//! * `work <MS>`: burns `MS` milliseconds of CPU (at most 1000) on a pool thread, then
//!   answers `done <MS> <checksum>`;
//! * `ping`: answered `pong` at once, by the reactor, however busy the pool is;
//! * anything else: `ERR usage: work <ms> | ping`.
//!
//! When the pool's queue is full the server answers `ERR busy` instead of queueing more:
//! the reactor never waits. Shows `Context::offload` (see `docs/offload.md`).

mod common;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use common::Flags;
use weft::codec::line::Terminator;
use weft::codec::LineCodec;
use weft::{Bytes, Context, Handler, Pipeline, Server};

const USAGE: &str = "usage: offload [--addr HOST:PORT] [--workers N] [--pool N]";

/// Spins for `ms` milliseconds and returns something that depends on every step.
fn burn(ms: u64) -> u64 {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while Instant::now() < until {
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    }
    x
}

struct Service;

impl Handler for Service {
    type In = Bytes;
    type Out = Bytes;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
        let text = String::from_utf8_lossy(&line);
        let request = text.trim_end_matches('\r');
        if request == "ping" {
            ctx.write(Bytes::from_static(b"pong\n"));
            return;
        }
        let Some(ms) = request
            .strip_prefix("work ")
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|&ms| ms <= 1000)
        else {
            ctx.write(Bytes::from_static(b"ERR usage: work <ms> | ping\n"));
            return;
        };
        let submitted = ctx.offload(
            move || burn(ms),
            move |_service, ctx, checksum| {
                ctx.write(Bytes::from(format!("done {ms} {checksum:x}\n")))
            },
        );
        if submitted.is_err() {
            ctx.write(Bytes::from_static(b"ERR busy\n"));
        }
    }
}

fn main() {
    let flags = Flags::parse("offload", &["addr", "workers", "pool"], USAGE);
    let addr: std::net::SocketAddr = flags.get("addr", "127.0.0.1:7004".parse().unwrap());
    let workers: usize = flags.get_at_least("workers", Flags::cpus(), 1);
    let pool: usize = flags.get_at_least("pool", Flags::cpus(), 1);
    common::init_logging();
    let server = Server::builder()
        .addr(addr)
        .reactors(NonZeroUsize::new(workers).expect("checked above"))
        .pool_threads(NonZeroUsize::new(pool).expect("checked above"))
        .pipeline(|| Pipeline::new(LineCodec::new(1024).terminator(Terminator::Strip), Service))
        .bind()
        .unwrap_or_else(|e| common::fail("offload", format!("cannot listen on {addr}: {e}")));
    common::announce(server.local_addr());
    common::wait_for_signal("offload");
    server.shutdown(Duration::from_secs(5));
}
