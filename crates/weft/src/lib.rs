//! weft: a multi-reactor TCP server framework in the style of Netty.
//!
//! ```text
//!               ┌──────── acceptor (1 thread) ────────┐
//!   listener ──►│ accept until WouldBlock, set options │
//!               └──────┬──────────────┬──────────────┬─┘
//!                      │ round-robin: inbox + wake-up
//!               ┌──────▼─────┐ ┌──────▼─────┐ ┌──────▼─────┐
//!               │ reactor 0  │ │ reactor 1  │ │ reactor N-1│   one thread each, pinned;
//!               │ mio Poll   │ │ mio Poll   │ │ mio Poll   │   each owns its connections
//!               │ connections│ │ connections│ │ connections│   outright: no locks on the
//!               │ timer wheel│ │ timer wheel│ │ timer wheel│   per-connection path
//!               └────────────┘ └────────────┘ └────────────┘
//! ```
//!
//! Each connection has a [`Pipeline`]: a codec (a [`Decoder`](codec::Decoder) and an
//! [`Encoder`](codec::Encoder)), optional [`Stage`]s, and your [`Handler`]. You write the
//! handler; weft does the event loops, buffering, flow control, timers and threads.
//!
//! ```no_run
//! use weft::codec::LineCodec;
//! use weft::{Bytes, Context, Handler, Pipeline, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type In = Bytes;
//!     type Out = Bytes;
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
//!         ctx.write(line); // flushed once at the end of the read batch
//!     }
//! }
//!
//! let server = Server::builder()
//!     .addr("127.0.0.1:7000".parse()?)
//!     .pipeline(|| Pipeline::new(LineCodec::new(8192), Echo))
//!     .bind()?;
//! println!("listening on {}", server.local_addr());
//! server.join();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Glossary
//!
//! | word | meaning |
//! |---|---|
//! | **acceptor** | the thread that owns the listener and hands out connections |
//! | **reactor** | an event-loop thread; owns its connections for their whole life |
//! | **connection** | one accepted socket, its buffers and its pipeline |
//! | **pipeline** | codec + stages + handler, built per connection by a factory |
//! | **stage** | a typed step between decoder and handler |
//! | **handler** | your code: messages and lifecycle events |
//! | **context** | what a handler can do to its connection |
//! | **handle** | a `Send` reference to a connection, for other threads |
//! | **inbox** / **command** | how other threads hand a reactor work |
//!
//! Reading the source: start at `reactor/` (the loop), then `conn/` (one connection),
//! then `pipeline/`. `docs/architecture.md` in the repository has the whole picture.

#![deny(unsafe_code)]

pub mod codec {
    //! The codecs of `weft-codec`, re-exported.
    pub use weft_codec::*;
}

mod admission;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_internals;
mod config;
mod conn;
mod error;
mod flood;
mod group;
mod id;
mod inbox;
mod metrics;
// The one module allowed `unsafe` (see its docs): everything else is checked by the compiler.
#[allow(unsafe_code)]
mod net;
mod pipeline;
pub mod pool;
mod reactor;
mod remote;
mod server;
mod services;
mod shared;
#[cfg(feature = "test-util")]
pub mod testing;
mod timer;

pub use bytes::{Bytes, BytesMut};
pub use config::{AcceptMode, Idle, IdleTimeouts, WriteWatermarks};
pub use error::{CloseReason, Error, Initiator};
pub use group::Group;
pub use id::{ConnectionId, TimerId};
pub use metrics::{MetricsSnapshot, ReactorMetrics};
pub use pipeline::{Context, Handler, Identity, Pipeline, PipelineBuilder, Stage, Then};
pub use pool::{Cancellation, OffloadError};
pub use remote::{ConnectionHandle, WriteError};
pub use server::{Server, ServerBuilder, ShutdownHandle};
