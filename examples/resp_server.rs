//! `resp_server`: a small Redis-compatible key-value server.
//!
//! ```text
//! cargo run --release --example resp_server -- [--addr 127.0.0.1:7002] [--workers N]
//!     [--max-bulk 1048576] [--shutdown-timeout 5]
//! ```
//!
//! Speaks RESP2 (arrays of bulk strings, and inline commands such as `PING\r\n`), so
//! `redis-cli -p 7002` and `redis-benchmark -p 7002` work against it. Commands: `PING`,
//! `ECHO`, `SET` (with `NX`/`XX`, `EX`/`PX`), `GET`, `DEL`, `EXISTS`, `INCR`, `MGET`,
//! `MSET`, `DBSIZE`, `FLUSHALL`, and `CONFIG GET` for `save`/`appendonly` (which
//! `redis-benchmark` asks for). Errors are worded as `redis-server` words them. The full
//! list of behaviours is in `examples/src/resp.rs` and `docs/resp-server.md`.
//!
//! * The store is shared by every reactor: 64 shards of `Mutex<HashMap>`, picked by the
//!   key's hash. Expired keys vanish when read, and a sweep removes the rest once a second.
//! * `--max-bulk`: the longest argument; a longer one is refused as soon as its length line
//!   arrives (`-ERR Protocol error: ...`), and the connection closes. Requests are limited
//!   to 1024 arguments, inline lines to 64 KiB and whole requests to 16 MiB or twice
//!   `--max-bulk`, whichever is larger (see `RespLimits`).
//! * SIGINT/SIGTERM: stop accepting, flush what is owed, close, exit 0 within
//!   `--shutdown-timeout` seconds.
//!
//! Prints `listening on IP:PORT` on stdout once it accepts connections; logs go to stderr
//! (`RUST_LOG`, default `info`). Bad flags: a message on stderr and exit status 2.

mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Flags;
use weft::codec::{RespCodec, RespLimits};
use weft::{Pipeline, Server};
use weft_examples::resp::{RespHandler, Store};

const USAGE: &str = "usage: resp_server [--addr HOST:PORT] [--workers N] [--max-bulk BYTES] \
[--shutdown-timeout SECS]";

fn main() {
    let flags = Flags::parse(
        "resp_server",
        &["addr", "workers", "max-bulk", "shutdown-timeout"],
        USAGE,
    );
    let addr: std::net::SocketAddr = flags.get("addr", "127.0.0.1:7002".parse().unwrap());
    let workers: usize = flags.get_at_least("workers", Flags::cpus(), 1);
    let max_bulk: usize = flags.get_at_least("max-bulk", 1 << 20, 1);
    let grace = flags.seconds("shutdown-timeout", 5.0);
    common::init_logging();

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

    let server = Server::builder()
        .addr(addr)
        .reactors(NonZeroUsize::new(workers).expect("checked above"))
        .close_timeout(grace)
        .pipeline(move || Pipeline::new(RespCodec::new(limits), RespHandler::new(store.clone())))
        .bind()
        .unwrap_or_else(|e| common::fail("resp_server", format!("cannot listen on {addr}: {e}")));
    common::announce(server.local_addr());

    common::wait_for_signal("resp_server");
    server.shutdown(grace);
}
