//! [`Stage`]s: statically composed steps between the decoder and the handler.

use std::fmt;
use std::marker::PhantomData;

use crate::pipeline::{Context, Handler};
use crate::CloseReason;

/// A step between the decoder and the handler that turns each inbound message into zero or
/// one message for the next step.
///
/// Stages compose statically ([`PipelineBuilder::stage`](crate::PipelineBuilder::stage)), so
/// a message passes through every stage without boxing, dynamic dispatch or allocation.
///
/// ```text
///   bytes ─► decoder ─► stage 1 ─► stage 2 ─► … ─► handler
///                        In→Fwd     In→Fwd          In
/// ```
///
/// A stage sees the same [`Context`] as the handler, so it can write (pre-encoded bytes,
/// with [`Context::write_bytes`]), close the connection or pause reading. Returning `None`
/// consumes the message (a filter, or an aggregator still collecting parts).
///
/// A stage that drops empty lines before the handler sees them, checked here without a
/// socket through `weft::testing::EmbeddedPipeline` (feature
/// `test-util`):
///
/// ```
/// use weft::codec::{line::Terminator, LineCodec};
/// use weft::testing::EmbeddedPipeline;
/// use weft::{Bytes, Context, Handler, Pipeline, Stage};
///
/// struct SkipEmpty;
///
/// impl Stage for SkipEmpty {
///     type In = Bytes;
///     type Fwd = Bytes;
///     fn on_message<H: Handler>(
///         &mut self,
///         _ctx: &mut Context<'_, H>,
///         line: Bytes,
///     ) -> Option<Bytes> {
///         (!line.is_empty()).then_some(line) // None: consumed here
///     }
/// }
///
/// struct Echo;
///
/// impl Handler for Echo {
///     type In = Bytes;
///     type Out = Bytes;
///     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
///         ctx.write(line);
///     }
/// }
///
/// let pipeline = Pipeline::builder(LineCodec::new(1024).terminator(Terminator::Strip))
///     .stage(SkipEmpty)
///     .handler(Echo);
/// let mut pipe = EmbeddedPipeline::new(pipeline);
/// pipe.push(b"a\n\n\nb\n");
/// assert_eq!(&pipe.take_written()[..], b"a\nb\n");
/// ```
pub trait Stage: 'static {
    /// What the stage receives.
    type In;
    /// What the stage passes on.
    type Fwd;

    /// Handles one message; `Some` passes a message on to the next step.
    fn on_message<H: Handler>(
        &mut self,
        ctx: &mut Context<'_, H>,
        msg: Self::In,
    ) -> Option<Self::Fwd>;

    /// The connection became active (called before the handler's `on_active`).
    fn on_active<H: Handler>(&mut self, _ctx: &mut Context<'_, H>) {}

    /// The connection closed (called before the handler's `on_inactive`).
    fn on_inactive<H: Handler>(&mut self, _ctx: &mut Context<'_, H>, _reason: CloseReason) {}
}

/// The empty stage: passes every message on unchanged.
pub struct Identity<T>(PhantomData<fn(T) -> T>);

impl<T> Identity<T> {
    pub(crate) fn new() -> Self {
        Identity(PhantomData)
    }
}

impl<T> fmt::Debug for Identity<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity")
    }
}

impl<T: 'static> Stage for Identity<T> {
    type In = T;
    type Fwd = T;

    #[inline(always)]
    fn on_message<H: Handler>(&mut self, _ctx: &mut Context<'_, H>, msg: T) -> Option<T> {
        Some(msg)
    }
}

/// Two stages in sequence: `A` then `B`.
#[derive(Debug)]
pub struct Then<A, B> {
    first: A,
    second: B,
}

impl<A, B> Then<A, B> {
    pub(crate) fn new(first: A, second: B) -> Self {
        Then { first, second }
    }
}

impl<A, B> Stage for Then<A, B>
where
    A: Stage,
    B: Stage<In = A::Fwd>,
{
    type In = A::In;
    type Fwd = B::Fwd;

    #[inline]
    fn on_message<H: Handler>(&mut self, ctx: &mut Context<'_, H>, msg: A::In) -> Option<B::Fwd> {
        let msg = self.first.on_message(ctx, msg)?;
        self.second.on_message(ctx, msg)
    }

    fn on_active<H: Handler>(&mut self, ctx: &mut Context<'_, H>) {
        self.first.on_active(ctx);
        self.second.on_active(ctx);
    }

    fn on_inactive<H: Handler>(&mut self, ctx: &mut Context<'_, H>, reason: CloseReason) {
        self.first.on_inactive(ctx, reason);
        self.second.on_inactive(ctx, reason);
    }
}
