//! Writing: the output limit on what is queued, flushing to the socket with `WRITABLE`
//! interest only while blocked, the end-of-turn dirty list, and what other threads are
//! told of the queue.

use bytes::Bytes;
use mio::Interest;

use super::{ConnCore, Connection, Drive, Flushed, Outbound};
use crate::error::CloseReason;
use crate::flood;
use crate::inbox::take_congested;
use crate::services::ReactorCore;
use crate::shared::posted_cost;

impl ConnCore {
    /// Queues a chunk of pre-encoded bytes, unless it would pass the output limit.
    pub(crate) fn queue_chunk(&mut self, bytes: Bytes, shared: bool) {
        if !self.accepts_writes() {
            return;
        }
        if !self.last_reply
            && self
                .out
                .would_pass_limit(Outbound::chunk_cost(&bytes, shared))
        {
            self.output_overflow(bytes.len());
            return;
        }
        self.out.push_chunk(bytes, shared);
    }

    /// The encoder's output since `before` took the queue past the output limit: undoes it
    /// (unless it is the last reply, which may pass the limit). Off the per-message path.
    #[cold]
    #[inline(never)]
    pub(crate) fn over_limit_after_encode(&mut self, before: usize) {
        if !self.last_reply {
            let len = self.out.tail_len() - before;
            self.out.truncate_tail(before);
            self.output_overflow(len);
        }
    }

    /// The output limit would have been passed by a message of `len` bytes: it was not
    /// queued, and the connection closes as a slow consumer (after its last reply).
    pub(crate) fn output_overflow(&mut self, len: usize) {
        if self.overflowed {
            return;
        }
        self.overflowed = true;
        self.overflow_notice = true;
        if let Some(suppressed) = flood::admit(flood::Kind::SlowConsumer) {
            tracing::warn!(
                conn = %self.id,
                peer = %self.peer,
                queued = self.out.cost(),
                limit = self.out.limit(),
                message = len,
                suppressed,
                "output limit reached; closing the connection as a slow consumer"
            );
        }
        self.request_close(CloseReason::SlowConsumer);
    }

    /// Takes the pending "output limit reached" notice: true once.
    #[inline]
    pub(crate) fn take_overflow_notice(&mut self) -> bool {
        if !self.overflow_notice {
            return false;
        }
        self.overflow_notice = false;
        true
    }

    /// Runs `f` (the handler's `on_output_limit`) with a last reply allowed past the limit.
    pub(crate) fn with_last_reply(&mut self, f: impl FnOnce(&mut Self)) {
        self.last_reply = true;
        f(self);
        self.last_reply = false;
    }

    /// Flips the automatic read pause with writability (when the server wants it).
    pub(crate) fn apply_backpressure(&mut self, reactor: &mut ReactorCore, writable: bool) {
        if !reactor.config().pause_read_when_unwritable {
            return;
        }
        if !writable {
            if !self.reading.backpressure_paused {
                reactor.counters().backpressure_paused();
            }
            self.reading.backpressure_paused = true;
        } else if std::mem::take(&mut self.reading.backpressure_paused) {
            reactor.mark_ready(self.token);
        }
    }

    /// Sends what is queued; registers `WRITABLE` interest only while the kernel is full.
    pub(crate) fn flush(&mut self, reactor: &mut ReactorCore) {
        if self.phase.is_closed()
            || (self.out.is_empty() && !self.write_interest && !self.io.has_pending_output())
        {
            return;
        }
        let result = if self.io.awaiting_handshake() {
            // Output queued before the TLS handshake completes waits for it; only the
            // handshake's own records go now.
            self.io.flush_pending().map(|done| (0, done))
        } else {
            self.out
                .write_to(&mut self.io)
                .and_then(|(written, flushed)| {
                    // A TLS session may hold ciphertext past the queue's end.
                    let done = flushed == Flushed::All && self.io.flush_pending()?;
                    Ok((written, done))
                })
        };
        match result {
            Ok((written, done)) => {
                if written > 0 {
                    reactor.counters().wrote(written);
                    self.last_write = reactor.now();
                }
                self.set_write_interest(reactor, !done);
            }
            Err(e) => self.io_failed("write", &e),
        }
    }

