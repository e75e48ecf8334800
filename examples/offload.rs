//! `offload`: CPU work on the worker pool while the reactor keeps serving.
//!
//! ```text
//! cargo run --release --example offload -- [--addr 127.0.0.1:7004] [--workers N] [--pool N]
//!     [--max-line 1024] [--max-pending 1048576] [--frame-timeout 60] [--max-connections N]
//!     [--shutdown-timeout 5]
//! ```
//!
//! Line protocol:
//!
//! * `work <MS>`: burns `MS` milliseconds of CPU (at most 1000) on a pool thread, then
//!   answers `done <MS> <checksum>`;
//! * `ping`: answered `pong` by the reactor, without the pool;
//! * anything else: `ERR usage: work <ms> | ping`.
//!
//! Replies come in the order of the requests, however the pool's threads finish: a client
//! may pipeline as many requests as it likes. A connection has at most
//! `jobs_per_connection` (16) jobs on the pool at once; past that its further requests wait
//! in order and reading from it pauses, until one of its jobs is done (so one client
//! pipelining thousands of `work` lines neither fills the pool's queue nor starves the
//! others). A `ping` waits only for the requests of its own connection made before it,
//! never for other clients' work. When the whole pool's queue is full, a `work` is answered
//! `ERR busy` instead: the reactor never waits. A job whose client has gone is skipped, or
//! stops early if it was running.
//!
//! A line longer than `--max-line` gets `ERR line too long` and the connection closes (the
//! replies still owed for earlier `work` are not sent). The
//! common flags (`--frame-timeout`, `--max-connections`, `--max-pending`,
//! `--shutdown-timeout`) are described in `docs/protocols.md`. When the client shuts down
//! its sending side, the replies still owed are written, then the connection closes.
//!
//! Shows `Context::offload_cancellable` (see `docs/offload.md`). Prints
//! `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`). Bad flags: one line on stderr and exit status 2.
//!
//! TLS: `--tls-cert PATH --tls-key PATH` serve TLS 1.2 and 1.3 on `--addr` (the protocol
//! inside unchanged), `--tls-client-ca PATH` requires client certificates, and
//! `--handshake-timeout SECS` (default 10) bounds the handshake; SIGHUP reloads the
//! certificate files (`docs/protocols.md`, "TLS"; `docs/tls.md`).

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::Flags;
use weft::codec::line::Terminator;
use weft::codec::LineCodec;
use weft::{Bytes, Cancellation, Context, Error, Handler, OffloadError, Pipeline};

const USAGE: &str = "usage: offload [--addr HOST:PORT] [--workers N] [--pool N] \
[--max-line BYTES] [--max-pending BYTES] [--frame-timeout SECS] [--max-connections N] \
[--shutdown-timeout SECS] [--proxy-protocol] [--proxy-header-timeout SECS] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

/// Spins for `ms` milliseconds (or until `cancel` says the client has gone) and returns
/// something that depends on every step.
fn burn(ms: u64, cancel: &Cancellation) -> u64 {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while Instant::now() < until && !cancel.is_cancelled() {
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    }
    x
}

/// A request not yet started.
enum Request {
    Ping,
    Work(u64),
    Bad,
}

impl Request {
    fn parse(line: &[u8]) -> Request {
        let text = String::from_utf8_lossy(line);
        let request = text.trim_end_matches('\r');
        if request == "ping" {
            return Request::Ping;
        }
        match request
            .strip_prefix("work ")
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|&ms| ms <= 1000)
        {
            Some(ms) => Request::Work(ms),
            None => Request::Bad,
        }
    }
}

/// One connection: its requests waiting for a place on the pool, and the replies of the
/// started ones, in request order (`None` while the job runs).
#[derive(Default)]
struct Service {
    waiting: VecDeque<Request>,
    replies: VecDeque<Option<Bytes>>,
    /// The sequence number of `replies[0]`.
    first: u64,
    /// The client has shut down its sending side: close once nothing is owed.
    read_closed: bool,
}

impl Service {
    /// Starts waiting requests in order while the pool takes them, writes the replies that
    /// are ready in order, and pauses reading while requests wait (resumes once none do).
    fn pump(&mut self, ctx: &mut Context<'_, Self>) {
        while let Some(request) = self.waiting.front() {
            let reply = match *request {
                Request::Ping => Some(Bytes::from_static(b"pong\n")),
                Request::Bad => Some(Bytes::from_static(b"ERR usage: work <ms> | ping\n")),
                Request::Work(ms) => {
                    let seq = self.first + self.replies.len() as u64;
                    let submitted = ctx.offload_cancellable(
                        move |cancel| burn(ms, cancel),
                        move |service: &mut Service, ctx, checksum| {
                            let done = Bytes::from(format!("done {ms} {checksum:x}\n"));
                            service.replies[(seq - service.first) as usize] = Some(done);
                            service.pump(ctx);
                        },
                    );
                    match submitted {
                        Ok(()) => None,
                        // This connection has its maximum of jobs out: wait for one.
                        Err(OffloadError::Busy) => break,
                        Err(OffloadError::Full | OffloadError::Closed) => {
                            Some(Bytes::from_static(b"ERR busy\n"))
                        }
                    }
                }
            };
            self.waiting.pop_front();
            self.replies.push_back(reply);
        }
        while let Some(Some(_)) = self.replies.front() {
            let reply = self.replies.pop_front().flatten().expect("checked above");
            self.first += 1;
            ctx.write(&reply);
        }
        if !self.waiting.is_empty() {
            ctx.pause_read();
            return;
        }
        if ctx.is_read_paused() {
            ctx.resume_read();
        }
        if self.read_closed && self.replies.is_empty() {
            ctx.close();
        }
    }
}

impl Handler for Service {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        self.waiting.push_back(Request::parse(line));
        self.pump(ctx);
    }

    fn on_read_closed(&mut self, ctx: &mut Context<'_, Self>) {
        self.read_closed = true;
        self.pump(ctx);
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_frame_too_long() {
            ctx.write(b"ERR line too long\n");
        }
    }
}

fn main() {
    let mut known = common::COMMON_FLAGS.to_vec();
    known.extend(["pool", "max-line"]);
    let flags = Flags::parse("offload", &known, USAGE);
    let common = flags.common("127.0.0.1:7004");
    let pool: usize = flags.get_at_least("pool", Flags::cpus(), 1);
    let max_line: usize = flags.get_at_least("max-line", 1024, 1);
    weft::starter::init_logging();
    let bound = common
        .builder()
        .pool_threads(pool)
        .pipeline(move || {
            Pipeline::new(
                LineCodec::new(max_line).terminator(Terminator::Strip),
                Service::default(),
            )
        })
        .bind();
    common.run("offload", bound);
}
