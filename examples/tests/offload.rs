//! The offload example, driven as a separate process. (The guarantee that a ping is never
//! held up by pool work is tested deterministically, with gated jobs, in
//! `crates/weft/tests/offload.rs`.)

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

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

#[test]
fn a_client_that_pipelines_past_its_job_cap_gets_every_reply_in_order() {
    let server = ExampleServer::start("offload", &["--pool", "2"]);
    let mut c = Client::connect_plain(&server);
    let mut batch = String::new();
    for i in 0..100 {
        batch.push_str(&format!("work {}\n", i % 3));
        if i % 10 == 0 {
            batch.push_str("ping\n");
        }
    }
    c.send(&batch);
    for i in 0..100 {
        let line = c.line();
        assert!(
            line.starts_with(&format!("done {} ", i % 3)),
            "reply {i}: {line:?}"
        );
        if i % 10 == 0 {
            c.expect("pong");
        }
    }
}

/// Makes `drop(stream)` send a reset instead of a FIN: SO_LINGER {on, 0 s}.
fn reset_on_close(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a descriptor we own, with a pointer to a local and its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}

#[test]
fn work_of_a_client_that_reset_does_not_hold_up_the_others() {
    let server = ExampleServer::start("offload", &["--pool", "2"]);
    let hog = Client::connect_plain(&server);
    let mut w = hog.writer.try_clone().unwrap();
    w.write_all("work 20\n".repeat(1100).as_bytes()).unwrap();
    // Its first jobs are running: the first reply proves the requests are in.
    let mut hog = hog;
    assert!(hog.line().starts_with("done 20 "));
    reset_on_close(&hog.writer);
    drop(w);
    drop(hog);

    let mut other = Client::connect_plain(&server);
    let asked = Instant::now();
    other.send("work 1\n");
    let line = other.line();
    assert!(line.starts_with("done 1 "), "got {line:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        asked.elapsed()
    );
}
