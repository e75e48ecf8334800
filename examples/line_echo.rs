//! `line_echo`: every line a client sends comes back byte for byte.
//!
//! ```text
//! cargo run --release --example line_echo -- [--addr 127.0.0.1:7000] [--workers N]
//!     [--max-line 8192] [--max-pending 1048576] [--idle-timeout 300] [--shutdown-timeout 5]
//!     [--accept-mode acceptor|reuseport]
//! ```
//!
//! The wire behaviour follows `PROTOCOLS.md` (the shared protocol page):
//!
//! * a line is the bytes up to and including `\n`; every byte value passes unchanged;
//! * a line longer than `--max-line` (not counting `\n`) gets `ERR line too long\n`, after
//!   everything owed before it, and the connection closes; the server notices as soon as
//!   `--max-line + 1` bytes arrived without `\n`;
//! * backpressure: when unsent output passes `--max-pending`, reading from that connection
//!   stops, and resumes once output drains below half of it; nothing is dropped;
//! * half-close: when the client shuts down its sending side, every owed reply is written,
//!   then the connection closes; a trailing partial line is dropped;
//! * a connection that sends nothing for `--idle-timeout` seconds is closed (no message);
//! * SIGINT/SIGTERM: stop accepting, flush what is owed, close, exit 0 within
//!   `--shutdown-timeout` seconds.
//!
//! `--accept-mode reuseport` gives every reactor its own `SO_REUSEPORT` listener instead of
//! one acceptor thread (see `docs/performance.md` for the comparison).
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`).

mod common;

use std::num::NonZeroUsize;

use common::Flags;
use weft::codec::LineCodec;
use weft::{
    AcceptMode, Bytes, Context, Error, Handler, Idle, IdleTimeouts, Pipeline, Server,
    WriteWatermarks,
};

const USAGE: &str = "usage: line_echo [--addr HOST:PORT] [--workers N] [--max-line BYTES] \
[--max-pending BYTES] [--idle-timeout SECS] [--shutdown-timeout SECS] \
[--accept-mode acceptor|reuseport]";

/// Echoes each line; answers an oversize line; closes an idle connection.
struct Echo;

impl Handler for Echo {
    type In = Bytes;
    type Out = Bytes;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
        ctx.write(line);
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_frame_too_long() {
            ctx.write_bytes(Bytes::from_static(b"ERR line too long\n"));
        }
    }

    fn on_idle(&mut self, ctx: &mut Context<'_, Self>, _idle: Idle) {
        ctx.close();
    }
}

fn main() {
    let flags = Flags::parse(
        "line_echo",
        &[
            "addr",
            "workers",
            "max-line",
            "max-pending",
            "idle-timeout",
            "shutdown-timeout",
            "accept-mode",
        ],
        USAGE,
    );
    let addr: std::net::SocketAddr = flags.get("addr", "127.0.0.1:7000".parse().unwrap());
    let workers: usize = flags.get_at_least("workers", Flags::cpus(), 1);
    let max_line: usize = flags.get_at_least("max-line", 8192, 1);
    let max_pending: usize = flags.get_at_least("max-pending", 1 << 20, 1);
    let idle = flags.seconds("idle-timeout", 300.0);
    let grace = flags.seconds("shutdown-timeout", 5.0);
    let accept_mode = match flags.get("accept-mode", "acceptor".to_string()).as_str() {
        "acceptor" => AcceptMode::Acceptor,
        "reuseport" => AcceptMode::ReusePort,
        other => common::fail(
            "line_echo",
            format!("invalid value '{other}' for --accept-mode: expected acceptor or reuseport"),
        ),
    };
    common::init_logging();

    // Reading stops once output passes the high watermark, which one more echoed line can
    // overshoot by at most max_line + 1 bytes: keep that much headroom below max-pending.
    let high = max_pending.saturating_sub(max_line + 1);
    let watermarks = WriteWatermarks::new(high.min(max_pending / 2), high).expect("low <= high");

    let server = Server::builder()
        .addr(addr)
        .reactors(NonZeroUsize::new(workers).expect("checked above"))
        .accept_mode(accept_mode)
        .write_watermarks(watermarks)
        .idle_timeouts(IdleTimeouts {
            read: Some(idle),
            ..IdleTimeouts::default()
        })
        .close_timeout(grace)
        .pipeline(move || Pipeline::new(LineCodec::new(max_line), Echo))
        .bind()
        .unwrap_or_else(|e| common::fail("line_echo", format!("cannot listen on {addr}: {e}")));
    common::announce(server.local_addr());

    common::wait_for_signal("line_echo");
    server.shutdown(grace);
}
