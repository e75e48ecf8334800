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
//! use weft::{Context, Handler, Pipeline, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type In<'a> = &'a [u8];
//!     type Out<'a> = &'a [u8];
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
//!         ctx.write(line); // flushed once at the end of the read batch
//!     }
//! }
//!
//! let server = Server::builder()
//!     .addr("127.0.0.1:7000")
//!     .pipeline(|| Pipeline::new(LineCodec::new(8192), Echo))
//!     .bind()?;
//! println!("listening on {}", server.local_addr());
//! server.join();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Words
//!
//! weft gives each concept one word: the **acceptor** (the thread owning the listener), a
//! **reactor** (an event-loop thread owning its connections), a **connection**, its
//! **pipeline** (codec, **stages**, **handler**), the **context** a callback acts through, a
//! **connection handle** (a `Send` way to reach a connection), a **group**, the **pool** and
//! its **jobs**, **continuations** (closures run with a connection's handler) and **tasks**
//! (closures run on a reactor with none). The glossary, with where each lives in the code,
//! is in `docs/architecture.md` in the repository.
//!
//! Reading the source: the layers go from value types (`id`, `config`, `error`, `clock`) through the
//! cross-thread pieces (`inbox`, `shared`, `handle`, `group`, `pool`) and the services a
//! reactor lends (`services`) to one connection (`conn/`), its pipeline (`pipeline/`), the
//! loop (`reactor/`) and the server (`server/`); each depends only on those before it.
//! `docs/architecture.md` in the repository draws them.

#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "weft runs on Linux only: it is built on epoll (through mio), SO_REUSEPORT and \
     MSG_NOSIGNAL (see \"Platform\" in the README)"
);

pub mod codec {
    //! The codecs of `weft_codec` (the `weft-reactor-codec` package), re-exported.
    pub use weft_codec::*;
}

mod admission;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_internals;
mod clock;
mod config;
mod conn;
mod dial;
mod error;
mod flood;
mod group;
mod id;
mod inbox;
mod metrics;
// The one module allowed `unsafe` (see its docs): everything else is checked by the compiler.
mod handle;
#[allow(unsafe_code)]
mod net;
mod pipeline;
pub mod pool;
mod queue;
mod reactor;
mod server;
mod services;
mod shared;
#[cfg(feature = "starter")]
pub mod starter;
#[cfg(feature = "test-util")]
pub mod testing;
mod timer;
pub mod tls;

/// The pages of `docs/` and the README, compiled as doctests: every Rust block in them is
/// built (and run unless marked `no_run`) by `cargo test --doc`, so the docs cannot drift
/// from the API. Nothing here is part of the API; it exists only under `cfg(doctest)`.
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../../../README.md")]
    pub mod readme {}
    #[doc = include_str!("../../../docs/architecture.md")]
    pub mod architecture {}
    #[doc = include_str!("../../../docs/client.md")]
    pub mod client {}
    #[doc = include_str!("../../../docs/codecs.md")]
    pub mod codecs {}
    #[doc = include_str!("../../../docs/flow-control.md")]
    pub mod flow_control {}
    #[doc = include_str!("../../../docs/http-hello.md")]
    pub mod http_hello {}
    #[doc = include_str!("../../../docs/lifecycle.md")]
    pub mod lifecycle {}
    #[doc = include_str!("../../../docs/observability.md")]
    pub mod observability {}
    #[doc = include_str!("../../../docs/offload.md")]
    pub mod offload {}
    #[doc = include_str!("../../../docs/performance.md")]
    pub mod performance {}
    #[doc = include_str!("../../../docs/protocols.md")]
    pub mod protocols {}
    #[doc = include_str!("../../../docs/resp-server.md")]
    pub mod resp_server {}
    #[doc = include_str!("../../../docs/scaling.md")]
    pub mod scaling {}
    #[doc = include_str!("../../../docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("../../../docs/tls.md")]
    pub mod tls {}
    #[doc = include_str!("../../../docs/tutorial-chat.md")]
    pub mod tutorial_chat {}
}

pub use bytes::{Bytes, BytesMut};
pub use config::{
    AcceptMode, Idle, IdleTimeouts, IpNet, IpNetParseError, ProxyProtocol, WriteWatermarks,
};
pub use dial::{Backoff, ConnectError, ConnectErrorKind, Connected, Dial, DEFAULT_CONNECT_TIMEOUT};
pub use error::{CloseReason, Error, Initiator, ProxyRejection, TlsFailure};
pub use group::Group;
pub use handle::{ConnectionHandle, WriteError};
pub use id::{ConnectionId, TimerId};
pub use metrics::{HistogramSnapshot, MetricsSnapshot, ReactorMetrics, PROMETHEUS_CONTENT_TYPE};
pub use pipeline::{
    Context, Handler, Identity, Pipeline, PipelineBuilder, SimplePipeline, Stage, Then,
};
pub use pool::{Cancellation, OffloadError};
pub use server::{Client, Dialer, MetricsHandle, Server, ServerBuilder, ShutdownHandle};
pub use weft_codec::proxy_protocol::ProxyHeader;
