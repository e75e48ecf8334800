//! Pipelines: a codec, zero or more stages, and a handler, composed statically.
//!
//! ```text
//!                    inbound                                   outbound
//!   socket ─► read buffer ─► Decoder ─► Stage… ─► Handler ─► Context::write
//!                          (frames are Bytes          │            │
//!                           split off the buffer)     │            ▼
//!                                                     │       Encoder ─► outbound queue ─► socket
//!                                                     └─ Context::write_bytes (pre-encoded) ─┘
//! ```
//!
//! Every step is a concrete type: a frame goes from the decoder through the stages to the
//! handler by direct (inlinable) calls, with no boxing or allocation. The connection (in
//! `conn/`) drives its pipeline through the crate-private `Drive` trait it defines, which
//! this module implements; the pipeline knows nothing of sockets or mio.

mod context;
mod drive;
mod handler;
mod stage;

pub use context::Context;
pub use handler::Handler;
pub use stage::{Identity, Stage, Then};

use weft_codec::Decoder;

/// A connection's codec, stages and handler.
///
/// Built per connection by the factory given to
/// [`ServerBuilder::pipeline`](crate::ServerBuilder::pipeline):
///
/// ```
/// use weft::codec::LineCodec;
/// use weft::{Context, Handler, Pipeline};
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
/// let factory = || Pipeline::new(LineCodec::new(8192), Echo);
/// # let _ = factory();
/// ```
#[derive(Debug)]
pub struct Pipeline<C, S, H> {
    codec: C,
    stages: S,
    handler: H,
}

impl<C, H> Pipeline<C, Identity<C>, H>
where
    C: Decoder + 'static,
    H: for<'m> Handler<In<'m> = C::Item<'m>>,
{
    /// A pipeline with no stages: the decoder's frames go straight to `handler`. (That the
    /// codec encodes what the handler writes is checked where the pipeline is used.)
    pub fn new(codec: C, handler: H) -> Self {
        Pipeline {
            codec,
            stages: Identity::new(),
            handler,
        }
    }
}

impl<C: Decoder> Pipeline<C, Identity<C>, ()> {
    /// Starts a pipeline with stages: `Pipeline::builder(codec).stage(a).stage(b).handler(h)`.
    pub fn builder(codec: C) -> PipelineBuilder<C, Identity<C>> {
        PipelineBuilder {
            codec,
            stages: Identity::new(),
        }
    }
}

/// A pipeline with no stages, as [`Pipeline::new`] builds it: a codec `C` and a handler `H`.
///
/// Name it where a type must be spelled (a factory function, a test helper), instead of
/// the empty stage `Pipeline<C, Identity<C>, H>`:
///
/// ```
/// use weft::codec::LineCodec;
/// use weft::{Context, Handler, Pipeline, SimplePipeline};
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
/// fn echo_pipeline(max_line: usize) -> SimplePipeline<LineCodec, Echo> {
///     Pipeline::new(LineCodec::new(max_line), Echo)
/// }
/// # let _ = echo_pipeline(64);
/// ```
pub type SimplePipeline<C, H> = Pipeline<C, Identity<C>, H>;

/// A pipeline under construction: a codec and the stages so far.
#[derive(Debug)]
pub struct PipelineBuilder<C, S> {
    codec: C,
    stages: S,
}

impl<C: Decoder, S: Stage> PipelineBuilder<C, S> {
    /// Appends a stage that receives what the previous step passes on.
    pub fn stage<T>(self, stage: T) -> PipelineBuilder<C, Then<S, T>>
    where
        T: for<'m> Stage<In<'m> = S::Fwd<'m>>,
    {
        PipelineBuilder {
            codec: self.codec,
            stages: Then::new(self.stages, stage),
        }
    }

    /// Ends the pipeline with its handler.
    pub fn handler<H>(self, handler: H) -> Pipeline<C, S, H>
    where
        H: for<'m> Handler<In<'m> = S::Fwd<'m>>,
    {
        Pipeline {
            codec: self.codec,
            stages: self.stages,
            handler,
        }
    }
}
