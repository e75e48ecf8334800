//! Raw bytes, passed through in bounded chunks: [`BytesCodec`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::{split_front, CodecError, ConfigError, Decoder, Encoder};

/// Passes bytes through unframed: each frame is whatever is buffered, up to `max_chunk`
/// bytes.
///
/// # Decoding
///
/// ```text
///   max_chunk = 4
///   src:  a b c d e f
///         └frame┘ └ next call's frame (no need to wait for more bytes)
/// ```
///
/// * Any buffered byte makes a frame: the decoder returns `Ok(None)` only on an empty buffer.
/// * A frame holds at most `max_chunk` bytes; the rest stays buffered for the next call.
///   Where chunks are cut depends on how the stream arrived; only their concatenation is
///   meaningful.
/// * Decoding never fails.
/// * At end of stream ([`decode_eof`](Decoder::decode_eof)) there is no partial frame: the
///   remaining bytes are yielded like any others.
///
/// # Encoding
///
/// The encoder appends the message unchanged; it never fails.
///
/// ```
/// use weft_codec::{BytesCodec, BytesMut, Decoder};
///
/// let mut codec = BytesCodec::new(4).unwrap();
/// let mut buf = BytesMut::from(&b"abcdef"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abcd"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"ef"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap(), None);
/// ```
#[derive(Debug, Clone)]
pub struct BytesCodec {
    max_chunk: usize,
}

impl BytesCodec {
    /// A codec yielding chunks of at most `max_chunk` bytes. Fails if `max_chunk` is 0.
    pub fn new(max_chunk: usize) -> Result<Self, ConfigError> {
        if max_chunk == 0 {
            return Err(ConfigError::new("chunk size must not be 0"));
        }
        Ok(BytesCodec { max_chunk })
    }

    /// The largest frame this codec yields.
    pub fn max_chunk(&self) -> usize {
        self.max_chunk
    }
}

impl Decoder for BytesCodec {
    type Item<'a> = &'a [u8];
    type Error = CodecError;

    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        let length = src.len().min(self.max_chunk);
        Ok(Some(split_front(src, length)))
    }
}

impl Encoder<&[u8]> for BytesCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(message.len());
        dst.put_slice(message);
        Ok(())
    }
}

impl Encoder<Bytes> for BytesCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&message[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_chunk_is_rejected() {
        assert!(BytesCodec::new(0).is_err());
    }

    #[test]
    fn yields_buffered_bytes_in_chunks_of_at_most_max() {
        let mut codec = BytesCodec::new(3).unwrap();
        let mut buf = BytesMut::from(&b"abcdefg"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"def"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"g"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn a_chunk_of_exactly_max_is_one_frame() {
        let mut codec = BytesCodec::new(3).unwrap();
        let mut buf = BytesMut::from(&b"abc"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abc"[..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn eof_yields_the_rest() {
        let mut codec = BytesCodec::new(8).unwrap();
        let mut buf = BytesMut::from(&b"tail"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"tail"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn encoder_passes_through() {
        let mut codec = BytesCodec::new(2).unwrap();
        let mut dst = BytesMut::from(&b">"[..]);
        codec.encode(&b"abc"[..], &mut dst).unwrap();
        codec.encode(Bytes::from_static(b""), &mut dst).unwrap();
        codec.encode(Bytes::from_static(b"d"), &mut dst).unwrap();
        assert_eq!(&dst[..], b">abcd");
    }
}
