//! Writing to a peer that has gone away must never raise SIGPIPE. Rust programs ignore
//! SIGPIPE at start-up, which would hide the bug, so the server runs in a child process
//! that restores the default action (terminate) first.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::{child_logging, serve_as_child, ChildServer, WAIT};
use weft::codec::LineCodec;
use weft::{Context, Handler, Pipeline, Server, TimerId};

/// Keeps writing every 2 ms, also after the peer has closed.
struct Chatterbox;

impl Handler for Chatterbox {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.schedule_repeating(Duration::from_millis(2));
    }

    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _line: &[u8]) {}

    fn on_read_closed(&mut self, _ctx: &mut Context<'_, Self>) {
        // Deliberately keep writing to a peer that has gone.
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId) {
        ctx.write(b"tick\n");
    }
}

#[test]
fn sigpipe_child_entry() {
    if std::env::var_os("WEFT_SIGPIPE_CHILD").is_none() {
        return; // only meaningful as the child of the test below
    }
    // SAFETY: restoring the default disposition of a signal is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    child_logging();
    let server = Server::builder()
        .addr("127.0.0.1:0")
        .reactors(1)
        .pin_reactors(false)
        .pipeline(|| Pipeline::new(LineCodec::new(64), Chatterbox))
        .bind()
        .unwrap();
    serve_as_child(server);
}

#[test]
fn writing_to_a_departed_peer_never_raises_sigpipe() {
    if std::env::var_os("WEFT_SIGPIPE_CHILD").is_some() {
        return;
    }
    let server = ChildServer::spawn("sigpipe_child_entry", "WEFT_SIGPIPE_CHILD");
    let addr = server.addr;
    {
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        let mut tick = [0u8; 5];
        client.read_exact(&mut tick).unwrap();
        assert_eq!(&tick, b"tick\n");
        // Closing: the server's next writes meet a reset, then EPIPE.
    }
    server.expect_log("write failed");
    let status = server.finish();
    assert!(
        status.success(),
        "the server process died ({status}): SIGPIPE was raised"
    );
}
