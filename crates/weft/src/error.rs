//! Errors and close reasons.

use std::fmt;
use std::io;

/// An error from weft: a bind or configuration failure, an I/O failure, or a codec error on
/// one connection.
///
/// The type is opaque; ask it what it is with the `is_*` predicates, and get at a codec's own
/// error with [`Error::codec_error`] or [`Error::source`](std::error::Error::source).
///
/// `Display` says what failed (`decode error`, `I/O error`) and `source()` gives the cause,
/// so an error-chain reporter prints each once; `{}` alone does not show the cause. To print
/// the whole chain on one line, walk `source()` (the `starter` feature's
/// `weft::starter::report` does).
pub struct Error {
    kind: ErrorKind,
}

enum ErrorKind {
    Config(String),
    Io(io::Error),
    Decode(Box<dyn std::error::Error + Send + Sync>),
    Encode(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Config(message.into()),
        }
    }

    pub(crate) fn io(err: io::Error) -> Self {
        Error {
            kind: ErrorKind::Io(err),
        }
    }

    pub(crate) fn decode(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error {
            kind: ErrorKind::Decode(Box::new(err)),
        }
    }

    pub(crate) fn encode(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error {
            kind: ErrorKind::Encode(Box::new(err)),
        }
    }

    /// True when a server could not be built because of its configuration.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, ErrorKind::Config(_))
    }

    /// True for an operating-system I/O error (binding, accepting, reading, writing).
    pub fn is_io(&self) -> bool {
        matches!(self.kind, ErrorKind::Io(_))
    }

    /// True when a decoder found the inbound stream corrupt.
    pub fn is_decode(&self) -> bool {
        matches!(self.kind, ErrorKind::Decode(_))
    }

    /// True when an encoder refused an outbound message.
    pub fn is_encode(&self) -> bool {
        matches!(self.kind, ErrorKind::Encode(_))
    }

    /// True when a decoder reported a frame longer than its maximum
    /// ([`weft_codec::CodecError::is_frame_too_long`]).
    pub fn is_frame_too_long(&self) -> bool {
        self.codec_error()
            .is_some_and(weft_codec::CodecError::is_frame_too_long)
    }

    /// True when a decoder reported a header section over its limit
    /// ([`weft_codec::CodecError::is_headers_too_large`]; HTTP answers 431).
    pub fn is_headers_too_large(&self) -> bool {
        self.codec_error()
            .is_some_and(weft_codec::CodecError::is_headers_too_large)
    }

    /// True when a decoder met a valid but unsupported construct
    /// ([`weft_codec::CodecError::is_unsupported`]; HTTP answers 501).
    pub fn is_unsupported(&self) -> bool {
        self.codec_error()
            .is_some_and(weft_codec::CodecError::is_unsupported)
    }

    /// True when the stream ended inside a frame: the peer closed its sending side with a
    /// partial frame left ([`weft_codec::CodecError::is_truncated`]; see "End of stream" in
    /// [`Decoder`](weft_codec::Decoder)). Delivered to
    /// [`Handler::on_decode_error`](crate::Handler::on_decode_error) before the end of
    /// stream is handled as usual.
    pub fn is_truncated(&self) -> bool {
        self.codec_error()
            .is_some_and(weft_codec::CodecError::is_truncated)
    }

    /// True when a decoder found malformed input ([`weft_codec::CodecError::is_malformed`]).
    pub fn is_malformed(&self) -> bool {
        self.codec_error()
            .is_some_and(weft_codec::CodecError::is_malformed)
    }

    /// The underlying [`weft_codec::CodecError`], when a codec of `weft_codec` failed.
    pub fn codec_error(&self) -> Option<&weft_codec::CodecError> {
        match &self.kind {
            ErrorKind::Decode(e) | ErrorKind::Encode(e) => e.downcast_ref(),
            _ => None,
        }
    }

    /// The underlying I/O error, if this is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Config(m) => f.debug_tuple("Config").field(m).finish(),
            ErrorKind::Io(e) => f.debug_tuple("Io").field(e).finish(),
            ErrorKind::Decode(e) => f.debug_tuple("Decode").field(e).finish(),
            ErrorKind::Encode(e) => f.debug_tuple("Encode").field(e).finish(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause is `source()`'s, not repeated here.
        match &self.kind {
            ErrorKind::Config(m) => write!(f, "invalid configuration: {m}"),
            ErrorKind::Io(_) => f.write_str("I/O error"),
            ErrorKind::Decode(_) => f.write_str("decode error"),
            ErrorKind::Encode(_) => f.write_str("encode error"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Config(_) => None,
            ErrorKind::Io(e) => Some(e),
            ErrorKind::Decode(e) | ErrorKind::Encode(e) => Some(&**e),
        }
    }
}

