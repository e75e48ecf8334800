//! The PROXY protocol header of an accepted connection (`ServerBuilder::proxy_protocol`):
//! read at the head of the connection's read path, before the codec sees a byte.
//!
//! ```text
//!   registered ──(source untrusted)──────────────────────────────► CLOSING (no read)
//!       │ header deadline armed; pipeline not activated:
//!       │ no on_active, no idle or frame timer, nothing dispatched
//!       ▼
//!   AWAITING HEADER ── decode(first bytes) ─┬─ complete: peer = its source,
//!       │                                   │  bytes after it kept for the pipeline,
//!       │                                   │  on_active, idle timer ─► ACTIVE
//!       │                                   └─ not a header / malformed / too long /
//!       │                                      end of stream ──────────► CLOSING
//!       └─ header deadline ────────────────────────────────────────────► CLOSING
//! ```
//!
//! Every refusal closes gracefully with `CloseReason::ProxyHeader` and no reply (the FIN
//! and the linger of any close: unread input must not turn it into a reset) and is
//! counted by cause; `on_inactive` never runs for a connection whose pipeline never
//! became active. A shutdown while the header is awaited closes it the same way, with
//! `Shutdown`. The connection's own buffer holds at most `MAX_LEN` bytes of an incomplete
//! header: reads into it are capped at what the largest header could still need.
//!
//! With the option off nothing here runs: `on_readable` tests one flag.

use std::fmt;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use weft_codec::proxy_protocol::{self, ProxyHeader, MAX_LEN};

use super::read::{ReadStep, READ_CHUNK};
use super::{ConnCore, Connection, Drive};
use crate::config::deadline_after;
use crate::error::{CloseReason, ProxyRejection};
use crate::services::{ReactorCore, TimerEvent};

/// What the header said, kept for the connection's life.
pub(crate) struct Proxied {
    pub(crate) header: ProxyHeader,
    /// The socket's peer (the balancer), which `ConnCore::peer` no longer is.
    pub(crate) socket_peer: SocketAddr,
}

impl ConnCore {
    /// The socket's own peer address (the balancer's, once a header named the client).
    pub(crate) fn socket_peer(&self) -> SocketAddr {
        self.cold
            .as_ref()
            .and_then(|c| c.proxied.as_ref())
            .map_or(self.peer, |p| p.socket_peer)
    }

    /// The PROXY header the connection began with.
    pub(crate) fn proxy_header(&self) -> Option<&ProxyHeader> {
        self.cold
            .as_ref()
            .and_then(|c| c.proxied.as_ref())
            .map(|p| &p.header)
    }

    /// Refuses the connection for its header: counted, logged, closed without a reply.
    fn reject_header(
        &mut self,
        reactor: &mut ReactorCore,
        cause: ProxyRejection,
        detail: &dyn fmt::Display,
    ) {
        reactor.counters().proxy_rejected(cause);
        if let Some(key) = self.frame_timer.take() {
            reactor.cancel_timer(key);
        }
        self.fail(
            CloseReason::ProxyHeader,
            &format_args!("PROXY header {}: {detail}", cause.label()),
        );
    }

    /// The header deadline fired.
    pub(super) fn proxy_header_deadline(&mut self, reactor: &mut ReactorCore) {
        self.frame_timer = None;
        if self.awaiting_header && self.phase.is_active() {
            let timeout = reactor.config().proxy_header_timeout;
            self.reject_header(
                reactor,
                ProxyRejection::Timeout,
                &format_args!("not complete within {timeout:?}"),
            );
        }
    }

    /// The header was read: the peer becomes its source.
    fn header_read(&mut self, reactor: &mut ReactorCore, header: ProxyHeader) {
        self.awaiting_header = false;
        if let Some(key) = self.frame_timer.take() {
            reactor.cancel_timer(key);
        }
        reactor.counters().proxy_header();
        let socket_peer = self.peer;
        if let Some(source) = header.source() {
            self.peer = source;
        }
        // The idle clocks start now, with the pipeline.
        self.last_read = reactor.now();
        self.last_write = reactor.now();
        tracing::debug!(conn = %self.id, peer = %self.peer, %socket_peer, command = ?header.command(), "PROXY header read");
        self.cold_mut().proxied = Some(Proxied {
            header,
            socket_peer,
        });
    }
}

