//! Frames of one fixed size: [`FixedLengthCodec`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::{split_front, CodecError, ConfigError, Decoder, Encoder};

/// Splits a byte stream into frames of exactly `frame_length` bytes.
///
/// # Decoding
///
/// ```text
///   frame_length = 4
///   src:  a b c d e f g h i j
///         └frame┘ └frame┘ └ left in src until two more bytes arrive
/// ```
///
/// * Each frame is the next `frame_length` bytes; the decoder never looks at their content.
/// * The buffer never needs to hold more than `frame_length` bytes of one frame, so there
///   is no oversize error: the frame length is the maximum.
/// * At end of stream ([`decode_eof`](Decoder::decode_eof)), a trailing partial frame (fewer
///   than `frame_length` bytes) is left in the buffer, and the framework reports it as
///   truncated ([`CodecError::is_truncated`](crate::CodecError::is_truncated)).
///
/// # Encoding
///
/// The encoder writes the message as it is, and fails with an encode error (leaving `dst`
/// untouched) unless it is exactly `frame_length` bytes long.
///
/// ```
/// use weft_codec::{BytesMut, Decoder, Encoder, FixedLengthCodec};
///
/// let mut codec = FixedLengthCodec::new(3).unwrap();
/// let mut buf = BytesMut::from(&b"abcde"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap(), None);
///
/// assert!(codec.encode(&b"xyz"[..], &mut buf).is_ok());
/// assert!(codec.encode(&b"too long"[..], &mut buf).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct FixedLengthCodec {
    frame_length: usize,
}

impl FixedLengthCodec {
    /// A codec for frames of exactly `frame_length` bytes. Fails if `frame_length` is 0
    /// (every call would yield an empty frame, forever).
    pub fn new(frame_length: usize) -> Result<Self, ConfigError> {
        if frame_length == 0 {
            return Err(ConfigError::new("frame length must not be 0"));
        }
        Ok(FixedLengthCodec { frame_length })
    }

    /// The length of every frame.
    pub fn frame_length(&self) -> usize {
        self.frame_length
    }
}

impl Decoder for FixedLengthCodec {
    type Item<'a> = &'a [u8];
    type Error = CodecError;

    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        if src.len() < self.frame_length {
            return Ok(None);
        }
        Ok(Some(split_front(src, self.frame_length)))
    }
}

impl Encoder<&[u8]> for FixedLengthCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if message.len() != self.frame_length {
            return Err(CodecError::encode(
                "message length differs from the frame length",
            ));
        }
        dst.reserve(message.len());
        dst.put_slice(message);
        Ok(())
    }
}

impl Encoder<Bytes> for FixedLengthCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&message[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_frame_length_is_rejected() {
        assert!(FixedLengthCodec::new(0).is_err());
        assert_eq!(FixedLengthCodec::new(1).unwrap().frame_length(), 1);
    }

    #[test]
    fn splits_into_equal_frames_and_keeps_the_rest() {
        let mut codec = FixedLengthCodec::new(2).unwrap();
        let mut buf = BytesMut::from(&b"\x00\n\xffab"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"\x00\n"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"\xffa"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"b");
        buf.extend_from_slice(b"c");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"bc"[..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn eof_leaves_a_trailing_partial_frame_to_be_reported_as_truncated() {
        let mut codec = FixedLengthCodec::new(3).unwrap();
        let mut buf = BytesMut::from(&b"abcde"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(codec.frame_in_progress(&buf));
    }

    #[test]
    fn encoder_requires_the_exact_length() {
        let mut codec = FixedLengthCodec::new(3).unwrap();
        let mut dst = BytesMut::new();
        codec.encode(&b"abc"[..], &mut dst).unwrap();
        codec.encode(Bytes::from_static(b"def"), &mut dst).unwrap();
        for wrong in [&b""[..], b"ab", b"abcd"] {
            let err = codec.encode(wrong, &mut dst).unwrap_err();
            assert_eq!(err.kind(), crate::CodecErrorKind::Encode);
        }
        assert_eq!(&dst[..], b"abcdef");
    }
}
