//! Closing: requesting a close, aborting, moving CLOSING along to LINGERING or CLOSED,
//! the close deadline, and removing a finished connection.

use std::fmt;
use std::io;

use super::guard::guarded;
use super::{ConnCore, Connection, Drive};
use crate::clock::Moment;
use crate::error::CloseReason;
use crate::inbox::CloseHow;
use crate::metrics::Callback;
use crate::services::{ReactorCore, TimerEvent};
use crate::{flood, net};

impl ConnCore {
    /// ACTIVE → CLOSING: starts a graceful close (flush, FIN, linger); the first reason
    /// given sticks.
    pub(crate) fn request_close(&mut self, reason: CloseReason) {
        // A handler closing after the peer's end of stream completes the peer's close.
        let reason = match reason {
            CloseReason::Closed if self.reading.peer_eof => CloseReason::PeerClosed,
            other => other,
        };
        self.phase.request_close(reason);
    }

    /// Any → CLOSED: closes now, discarding queued output.
    pub(crate) fn abort(&mut self, reason: CloseReason) {
        self.out.clear();
        self.overflow_notice = false;
        self.phase.finish(reason);
    }

    /// Logs why the connection must close, then closes it gracefully.
    pub(crate) fn fail(&mut self, reason: CloseReason, detail: &dyn fmt::Display) {
        if let Some(suppressed) = flood::admit(flood::Kind::Failure) {
            tracing::warn!(conn = %self.id, peer = %self.peer, %reason, suppressed, "closing connection: {detail}");
        }
        self.request_close(reason);
    }

    /// A socket operation failed: the connection is gone (any → CLOSED).
    pub(super) fn io_failed(&mut self, op: &str, err: &io::Error) {
        if net::is_disconnect(err) {
            tracing::debug!(conn = %self.id, error = %err, "{op} failed: peer gone");
        } else {
            tracing::warn!(conn = %self.id, error = %err, "{op} failed");
        }
        self.abort(CloseReason::Reset);
    }

    /// Moves a closing connection along: FIN once drained, and a deadline for it all.
    #[inline]
    pub(super) fn progress_close(&mut self, reactor: &mut ReactorCore) {
        // Asked after every event; the answer is almost always "not closing".
        if matches!(self.phase, super::Phase::Closing(_)) {
            self.progress_closing(reactor);
        }
    }

    fn progress_closing(&mut self, reactor: &mut ReactorCore) {
        if self.close_timer.is_none() {
            let deadline = reactor.now() + reactor.config().close_timeout;
            self.arm_close_deadline(reactor, deadline);
        }
        if !self.out.is_empty() {
            return;
        }
        // A TLS session's close_notify (and any ciphertext still held) goes before the FIN.
        match self.io.prepare_fin() {
            Ok(true) => {}
            Ok(false) => {
                self.set_write_interest(reactor, true);
                return;
            }
            Err(e) => {
                self.io_failed("close_notify", &e);
                return;
            }
        }
        if self.reading.peer_eof {
            self.phase.finish_close(); // CLOSING → CLOSED: drained, and the peer is done
            return;
        }
        if let Err(e) = self.io.shutdown_write() {
            self.io_failed("shutdown", &e);
            return;
        }
        // CLOSING → LINGERING: the peer's EOF (or the deadline) ends it; anything it still
        // sends must be read, because closing a socket with unread input sends a reset.
        self.phase.fin_sent();
        let linger_end = reactor.now() + reactor.config().linger;
        if self.close_deadline.is_none_or(|d| linger_end < d) {
            self.arm_close_deadline(reactor, linger_end);
        }
        reactor.mark_ready(self.token);
    }

    pub(super) fn arm_close_deadline(&mut self, reactor: &mut ReactorCore, deadline: Moment) {
        if let Some(key) = self.close_timer.take() {
            reactor.cancel_timer(key);
        }
        self.close_deadline = Some(deadline);
        self.close_timer =
            Some(reactor.insert_timer(deadline, TimerEvent::CloseDeadline(self.token)));
    }

