//! Frames announced by a length field in their header: [`LengthFieldCodec`] decodes them,
//! [`LengthPrepender`] encodes them.
//!
//! The knobs are those of Netty's `LengthFieldBasedFrameDecoder`: where the length field
//! sits, how wide it is, its byte order, a signed adjustment added to its value, and how many
//! bytes to cut off the front of each frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{split_front, CodecError, ConfigError, Decoder, Encoder};

/// The byte order of a length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endianness {
    /// Most significant byte first (network order, the default).
    #[default]
    Big,
    /// Least significant byte first.
    Little,
}

/// The length field widths this module supports, in bytes.
pub const SUPPORTED_WIDTHS: [usize; 5] = [1, 2, 3, 4, 8];

fn check_width(width: usize) -> Result<(), ConfigError> {
    if SUPPORTED_WIDTHS.contains(&width) {
        Ok(())
    } else {
        Err(ConfigError::new(
            "length field width must be 1, 2, 3, 4 or 8 bytes",
        ))
    }
}

/// Splits a byte stream into frames whose length is read from a field in their header.
///
/// Build one with [`LengthFieldCodec::builder`]; the maximum frame length is mandatory.
///
/// # Decoding
///
/// ```text
///   offset = 1, width = 2, adjustment = 1, strip = 3
///
///   src:  CA | 00 0C | FE | H E L L O , ␣ W O R L D | next frame…
///         └──┴─ header end = offset + width = 3
///              └ field = 12
///         frame length = end + field + adjustment = 3 + 12 + 1 = 16
///         └───────────────── 16 bytes consumed ────────┘
///         yielded: the frame minus its first 3 bytes = FE "HELLO, WORLD"
/// ```
///
/// * The field is an unsigned integer of 1, 2, 3, 4 or 8 bytes in the configured byte order,
///   starting `length_field_offset` bytes into the frame.
/// * A frame is `offset + width + field + adjustment` bytes long in the stream: the whole
///   header up to the end of the field, plus the field's value, plus the (signed)
///   adjustment. Use a negative adjustment when the field counts the header too, a positive
///   one when more header follows the field.
/// * Each decoded frame has its first `initial_bytes_to_strip` bytes removed (by default
///   none: the header stays on the frame).
/// * The maximum frame length applies to the frame as it stands in the stream, header
///   included. As soon as a length field announces more, decoding fails with
///   [`CodecError::is_frame_too_long`] ("fail fast": the decoder does not wait for, nor
///   skip, the oversize frame; the connection is closed anyway). So the buffer never holds
///   more than the maximum of one frame.
/// * A computed frame length that is negative or does not fit in `usize` fails with
///   [`CodecError::is_malformed`], as does a frame shorter than the bytes to strip.
/// * The decoder never reserves buffer space for the announced length: a peer announcing a
///   gigabyte and sending nothing more pins no memory.
/// * At end of stream ([`decode_eof`](Decoder::decode_eof)), a trailing partial frame is
///   left in the buffer, and the framework reports it as truncated
///   ([`CodecError::is_truncated`](crate::CodecError::is_truncated)).
///
/// ```
/// use weft_codec::{BytesMut, Decoder, Encoder, LengthFieldCodec, LengthPrepender};
///
/// let mut codec = LengthFieldCodec::builder(1024)
///     .length_field_width(2)
///     .initial_bytes_to_strip(2)
///     .build()
///     .unwrap();
/// let mut prepender = LengthPrepender::new(2).unwrap();
///
/// let mut buf = BytesMut::new();
/// prepender.encode(&b"hello"[..], &mut buf).unwrap();
/// assert_eq!(&buf[..], b"\x00\x05hello");
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"hello"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct LengthFieldCodec {
    max_frame_length: usize,
    field_offset: usize,
    field_width: usize,
    endianness: Endianness,
    adjustment: isize,
    strip: usize,
}

/// Configures a [`LengthFieldCodec`]; made by [`LengthFieldCodec::builder`].
///
/// Defaults: a 4-byte big-endian field at offset 0, no adjustment, nothing stripped.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct LengthFieldCodecBuilder {
    codec: LengthFieldCodec,
}

