//! `line_echo`: every line a client sends comes back byte for byte.
//!
//! ```text
//! cargo run --release --example line_echo -- [--addr 127.0.0.1:7000] [--workers N]
//!     [--max-line 8192] [--max-pending 1048576] [--idle-timeout 300] [--shutdown-timeout 5]
//!     [--accept-mode acceptor|reuseport]
//! ```
//!
//! The wire behaviour is the contract in `docs/protocols.md` ("line_echo"):
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
//! * a line whose first byte arrived more than `--frame-timeout` seconds ago (default 60)
//!   and is still incomplete closes the connection, after the replies owed before it;
//! * at most `--max-connections` connections are served at once (default: the open-file
//!   limit less a reserve); more wait in the listen backlog;
//! * `--max-line` must be at least 2 below `--max-pending` (one echoed line must fit in the
//!   pending output); other combinations are refused at start with exit status 2;
//! * SIGINT/SIGTERM: stop accepting, flush what is owed, close, exit 0 within
//!   `--shutdown-timeout` seconds.
//!
//! `--accept-mode reuseport` gives every reactor its own `SO_REUSEPORT` listener instead of
//! one acceptor thread (see `docs/performance.md` for the comparison).
//!
//! `--proxy-protocol`: every connection must begin with a PROXY protocol header (v1 or v2),
//! whose source is then the client's address; one without a valid header within
//! `--proxy-header-timeout` seconds (default 5) is closed without a reply
//! (`docs/scaling.md`).
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`).
//!
//! TLS: `--tls-cert PATH --tls-key PATH` serve TLS 1.2 and 1.3 on `--addr` (the protocol
//! inside unchanged), `--tls-client-ca PATH` requires client certificates, and
//! `--handshake-timeout SECS` (default 10) bounds the handshake; SIGHUP reloads the
//! certificate files (`docs/protocols.md`, "TLS"; `docs/tls.md`).

mod common;

use common::Flags;
use weft::codec::LineCodec;
use weft::{
    AcceptMode, Bytes, Context, Error, Handler, Idle, IdleTimeouts, Pipeline, WriteWatermarks,
};

const USAGE: &str = "usage: line_echo [--addr HOST:PORT] [--workers N] [--max-line BYTES] \
[--max-pending BYTES] [--idle-timeout SECS] [--frame-timeout SECS] [--max-connections N] \
[--shutdown-timeout SECS] [--accept-mode acceptor|reuseport] [--proxy-protocol] [--proxy-header-timeout SECS] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

/// Echoes each line; answers an oversize line; closes an idle connection.
struct Echo;

impl Handler for Echo {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    #[inline]
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
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

/// The watermarks for `--max-line` and `--max-pending`, or why the pair cannot work.
///
/// Reading stops once output passes the high watermark, and one more echoed line can
/// overshoot it by `max_line + 1` bytes: so `high = max_pending - (max_line + 1)` keeps the
/// output within `--max-pending`, and reading resumes below `min(high, max_pending / 2)`.
/// That needs `high >= 1`, i.e. `max_line + 2 <= max_pending`: a line limit at or above the
/// pending limit would let one echoed line alone pass it (and a high watermark of 0 would
/// never let the connection read again), so it is refused at start.
fn watermarks(max_line: usize, max_pending: usize) -> Result<WriteWatermarks, String> {
    let high = max_pending
        .checked_sub(max_line.saturating_add(1))
        .filter(|&h| h >= 1)
        .ok_or_else(|| {
            format!(
                "--max-line ({max_line}) must be at least 2 bytes below --max-pending \
                 ({max_pending}): one echoed line must fit in the pending output"
            )
        })?;
    Ok(WriteWatermarks::new(high.min(max_pending / 2).max(1), high).expect("1 <= low <= high"))
}

fn main() {
    let mut known = common::COMMON_FLAGS.to_vec();
    known.extend(["max-line", "idle-timeout", "accept-mode"]);
    let flags = Flags::parse("line_echo", &known, USAGE);
    let common = flags.common("127.0.0.1:7000");
    let max_line: usize = flags.get_at_least("max-line", 8192, 1);
    let idle = flags.seconds("idle-timeout", 300.0);
    let accept_mode = match flags.get("accept-mode", "acceptor".to_string()).as_str() {
        "acceptor" => AcceptMode::Acceptor,
        "reuseport" => AcceptMode::ReusePort,
        other => common::fail(
            "line_echo",
            format!("invalid value '{other}' for --accept-mode: expected acceptor or reuseport"),
        ),
    };
    let watermarks =
        watermarks(max_line, common.max_pending).unwrap_or_else(|e| common::fail("line_echo", e));
    weft::starter::init_logging();

    let bound = common
        .builder()
        .accept_mode(accept_mode)
        .write_watermarks(watermarks)
        .idle_timeouts(IdleTimeouts {
            read: Some(idle),
            ..IdleTimeouts::default()
        })
        .pipeline(move || Pipeline::new(LineCodec::new(max_line), Echo))
        .bind();
    common.run("line_echo", bound);
}
