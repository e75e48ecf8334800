//! The protocol logic of weft's sample servers, as a library so that the example binaries
//! and the integration tests in `examples/tests/` run the very same handlers.
//!
//! * [`resp`]: a small Redis-compatible key-value server (`resp_server`).
//! * [`http`]: an HTTP/1.1 server answering `Hello, World!` (`http_hello`).
//! * [`metrics`]: the `--metrics-addr` endpoint every sample serves (`GET /metrics`).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod http;
pub mod metrics;
pub mod resp;
