//! The TLS handshake of a connection (`ServerBuilder::tls`, `Dial::tls`): run at the head
//! of the read path, after the PROXY header (if any) and before the pipeline is active.
//!
//! ```text
//!   accepted (header read) / dial up ──► HANDSHAKING  deadline armed; no on_active, no
//!       │                                   │         idle or frame timer; writes queue
//!       │                                   │         within the output limit, unsent
//!       │ handshake complete ───────────────┴───────► on_active, queued writes flushed
//!       │                                             (encrypted) ─► ACTIVE
//!       └─ protocol error / peer closed / deadline ─► CLOSED (counted by cause, logged;
//!                                                     on_inactive never runs)
//! ```
//!
//! A failed handshake is aborted rather than closed gracefully: there is nothing owed to a
//! peer that never completed it, and rustls has already queued (and the transport tried
//! to send) the alert that says why.

use std::io;

use super::{ConnCore, Connection, Drive};
use crate::config::deadline_after;
use crate::error::{CloseReason, TlsFailure};
use crate::flood;
use crate::services::{ReactorCore, TimerEvent};

impl ConnCore {
    /// The ALPN protocol the TLS handshake chose.
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.io.tls().and_then(|t| t.session.alpn_protocol())
    }

    /// The server name (SNI) a TLS client asked for.
    pub(crate) fn tls_server_name(&self) -> Option<&str> {
        match &self.io.tls()?.session {
            rustls::Connection::Server(s) => s.server_name(),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The peer's certificate chain (a client's under mutual TLS, a server's when dialled),
    /// DER, its own certificate first.
    pub(crate) fn peer_certificates(&self) -> Option<&[rustls_pki_types::CertificateDer<'static>]> {
        self.io.tls()?.session.peer_certificates()
    }

    /// The TLS version negotiated, as rustls names it (`TLSv1_3`).
    pub(crate) fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.io.tls()?.session.protocol_version()
    }

    /// The handshake failed: counted, logged, aborted.
    fn handshake_failed(
        &mut self,
        reactor: &mut ReactorCore,
        cause: TlsFailure,
        detail: &dyn std::fmt::Display,
    ) {
        reactor.counters().tls_failed(cause);
        if let Some(key) = self.io.tls_mut().and_then(|t| t.timer.take()) {
            reactor.cancel_timer(key);
        }
        if let Some(suppressed) = flood::admit(flood::Kind::Failure) {
            tracing::warn!(conn = %self.id, peer = %self.peer, cause = cause.label(), suppressed, "TLS handshake failed: {detail}");
        }
        self.abort(CloseReason::TlsHandshake);
    }

    /// The handshake deadline fired.
    pub(super) fn tls_handshake_deadline(
        &mut self,
        reactor: &mut ReactorCore,
        key: crate::timer::TimerKey,
    ) {
        let Some(tls) = self.io.tls_mut() else {
            return;
        };
        if tls.timer != Some(key) {
            return;
        }
        tls.timer = None;
        if self.io.awaiting_handshake() && !self.is_closed() {
            let timeout = reactor.config().tls_handshake_timeout;
            self.handshake_failed(
                reactor,
                TlsFailure::Timeout,
                &format_args!("not complete within {timeout:?}"),
            );
        }
    }

    /// Arms the handshake deadline, `tls_handshake_timeout` from now, unless it is armed
    /// already. An accepted connection arms it when it is accepted (`Connection::open`),
    /// so a PROXY header read first counts against it too.
    pub(super) fn arm_handshake_deadline(&mut self, reactor: &mut ReactorCore) {
        let deadline = deadline_after(reactor.now(), reactor.config().tls_handshake_timeout);
        let token = self.token;
        if let Some(tls) = self.io.tls_mut() {
            if tls.timer.is_none() {
                tls.timer =
                    Some(reactor.insert_timer(deadline, TimerEvent::TlsHandshakeDeadline(token)));
            }
        }
    }

    /// Disarms the handshake deadline (the connection is being removed).
    pub(super) fn cancel_tls_timer(&mut self, reactor: &mut ReactorCore) {
        if let Some(key) = self.io.tls_mut().and_then(|t| t.timer.take()) {
            reactor.cancel_timer(key);
        }
    }
}

impl<P: Drive> Connection<P> {
    /// The pipeline would become active, but the connection speaks TLS: the handshake
    /// begins (its deadline armed, bytes that followed a PROXY header fed to it, a client's
    /// first flight sent).
    pub(super) fn start_handshake(&mut self, reactor: &mut ReactorCore) {
        let Connection { core, read_buf, .. } = self;
        core.arm_handshake_deadline(reactor);
        let Some(tls) = core.io.tls_mut() else {
            return;
        };
        tls.clear_prefix = false; // the PROXY header (if any) was read in the clear
        if !read_buf.is_empty() {
            let fed = tls.feed(read_buf);
            read_buf.clear();
            reactor.give_partial_buffer(std::mem::take(read_buf));
            if let Err(e) = fed {
                let cause = failure_cause(&e);
                core.handshake_failed(reactor, cause, &e);
                return;
            }
        }
        self.advance_handshake(reactor);
    }

    /// Moves the handshake on. True once it is complete and the pipeline active (the
    /// caller goes on reading: rustls may hold plaintext already); false while it runs,
    /// or once it failed.
    pub(super) fn advance_handshake(&mut self, reactor: &mut ReactorCore) -> bool {
        let core = &mut self.core;
        if core.is_closed() {
            return false;
        }
        let Some(tls) = core.io.tls_mut() else {
            return true;
        };
        match tls.handshake() {
            Ok(true) => {
                tls.activated = true;
                if let Some(key) = tls.timer.take() {
                    reactor.cancel_timer(key);
                }
                reactor.counters().tls_handshake();
                tracing::debug!(conn = %core.id, peer = %core.peer, version = ?core.tls_version(), alpn = ?core.alpn_protocol().map(String::from_utf8_lossy), "TLS handshake complete");
                // The idle clocks start now, with the pipeline.
                core.last_read = reactor.now();
                core.last_write = reactor.now();
                // rustls may hold plaintext that came with the handshake's last flight,
                // read from a socket that has nothing more: no readiness event will say so.
                reactor.mark_ready(core.token);
                self.activate(reactor);
                !self.core.is_closed()
            }
            Ok(false) => {
                self.settle(reactor, true); // the handshake's own records go out
                false
            }
            Err(e) => {
                let cause = failure_cause(&e);
                core.handshake_failed(reactor, cause, &e);
                false
            }
        }
    }
}

fn failure_cause(e: &io::Error) -> TlsFailure {
    match e.kind() {
        io::ErrorKind::InvalidData => TlsFailure::Protocol,
        _ => TlsFailure::Closed,
    }
}
