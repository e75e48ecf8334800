//! `--metrics-addr`: every sample serves `GET /metrics` in the Prometheus text format that
//! `promtool check metrics` (Debian package prometheus; `./scripts/test.sh` installs it)
//! accepts with no problem reported, announced on a second stdout line.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{scrape, ExampleServer, WAIT};

const SAMPLES: [&str; 5] = ["line_echo", "chat", "offload", "http_hello", "resp_server"];

/// The promtool binary (a failure says how to get it).
fn promtool() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .expect("`promtool` (Debian package prometheus) is not installed: run ./scripts/test.sh")
}

fn promtool_accepts(body: &str) {
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {said}");
    assert!(said.trim().is_empty(), "promtool reported problems: {said}");
}

#[test]
fn every_sample_serves_metrics_that_promtool_accepts() {
    for name in SAMPLES {
        let (_server, metrics) = ExampleServer::start_with_metrics(name, &[]);
        let (head, body) = scrape(metrics);
        assert!(head.starts_with("HTTP/1.1 200"), "{name}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{name}: {head}"
        );
        for family in [
            "weft_connections_open",
            "weft_connections_accepted_total",
            "weft_connections_closed_total",
            "weft_received_bytes_total",
            "weft_sent_bytes_total",
            "weft_loop_turn_seconds",
            "weft_stalls_total",
            "weft_pool_queue_depth",
        ] {
            assert!(
                body.contains(&format!("# TYPE {family} ")),
                "{name}: {family}"
            );
        }
        for reactor in 0..2 {
            assert!(
                body.contains(&format!("weft_connections_open{{reactor=\"{reactor}\"}} 0")),
                "{name}: a sample per reactor from the first scrape"
            );
        }
        promtool_accepts(&body);
    }
}

#[test]
fn traffic_moves_the_counters_and_scrapes_do_not() {
    let (server, metrics) = ExampleServer::start_with_metrics("line_echo", &[]);
    // Scrapes are connections of the endpoint, not of the server: they count nowhere.
    let (_, before) = scrape(metrics);
    assert!(
        before.contains("weft_connections_accepted_total 0\n"),
        "{before}"
    );
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.write_all(b"hello\n").unwrap();
    let mut echo = [0u8; 6];
    client.read_exact(&mut echo).unwrap();
    drop(client);
    // The close is counted once the server has seen it; scrape until then (bounded).
    let deadline = std::time::Instant::now() + WAIT;
    let after = loop {
        let (_, body) = scrape(metrics);
        if body.contains("weft_connections_closed_total{reason=\"peer_closed\"} 1\n") {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the close was never counted: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        after.contains("weft_connections_accepted_total 1\n"),
        "{after}"
    );
    assert!(after.contains("weft_received_bytes_total 6\n"), "{after}");
    assert!(after.contains("weft_sent_bytes_total 6\n"), "{after}");
    promtool_accepts(&after);
}

#[test]
fn without_the_flag_stdout_holds_the_listening_line_alone() {
    let bin = common::example_binary("line_echo");
    let mut child = Command::new(bin)
        .args(["--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 13];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"listening on ");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.lines().count(), 1, "one line in all: {rest:?}");
    assert!(child.wait().unwrap().success());
}
