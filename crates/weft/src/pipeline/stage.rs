//! [`Stage`]s: statically composed steps between the decoder and the handler.

use std::fmt;
use std::marker::PhantomData;

use weft_codec::Decoder;

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
/// use weft::{Context, Handler, Pipeline, Stage};
///
/// struct SkipEmpty;
///
/// impl Stage for SkipEmpty {
///     type In<'a> = &'a [u8];
///     type Fwd<'a> = &'a [u8];
///     // Written with `Self::In<'m>` and `Self::Fwd<'m>`, as in the trait.
///     fn on_message<'m, H: Handler>(
///         &mut self,
///         _ctx: &mut Context<'_, H>,
///         line: Self::In<'m>,
///     ) -> Option<Self::Fwd<'m>> {
///         (!line.is_empty()).then_some(line) // None: consumed here
///     }
/// }
///
/// struct Echo;
///
/// impl Handler for Echo {
///     type In<'a> = &'a [u8];
///     type Out<'a> = &'a [u8];
///     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
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
    /// What the stage receives; like [`Handler::In`], it may borrow the read buffer.
    type In<'a>;
    /// What the stage passes on (it may borrow from what it received).
    type Fwd<'a>;

    /// Handles one message; `Some` passes a message on to the next step.
    ///
    /// Implement it with the same signature, `msg: Self::In<'m>` and
    /// `-> Option<Self::Fwd<'m>>`, rather than the types they stand for: the message's
    /// lifetime is a parameter of the method, and the compiler matches it only in that
    /// form.
    fn on_message<'m, H: Handler>(
        &mut self,
        ctx: &mut Context<'_, H>,
        msg: Self::In<'m>,
    ) -> Option<Self::Fwd<'m>>;

    /// The connection became active (called before the handler's `on_active`).
    fn on_active<H: Handler>(&mut self, _ctx: &mut Context<'_, H>) {}

    /// The connection closed (called before the handler's `on_inactive`).
    fn on_inactive<H: Handler>(&mut self, _ctx: &mut Context<'_, H>, _reason: CloseReason) {}
}

/// The empty stage: passes every message of decoder `D` on unchanged.
pub struct Identity<D>(PhantomData<fn(D) -> D>);

impl<D> Identity<D> {
    pub(crate) fn new() -> Self {
        Identity(PhantomData)
    }
}

impl<D> fmt::Debug for Identity<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity")
    }
}

impl<D: Decoder + 'static> Stage for Identity<D> {
    type In<'a> = D::Item<'a>;
    type Fwd<'a> = D::Item<'a>;

    #[inline(always)]
    fn on_message<'m, H: Handler>(
        &mut self,
        _ctx: &mut Context<'_, H>,
        msg: D::Item<'m>,
    ) -> Option<D::Item<'m>> {
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
    B: for<'a> Stage<In<'a> = A::Fwd<'a>>,
{
    type In<'a> = A::In<'a>;
    type Fwd<'a> = B::Fwd<'a>;

    #[inline]
    fn on_message<'m, H: Handler>(
        &mut self,
        ctx: &mut Context<'_, H>,
        msg: A::In<'m>,
    ) -> Option<B::Fwd<'m>> {
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