impl LengthFieldCodec {
    /// Starts configuring a codec whose frames are at most `max_frame_length` bytes long in
    /// the stream, header included.
    pub fn builder(max_frame_length: usize) -> LengthFieldCodecBuilder {
        LengthFieldCodecBuilder {
            codec: LengthFieldCodec {
                max_frame_length,
                field_offset: 0,
                field_width: 4,
                endianness: Endianness::Big,
                adjustment: 0,
                strip: 0,
            },
        }
    }

    /// The longest accepted frame, header included.
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// Where the length field ends: the bytes needed before a frame's length is known.
    pub fn header_length(&self) -> usize {
        self.field_offset + self.field_width
    }

    fn read_field(&self, src: &[u8]) -> u64 {
        let mut field = &src[self.field_offset..self.header_length()];
        match self.endianness {
            Endianness::Big => field.get_uint(self.field_width),
            Endianness::Little => field.get_uint_le(self.field_width),
        }
    }

    /// The frame length a field value announces, checked against the limits.
    fn frame_length(&self, field: u64) -> Result<usize, CodecError> {
        let body = i128::from(field) + self.adjustment as i128;
        if body < 0 {
            return Err(CodecError::malformed("adjusted length is negative"));
        }
        let frame_length = usize::try_from(body)
            .ok()
            .and_then(|body| body.checked_add(self.header_length()))
            .ok_or(CodecError::malformed("frame length overflows usize"))?;
        if frame_length > self.max_frame_length {
            return Err(CodecError::frame_too_long(self.max_frame_length));
        }
        if frame_length < self.strip {
            return Err(CodecError::malformed(
                "frame shorter than the bytes to strip",
            ));
        }
        Ok(frame_length)
    }
}

impl LengthFieldCodecBuilder {
    /// How many bytes of the frame come before the length field (default 0).
    pub fn length_field_offset(mut self, offset: usize) -> Self {
        self.codec.field_offset = offset;
        self
    }

    /// The width of the length field in bytes: 1, 2, 3, 4 (the default) or 8. Other values
    /// make [`build`](LengthFieldCodecBuilder::build) fail.
    pub fn length_field_width(mut self, width: usize) -> Self {
        self.codec.field_width = width;
        self
    }

    /// The byte order of the length field (default big-endian).
    pub fn endianness(mut self, endianness: Endianness) -> Self {
        self.codec.endianness = endianness;
        self
    }

    /// A signed number of bytes added to the field's value to get the number of bytes that
    /// follow the field (default 0).
    pub fn length_adjustment(mut self, adjustment: isize) -> Self {
        self.codec.adjustment = adjustment;
        self
    }

    /// How many bytes to remove from the front of each decoded frame (default 0).
    pub fn initial_bytes_to_strip(mut self, strip: usize) -> Self {
        self.codec.strip = strip;
        self
    }

    /// Checks the configuration and makes the codec.
    ///
    /// Fails if the width is not supported, if the end of the length field overflows
    /// `usize`, or if no frame could satisfy both the maximum length and the header length
    /// or the bytes to strip.
    pub fn build(self) -> Result<LengthFieldCodec, ConfigError> {
        let codec = self.codec;
        check_width(codec.field_width)?;
        let header_length = codec
            .field_offset
            .checked_add(codec.field_width)
            .ok_or(ConfigError::new("length field end overflows usize"))?;
        if header_length > codec.max_frame_length {
            return Err(ConfigError::new(
                "maximum frame length is shorter than the header",
            ));
        }
        if codec.strip > codec.max_frame_length {
            return Err(ConfigError::new(
                "bytes to strip exceed the maximum frame length",
            ));
        }
        Ok(codec)
    }
}

impl Decoder for LengthFieldCodec {
    type Item<'a> = &'a [u8];
    type Error = CodecError;

    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        if src.len() < self.header_length() {
            return Ok(None);
        }
        let frame_length = self.frame_length(self.read_field(src))?;
        if src.len() < frame_length {
            // Deliberately no `reserve(frame_length)`: the announced bytes may never come.
            return Ok(None);
        }
        Ok(Some(&split_front(src, frame_length)[self.strip..]))
    }
}

