//! A minimal HTTP/1.1 server codec: [`HttpCodec`] decodes [`HttpRequest`]s and encodes
//! [`HttpResponse`]s; [`HttpRequestEncoder`] writes requests, as a client does.
//!
//! # What is decoded
//!
//! ```text
//!   GET /index.html HTTP/1.1\r\n     request line: method SP target SP version
//!   Host: example.com\r\n            header fields: name ":" OWS value OWS
//!   Content-Length: 5\r\n
//!   \r\n                             end of the header section
//!   hello                            body: exactly Content-Length bytes
//! ```
//!
//! * Versions `HTTP/1.0` and `HTTP/1.1` (and `HTTP/1.x`, treated as 1.1). Lines may end
//!   with `\r\n` or a bare `\n`; empty lines before a request line are skipped.
//! * The body is `Content-Length` bytes (none without the header). Repeated or
//!   comma-separated `Content-Length` values must agree. A request with
//!   `Transfer-Encoding` (chunked bodies) is refused: this codec does not implement it.
//! * An HTTP/1.1 request must carry exactly one `Host` field.
//! * Requests are decoded one at a time, so pipelined requests simply come out in order.
//! * Zero-copy: the request is split off the read buffer once complete, and the method,
//!   target, header names and values and the body are slices of it.
//! * Keep-alive: [`HttpRequest::keep_alive`] applies the rules of RFC 9112 §9.3 (1.1: open
//!   unless `Connection: close`; 1.0: closed unless `Connection: keep-alive`). Closing is
//!   the handler's business: answer, then close.
//!
//! # Errors and the status they call for
//!
//! | error | when | answer |
//! |---|---|---|
//! | [`CodecError::is_headers_too_large`] | the header section passes [`HttpLimits::max_head_len`] bytes (noticed as soon as that many bytes arrived without its end), or has more than [`HttpLimits::max_headers`] fields | 431 |
//! | [`CodecError::is_frame_too_long`] | `Content-Length` is above [`HttpLimits::max_body_len`] (noticed on the header, before any body byte) | 413 |
//! | [`CodecError::is_unsupported`] | `Transfer-Encoding` is present | 501 |
//! | [`CodecError::is_malformed`] | anything else not following the grammar | 400 |
//!
//! Capacity is never reserved for a declared body length. After an error the stream
//! cannot be resynchronised: answer, then close.
//!
//! # Partial requests
//!
//! The decoder remembers how far it scanned for the end of the header section, and keeps
//! the parsed head while the body arrives, so a request arriving in small pieces costs time
//! linear in its length. At end of stream a trailing partial request is left for
//! the framework to report as truncated ([`CodecError::is_truncated`]).

// Where the code is: this file has `Version` and `HttpLimits`; `parse` reads the wire format
// (the end of the header section, the request line, the fields); `request` has
// `HttpRequest`, the decoder (`HttpCodec` and its progress through a request) and
// `HttpRequestEncoder`; `response` has `HttpResponse`, `reason_phrase`, the response
// encoder and the field writing both encoders share.

use std::fmt;

#[cfg(doc)]
use crate::CodecError;

mod parse;
mod request;
mod response;

pub use request::{HttpCodec, HttpRequest, HttpRequestEncoder};
pub use response::{reason_phrase, HttpResponse};

/// An HTTP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each response unless asked otherwise.
    Http10,
    /// HTTP/1.1: connections persist unless asked otherwise.
    Http11,
}

impl Version {
    fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bounds an [`HttpCodec`] enforces on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest header section (request line, fields and the empty line ending it), in
    /// bytes.
    pub max_head_len: usize,
    /// The most header fields in one request.
    pub max_headers: usize,
    /// The longest body (`Content-Length`), in bytes.
    pub max_body_len: usize,
}

impl Default for HttpLimits {
    /// Header sections up to 8 KiB with at most 100 fields; bodies up to 1 MiB.
    fn default() -> Self {
        HttpLimits {
            max_head_len: 8 << 10,
            max_headers: 100,
            max_body_len: 1 << 20,
        }
    }
}

/// The codec the unit tests use: limits small enough to reach.
#[cfg(test)]
fn test_codec() -> HttpCodec {
    HttpCodec::new(HttpLimits {
        max_head_len: 128,
        max_headers: 4,
        max_body_len: 16,
    })
}
