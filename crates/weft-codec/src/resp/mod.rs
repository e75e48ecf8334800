//! The Redis protocol: [`RespCodec`] decodes client requests (RESP2, which clients send
//! under either protocol) and encodes [`RespValue`] replies, RESP2 or RESP3; [`RespRequestEncoder`] writes requests, as a client does.
//!
//! # Requests
//!
//! A client sends a command as an array of bulk strings, or as one inline line, the way
//! `redis-server` accepts both:
//!
//! ```text
//!   *2\r\n$3\r\nGET\r\n$3\r\nkey\r\n      → [b"GET", b"key"]
//!   PING\r\n                              → [b"PING"]
//!   SET k "two words"\r\n                 → [b"SET", b"k", b"two words"]
//! ```
//!
//! A frame is a [`Vec<Bytes>`] of the command's arguments. Each argument of an array request
//! is a slice of the bytes split off the read buffer: no argument is copied. Inline
//! arguments are slices too, unless quoting or escapes made them differ from the wire.
//!
//! Empty requests (`*0\r\n`, `*-1\r\n`, a blank inline line) are consumed and yield nothing,
//! as `redis-server` ignores them.
//!
//! # Limits
//!
//! Every limit in [`RespLimits`] is checked as soon as the number it bounds is known: an
//! array count or bulk length over its limit fails the moment its header line arrives,
//! before any of the announced bytes; capacity is never reserved for a declared length.
//! Header lines (`*N\r\n`, `$N\r\n`) longer than 32 bytes are malformed.
//!
//! | exceeded | error |
//! |---|---|
//! | [`max_bulk_len`](RespLimits::max_bulk_len) | [`CodecError::is_frame_too_long`], limit = that value, detail `invalid bulk length` |
//! | [`max_inline_len`](RespLimits::max_inline_len) | [`CodecError::is_frame_too_long`], limit = that value, detail `too big inline request` |
//! | [`max_request_len`](RespLimits::max_request_len) | [`CodecError::is_frame_too_long`], limit = that value, detail `invalid bulk length` (`too big inline request` for an inline line) |
//! | [`max_args`](RespLimits::max_args) | [`CodecError::is_malformed`] (`invalid multibulk length`) |
//!
//! The error details read like `redis-server`'s protocol errors, so a server may answer
//! `-ERR Protocol error: <detail>` (see [`CodecError::detail`]).
//!
//! # Partial requests
//!
//! The decoder remembers how far it got (the arguments already located, the length of the
//! bulk string it waits for, how much of an inline line it has scanned), so a request that
//! arrives in many small pieces costs time linear in its length.
//!
//! At end of stream, a trailing partial request is left for the framework to report as
//! truncated ([`CodecError::is_truncated`]).

// Where the code is: `parse` reads the wire format (header lines `*N`, `$N`; inline lines
// split into arguments); `request` has `RespLimits`, the decoder (`RespCodec` and how far
// it got into a request) and `RespRequestEncoder`; `value` has `RespValue` and its encoder.

#[cfg(doc)]
use {crate::CodecError, bytes::Bytes};

mod parse;
mod reply;
mod request;
mod value;

pub use reply::{ReplyLimits, RespReplyCodec};
pub use request::{RespCodec, RespLimits, RespRequestEncoder};
pub use value::RespValue;

/// The codec the unit tests use: limits small enough to reach.
#[cfg(test)]
fn test_codec() -> RespCodec {
    RespCodec::new(RespLimits {
        max_bulk_len: 16,
        max_args: 4,
        max_inline_len: 32,
        max_request_len: 64,
    })
}

/// An argument list, as the decoder yields it.
#[cfg(test)]
fn test_args(list: &[&str]) -> Vec<bytes::Bytes> {
    list.iter()
        .map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}
