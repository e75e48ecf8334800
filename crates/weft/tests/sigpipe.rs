//! Writing to a peer that has gone away must never raise SIGPIPE. Rust programs ignore
//! SIGPIPE at start-up, which would hide the bug, so the server runs in a child process
//! that restores the default action (terminate) first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use weft::codec::LineCodec;
use weft::{Bytes, Context, Handler, Pipeline, Server, TimerId};

const WAIT: Duration = Duration::from_secs(20);

/// Keeps writing every 2 ms, also after the peer has closed.
struct Chatterbox;

impl Handler for Chatterbox {
    type In = Bytes;
    type Out = Bytes;

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.schedule_repeating(Duration::from_millis(2));
    }

    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: Bytes) {}

    fn on_read_closed(&mut self, _ctx: &mut Context<'_, Self>) {
        // Deliberately keep writing to a peer that has gone.
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId) {
        ctx.write(Bytes::from_static(b"tick\n"));
    }
}

#[test]
fn sigpipe_child_entry() {
    if std::env::var_os("WEFT_SIGPIPE_CHILD").is_none() {
        return; // only meaningful as the child of the test below
    }
    // SAFETY: restoring the default disposition of a signal is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .init();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .reactors(std::num::NonZeroUsize::new(1).unwrap())
        .pin_reactors(false)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Chatterbox))
        .bind()
        .unwrap();
    println!("\nPORT {}", server.local_addr().port());
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn writing_to_a_departed_peer_never_raises_sigpipe() {
    if std::env::var_os("WEFT_SIGPIPE_CHILD").is_some() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigpipe_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEFT_SIGPIPE_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port_tx, port_rx) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(port) = line.split("PORT ").nth(1) {
                let _ = port_tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let (gone_tx, gone_rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("write failed") {
                let _ = gone_tx.send(());
            }
        }
    });
    let port = port_rx.recv_timeout(WAIT).expect("child printed its port");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    {
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        let mut tick = [0u8; 5];
        client.read_exact(&mut tick).unwrap();
        assert_eq!(&tick, b"tick\n");
        // Closing: the server's next writes meet a reset, then EPIPE.
    }
    gone_rx
        .recv_timeout(WAIT)
        .expect("the server noticed the departed peer");
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the server process died ({status}): SIGPIPE was raised"
    );
}
