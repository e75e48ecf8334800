//! `http_hello`: an HTTP/1.1 server answering `Hello, World!`.
//!
//! ```text
//! cargo run --release --example http_hello -- [--addr 127.0.0.1:7003] [--workers N]
//!     [--max-header-bytes 8192] [--max-target-bytes 8000] [--max-body 1048576] [--idle-timeout 60]
//!     [--max-pending 1048576] [--frame-timeout 60] [--max-connections N] [--shutdown-timeout 5]
//!     [--proxy-protocol] [--proxy-header-timeout 5]
//! ```
//!
//! * `GET /whoami` (and `HEAD`) gets `200 OK`, `Content-Type: text/plain` and the body
//!   `IP:PORT\n`: the client's address as the server sees it (with `--proxy-protocol`, the
//!   PROXY header's source), e.g. `127.0.0.1:51000\n`, IPv6 as `[2001:db8::7]:51000\n`.
//! * `GET`, `HEAD` and `POST` get `200 OK` with `Content-Length: 13`, a `Date` and the
//!   body `Hello, World!` (none for `HEAD`); `OPTIONS` gets `204` with
//!   `Allow: GET, HEAD, POST, OPTIONS`; other methods, `CONNECT` included, get `405` with
//!   that `Allow`. `Expect: 100-continue` is answered with `100 Continue` before the body
//!   is read. Keep-alive and pipelining work, `Connection: close` is honoured (HTTP/1.0
//!   closes unless it asks for keep-alive).
//! * A malformed request (a bad `Host`, say) gets `400`, a request target over
//!   `--max-target-bytes` gets `414`, a header section over `--max-header-bytes` gets
//!   `431`, a body (`Content-Length` or chunked) over `--max-body` gets `413` (before the
//!   rest of the body is read), a transfer coding other than chunked gets `501`; each is
//!   sent with `Connection: close`, then the connection closes. Bodies within the limit
//!   are read and discarded.
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
//! `--proxy-protocol`: every connection must begin with a PROXY protocol header (v1 or v2),
//! whose source is then the client's address; one without a valid header within
//! `--proxy-header-timeout` seconds (default 5) is closed without a reply
//! (`docs/scaling.md`).
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`). Bad flags: a message on stderr and exit status 2. The
//! behaviour is in `examples/src/http.rs`; `docs/http-hello.md` has figures.
//!
//! TLS: `--tls-cert PATH --tls-key PATH` serve TLS 1.2 and 1.3 on `--addr` (the protocol
//! inside unchanged), `--tls-client-ca PATH` requires client certificates, and
//! `--handshake-timeout SECS` (default 10) bounds the handshake; SIGHUP reloads the
//! certificate files (`docs/protocols.md`, "TLS"; `docs/tls.md`).

mod common;

use common::Flags;
use weft::codec::HttpLimits;
use weft::{IdleTimeouts, Pipeline};
use weft_examples::http::{hello_codec, HelloHandler};

const USAGE: &str = "usage: http_hello [--addr HOST:PORT] [--workers N] \
[--max-header-bytes BYTES] [--max-target-bytes BYTES] [--max-body BYTES] [--idle-timeout SECS] [--max-pending BYTES] \
[--frame-timeout SECS] [--max-connections N] [--shutdown-timeout SECS] [--proxy-protocol] [--proxy-header-timeout SECS] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

fn main() {
    let mut known = common::COMMON_FLAGS.to_vec();
    known.extend([
        "max-header-bytes",
        "max-target-bytes",
        "max-body",
        "idle-timeout",
    ]);
    let flags = Flags::parse("http_hello", &known, USAGE);
    let common = flags.common("127.0.0.1:7003");
    let max_head: usize = flags.get_at_least("max-header-bytes", 8192, 64);
    let max_target: usize = flags.get_at_least("max-target-bytes", 8000, 1);
    let max_body: usize = flags.get_at_least("max-body", 1 << 20, 0);
    let idle = flags.seconds("idle-timeout", 60.0);
    weft::starter::init_logging();

    let limits = HttpLimits {
        max_head_len: max_head,
        max_target_len: max_target,
        max_body_len: max_body,
        ..HttpLimits::default()
    };
    let bound = common
        .builder()
        .idle_timeouts(IdleTimeouts {
            read: Some(idle),
            ..IdleTimeouts::default()
        })
        .pipeline(move || Pipeline::new(hello_codec(limits), HelloHandler::new()))
        .bind();
    common.run("http_hello", bound);
}
