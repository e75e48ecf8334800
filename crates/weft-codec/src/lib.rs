//! Framing codecs for [weft]: bytes in, frames out.
//!
//! A codec turns the byte stream of one connection into frames ([`Decoder`]) and messages
//! back into bytes ([`Encoder`]). The traits are shaped like `tokio-util`'s, so a codec written
//! for tokio ports with little more than a change of `use` lines.
//!
//! This crate depends on [`bytes`] and [`memchr`] only. It has two `unsafe` blocks, each
//! with its safety argument: [`split_front`], which lends a decoder's frame out of the read
//! buffer, and the SSE2 loads of [`LineCodec`]'s scan for `\n` on x86-64. Every codec here has
//! a mandatory maximum frame size: there is no constructor that lets a peer make the decoder
//! buffer without bound. Decoding errors are [`CodecError`]s; impossible settings are
//! rejected up front with a [`ConfigError`].
//!
//! | codec | frames | at end of stream | module |
//! |---|---|---|---|
//! | [`LineCodec`] | bytes up to and including `\n`, borrowed (`&[u8]`) | partial line discarded | [`line`](mod@line) |
//! | [`DelimiterCodec`] | bytes up to the earliest of several delimiters, kept or stripped | partial frame discarded | [`delimiter`] |
//! | [`LengthFieldCodec`] | a length field in a header announces the frame (Netty's knobs); [`LengthPrepender`] encodes | partial frame reported as truncated | [`length_delimited`] |
//! | [`FixedLengthCodec`] | exactly N bytes | partial frame reported as truncated | [`fixed`] |
//! | [`BytesCodec`] | whatever is buffered, at most N bytes at a time | rest yielded | [`bytes_codec`] |
//! | [`RespCodec`] | Redis (RESP2) requests as argument lists; encodes [`RespValue`] replies | partial request reported as truncated | [`resp`] |
//! | [`HttpCodec`] | HTTP/1.1 requests with `Content-Length` bodies; encodes [`HttpResponse`]s | partial request reported as truncated | [`http`] |
//!
//! [`LineCodec`] lends each line out of the read buffer for the length of one call (see
//! "Borrowed frames" in [`Decoder`]): a handler that keeps a line copies it, so a kept line
//! holds its own bytes and nothing more. The others yield `Bytes` split off the read buffer
//! without copying, which share its allocation for as long as they live.
//!
//! "Reported as truncated": the decoder leaves the partial frame in the buffer, and the
//! framework hands the handler a [`CodecError::truncated`] ("bytes remaining on stream");
//! see "End of stream" in [`Decoder`]. A `(decoder, encoder)` pair is a codec too, so
//! `(LengthFieldCodec, LengthPrepender)` goes into a pipeline as it is (see [`pair`]).
//!
//! [`proxy_protocol`] is not a framing codec: it decodes (and encodes) the PROXY protocol
//! header a load balancer sends once, before a connection's own bytes.
//!
//! Writing your own codec: `docs/codecs.md` in the repository has the contract, the pitfalls
//! and how to test one; [`testing`] has helpers for running a decoder on a bare buffer.
//!
//! [weft]: https://docs.rs/weft
#![deny(unsafe_code)]

pub mod bytes_codec;
pub mod decoder;
pub mod delimiter;
pub mod encoder;
pub mod error;
pub mod fixed;
pub mod http;
pub mod length_delimited;
pub mod line;
pub mod pair;
pub mod proxy_protocol;
pub mod resp;
pub mod shared;
pub mod testing;

pub use bytes_codec::BytesCodec;
pub use decoder::{split_front, Decoder, Detach};
pub use delimiter::{DelimiterCodec, DelimiterMode};
pub use encoder::Encoder;
pub use error::{CodecError, CodecErrorKind, ConfigError};
pub use fixed::FixedLengthCodec;
pub use http::{HttpCodec, HttpLimits, HttpRequest, HttpRequestEncoder, HttpResponse, Version};
pub use length_delimited::{
    Endianness, LengthFieldCodec, LengthFieldCodecBuilder, LengthPrepender,
};
pub use line::LineCodec;
pub use resp::{ReplyLimits, RespCodec, RespLimits, RespReplyCodec, RespRequestEncoder, RespValue};
pub use shared::{Shared, SharedFrames};

pub use bytes::{Bytes, BytesMut};
