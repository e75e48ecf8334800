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
/// # Borrowed frames
///
/// A frame may borrow the buffer (`type Item<'a> = &'a [u8]`, as [`LineCodec`]'s does):
/// the decoder consumes the frame's bytes with [`split_front`], which hands back a slice of
/// them that stays valid until the buffer is next touched. Nothing is counted, shared or
/// allocated per frame, and nothing can keep the buffer alive by accident: a handler that
/// keeps a frame copies it ([`Detach::detach`], or `Bytes::copy_from_slice`), paying for
/// exactly the bytes it keeps.
///
/// A decoder may instead yield owned frames (`type Item<'a> = Bytes`, or a parsed request
/// that holds `Bytes`). An owned `Bytes` split off the buffer shares the buffer's memory: a
/// handler that keeps it keeps the whole allocation it came from alive, so such decoders
/// say so in their documentation.
///
/// [`LineCodec`]: crate::LineCodec
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
    /// The frame type this decoder yields, which may borrow the buffer it was decoded from
    /// (`'a`): a borrowed frame is valid until the next call, and a handler that keeps one
    /// copies it (see "Borrowed frames" above).
    type Item<'a>;
    /// The error returned when the stream is corrupt (see "Errors" above for the bounds).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decodes at most one frame from the front of `src`. See the trait documentation for
    /// the contract.
    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<Self::Item<'a>>, Self::Error>;

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
    fn decode_eof<'a>(
        &mut self,
        src: &'a mut BytesMut,
    ) -> Result<Option<Self::Item<'a>>, Self::Error> {
        self.decode(src)
    }
}

/// Consumes the first `n` bytes of `src` and returns them, borrowed: the way a decoder
/// yields a frame that borrows its buffer (see "Borrowed frames" in [`Decoder`]).
///
/// The slice stays valid while `src` stays borrowed, so the borrow checker ends the
/// frame's life before the framework appends to the buffer again.
///
/// ```
/// use weft_codec::{decoder::split_front, BytesMut};
///
/// let mut buf = BytesMut::from(&b"head\ntail"[..]);
/// let head = split_front(&mut buf, 5);
/// assert_eq!(head, b"head\n");
/// assert_eq!(&buf[..], b"tail");
/// ```
///
/// # Panics
///
/// If `n > src.len()`.
#[inline]
pub fn split_front(src: &mut BytesMut, n: usize) -> &[u8] {
    assert!(n <= src.len(), "split_front past the end of the buffer");
    let front = src.as_ptr();
    bytes::Buf::advance(src, n);
    // SAFETY: `advance` only moves the buffer's start past the `n` initialised bytes at
    // `front`; it never frees, moves or reuses its allocation (`BytesMut` gives memory back
    // only when dropped, or when `reserve` or a write reallocates it). Both need `src`,
    // which the returned slice keeps mutably borrowed for as long as it lives, so the `n`
    // bytes stay allocated, initialised and unwritten while the slice exists.
    #[allow(unsafe_code)]
    unsafe {
        std::slice::from_raw_parts(front, n)
    }
}

/// A frame that can leave the call it was decoded in: the owned form of a decoder's item.
///
/// Borrowed frames (`&[u8]`) detach by copying exactly their bytes into a fresh [`Bytes`];
/// owned frames detach as themselves. The testing helpers ([`crate::testing`]) collect frames
/// through it, so a decoder of your own works with them once its item implements it.
///
/// [`Bytes`]: bytes::Bytes
pub trait Detach {
    /// The owned form.
    type Owned: 'static;

    /// Makes the owned form (a copy, for a borrowed frame).
    fn detach(self) -> Self::Owned;
}

impl Detach for &[u8] {
    type Owned = bytes::Bytes;

    #[inline]
    fn detach(self) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(self)
    }
}

macro_rules! detach_as_itself {
    ($($owned:ty),* $(,)?) => {$(
        impl Detach for $owned {
            type Owned = $owned;

            #[inline]
            fn detach(self) -> $owned {
                self
            }
        }
    )*};
}

detach_as_itself!(
    bytes::Bytes,
    BytesMut,
    Vec<bytes::Bytes>,
    crate::RespValue,
    crate::HttpRequest,
);
