//! The error type shared by the codecs in this crate.

use std::fmt;

/// What went wrong in a codec. See [`CodecError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// More than the maximum frame size arrived (or was declared) without a frame boundary.
    FrameTooLong {
        /// The configured maximum, in bytes.
        limit: usize,
    },
    /// The bytes do not follow the codec's format.
    Malformed,
    /// A message could not be encoded (for instance it is longer than the limit).
    Encode,
    /// A message's header section (an HTTP request line and header fields, say) exceeded
    /// its limit, in bytes or in number of fields. HTTP answers this with
    /// `431 Request Header Fields Too Large`.
    HeadersTooLarge {
        /// The configured maximum that was exceeded.
        limit: usize,
    },
    /// A request target (an HTTP request line's URI) is longer than its limit. HTTP answers
    /// this with `414 URI Too Long` (RFC 9112 §3).
    UriTooLong {
        /// The configured maximum, in bytes.
        limit: usize,
    },
    /// The input is well formed but uses a feature the codec does not implement (an HTTP
    /// request body with `Transfer-Encoding: gzip, chunked`, say). HTTP answers this with
    /// `501 Not Implemented`.
    Unsupported,
    /// The stream ended inside a frame: bytes of an incomplete frame remained when the peer
    /// closed its sending side (tokio-util's "bytes remaining on stream"). Reported by the
    /// framework at end of stream, for decoders that do not drop a trailing partial frame
    /// themselves (see [`Decoder::decode_eof`](crate::Decoder::decode_eof)).
    Truncated,
}

/// An error from one of this crate's codecs.
///
/// The decoders return it when the stream is corrupt; the connection that produced it is
/// closed by the framework after the handler had a chance to answer (see
/// [`is_frame_too_long`](CodecError::is_frame_too_long)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    kind: CodecErrorKind,
    detail: &'static str,
}

impl CodecError {
    /// A frame exceeded `limit` bytes.
    pub fn frame_too_long(limit: usize) -> Self {
        CodecError {
            kind: CodecErrorKind::FrameTooLong { limit },
            detail: "frame too long",
        }
    }

    /// A frame exceeded `limit` bytes; `detail` says which part of it, in the protocol's own
    /// words (such as `invalid bulk length` for RESP), so a server can pass it on.
    pub fn frame_too_long_because(limit: usize, detail: &'static str) -> Self {
        CodecError {
            kind: CodecErrorKind::FrameTooLong { limit },
            detail,
        }
    }

    /// The input is malformed; `detail` says how, for logs.
    pub fn malformed(detail: &'static str) -> Self {
        CodecError {
            kind: CodecErrorKind::Malformed,
            detail,
        }
    }

    /// A message could not be encoded; `detail` says why, for logs.
    pub fn encode(detail: &'static str) -> Self {
        CodecError {
            kind: CodecErrorKind::Encode,
            detail,
        }
    }

    /// Header fields exceeded `limit` (bytes, or fields; the codec's documentation says
    /// which).
    pub fn headers_too_large(limit: usize) -> Self {
        CodecError {
            kind: CodecErrorKind::HeadersTooLarge { limit },
            detail: "header section too large",
        }
    }

    /// A request target exceeded `limit` bytes.
    pub fn uri_too_long(limit: usize) -> Self {
        CodecError {
            kind: CodecErrorKind::UriTooLong { limit },
            detail: "request target too long",
        }
    }

    /// The input uses a feature the codec does not implement; `detail` says which, for logs.
    pub fn unsupported(detail: &'static str) -> Self {
        CodecError {
            kind: CodecErrorKind::Unsupported,
            detail,
        }
    }

    /// The stream ended inside a frame: bytes of an incomplete frame remained at end of
    /// stream.
    pub fn truncated() -> Self {
        CodecError {
            kind: CodecErrorKind::Truncated,
            detail: "bytes remaining on stream",
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> CodecErrorKind {
        self.kind
    }

    /// True when a frame was longer than the codec's maximum.
    pub fn is_frame_too_long(&self) -> bool {
        matches!(self.kind, CodecErrorKind::FrameTooLong { .. })
    }

    /// True when the input did not follow the codec's format.
    pub fn is_malformed(&self) -> bool {
        matches!(self.kind, CodecErrorKind::Malformed)
    }

    /// True when a message's header section exceeded its limit.
    pub fn is_headers_too_large(&self) -> bool {
        matches!(self.kind, CodecErrorKind::HeadersTooLarge { .. })
    }

    /// True when a request target exceeded its limit ([`CodecError::uri_too_long`]).
    pub fn is_uri_too_long(&self) -> bool {
        matches!(self.kind, CodecErrorKind::UriTooLong { .. })
    }

    /// True when the input used a feature the codec does not implement.
    pub fn is_unsupported(&self) -> bool {
        matches!(self.kind, CodecErrorKind::Unsupported)
    }

    /// True when the stream ended inside a frame ([`CodecError::truncated`]).
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, CodecErrorKind::Truncated)
    }

    /// True when a message could not be encoded.
    pub fn is_encode(&self) -> bool {
        matches!(self.kind, CodecErrorKind::Encode)
    }

    /// A short description of what went wrong, without the kind's prefix (for instance
    /// `invalid bulk length`); meant for logs and for protocols that echo it to the peer.
    pub fn detail(&self) -> &'static str {
        self.detail
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CodecErrorKind::FrameTooLong { limit } => {
                write!(f, "{} (limit {limit} bytes)", self.detail)
            }
            CodecErrorKind::Malformed => write!(f, "malformed input: {}", self.detail),
            CodecErrorKind::Encode => write!(f, "cannot encode: {}", self.detail),
            CodecErrorKind::HeadersTooLarge { limit } => {
                write!(f, "{} (limit {limit})", self.detail)
            }
            CodecErrorKind::UriTooLong { limit } => {
                write!(f, "{} (limit {limit} bytes)", self.detail)
            }
            CodecErrorKind::Unsupported => write!(f, "unsupported: {}", self.detail),
            CodecErrorKind::Truncated => write!(f, "truncated frame: {}", self.detail),
        }
    }
}

impl std::error::Error for CodecError {}

/// A codec was configured with settings that can never work (for instance a length field
/// 5 bytes wide, or an empty delimiter).
///
/// Returned by the constructors and builders of this crate's codecs, before any byte is
/// decoded; [`CodecError`] is reserved for problems with the stream itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    detail: &'static str,
}

impl ConfigError {
    pub(crate) fn new(detail: &'static str) -> Self {
        ConfigError { detail }
    }

    /// What is wrong with the configuration, for logs.
    pub fn detail(&self) -> &'static str {
        self.detail
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid codec configuration: {}", self.detail)
    }
}

impl std::error::Error for ConfigError {}
