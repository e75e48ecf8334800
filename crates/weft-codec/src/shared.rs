//! [`Shared`]: frames as `Bytes` that share the read buffer, for a handler that sends them
//! on without copying.
//!
//! A byte-frame decoder such as [`LineCodec`] lends each frame for one call (`&[u8]`), so a
//! handler that keeps one, or hands it to another thread, copies it. `Shared<D>` yields the
//! same frames as [`Bytes`] split off the read buffer instead: no copy and no allocation
//! per frame, and a frame can go to another connection's
//! [`ConnectionHandle`](https://docs.rs/weft) or a worker as it is.
//!
//! The price is the one the type's name warns of: a `Bytes` frame shares the whole read
//! chunk it came from (64 KiB by default), and keeps all of it alive for as long as the
//! frame lives. Send such frames on and let them go; for frames to keep, use the plain
//! decoder and copy what you keep.
//!
//! ```
//! use weft_codec::{Bytes, BytesMut, Decoder, LineCodec, Shared};
//!
//! let mut codec = Shared::new(LineCodec::new(64));
//! let mut buf = BytesMut::from(&b"one\ntwo\n"[..]);
//! let one: Bytes = codec.decode(&mut buf).unwrap().unwrap();
//! assert_eq!(one, &b"one\n"[..]);
//! ```
//!
//! [`LineCodec`]: crate::LineCodec

use bytes::{Bytes, BytesMut};

use crate::{CodecError, Decoder, Encoder};

/// A decoder that can also yield its frames as shared [`Bytes`] (see [`Shared`]).
pub trait SharedFrames {
    /// Decodes one frame as `Bytes` split off `src`; `eof` says the peer has closed its
    /// sending side (the decoder's `decode_eof` rules then apply).
    fn decode_shared(&mut self, src: &mut BytesMut, eof: bool)
        -> Result<Option<Bytes>, CodecError>;
}

/// A decoder whose frames are [`Bytes`] sharing the read buffer: see the module
/// documentation for when that is worth its cost.
#[derive(Debug, Clone)]
pub struct Shared<D>(D);

impl<D> Shared<D> {
    /// Wraps `decoder`, which decodes (and encodes) exactly as before.
    pub fn new(decoder: D) -> Self {
        Shared(decoder)
    }

    /// The wrapped decoder.
    pub fn get_ref(&self) -> &D {
        &self.0
    }
}

impl<D: SharedFrames + Decoder<Error = CodecError>> Decoder for Shared<D> {
    type Item<'a> = Bytes;
    type Error = CodecError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        self.0.decode_shared(src, false)
    }

    #[inline]
    fn frame_in_progress(&self, src: &BytesMut) -> bool {
        self.0.frame_in_progress(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        self.0.decode_shared(src, true)
    }
}

impl<T, D: Encoder<T>> Encoder<T> for Shared<D> {
    type Error = D::Error;

    #[inline]
    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), D::Error> {
        self.0.encode(item, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::Terminator;
    use crate::testing::assert_every_split_point_gives_the_same_frames;
    use crate::LineCodec;

    #[test]
    fn shared_lines_are_the_lines_lent_by_the_plain_codec() {
        let input = b"alpha\n\nbe\rta\r\nrest";
        for terminator in [Terminator::Keep, Terminator::Strip] {
            let make = || LineCodec::new(16).terminator(terminator);
            let lent = assert_every_split_point_gives_the_same_frames(make, input);
            let shared =
                assert_every_split_point_gives_the_same_frames(|| Shared::new(make()), input);
            assert_eq!(shared.frames, lent.frames);
            assert_eq!(shared.rest, lent.rest);
        }
    }

    #[test]
    fn a_partial_last_line_is_dropped_at_end_of_stream_as_by_the_plain_codec() {
        let mut codec = Shared::new(LineCodec::new(8));
        let mut buf = BytesMut::from(&b"one\ntwo"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"one\n"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }
}
