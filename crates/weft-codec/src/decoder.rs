//! The [`Decoder`] trait: bytes in, frames out.

use bytes::BytesMut;

/// Turns the bytes of a stream into frames.
///
/// # Contract
///
/// The framework appends every byte read from the peer to one [`BytesMut`] and calls
/// [`decode`](Decoder::decode) until it returns `Ok(None)`:
///
/// | return | meaning | the buffer afterwards |
/// |---|---|---|
/// | `Ok(Some(frame))` | one frame is complete | exactly that frame's bytes consumed from the front |
/// | `Ok(None)` | more bytes are needed | untouched, except bytes that can never belong to a frame (a separator, an empty request) may be consumed; scan positions may be kept in `self` |
/// | `Err(e)` | the stream is corrupt (for instance a frame over the limit) | unspecified; the connection closes |
///
/// A decoder must never let the buffer grow past its configured maximum frame size while
/// waiting for the end of a frame: it returns an error as soon as more than the maximum has
/// arrived without a frame boundary. It must not reserve capacity for a frame's declared
/// length before those bytes arrive.
///
/// # End of stream
///
/// When the peer has closed its sending side, the framework calls
/// [`decode_eof`](Decoder::decode_eof) instead, until it returns `Ok(None)`. Then, if
/// [`frame_in_progress`](Decoder::frame_in_progress) says a frame had begun, the stream
/// ended inside it: the framework reports a truncated frame ([`CodecError::truncated`],
/// "bytes remaining on stream", as tokio-util does) to the handler's `on_decode_error`,
/// discards the bytes, and goes on with the end of stream. The default `decode_eof` decodes
/// the complete frames and leaves the rest, so by default a truncated last frame is
/// reported, never dropped in silence. A decoder that means to drop a trailing partial frame
/// (as [`LineCodec`](crate::LineCodec) drops a last line without its `\n`) clears the buffer
/// and its own state in its `decode_eof`, and says so in its documentation.
///
/// # Errors
///
/// The error types must be `Send + Sync + 'static`: the framework boxes them in its own
/// error type, which is `Send + Sync` so that errors from starting a server go through `?`
/// into `Box<dyn Error + Send + Sync>` (or `anyhow`), and which lets the handler downcast to
/// the codec's error. `io::Error`, [`CodecError`] and plain error enums are.
///
/// [`CodecError::truncated`]: crate::CodecError::truncated
/// [`CodecError`]: crate::CodecError
pub trait Decoder {
    /// The frame type this decoder yields.
    type Item;
    /// The error returned when the stream is corrupt (see "Errors" above for the bounds).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decodes at most one frame from the front of `src`. See the trait documentation for
    /// the contract.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// True when `src`, as [`decode`](Decoder::decode) left it after returning `Ok(None)`,
    /// holds the beginning of a frame still arriving. The framework's frame deadline (a
    /// frame must be complete within a time of its first byte) runs while this is true.
    ///
    /// The default says any byte left is the start of a frame, which is right for a
    /// decoder that consumes nothing until it returns a frame. A decoder that keeps a frame's
    /// progress in `self` (and has consumed its bytes) should say so here.
    fn frame_in_progress(&self, src: &BytesMut) -> bool {
        !src.is_empty()
    }

    /// Decodes a frame after the peer closed its sending side.
    ///
    /// The default calls [`decode`](Decoder::decode): complete frames are yielded, and a
    /// partial frame left after `Ok(None)` is reported by the framework as truncated (see
    /// "End of stream" above). Override it to yield a last frame without its terminator,
    /// or to drop a trailing partial frame (clear `src` and reset any progress kept in
    /// `self`).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.decode(src)
    }
}
