//! The [`Handler`] trait: what a connection's user code implements.

use crate::config::Idle;
use crate::error::{CloseReason, Error};
use crate::id::TimerId;
use crate::pipeline::Context;

/// The user code of a connection: receives decoded messages and lifecycle events.
///
/// One handler value exists per connection (a fresh one from the pipeline factory), and it
/// only ever runs on the reactor thread that owns the connection, so it needs no locks and
/// need not be `Send`. Every callback gets the connection's [`Context`], through which it
/// writes, closes, pauses reading, schedules timers and offloads work.
///
/// # Event order
///
/// ```text
///   on_active
///   ( on_message* on_read_complete )*          one on_read_complete per read batch
///     interleaved with on_writability_changed, on_idle, on_timer, continuations
///   [ on_decode_error ]                         then the connection closes
///   [ on_output_limit ]                         then the connection closes
///   [ on_read_closed ]                          the peer half-closed; default: close
///   on_inactive                                 exactly once, last
/// ```
///
/// A panic in any callback closes the connection (its owed output is still flushed), is
/// logged with the connection id, and does not reach other connections; the handler is not
/// called again.
pub trait Handler: Sized + 'static {
    /// The message type the handler receives (the decoder's item, or the last stage's).
    ///
    /// It may borrow the connection's read buffer (`type In<'a> = &'a [u8]` with a
    /// [`LineCodec`](crate::codec::LineCodec)): a borrowed message lives for one
    /// [`on_message`](Handler::on_message) call, and a handler that keeps it copies what it
    /// keeps. An owned type ignores the lifetime (`type In<'a> = Bytes`).
    type In<'a>;
    /// The message type the handler writes (encoded by the pipeline's codec). It may borrow
    /// too (`type Out<'a> = &'a [u8]`): the encoder copies it into the outbound queue during
    /// [`Context::write`], so a handler can echo a borrowed line without allocating.
    type Out<'a>;

    /// The connection is registered and ready; the peer may already have sent data.
    fn on_active(&mut self, _ctx: &mut Context<'_, Self>) {}

    /// One decoded message.
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, msg: Self::In<'_>);

    /// The end of a read batch: every message decoded from the bytes read this turn has been
    /// delivered. Output written during the batch is flushed right after this returns.
    fn on_read_complete(&mut self, _ctx: &mut Context<'_, Self>) {}

    /// The peer closed its sending side (end of stream). The default closes the connection
    /// once the owed output is flushed; override it to keep writing to a half-closed
    /// connection, and call [`Context::close`] when done.
    fn on_read_closed(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.close();
    }

    /// The connection's unsent output crossed a watermark: `false` once it rose above the
    /// high watermark, `true` once it fell below the low one again.
    fn on_writability_changed(&mut self, _ctx: &mut Context<'_, Self>, _writable: bool) {}

    /// The connection's queued output would have passed its output limit
    /// ([`ServerBuilder::output_limit`](crate::ServerBuilder::output_limit)): its peer reads
    /// too slowly, or one reply alone was too large. The message that would have passed it
    /// was not queued, and nothing after it will be; the connection closes with
    /// [`CloseReason::SlowConsumer`] once what was queued before is flushed (or the close
    /// deadline passes).
    ///
    /// Called once. A write made here is queued despite the limit: the place for a last
    /// error reply (`-ERR reply too large`). [`Context::abort`] discards what is queued
    /// instead. The default does nothing.
    fn on_output_limit(&mut self, _ctx: &mut Context<'_, Self>) {}

    /// The connection has been idle (see the server's idle settings). Fires again after each
    /// further idle period. The default does nothing.
    fn on_idle(&mut self, _ctx: &mut Context<'_, Self>, _idle: Idle) {}

    /// A timer scheduled through the context fired.
    fn on_timer(&mut self, _ctx: &mut Context<'_, Self>, _timer: TimerId) {}

    /// The decoder found the inbound stream corrupt (for instance a frame over its maximum,
    /// see [`Error::is_frame_too_long`]). The handler may write a last answer; the
    /// connection then closes after flushing everything queued.
    ///
    /// Also called when the stream ended inside a frame ([`Error::is_truncated`]: the peer
    /// closed its sending side with a partial frame left, and the decoder does not drop
    /// those; see "End of stream" in [`Decoder`](crate::codec::Decoder)). That one is
    /// logged at debug level only, and the end of stream then goes on as usual
    /// ([`on_read_closed`](Handler::on_read_closed), whose default closes).
    fn on_decode_error(&mut self, _ctx: &mut Context<'_, Self>, _error: &Error) {}

    /// The connection is closed; called exactly once, last. Writes are discarded.
    fn on_inactive(&mut self, _ctx: &mut Context<'_, Self>, _reason: CloseReason) {}
}