/// An error and its chain of sources on one line, `outer: cause: root cause` (for logs).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::io(err)
    }
}

/// Who caused a connection to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The remote peer (end of stream, reset).
    Peer,
    /// The connection's own handler (it called `close` or `abort`).
    Handler,
    /// weft itself (a codec error, a panic, a timeout, shutdown, a failed write).
    Framework,
}

/// Why a connection closed. Handed to [`Handler::on_inactive`](crate::Handler::on_inactive)
/// and written to the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its sending side and the owed output was flushed.
    PeerClosed,
    /// The peer reset the connection, or a read or write failed.
    Reset,
    /// The handler closed the connection (after its output was flushed).
    Closed,
    /// The handler aborted the connection: pending output was discarded.
    Aborted,
    /// The decoder found the stream corrupt (for instance a frame over the limit).
    DecodeError,
    /// An encoder refused a message.
    EncodeError,
    /// User code panicked while handling this connection.
    HandlerPanic,
    /// The peer did not take owed output before the close deadline.
    CloseTimeout,
    /// The server shut down.
    Shutdown,
    /// The connection's unsent output would have passed its output limit (see
    /// [`ServerBuilder::output_limit`](crate::ServerBuilder::output_limit)): the peer does not
    /// read fast enough, or one reply alone was too large.
    SlowConsumer,
    /// A frame had begun but was not complete within the frame timeout (see
    /// [`ServerBuilder::frame_timeout`](crate::ServerBuilder::frame_timeout)).
    FrameTimeout,
    /// The connection's PROXY protocol header was missing, malformed or not complete in
    /// time, or it came from an untrusted source (see
    /// [`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol) and
    /// [`ProxyRejection`]). Its pipeline never ran.
    ProxyHeader,
    /// The TLS handshake failed or was not complete within the handshake timeout (see
    /// [`ServerBuilder::tls`](crate::ServerBuilder::tls) and [`TlsFailure`]). Its pipeline
    /// never ran.
    TlsHandshake,
}

impl CloseReason {
    /// Who caused this close.
    pub fn initiator(self) -> Initiator {
        match self {
            CloseReason::PeerClosed | CloseReason::Reset => Initiator::Peer,
            CloseReason::Closed | CloseReason::Aborted => Initiator::Handler,
            CloseReason::DecodeError
            | CloseReason::EncodeError
            | CloseReason::HandlerPanic
            | CloseReason::CloseTimeout
            | CloseReason::Shutdown
            | CloseReason::SlowConsumer
            | CloseReason::FrameTimeout
            | CloseReason::ProxyHeader
            | CloseReason::TlsHandshake => Initiator::Framework,
        }
    }

    /// Every reason, in a fixed order (the metrics' `reason` label values).
    pub const ALL: [CloseReason; 13] = [
        CloseReason::PeerClosed,
        CloseReason::Reset,
        CloseReason::Closed,
        CloseReason::Aborted,
        CloseReason::DecodeError,
        CloseReason::EncodeError,
        CloseReason::HandlerPanic,
        CloseReason::CloseTimeout,
        CloseReason::Shutdown,
        CloseReason::SlowConsumer,
        CloseReason::FrameTimeout,
        CloseReason::ProxyHeader,
        CloseReason::TlsHandshake,
    ];