/// Writes each message after a length field: the encoder matching [`LengthFieldCodec`].
///
/// ```text
///   width = 2, big-endian, adjustment = 0:   "hello"  →  00 05 h e l l o
/// ```
///
/// The field holds the message length plus the (signed) adjustment, so a decoder with
/// offset 0, the same width and byte order, the opposite adjustment and `width` bytes to
/// strip yields the message back. Encoding fails with an encode error, leaving `dst`
/// untouched, if that value is negative or does not fit in the field.
///
/// ```
/// use weft_codec::{BytesMut, Encoder, Endianness, LengthPrepender};
///
/// // A field that counts itself, little-endian.
/// let mut prepender = LengthPrepender::new(3)
///     .unwrap()
///     .endianness(Endianness::Little)
///     .length_adjustment(3);
/// let mut dst = BytesMut::new();
/// prepender.encode(&b"hi"[..], &mut dst).unwrap();
/// assert_eq!(&dst[..], b"\x05\x00\x00hi");
/// ```
#[derive(Debug, Clone)]
pub struct LengthPrepender {
    width: usize,
    endianness: Endianness,
    adjustment: isize,
}

impl LengthPrepender {
    /// An encoder writing a big-endian length field of `width` bytes (1, 2, 3, 4 or 8) with
    /// no adjustment. Fails for any other width.
    pub fn new(width: usize) -> Result<Self, ConfigError> {
        check_width(width)?;
        Ok(LengthPrepender {
            width,
            endianness: Endianness::Big,
            adjustment: 0,
        })
    }

    /// Sets the byte order of the length field.
    pub fn endianness(mut self, endianness: Endianness) -> Self {
        self.endianness = endianness;
        self
    }

    /// Sets a signed number of bytes added to the message length to get the field's value.
    pub fn length_adjustment(mut self, adjustment: isize) -> Self {
        self.adjustment = adjustment;
        self
    }

    fn field_value(&self, message_length: usize) -> Result<u64, CodecError> {
        let value = message_length as i128 + self.adjustment as i128;
        if value < 0 {
            return Err(CodecError::encode("adjusted length is negative"));
        }
        let too_wide = CodecError::encode("message too long for the length field");
        let value = u64::try_from(value).map_err(|_| too_wide.clone())?;
        if self.width < 8 && value >> (8 * self.width) != 0 {
            return Err(too_wide);
        }
        Ok(value)
    }
}

impl Encoder<&[u8]> for LengthPrepender {
    type Error = CodecError;

    fn encode(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let value = self.field_value(message.len())?;
        dst.reserve(self.width + message.len());
        match self.endianness {
            Endianness::Big => dst.put_uint(value, self.width),
            Endianness::Little => dst.put_uint_le(value, self.width),
        }
        dst.put_slice(message);
        Ok(())
    }
}

impl Encoder<Bytes> for LengthPrepender {
    type Error = CodecError;

    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&message[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::decode_buffer;

    const HELLO: &[u8] = b"HELLO, WORLD";

    fn decode_one(codec: &mut LengthFieldCodec, input: &[u8]) -> Result<Bytes, CodecError> {
        let mut buf = BytesMut::from(input);
        let frame = codec.decode(&mut buf)?.expect("a whole frame").to_vec();
        assert!(buf.is_empty(), "left over: {:?}", &buf[..]);
        Ok(Bytes::from(frame))
    }

    fn with_prefix(prefix: &[u8], body: &[u8]) -> Vec<u8> {
        [prefix, body].concat()
    }

    #[test]
    fn netty_layouts() {
        // 2-byte length, header kept.
        let input = with_prefix(b"\x00\x0c", HELLO);
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(2)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), &input[..]);

