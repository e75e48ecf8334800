//! `http_hello`: an HTTP/1.1 server answering every request with `Hello, World!`.
//!
//! ```text
//! cargo run --release --example http_hello -- [--addr 127.0.0.1:7003] [--workers N]
//!     [--max-header-bytes 8192] [--max-body 1048576] [--idle-timeout 60]
//!     [--max-pending 1048576] [--frame-timeout 60] [--max-connections N] [--shutdown-timeout 5]
//! ```
//!
//! * Every request gets `200 OK` with `Content-Length: 13`, a `Date` and the body
//!   `Hello, World!`; keep-alive and pipelining work, `Connection: close` is honoured
//!   (HTTP/1.0 closes unless it asks for keep-alive).
//! * A malformed request gets `400`, a header section over `--max-header-bytes` gets
//!   `431`, a `Content-Length` over `--max-body` gets `413` (before the body is read), a
//!   chunked body gets `501`; each is sent with `Connection: close`, then the connection
//!   closes. Bodies within the limit are read and discarded.
//! * A connection that sends nothing for `--idle-timeout` seconds is closed.
//! * A request (head and body) whose first byte arrived more than `--frame-timeout` seconds
//!   ago and is still incomplete closes the connection, after the responses owed before it
//!   (however slowly its bytes trickle in).
//! * At most `--max-pending` bytes of responses are held for a connection: a client that
//!   pipelines requests without reading the responses stops being read until they drain.
//! * At most `--max-connections` connections are served at once (default: the open-file
//!   limit less a reserve); more wait in the listen backlog.
//! * SIGINT/SIGTERM: stop accepting, flush what is owed, close, exit 0 within
//!   `--shutdown-timeout` seconds.
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`). Bad flags: a message on stderr and exit status 2. The
//! behaviour is in `examples/src/http.rs`; `docs/http-hello.md` has figures.

mod common;

use common::Flags;
use weft::codec::{HttpCodec, HttpLimits};
use weft::{IdleTimeouts, Pipeline};
use weft_examples::http::HelloHandler;

const USAGE: &str = "usage: http_hello [--addr HOST:PORT] [--workers N] \
[--max-header-bytes BYTES] [--max-body BYTES] [--idle-timeout SECS] [--max-pending BYTES] \
[--frame-timeout SECS] [--max-connections N] [--shutdown-timeout SECS]";

fn main() {
    let mut known = common::COMMON_FLAGS.to_vec();
    known.extend(["max-header-bytes", "max-body", "idle-timeout"]);
    let flags = Flags::parse("http_hello", &known, USAGE);
    let common = flags.common("127.0.0.1:7003");
    let max_head: usize = flags.get_at_least("max-header-bytes", 8192, 64);
    let max_body: usize = flags.get_at_least("max-body", 1 << 20, 0);
    let idle = flags.seconds("idle-timeout", 60.0);
    weft::starter::init_logging();

    let limits = HttpLimits {
        max_head_len: max_head,
        max_body_len: max_body,
        ..HttpLimits::default()
    };
    let bound = common
        .builder()
        .idle_timeouts(IdleTimeouts {
            read: Some(idle),
            ..IdleTimeouts::default()
        })
        .pipeline(move || Pipeline::new(HttpCodec::new(limits), HelloHandler::new()))
        .bind();
    common.run("http_hello", bound);
}