    /// A short snake_case name for metrics and logs (`peer_closed`, `slow_consumer`, ...).
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Reset => "reset",
            CloseReason::Closed => "closed",
            CloseReason::Aborted => "aborted",
            CloseReason::DecodeError => "decode_error",
            CloseReason::EncodeError => "encode_error",
            CloseReason::HandlerPanic => "handler_panic",
            CloseReason::CloseTimeout => "close_timeout",
            CloseReason::Shutdown => "shutdown",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::FrameTimeout => "frame_timeout",
            CloseReason::ProxyHeader => "proxy_header",
            CloseReason::TlsHandshake => "tls_handshake",
        }
    }

    /// This reason's place in [`CloseReason::ALL`].
    pub(crate) fn index(self) -> usize {
        CloseReason::ALL
            .iter()
            .position(|&r| r == self)
            .expect("every reason is in ALL")
    }

    /// True when the close is abnormal and worth a warning in the logs.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            CloseReason::DecodeError
                | CloseReason::EncodeError
                | CloseReason::HandlerPanic
                | CloseReason::SlowConsumer
                | CloseReason::FrameTimeout
                | CloseReason::ProxyHeader
                | CloseReason::TlsHandshake
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            CloseReason::PeerClosed => "peer closed",
            CloseReason::Reset => "connection reset",
            CloseReason::Closed => "closed by handler",
            CloseReason::Aborted => "aborted by handler",
            CloseReason::DecodeError => "decode error",
            CloseReason::EncodeError => "encode error",
            CloseReason::HandlerPanic => "handler panicked",
            CloseReason::CloseTimeout => "close deadline passed with output unsent",
            CloseReason::Shutdown => "server shutdown",
            CloseReason::SlowConsumer => "output limit reached (slow consumer)",
            CloseReason::FrameTimeout => "frame not completed in time",
            CloseReason::ProxyHeader => "PROXY protocol header refused",
            CloseReason::TlsHandshake => "TLS handshake failed",
        };
        f.write_str(text)
    }
}

/// Why a connection's TLS handshake failed (the `cause` label of
/// `weft_tls_handshake_failures_total`); the connection closes with
/// [`CloseReason::TlsHandshake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The handshake was not complete within the handshake timeout
    /// ([`ServerBuilder::tls_handshake_timeout`](crate::ServerBuilder::tls_handshake_timeout)).
    Timeout,
    /// The peer broke the protocol (garbage, plaintext, no shared version or cipher suite,
    /// a certificate that did not verify) or sent a fatal alert.
    Protocol,
    /// The peer closed (or reset) the connection before the handshake was complete.
    Closed,
}

impl TlsFailure {
    /// Every cause, in a fixed order (the metrics' label values).
    pub const ALL: [TlsFailure; 3] = [
        TlsFailure::Timeout,
        TlsFailure::Protocol,
        TlsFailure::Closed,
    ];

    /// A short snake_case name for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::Timeout => "timeout",
            TlsFailure::Protocol => "protocol",
            TlsFailure::Closed => "closed",
        }
    }

    /// This cause's place in [`TlsFailure::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Why a connection's PROXY protocol header was refused (the `cause` label of
/// `weft_proxy_header_rejections_total`); the connection closes with
/// [`CloseReason::ProxyHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyRejection {
    /// The first bytes were not a PROXY header (a client that connected directly), or the
    /// peer closed before sending any.
    Missing,
    /// The header broke the format, was longer than the decoder's cap, or the peer closed
    /// in the middle of it.
    Malformed,
    /// The header was not complete within the header timeout
    /// ([`ServerBuilder::proxy_header_timeout`](crate::ServerBuilder::proxy_header_timeout)).
    Timeout,
    /// The connection came from an address outside the trusted sources.
    Untrusted,
}

impl ProxyRejection {
    /// Every cause, in a fixed order (the metrics' label values).
    pub const ALL: [ProxyRejection; 4] = [
        ProxyRejection::Missing,
        ProxyRejection::Malformed,
        ProxyRejection::Timeout,
        ProxyRejection::Untrusted,
    ];

    /// A short snake_case name for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ProxyRejection::Missing => "missing",
            ProxyRejection::Malformed => "malformed",
            ProxyRejection::Timeout => "timeout",
            ProxyRejection::Untrusted => "untrusted",
        }
    }

    /// This cause's place in [`ProxyRejection::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn display_says_what_failed_and_source_gives_the_cause_once() {
        let err = Error::decode(weft_codec::CodecError::frame_too_long(8));
        assert_eq!(err.to_string(), "decode error");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("frame too long (limit 8 bytes)")
        );
        assert_eq!(
            Chain(&err).to_string(),
            "decode error: frame too long (limit 8 bytes)"
        );
        let io = Error::io(io::Error::new(io::ErrorKind::AddrInUse, "in use"));
        assert_eq!(io.to_string(), "I/O error");
        assert_eq!(Chain(&io).to_string(), "I/O error: in use");
        let config = Error::config("reactors must be at least 1, not 0");
        assert!(config.source().is_none());
        assert_eq!(Chain(&config).to_string(), config.to_string());
    }

    /// Why codec errors must be `Send + Sync`: `Error` carries them, and must be both so that
    /// `bind()?` works into `Box<dyn Error + Send + Sync>` and `anyhow`.
    #[test]
    fn error_is_send_and_sync() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
        let _: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::config("x"));
    }
}
