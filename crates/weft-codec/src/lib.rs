//! Framing codecs for [weft]: bytes in, frames out.
//!
//! A codec turns the byte stream of one connection into frames ([`Decoder`]) and messages
//! back into bytes ([`Encoder`]). The traits are shaped like `tokio-util`'s, so a codec written
//! for tokio ports with little more than a change of `use` lines.
//!
//! This crate depends on [`bytes`] only and contains no `unsafe` code. Every codec here has a
//! mandatory maximum frame size: there is no constructor that lets a peer make the decoder
//! buffer without bound.
//!
//! | codec | frames | module |
//! |---|---|---|
//! | [`LineCodec`] | bytes up to and including `\n` | [`line`] |
//!
//! [weft]: https://docs.rs/weft
#![forbid(unsafe_code)]

pub mod decoder;
pub mod encoder;
pub mod error;
pub mod line;

pub use decoder::Decoder;
pub use encoder::Encoder;
pub use error::{CodecError, CodecErrorKind};
pub use line::LineCodec;

pub use bytes::{Bytes, BytesMut};
