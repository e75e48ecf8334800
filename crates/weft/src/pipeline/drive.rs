//! [`Drive`] for every [`Pipeline`] whose parts fit together: how the events a connection
//! delivers reach the codec, the stages and the handler.

use std::any::Any;

use bytes::BytesMut;
use weft_codec::{Decoder, Encoder};

use super::{Context, Handler, Pipeline, Stage};
use crate::config::Idle;
use crate::conn::{ConnCore, Drive};
use crate::error::{Chain, CloseReason, Error};
use crate::id::TimerId;
use crate::services::ReactorCore;

/// A continuation posted back to the reactor by an offloaded job or a task.
pub(crate) type Continuation<H> = Box<dyn for<'a> FnOnce(&mut H, &mut Context<'a, H>) + Send>;

impl<C, S, H> Pipeline<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    /// Builds the context and calls `f` with the handler, the stages and it.
    #[inline]
    fn with<R>(
        &mut self,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
        f: impl FnOnce(&mut H, &mut S, &mut Context<'_, H>) -> R,
    ) -> R {
        let mut ctx = Context {
            encoder: &mut self.codec,
            conn,
            reactor,
        };
        f(&mut self.handler, &mut self.stages, &mut ctx)
    }
}

/// The rare ends of the dispatch loop, out of line (and marked cold) so that the loop stays
/// small enough for the compiler to inline the handler's `on_message` into it.
impl<C, S, H> Pipeline<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    /// The end-of-stream rule (see `Decoder`): a frame still in progress once `decode_eof` is
    /// done was cut short. The handler hears of it; the end of stream then goes on as usual
    /// (nothing more can arrive).
    #[cold]
    #[inline(never)]
    fn end_of_stream(
        &mut self,
        buf: &mut BytesMut,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
    ) {
        if self.codec.frame_in_progress(buf) {
            let err = Error::decode(weft_codec::CodecError::truncated());
            tracing::debug!(conn = %conn.id, remaining = buf.len(), "end of stream inside a frame: {}", Chain(&err));
            self.with(conn, reactor, |h, _, ctx| h.on_decode_error(ctx, &err));
            self.writability(conn, reactor);
        }
        buf.clear();
    }

    /// The decoder found the stream corrupt: the handler hears of it, and the connection
    /// closes.
    #[cold]
    #[inline(never)]
    fn decode_failed(
        &mut self,
        err: <C as Decoder>::Error,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
    ) {
        let err = Error::decode(err);
        self.with(conn, reactor, |h, _, ctx| h.on_decode_error(ctx, &err));
        conn.fail(CloseReason::DecodeError, &Chain(&err));
    }
}

impl<C, S, H> Drive for Pipeline<C, S, H>
where
    C: Decoder + for<'m> Encoder<H::Out<'m>> + 'static,
    S: for<'m> Stage<In<'m> = C::Item<'m>, Fwd<'m> = H::In<'m>>,
    H: Handler,
{
    fn type_names() -> (&'static str, &'static str) {
        (std::any::type_name::<H>(), std::any::type_name::<S>())
    }

    fn active(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        self.with(conn, reactor, |h, s, ctx| {
            s.on_active(ctx);
            h.on_active(ctx);
        });
        self.writability(conn, reactor);
    }

    fn dispatch(
        &mut self,
        buf: &mut BytesMut,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
    ) -> usize {
        let mut decoded = 0;
        // Whether the decoder stopped waiting for the rest of a frame (not paused, not
        // failed): what the frame deadline counts.
        let mut waiting = false;
        while conn.may_dispatch() {
            // The frame may borrow `buf`: it is handled, and gone with the `let`, before
            // the buffer is looked at again.
            let failure = match if conn.reading.peer_eof {
                self.codec.decode_eof(buf)
            } else {
                self.codec.decode(buf)
            } {
                Ok(Some(frame)) => {
                    decoded += 1;
                    self.with(conn, reactor, |h, s, ctx| {
                        if let Some(msg) = s.on_message(ctx, frame) {
                            h.on_message(ctx, msg);
                        }
                    });
                    self.writability(conn, reactor);
                    continue;
                }
                Ok(None) => None,
                Err(err) => Some(err),
            };
            match failure {
                None if conn.reading.peer_eof => self.end_of_stream(buf, conn, reactor),
                None => waiting = self.codec.frame_in_progress(buf),
                Some(err) => self.decode_failed(err, conn, reactor),
            }
            break;
        }
        conn.note_frame(waiting, decoded > 0, reactor.now());
        decoded
    }

    fn read_complete(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        self.with(conn, reactor, |h, _, ctx| h.on_read_complete(ctx));
        self.writability(conn, reactor);
    }

    fn read_closed(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        self.with(conn, reactor, |h, _, ctx| h.on_read_closed(ctx));
        self.writability(conn, reactor);
    }

    fn writability(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        if conn.take_overflow_notice() {
            conn.with_last_reply(|conn| {
                self.with(conn, reactor, |h, _, ctx| h.on_output_limit(ctx));
            });
        }
        while let Some(writable) = conn.out.take_writability_change() {
            conn.apply_backpressure(reactor, writable);
            self.with(conn, reactor, |h, _, ctx| {
                h.on_writability_changed(ctx, writable)
            });
        }
    }

    fn idle(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, idle: Idle) {
        self.with(conn, reactor, |h, _, ctx| h.on_idle(ctx, idle));
        self.writability(conn, reactor);
    }

    fn timer(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, timer: TimerId) {
        self.with(conn, reactor, |h, _, ctx| h.on_timer(ctx, timer));
        self.writability(conn, reactor);
    }

    fn continuation(
        &mut self,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
        call: Box<dyn Any + Send>,
    ) {
        match call.downcast::<Continuation<H>>() {
            Ok(call) => self.with(conn, reactor, |h, _, ctx| call(h, ctx)),
            Err(_) => {
                tracing::error!(conn = %conn.id, "continuation of a foreign handler type dropped");
            }
        }
        self.writability(conn, reactor);
    }

    fn inactive(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, reason: CloseReason) {
        self.with(conn, reactor, |h, s, ctx| {
            s.on_inactive(ctx, reason);
            h.on_inactive(ctx, reason);
        });
    }
}
