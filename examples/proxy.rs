//! `proxy`: a byte-transparent TCP proxy. Each client connection is relayed to the next
//! upstream, round-robin, on the client's own reactor (weft's `Context::splice`).
//!
//! ```text
//! cargo run --release --example proxy -- --upstream HOST:PORT [--upstream HOST:PORT ...]
//!     [--addr 127.0.0.1:7005] [--workers N] [--max-pending 1048576]
//!     [--connect-timeout 5] [--idle-timeout 300] [--proxy-protocol-out]
//!     [--max-connections N] [--shutdown-timeout 5] [--metrics-addr HOST:PORT]
//! ```
//!
//! The contract is `docs/protocols.md` ("proxy"):
//!
//! * each new client goes to the next upstream; when connecting fails (refused, or no
//!   answer within `--connect-timeout`), the next one is tried, each at most once; when
//!   all fail, the client's connection is closed without a byte;
//! * every byte passes unchanged and in order, both ways; bytes the client sends before
//!   the upstream is up are held (up to `--max-pending`, then the client is not read) and
//!   sent once it is;
//! * half-close is passed on: an end of stream from one side shuts down the proxy's
//!   sending side towards the other once what is owed there is flushed; the session ends
//!   when both directions have; a reset on one side resets the other at once;
//! * neither direction holds more than `--max-pending` bytes: the proxy stops reading
//!   from a side whose peer does not keep up, and resumes once it drains;
//! * a session in which neither side sent a byte for `--idle-timeout` seconds is closed;
//! * `--proxy-protocol-out`: every upstream connection starts with a PROXY protocol v2
//!   header giving the client's address and the address it connected to;
//! * `--max-connections` counts client sessions; by default half of what the open-file
//!   limit allows (each session holds two descriptors);
//! * SIGINT/SIGTERM: stop accepting, let open sessions run until `--shutdown-timeout`,
//!   then close them; exit 0.
//!
//! `--max-line` and `--frame-timeout` are not flags of the proxy (unknown flag: exit 2).
//!
//! TLS: `--tls-cert PATH --tls-key PATH` terminate TLS on the listening side (upstreams
//! get plaintext), `--tls-client-ca PATH` requires client certificates, and
//! `--handshake-timeout SECS` (default 10) bounds the handshake; SIGHUP reloads the
//! certificate files (`docs/protocols.md`, "TLS"; `docs/tls.md`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Flags;
use weft::codec::proxy_protocol;
use weft::codec::BytesCodec;
use weft::{Context, Dial, Handler, Idle, IdleTimeouts, Pipeline, WriteWatermarks};

const USAGE: &str = "usage: proxy --upstream HOST:PORT [--upstream HOST:PORT ...] \
[--addr HOST:PORT] [--workers N] [--max-pending BYTES] [--connect-timeout SECS] \
[--idle-timeout SECS] [--proxy-protocol-out] [--max-connections N] [--shutdown-timeout SECS] \
[--metrics-addr HOST:PORT] [--proxy-protocol] [--proxy-header-timeout SECS] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

/// The upstreams, and whose turn is next.
struct Upstreams {
    dials: Vec<Dial>,
    next: AtomicUsize,
    connect_timeout: Duration,
}

impl Upstreams {
    /// Every upstream once, starting with the next one in turn.
    fn next_dial(&self) -> Dial {
        let count = self.dials.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % count;
        (1..count)
            .map(|i| &self.dials[(first + i) % count])
            .fold(self.dials[first].clone(), |dial, next| dial.or_dial(next))
            .timeout(self.connect_timeout)
    }
}

/// One client's session: splices the client to an upstream, and closes an idle session.
struct Session {
    upstreams: Arc<Upstreams>,
    proxy_protocol_out: bool,
}

impl Handler for Session {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        let mut dial = self.upstreams.next_dial();
        if self.proxy_protocol_out {
            let client = ctx.peer_addr();
            let local = ctx.local_addr().unwrap_or(client);
            dial = dial.preamble(proxy_protocol::encode_v2(client, local));
        }
        ctx.splice(dial, |_, ctx, result| {
            if let Err(e) = result {
                tracing::warn!(client = %ctx.peer_addr(), error = %e, "no upstream answered; client closed");
                ctx.abort(); // without a byte (and without waiting for the client)
            }
        });
    }

    /// Only after every upstream failed (the bytes the client had sent come back here):
    /// the connection is being closed, so they go nowhere.
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _bytes: &[u8]) {}

    fn on_idle(&mut self, ctx: &mut Context<'_, Self>, _idle: Idle) {
        tracing::debug!(client = %ctx.peer_addr(), "session idle; closed");
        ctx.close();
    }
}

fn main() {
    let mut known: Vec<&str> = common::COMMON_FLAGS
        .iter()
        .copied()
        .filter(|&f| f != "frame-timeout")
        .collect();
    known.extend([
        "upstream",
        "connect-timeout",
        "idle-timeout",
        "proxy-protocol-out",
    ]);
    let flags = Flags::parse("proxy", &known, USAGE);
    let common = flags.common("127.0.0.1:7005");
    let upstreams = flags.all("upstream");
    if upstreams.is_empty() {
        common::fail("proxy", "at least one --upstream HOST:PORT is needed");
    }
    let dials = upstreams
        .iter()
        .map(|u| Dial::to(u).unwrap_or_else(|e| common::fail("proxy", format!("--upstream: {e}"))))
        .collect();
    let connect_timeout = flags.seconds("connect-timeout", 5.0);
    let idle = flags.seconds("idle-timeout", 300.0);
    if connect_timeout.is_zero() || idle.is_zero() {
        common::fail(
            "proxy",
            "--connect-timeout and --idle-timeout must be positive",
        );
    }
    let upstreams = Arc::new(Upstreams {
        dials,
        next: AtomicUsize::new(0),
        connect_timeout,
    });
    let proxy_protocol_out = flags.has("proxy-protocol-out");
    let max_pending = common.max_pending;
    weft::starter::init_logging();

    // A side stops reading while its peer holds more than half of --max-pending, and
    // resumes below a quarter: the peer's queue never passes --max-pending.
    let high = (max_pending / 2).max(1);
    let watermarks = WriteWatermarks::new((high / 2).max(1), high).expect("1 <= low <= high");
    // Each session holds two descriptors (client and upstream): by default, admit half as
    // many clients as the open-file limit allows connections.
    let max_sessions = if flags.has("max-connections") {
        common.max_connections
    } else {
        (common.max_connections / 2).max(1)
    };
    let bound = common
        .builder()
        .max_connections(max_sessions)
        .write_watermarks(watermarks)
        .idle_timeouts(IdleTimeouts {
            all: Some(idle),
            ..IdleTimeouts::default()
        })
        .pipeline(move || {
            Pipeline::new(
                BytesCodec::new(64 * 1024).expect("a valid chunk size"),
                Session {
                    upstreams: upstreams.clone(),
                    proxy_protocol_out,
                },
            )
        })
        .bind();
    common.run("proxy", bound);
}
