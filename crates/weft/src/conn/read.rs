//! Reading (after the PROXY header, if any: `proxy.rs`): budgeted, edge-triggered reads into the shared or the connection's own buffer,
//! decoding and dispatch (see "Reading" in the module docs), and LINGERING's
//! read-and-discard.

use std::io;

use bytes::BytesMut;

use super::guard::guarded;
use super::{ConnCore, Connection, Drive};
use crate::error::CloseReason;
use crate::metrics::Callback;
use crate::services::ReactorCore;

/// How much the reactor's read buffer asks the kernel for in one read.
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// How much a connection's own (partial-frame) buffer grows by at a time: partial frames
/// are usually small, and small buffers can go back to the reactor's pool.
const OWN_CHUNK: usize = 8 * 1024;

/// What one read of a connection's socket gave (see [`ConnCore::read_step`]).
pub(super) enum ReadStep {
    /// This many bytes; 0 is the end of stream.
    Bytes(usize),
    /// Nothing more for now (`WouldBlock`).
    Drained,
    /// The read failed; the connection was failed with the error (`io_failed`).
    Failed,
}

impl ConnCore {
    /// Reads at most `want` bytes into `buf`'s spare capacity, retrying an interrupted
    /// read: the one place that tells a read's outcomes apart, for every reader (the
    /// pipeline's, the PROXY header's, a splice's pump). Always inlined: called once per
    /// read on the hottest path, and a call here measured +16 instructions per event in
    /// `many` (benches/cost.sh, callgrind).
    #[inline(always)]
    pub(super) fn read_step(&mut self, buf: &mut BytesMut, want: usize) -> ReadStep {
        loop {
            match self.io.read_into(buf, want) {
                Ok(n) => return ReadStep::Bytes(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadStep::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_failed("read", &e);
                    return ReadStep::Failed;
                }
            }
        }
    }
}

impl<P: Drive> Connection<P> {
    /// Reads and delivers within the per-turn budget (see the module docs).
    pub(crate) fn on_readable(&mut self, reactor: &mut ReactorCore, reactor_buf: &mut BytesMut) {
        if self.core.phase.is_closed() {
            return;
        }
        if self.core.phase.is_lingering() {
            self.discard_input(reactor, reactor_buf);
            return;
        }
        if self.core.awaiting_header && !self.read_header(reactor, reactor_buf) {
            return; // the PROXY header is still awaited, or was refused (see `proxy.rs`)
        }
        if self.core.io.awaiting_handshake() && !self.advance_handshake(reactor) {
            return; // the TLS handshake is still running, or failed (see `tls.rs`)
        }
        // One published span for the whole batch (decoding, on_message, on_read_complete,
        // on_read_closed): the watchdog learns what runs at four stores per read, not per
        // message.
        reactor
            .counters()
            .activity
            .enter(Callback::Dispatch, self.core.id.as_u64());
        let alive = self.read_batch(reactor, reactor_buf);
        reactor.counters().activity.leave();
        if alive {
            self.settle(reactor, true);
        }
    }

    /// The reading and dispatch of [`on_readable`](Self::on_readable); false if the
    /// connection failed (and must not be settled).
    #[inline]
    fn read_batch(&mut self, reactor: &mut ReactorCore, reactor_buf: &mut BytesMut) -> bool {
        let Connection {
            core,
            read_buf,
            pipeline,
            ..
        } = self;
        let mut decoded = 0;
        // Frames left buffered by a pause go first.
        if !read_buf.is_empty() && core.may_dispatch() {
            guarded(core, reactor, None, |core, reactor| {
                decoded += pipeline.dispatch(read_buf, core, reactor)
            });
        }
        let budget = reactor.config().read_budget;
        let mut total = 0;
        while core.may_read() {
            let own = !read_buf.is_empty();
            let buf: &mut BytesMut = if own { read_buf } else { reactor_buf };
            if buf.capacity() - buf.len() < 1024 {
                if own {
                    buf.reserve(OWN_CHUNK);
                } else {
                    reactor.renew_read_chunk(buf, READ_CHUNK);
                }
            }
            let want = (buf.capacity() - buf.len()).min(budget - total);
            let n = match core.read_step(buf, want) {
                ReadStep::Bytes(n) => n,
                ReadStep::Drained => break,
                ReadStep::Failed => return false,
            };
            if n == 0 {
                core.reading.peer_eof = true; // ACTIVE → READ-CLOSED
            } else {
                total += n;
                core.last_read = reactor.now();
                reactor.counters().read(n);
            }
            guarded(core, reactor, None, |core, reactor| {
                decoded += pipeline.dispatch(buf, core, reactor)
            });
            if !own && !reactor_buf.is_empty() {
                if read_buf.capacity() == 0 {
                    *read_buf = reactor.take_partial_buffer();
                }
                read_buf.extend_from_slice(reactor_buf);
                reactor_buf.clear();
            }
            if n < want && !core.reading.hangup_seen && !core.io.input_ended() {
                break; // drained for now: another read would only say WouldBlock
            }
            if total >= budget {
                reactor.mark_ready(core.token); // more to read: next turn, after the others
                break;
            }
        }
        if read_buf.is_empty() && read_buf.capacity() > 0 {
            reactor.give_partial_buffer(std::mem::take(read_buf));
        }
        core.arm_frame_timer(reactor);
        if decoded > 0 && !core.phase.is_closed() {
            guarded(core, reactor, None, |core, reactor| {
                pipeline.read_complete(core, reactor)
            });
        }
        if core.reading.peer_eof && read_buf.is_empty() && !core.reading.read_closed_delivered {
            core.reading.read_closed_delivered = true;
            if core.may_dispatch() {
                guarded(core, reactor, None, |core, reactor| {
                    pipeline.read_closed(core, reactor)
                });
            } else {
                core.request_close(CloseReason::PeerClosed);
            }
        }
        true
    }

    /// LINGERING: read and drop input until the peer's EOF.
    fn discard_input(&mut self, reactor: &mut ReactorCore, reactor_buf: &mut BytesMut) {
        let core = &mut self.core;
        let mut total = 0;
        loop {
            reactor_buf.clear();
            reactor_buf.reserve(READ_CHUNK);
            let want = reactor_buf.capacity();
            match core.io.read_into(reactor_buf, want) {
                Ok(0) => {
                    core.reading.peer_eof = true;
                    core.phase.finish_close(); // LINGERING → CLOSED: the peer's EOF
                    break;
                }
                Ok(n) => {
                    reactor.counters().read(n);
                    total += n;
                    if n < want && !core.reading.hangup_seen && !core.io.input_ended() {
                        break;
                    }
                    if total >= reactor.config().read_budget {
                        reactor.mark_ready(core.token);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // LINGERING → CLOSED: the peer reset after our FIN; everything owed was
                    // already sent.
                    core.phase.finish_close();
                    break;
                }
            }
        }
        reactor_buf.clear();
    }
}
