//! `resp_server`: a small Redis-compatible key-value server.
//!
//! ```text
//! cargo run --release --example resp_server -- [--addr 127.0.0.1:7002] [--workers N]
//!     [--max-bulk 1048576] [--max-pending 1048576] [--frame-timeout 60]
//!     [--max-connections N] [--shutdown-timeout 5]
//! ```
//!
//! Speaks RESP2 (arrays of bulk strings, and inline commands such as `PING\r\n`), and RESP3
//! after `HELLO 3`, so `redis-cli -p 7002`, `redis-benchmark -p 7002` and redis-py's
//! default client work against it. Commands: `PING`, `ECHO`, `SET` (with `NX`/`XX`, `GET`,
//! `EX`/`PX`/`KEEPTTL`), `GET`, `GETSET`, `SETNX`, `APPEND`, `STRLEN`, `DEL`, `EXISTS`,
//! `INCR`, `INCRBY`, `DECR`, `DECRBY`, `MGET`, `MSET`, `TTL`, `PTTL`, `EXPIRE`, `PEXPIRE`,
//! `TYPE`, `KEYS`, `SCAN`, `DBSIZE`, `FLUSHALL`, `MULTI`/`EXEC`/`DISCARD`, the connection
//! commands clients send (`HELLO`, `AUTH`, `SELECT 0`, `CLIENT SETNAME|GETNAME|ID|SETINFO`,
//! `INFO`, `COMMAND COUNT|DOCS`), and `CONFIG GET` for `save`/`appendonly` (which
//! `redis-benchmark` asks for). Errors are worded as `redis-server` words them. The full
//! list of behaviours is in `examples/src/resp.rs` and `docs/resp-server.md`.
//!
//! The flags every sample server takes (`--addr`, `--workers`, `--max-pending`,
//! `--frame-timeout`, `--max-connections`, `--shutdown-timeout`) and what they promise are
//! the common contract in `docs/protocols.md` ("Common to every sample server"); here:
//!
//! * The store is shared by every reactor: 64 shards of `Mutex<HashMap>`, picked by the
//!   key's hash. Expired keys vanish when read, and a sweep removes the rest once a second.
//! * `--max-bulk`: the longest argument; a longer one is refused as soon as its length line
//!   arrives (`-ERR Protocol error: ...`), and the connection closes. Requests are limited
//!   to 1024 arguments, inline lines to 64 KiB and whole requests to 16 MiB or twice
//!   `--max-bulk`, whichever is larger (see `RespLimits`).
//! * `--max-pending` (default 1 MiB): the most output one connection holds, beyond stored
//!   values its replies refer to without copying (`GET` and `MGET` of values of 1 KiB or
//!   more). Reading pauses once half of it (at most 64 KiB) is queued; a reply that cannot
//!   fit gets `-ERR reply exceeds the output limit of N bytes` and the connection closes
//!   (so `ECHO` of an argument near `--max-bulk` needs `--max-pending` above it).
//! * `--frame-timeout`: a request still incomplete this long after its first byte closes
//!   the connection. `--max-connections`: more connections wait in the listen backlog.
//! * SIGINT/SIGTERM: stop accepting, flush what is owed, close, exit 0 within
//!   `--shutdown-timeout` seconds.
//!
//! `--proxy-protocol`: every connection must begin with a PROXY protocol header (v1 or v2),
//! whose source is then the client's address; one without a valid header within
//! `--proxy-header-timeout` seconds (default 5) is closed without a reply
//! (`docs/scaling.md`).
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`). Bad flags (including a duration that is not a positive
//! number of seconds up to 1e9): one line on stderr and exit status 2.
//!
//! TLS: `--tls-cert PATH --tls-key PATH` serve TLS 1.2 and 1.3 on `--addr` (the protocol
//! inside unchanged), `--tls-client-ca PATH` requires client certificates, and
//! `--handshake-timeout SECS` (default 10) bounds the handshake; SIGHUP reloads the
//! certificate files (`docs/protocols.md`, "TLS"; `docs/tls.md`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Flags;
use weft::codec::{RespCodec, RespLimits};
use weft::Pipeline;
use weft_examples::resp::{self, RespHandler, Store};

const USAGE: &str = "usage: resp_server [--addr HOST:PORT] [--workers N] [--max-bulk BYTES] \
[--max-pending BYTES] [--frame-timeout SECS] [--max-connections N] [--shutdown-timeout SECS] [--proxy-protocol] [--proxy-header-timeout SECS] \
[--tls-cert PATH --tls-key PATH] [--tls-client-ca PATH] [--handshake-timeout SECS]";

fn main() {
    let mut known = common::COMMON_FLAGS.to_vec();
    known.push("max-bulk");
    let flags = Flags::parse("resp_server", &known, USAGE);
    let common = flags.common("127.0.0.1:7002");
    let max_bulk: usize = flags.get_at_least("max-bulk", 1 << 20, 1);
    weft::starter::init_logging();

    let limits = RespLimits {
        max_bulk_len: max_bulk,
        max_request_len: max_bulk.saturating_mul(2).max(16 << 20),
        ..RespLimits::default()
    };
    let store = Arc::new(Store::new());
    let sweeper_store = Arc::clone(&store);
    std::thread::Builder::new()
        .name("resp-sweeper".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            sweeper_store.sweep(Instant::now());
        })
        .expect("spawn the expiry sweeper");

    let bound = common
        .builder()
        .write_watermarks(resp::watermarks(common.max_pending))
        // After a protocol error redis-server closes within some tens of milliseconds; a
        // 2 s linger let a flooding client push megabytes per error into the server.
        .linger(std::time::Duration::from_millis(50))
        .pipeline(move || Pipeline::new(RespCodec::new(limits), RespHandler::new(store.clone())))
        .bind();
    common.run("resp_server", bound);
}