impl<P: Drive> Connection<P> {
    /// A new accepted connection: its pipeline becomes active now, or once its PROXY
    /// header is read when the server requires one.
    pub(crate) fn open(&mut self, reactor: &mut ReactorCore) {
        // A TLS handshake must be complete `tls_handshake_timeout` after the accept, with
        // or without a PROXY header before it.
        self.core.arm_handshake_deadline(reactor);
        let required = &reactor.config().proxy_protocol;
        if !required.is_required() {
            self.activate(reactor);
            return;
        }
        let trusted = required.trusts(self.core.peer.ip());
        let core = &mut self.core;
        core.awaiting_header = true;
        if !trusted {
            let peer = core.peer;
            core.reject_header(
                reactor,
                ProxyRejection::Untrusted,
                &format_args!("{peer} is not a trusted source"),
            );
        } else {
            let deadline = deadline_after(reactor.now(), reactor.config().proxy_header_timeout);
            core.frame_timer =
                Some(reactor.insert_timer(deadline, TimerEvent::ProxyHeaderDeadline(core.token)));
        }
        self.settle(reactor, true);
    }

    /// Reads until the header is decided. True once it was read and the pipeline is
    /// active: the caller goes on reading (and dispatches the bytes that followed the
    /// header, left in the connection's own buffer). False while it is still awaited, or
    /// once the connection was refused (and settled).
    pub(super) fn read_header(
        &mut self,
        reactor: &mut ReactorCore,
        reactor_buf: &mut BytesMut,
    ) -> bool {
        if !self.core.phase.is_active() {
            self.settle(reactor, false);
            return false;
        }
        let Connection { core, read_buf, .. } = self;
        let mut header = None;
        loop {
            let own = !read_buf.is_empty();
            let buf: &mut BytesMut = if own { read_buf } else { reactor_buf };
            // The own buffer holds an incomplete header: read no more than the largest
            // header could still need, so it never grows past MAX_LEN.
            let want = if own { MAX_LEN - buf.len() } else { READ_CHUNK };
            buf.reserve(want);
            let n = match core.read_step(buf, want) {
                ReadStep::Bytes(n) => n,
                ReadStep::Drained | ReadStep::Failed => break,
            };
            if n == 0 {
                core.reading.peer_eof = true;
                let (cause, detail) = if buf.is_empty() {
                    (
                        ProxyRejection::Missing,
                        "the peer closed before sending one",
                    )
                } else {
                    (
                        ProxyRejection::Malformed,
                        "the peer closed in the middle of it",
                    )
                };
                core.reject_header(reactor, cause, &detail);
                break;
            }
            reactor.counters().read(n);
            match proxy_protocol::decode(buf) {
                Ok(Some((decoded, len))) => {
                    buf.advance(len);
                    header = Some(decoded);
                }
                Ok(None) => {}
                Err(e) => {
                    let cause = if e.is_missing() {
                        ProxyRejection::Missing
                    } else {
                        ProxyRejection::Malformed
                    };
                    core.reject_header(reactor, cause, &e);
                    break;
                }
            }
            // What is left in the reactor's buffer (the rest of an incomplete header, or
            // the pipeline's first bytes) moves to the connection's own.
            if !own && !reactor_buf.is_empty() {
                if read_buf.capacity() == 0 {
                    *read_buf = reactor.take_partial_buffer();
                }
                read_buf.extend_from_slice(reactor_buf);
                reactor_buf.clear();
            }
            if header.is_some() || (n < want && !core.reading.hangup_seen) {
                break;
            }
        }
        reactor_buf.clear();
        match header {
            Some(header) => {
                core.header_read(reactor, header);
                self.activate(reactor);
                !self.core.phase.is_closed()
            }
            None => {
                if !core.phase.is_active() && read_buf.capacity() > 0 {
                    read_buf.clear();
                    reactor.give_partial_buffer(std::mem::take(read_buf));
                }
                self.settle(reactor, false);
                false
            }
        }
    }
}
