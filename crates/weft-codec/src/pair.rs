//! A `(decoder, encoder)` pair is a codec: `Decoder` comes from the first, `Encoder` from
//! the second.
//!
//! A protocol whose decoder and encoder are separate types (such as [`LengthFieldCodec`]
//! and [`LengthPrepender`]) needs no wrapper to go into a pipeline:
//!
//! ```
//! use weft_codec::{Bytes, BytesMut, Decoder, Encoder, LengthFieldCodec, LengthPrepender};
//!
//! let decoder = LengthFieldCodec::builder(1024)
//!     .length_field_width(2)
//!     .initial_bytes_to_strip(2)
//!     .build()
//!     .unwrap();
//! let mut codec = (decoder, LengthPrepender::new(2).unwrap());
//!
//! let mut wire = BytesMut::new();
//! codec.encode(Bytes::from_static(b"hello"), &mut wire).unwrap();
//! assert_eq!(&wire[..], b"\x00\x05hello");
//! assert_eq!(codec.decode(&mut wire).unwrap().unwrap(), &b"hello"[..]);
//! ```
//!
//! [`LengthFieldCodec`]: crate::LengthFieldCodec
//! [`LengthPrepender`]: crate::LengthPrepender

use bytes::BytesMut;

use crate::{Decoder, Encoder};

/// Decodes with the first element; every method is the first element's.
impl<D: Decoder, E> Decoder for (D, E) {
    type Item<'a> = D::Item<'a>;
    type Error = D::Error;

    #[inline]
    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<D::Item<'a>>, D::Error> {
        self.0.decode(src)
    }

    #[inline]
    fn frame_in_progress(&self, src: &BytesMut) -> bool {
        self.0.frame_in_progress(src)
    }

    #[inline]
    fn decode_eof<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<D::Item<'a>>, D::Error> {
        self.0.decode_eof(src)
    }
}

/// Encodes with the second element.
impl<T, D, E: Encoder<T>> Encoder<T> for (D, E) {
    type Error = E::Error;

    #[inline]
    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), E::Error> {
        self.1.encode(item, dst)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{LineCodec, RespCodec, RespLimits};

    #[test]
    fn decodes_with_the_first_and_encodes_with_the_second() {
        // RESP requests in, lines out: nothing ties the two halves together.
        let mut codec = (RespCodec::new(RespLimits::default()), LineCodec::new(64));
        let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*1\r\n$2\r\nPI"[..]);
        let request = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(request, vec![Bytes::from_static(b"PING")]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(codec.frame_in_progress(&buf));
        let mut out = BytesMut::new();
        codec.encode(Bytes::from_static(b"PONG"), &mut out).unwrap();
        assert_eq!(&out[..], b"PONG\n");
    }
}