    /// Registers `WRITABLE` interest (while output is blocked) or drops it.
    #[inline]
    pub(super) fn set_write_interest(&mut self, reactor: &mut ReactorCore, want_writable: bool) {
        // After every flush; it changes only when output blocks or unblocks.
        if want_writable != self.write_interest {
            self.change_write_interest(reactor, want_writable);
        }
    }

    fn change_write_interest(&mut self, reactor: &mut ReactorCore, want_writable: bool) {
        let interest = if want_writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let token = self.token;
        if let Some(stream) = self.io.tcp() {
            if let Err(e) = reactor.registry().reregister(stream, token, interest) {
                self.io_failed("reregister", &e);
                return;
            }
        }
        self.write_interest = want_writable;
    }

    /// If the callback that just ran posted to a congested inbox, pauses reading until that
    /// inbox drains (see "Congestion" in `inbox.rs`).
    #[inline]
    pub(super) fn check_congestion(&mut self, reactor: &mut ReactorCore) {
        let mut congested = Vec::new();
        take_congested(&mut congested);
        if congested.is_empty() {
            return;
        }
        self.reading.congestion_paused = true;
        for inbox in &congested {
            inbox.add_waiter(reactor.inbox().clone(), self.token);
        }
        // Step 2: an inbox that drained before we registered will not resume us.
        if congested.iter().all(|inbox| inbox.has_drained()) {
            self.resume_congested(reactor);
        }
    }

    /// A congested inbox drained: reading may resume.
    pub(crate) fn resume_congested(&mut self, reactor: &mut ReactorCore) {
        if std::mem::take(&mut self.reading.congestion_paused) {
            reactor.mark_ready(self.token);
        }
    }

    /// Tells other threads how much output is queued (for their admission check).
    #[inline]
    pub(super) fn publish(&self) {
        if let Some(shared) = &self.shared {
            shared.publish(self.out.cost(), self.out.limit());
        }
    }

    /// Queues this connection for the end-of-turn flush (once).
    pub(super) fn mark_dirty(&mut self, reactor: &mut ReactorCore) {
        if !self.dirty && !self.out.is_empty() {
            self.dirty = true;
            reactor.mark_dirty(self.token);
        }
    }
}

impl<P: Drive> Connection<P> {
    /// The end-of-turn flush for a connection on the dirty list.
    pub(crate) fn flush_dirty(&mut self, reactor: &mut ReactorCore) {
        self.core.dirty = false;
        self.settle(reactor, true);
    }

    /// Pre-encoded bytes from a [`ConnectionHandle`](crate::ConnectionHandle) or a group,
    /// charged to this connection when they were posted. A handle's write was admitted under
    /// the limit counting what was in flight, so it is queued without a second check (which
    /// could only refuse what the sender was told had been taken); a broadcast was admitted
    /// on the connection's own queue alone, so the limit is checked here (`recheck`).
    pub(crate) fn write_posted(&mut self, reactor: &mut ReactorCore, bytes: Bytes, recheck: bool) {
        if let Some(shared) = &self.core.shared {
            shared.delivered(posted_cost(bytes.len()));
        }
        if !self.core.accepts_writes() || self.core.overflowed {
            return;
        }
        if recheck {
            self.core.queue_chunk(bytes, false);
        } else {
            self.core.out.push_chunk(bytes, false);
        }
        // Posted writes arrive in bursts (a turn's worth of broadcasts from every connection
        // of a busy room): past the high watermark, hand them to the kernel now rather than
        // at the end of the turn, so a reader that keeps up is not judged on a queue that
        // only the end-of-turn flush would have drained.
        let flush_now = self.core.out.cost() > self.core.out.watermarks().high();
        self.settle(reactor, flush_now);
    }
}
