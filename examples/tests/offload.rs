//! The offload example, driven as a separate process. (The guarantee that a ping is never
//! held up by pool work is tested deterministically, with gated jobs, in
//! `crates/weft/tests/offload.rs`.)

mod common;

use common::{Client, ExampleServer};

#[test]
fn work_runs_on_the_pool_and_ping_is_answered_meanwhile() {
    let server = ExampleServer::start("offload", &["--workers", "1", "--pool", "1"]);
    let mut busy = Client::connect_plain(&server);
    let mut pinger = Client::connect_plain(&server);
    let mut batch = String::new();
    for _ in 0..20 {
        batch.push_str("work 10\n");
    }
    busy.send(&batch);
    pinger.send("ping\n");
    pinger.expect("pong");
    for _ in 0..20 {
        let line = busy.line();
        assert!(line.starts_with("done 10 "), "got {line:?}");
    }
    pinger.send("work x\n");
    pinger.expect("ERR usage: work <ms> | ping");
}
