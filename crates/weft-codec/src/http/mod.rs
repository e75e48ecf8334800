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
//! * Versions `HTTP/1.0` and `HTTP/1.1` (and `HTTP/1.x`, treated as 1.1). Lines of the
//!   header section may end with `\r\n` or a bare `\n`; empty lines before a request line
//!   are skipped.
//! * The request target (RFC 9112 §3.2): the origin form (`/path?query`), the absolute form
//!   (`scheme://...`), the asterisk form `*` only with `OPTIONS`, and the authority form
//!   (`host:port`) exactly for `CONNECT`, which must use it. The codec parses `CONNECT`
//!   requests; whether to tunnel is the handler's business (a server that does not should
//!   refuse them with 405 or 501, never a 2xx).
//! * `Host` (RFC 9110 §7.2, RFC 9112 §3.2): an HTTP/1.1 request must carry exactly one, and
//!   any `Host` value must be `uri-host [ ":" port ]`: a non-empty reg-name (no comma:
//!   that is what several values combined look like), IPv4 address or `[...]` IP literal,
//!   and a port of at most 5 digits. No path, no user info, no list.
//! * The body (RFC 9112 §6.3): `Content-Length` bytes (none without the field; repeated or
//!   comma-separated values must agree), or a chunked body when `Transfer-Encoding` ends
//!   with `chunked`. Chunked bodies (RFC 9112 §7.1) are decoded: chunk extensions are
//!   ignored, trailer fields are checked and ignored, and [`HttpRequest::body`] is the
//!   data. Chunk-size lines, chunk data and trailer lines must end with `\r\n`.
//! * Framing refused as smuggling-prone, with 400: `Transfer-Encoding` together with
//!   `Content-Length`, `chunked` not last or twice, and `Transfer-Encoding` in an HTTP/1.0
//!   request (RFC 9112 §6.1).
//! * `Expect: 100-continue` (RFC 9110 §10.1.1): by default the codec simply waits for the
//!   body. A codec built [`with_continue_heads(true)`](HttpCodec::with_continue_heads)
//!   yields the head of such a request first when no body byte has arrived yet
//!   ([`HttpRequest::awaits_continue`]), then the complete request, so that the handler
//!   can send `100 Continue` or refuse.
//! * Requests are decoded one at a time, so pipelined requests simply come out in order.
//! * Zero-copy: the header section is split off the read buffer once complete, and the
//!   method, target, header names and values are slices of it; a `Content-Length` body is
//!   split off after it. A chunked body is decoded in place (its data moved over the
//!   chunk-size lines), then split off.
//! * Keep-alive: [`HttpRequest::keep_alive`] applies the rules of RFC 9112 §9.3 (1.1: open
//!   unless `Connection: close`; 1.0: closed unless `Connection: keep-alive`). Closing is
//!   the handler's business: answer, then close.
//!
//! # Errors and the status they call for
//!
//! | error | when | answer |
//! |---|---|---|
//! | [`CodecError::is_uri_too_long`] | the request target passes [`HttpLimits::max_target_len`] bytes (noticed as soon as that many arrived), or the request line alone fills [`HttpLimits::max_head_len`] | 414 |
//! | [`CodecError::is_headers_too_large`] | the header section passes [`HttpLimits::max_head_len`] bytes (noticed as soon as that many bytes arrived without its end), or has more than [`HttpLimits::max_headers`] fields; the same bounds for a chunked body's trailer section | 431 |
//! | [`CodecError::is_frame_too_long`] | `Content-Length`, or the sum of the chunk sizes so far, is above [`HttpLimits::max_body_len`] (noticed on the header or on the chunk size, before its data) | 413 |
//! | [`CodecError::is_unsupported`] | a transfer coding other than `chunked` (such as `gzip, chunked`) | 501 |
//! | [`CodecError::is_malformed`] | anything else not following the grammar, including a bad `Host`, a bad target form, the framing conflicts above, and a chunk-size line over [`HttpLimits::max_chunk_line_len`] | 400 |
//!
//! Capacity is never reserved for a declared body length. After an error the stream
//! cannot be resynchronised: answer, then close.
//!
//! # Partial requests
//!
//! The decoder remembers how far it scanned for the end of the header section (and along
//! the request line, for the target's length), and keeps the parsed head while the body
//! arrives, so a request arriving in small pieces costs time linear in its length. While a
//! chunked body arrives, the buffer holds its decoded data (at most `max_body_len`) and at
//! most one incomplete chunk-size line (`max_chunk_line_len`) or trailer section
//! (`max_head_len`). At end of stream a trailing partial request is left for the
//! framework to report as truncated ([`CodecError::is_truncated`]).

// Where the code is: this file has `Version` and `HttpLimits`; `parse` reads the wire format
// (the end of the header section, the request line, the fields); `request` has
// `HttpRequest`, the decoder (`HttpCodec` and its progress through a request) and
// `HttpRequestEncoder`; `response` has `HttpResponse`, `reason_phrase`, the response
// encoder and the field writing both encoders share.

use std::fmt;

#[cfg(doc)]
use crate::CodecError;

mod chunked;
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
    /// The longest body (`Content-Length`, or the sum of the chunk sizes of a chunked
    /// body), in bytes.
    pub max_body_len: usize,
    /// The longest request target (the URI of the request line), in bytes. Longer is
    /// [`CodecError::is_uri_too_long`] (414), noticed as soon as that many bytes of it
    /// arrived. It is also refused as 414 when the request line alone fills
    /// `max_head_len`.
    pub max_target_len: usize,
    /// The longest chunk-size line of a chunked body (size, extensions and `\r\n`), in
    /// bytes.
    pub max_chunk_line_len: usize,
}

impl Default for HttpLimits {
    /// Header sections up to 8 KiB with at most 100 fields; bodies up to 1 MiB; request
    /// targets up to 8000 bytes (the minimum RFC 9112 §3 recommends supporting); chunk-size
    /// lines up to 1 KiB.
    fn default() -> Self {
        HttpLimits {
            max_head_len: 8 << 10,
            max_headers: 100,
            max_body_len: 1 << 20,
            max_target_len: 8000,
            max_chunk_line_len: 1 << 10,
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
        max_target_len: 32,
        max_chunk_line_len: 16,
    })
}