    /// The close deadline passed (any → CLOSED): output still queued is discarded.
    pub(super) fn close_deadline_passed(&mut self) {
        let reason = match self.phase.closing_reason() {
            Some(reason) => reason,
            // A spliced session that ran on through the shutdown until its deadline.
            None if self.splice_shutting_down() => CloseReason::Shutdown,
            None => CloseReason::CloseTimeout,
        };
        if self.out.is_empty() {
            self.phase.finish(reason);
            return;
        }
        tracing::debug!(conn = %self.id, pending = self.out.pending(), "close deadline passed, output discarded");
        // A reason that already says why the peer is behind stays; an ordinary close whose
        // output was cut off becomes a close timeout.
        self.abort(match reason {
            CloseReason::Shutdown | CloseReason::SlowConsumer | CloseReason::FrameTimeout => reason,
            _ => CloseReason::CloseTimeout,
        });
    }
}

impl<P: Drive> Connection<P> {
    /// A close requested through a handle, or by a broadcast that found it over its limit.
    pub(crate) fn close(&mut self, reactor: &mut ReactorCore, how: CloseHow) {
        match how {
            CloseHow::Abort => self.core.abort(CloseReason::Aborted),
            CloseHow::Graceful => {
                self.core.request_close(CloseReason::Closed);
                self.settle(reactor, false);
            }
            CloseHow::SlowConsumer => {
                self.core.output_overflow(0);
                self.settle(reactor, false);
            }
        }
    }

    /// Server shutdown: close gracefully, abort whatever is left at `deadline`.
    pub(crate) fn shutdown(&mut self, reactor: &mut ReactorCore, deadline: Moment) {
        if self.core.is_connecting() {
            self.core.abandon_dial(reactor);
            return;
        }
        if self.core.io.awaiting_handshake() {
            self.core.abort(CloseReason::Shutdown); // nothing is owed before the handshake
            return;
        }
        if self.core.splice_shutdown() {
            // A relayed session runs on until the deadline (then it is cut off).
            self.core.arm_close_deadline(reactor, deadline);
            return;
        }
        self.core.request_close(CloseReason::Shutdown);
        self.core.arm_close_deadline(reactor, deadline);
        self.settle(reactor, true);
    }

    /// Removes the connection: timers, registration, `on_inactive`, counters. Dropping it
    /// at the end gives its place in the open count back.
    pub(crate) fn finish(mut self, reactor: &mut ReactorCore) {
        let reason = self
            .core
            .phase
            .closed_reason()
            .unwrap_or(CloseReason::Reset);
        let Connection { core, pipeline, .. } = &mut self;
        core.cancel_all_timers(reactor);
        core.cancel_connect_timer(reactor);
        core.cancel_tls_timer(reactor);
        // A dial that never came up never opened: no `on_inactive`, no log of a close.
        let opened = !core.is_connecting();
        // A pipeline that never became active (its PROXY header never came) hears nothing.
        let active = !core.awaiting_header && !core.io.awaiting_handshake();
        if let Some(shared) = &core.shared {
            shared.close();
        }
        if let Some(cold) = &mut core.cold {
            crate::group::leave_all(&mut cold.groups, core.id);
        }
        if let Some(stream) = core.io.tcp() {
            if let Err(e) = reactor.registry().deregister(stream) {
                tracing::debug!(conn = %core.id, error = %e, "deregister failed");
            }
        }
        if !opened {
            return;
        }
        if active {
            guarded(core, reactor, Some(Callback::Inactive), |core, reactor| {
                pipeline.inactive(core, reactor, reason)
            });
        }
        if reason.is_failure() {
            if let Some(suppressed) = flood::admit(flood::Kind::Closed) {
                tracing::info!(conn = %core.id, peer = %core.peer, %reason, suppressed, "connection closed");
            }
        } else {
            tracing::debug!(conn = %core.id, peer = %core.peer, %reason, "connection closed");
        }
    }
}