        // 2-byte length, header stripped.
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(2)
            .initial_bytes_to_strip(2)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), HELLO);

        // The field counts itself.
        let input = with_prefix(b"\x00\x0e", HELLO);
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(2)
            .length_adjustment(-2)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), &input[..]);

        // A 2-byte header before a 3-byte field.
        let input = with_prefix(b"\xca\xfe\x00\x00\x0c", HELLO);
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_offset(2)
            .length_field_width(3)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), &input[..]);

        // A 2-byte header after a 3-byte field.
        let input = with_prefix(b"\x00\x00\x0c\xca\xfe", HELLO);
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(3)
            .length_adjustment(2)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), &input[..]);

        // Headers on both sides, the first three bytes stripped.
        let input = with_prefix(b"\xca\x00\x0c\xfe", HELLO);
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_offset(1)
            .length_field_width(2)
            .length_adjustment(1)
            .initial_bytes_to_strip(3)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), &input[3..]);

        // Same, with a field counting the whole frame.
        let input = with_prefix(b"\xca\x00\x10\xfe", HELLO);
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_offset(1)
            .length_field_width(2)
            .length_adjustment(-3)
            .initial_bytes_to_strip(3)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, &input).unwrap(), &input[3..]);
    }

    #[test]
    fn every_width_and_byte_order() {
        let cases: [(usize, &[u8], &[u8]); 5] = [
            (1, b"\x03", b"\x03"),
            (2, b"\x00\x03", b"\x03\x00"),
            (3, b"\x00\x00\x03", b"\x03\x00\x00"),
            (4, b"\x00\x00\x00\x03", b"\x03\x00\x00\x00"),
            (
                8,
                b"\x00\x00\x00\x00\x00\x00\x00\x03",
                b"\x03\x00\x00\x00\x00\x00\x00\x00",
            ),
        ];
        for (width, big, little) in cases {
            for (endianness, field) in [(Endianness::Big, big), (Endianness::Little, little)] {
                let mut codec = LengthFieldCodec::builder(64)
                    .length_field_width(width)
                    .endianness(endianness)
                    .initial_bytes_to_strip(width)
                    .build()
                    .unwrap();
                let input = with_prefix(field, b"abcX");
                let mut buf = BytesMut::from(&input[..]);
                let frame = codec.decode(&mut buf).unwrap().unwrap();
                assert_eq!(frame, &b"abc"[..], "width {width} {endianness:?}");
                assert_eq!(&buf[..], b"X");

                let mut prepender = LengthPrepender::new(width).unwrap().endianness(endianness);
                let mut dst = BytesMut::new();
                prepender.encode(&b"abc"[..], &mut dst).unwrap();
                assert_eq!(&dst[..width], field, "width {width} {endianness:?}");
            }
        }
    }

    #[test]
    fn multi_byte_fields_use_every_byte() {
        let mut codec = LengthFieldCodec::builder(1 << 20)
            .length_field_width(3)
            .endianness(Endianness::Little)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&b"\x01\x02\x03"[..]);
        assert_eq!(codec.read_field(&buf), 0x03_02_01);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn builder_rejects_impossible_configurations() {
        for width in [0, 5, 6, 7, 9, 16] {
            let err = LengthFieldCodec::builder(64)
                .length_field_width(width)
                .build()
                .unwrap_err();
            assert!(err.detail().contains("width"), "{width}");
            assert!(LengthPrepender::new(width).is_err());
        }
        assert!(LengthFieldCodec::builder(usize::MAX)
            .length_field_offset(usize::MAX - 1)
            .build()
            .is_err());
        assert!(LengthFieldCodec::builder(3).build().is_err());
        assert!(LengthFieldCodec::builder(4).build().is_ok());
        assert!(LengthFieldCodec::builder(4)
            .initial_bytes_to_strip(5)
            .build()
            .is_err());
    }

    #[test]
    fn zero_length_frames() {
        let mut codec = LengthFieldCodec::builder(2)
            .length_field_width(2)
            .initial_bytes_to_strip(2)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x00\x00"[..]);
        let frames = decode_buffer(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![Bytes::new(), Bytes::new()]);
        assert_eq!(&buf[..], b"\x00");
    }

    #[test]
    fn a_frame_of_exactly_max_length_is_accepted() {
        let mut codec = LengthFieldCodec::builder(5)
            .length_field_width(1)
            .build()
            .unwrap();
        assert_eq!(
            decode_one(&mut codec, b"\x04abcd").unwrap(),
            &b"\x04abcd"[..]
        );
        let mut buf = BytesMut::from(&b"\x05"[..]);
        assert!(codec.decode(&mut buf).unwrap_err().is_frame_too_long());
    }

    #[test]
    fn too_long_fails_as_soon_as_the_field_is_read() {
        let mut codec = LengthFieldCodec::builder(100)
            .length_field_offset(1)
            .length_field_width(2)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&b"\x00\x00"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\x62");
        let err = codec.decode(&mut buf).unwrap_err();
        assert_eq!(err, CodecError::frame_too_long(100));
    }

    #[test]
    fn declared_huge_but_empty_does_not_reserve() {
        let mut codec = LengthFieldCodec::builder(usize::MAX)
            .length_field_width(4)
            .build()
            .unwrap();
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"\x40\x00\x00\x00abc");
        for _ in 0..3 {
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
        }
        assert!(buf.capacity() <= 64, "capacity {}", buf.capacity());

        let mut codec = LengthFieldCodec::builder(usize::MAX)
            .length_field_width(8)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x7f\xff\xff\xff\xff"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() <= 64, "capacity {}", buf.capacity());
    }

    #[test]
    fn negative_adjusted_length_is_malformed() {
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(1)
            .length_adjustment(-2)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, b"\x02").unwrap(), &b"\x02"[..]);
        let mut buf = BytesMut::from(&b"\x01"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert_eq!(err, CodecError::malformed("adjusted length is negative"));
    }

    #[test]
    fn overflowing_frame_length_is_malformed() {
        let mut codec = LengthFieldCodec::builder(usize::MAX)
            .length_field_width(8)
            .length_adjustment(1)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&[0xff; 8][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert_eq!(err, CodecError::malformed("frame length overflows usize"));

        let mut codec = LengthFieldCodec::builder(usize::MAX)
            .length_field_width(8)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&[0xff; 8][..]);
        assert!(codec.decode(&mut buf).unwrap_err().is_malformed());
    }

    #[test]
    fn stripping_more_than_the_frame_is_malformed() {
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(1)
            .initial_bytes_to_strip(3)
            .build()
            .unwrap();
        assert_eq!(decode_one(&mut codec, b"\x02ab").unwrap(), &b""[..]);
        let mut buf = BytesMut::from(&b"\x01"[..]);
        assert!(codec.decode(&mut buf).unwrap_err().is_malformed());
    }

    #[test]
    fn header_and_body_may_arrive_in_pieces() {
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_offset(1)
            .length_field_width(2)
            .initial_bytes_to_strip(3)
            .build()
            .unwrap();
        let input = b"\xaa\x00\x03xyz\xbb";
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for &b in input {
            buf.extend_from_slice(&[b]);
            frames.extend(decode_buffer(&mut codec, &mut buf).unwrap());
            assert!(buf.len() <= 6);
        }
        assert_eq!(frames, vec![&b"xyz"[..]]);
        assert_eq!(&buf[..], b"\xbb");
    }

    #[test]
    fn eof_leaves_a_trailing_partial_frame_to_be_reported_as_truncated() {
        let mut codec = LengthFieldCodec::builder(64)
            .length_field_width(1)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&b"\x01a\x05ab"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"\x01a"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"\x05ab");
        assert!(codec.frame_in_progress(&buf));
    }

    #[test]
    fn prepender_checks_the_field_width() {
        let mut prepender = LengthPrepender::new(1).unwrap();
        let mut dst = BytesMut::new();
        prepender.encode(&[7u8; 255][..], &mut dst).unwrap();
        assert_eq!(dst[0], 255);
        assert_eq!(dst.len(), 256);
        dst.clear();
        let err = prepender.encode(&[7u8; 256][..], &mut dst).unwrap_err();
        assert_eq!(
            err,
            CodecError::encode("message too long for the length field")
        );
        assert!(dst.is_empty());

        let mut prepender = LengthPrepender::new(1).unwrap().length_adjustment(1);
        assert!(prepender.encode(&[7u8; 255][..], &mut dst).is_err());
        let mut prepender = LengthPrepender::new(2).unwrap().length_adjustment(-3);
        assert!(prepender.encode(&b"ab"[..], &mut dst).is_err());
        prepender
            .encode(Bytes::from_static(b"abc"), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"\x00\x00abc");

        let mut prepender = LengthPrepender::new(8)
            .unwrap()
            .length_adjustment(isize::MAX);
        prepender.encode(&b"a"[..], &mut dst).unwrap();
    }
}
