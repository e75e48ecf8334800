//! Frames ended by one of several delimiters: [`DelimiterCodec`].
//!
//! A delimiter is any non-empty byte string (`b"\n"`, `b"\r\n"`, `b"\0"`, `b"END"`). Bytes
//! are opaque: every byte value that is not part of a delimiter passes through unchanged.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{split_front, CodecError, ConfigError, Decoder, Encoder};

/// Whether decoded frames keep the delimiter that ended them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DelimiterMode {
    /// Frames end with the delimiter that ended them (the default).
    #[default]
    Keep,
    /// The delimiter is removed from each frame.
    Strip,
}

/// Splits a byte stream on any of several delimiters; a frame's content (not counting its
/// delimiter) is at most `max_length` bytes long.
///
/// # Decoding
///
/// ```text
///   delimiters: "\r\n", "\n"
///   src:  h i \r \n y o \n p a r
///         └─ frame ─┘ └ frame ┘ └ left in src, scanned; the next call resumes at its end
/// ```
///
/// * A frame ends at the delimiter that starts earliest in the stream. When two delimiters
///   start at the same byte (`"\r"` and `"\r\n"`), the longest one that matches wins; the
///   decoder waits for enough bytes to tell them apart, so the frames never depend on how
///   the stream was cut into reads.
/// * The delimiter is kept on or stripped from the frame as set by
///   [`delimiter_mode`](DelimiterCodec::delimiter_mode).
/// * As soon as more than `max_length` bytes are buffered and no delimiter can start within
///   the first `max_length + 1` bytes, decoding fails with
///   [`CodecError::is_frame_too_long`]. The decoder never waits for the end of an oversize
///   frame; it buffers at most `max_length` plus the longest delimiter's length of one.
/// * Bytes already scanned are not scanned again, so a long frame arriving in many small
///   pieces costs time linear in its length.
/// * At end of stream ([`decode_eof`](Decoder::decode_eof)), a delimiter that could still
///   have grown into a longer one counts as it stands, and a trailing partial frame (no
///   delimiter) is discarded silently, as [`LineCodec`](crate::LineCodec) discards a
///   partial line (not reported as truncated).
///
/// # Encoding
///
/// The encoder writes the message followed by the first delimiter given to
/// [`new`](DelimiterCodec::new). It fails with an encode error if the message is longer than
/// `max_length`; it does not check that the message is free of delimiters.
///
/// ```
/// use weft_codec::{BytesMut, Decoder, DelimiterCodec, DelimiterMode, Encoder};
///
/// let mut codec = DelimiterCodec::new([&b"\r\n"[..], b"\n"], 16)
///     .unwrap()
///     .delimiter_mode(DelimiterMode::Strip);
/// let mut buf = BytesMut::from(&b"one\r\ntwo\nthr"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"one"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"two"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap(), None);
/// buf.extend_from_slice(b"ee\n");
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"three"[..]);
///
/// let mut out = BytesMut::new();
/// codec.encode(&b"four"[..], &mut out).unwrap();
/// assert_eq!(&out[..], b"four\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DelimiterCodec {
    delimiters: Vec<Box<[u8]>>,
    max_length: usize,
    mode: DelimiterMode,
    /// How many bytes at the front of the buffer are known not to start a delimiter.
    scanned: usize,
}

/// What the bytes starting at one position of the buffer say about a delimiter there.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// No delimiter starts here.
    None,
    /// A delimiter of this length starts here and no longer one can.
    Found(usize),
    /// A delimiter longer than the bytes buffered from here could start here; `Some` holds
    /// the length of the longest one that already matches.
    Undecided(Option<usize>),
}

impl DelimiterCodec {
    /// A codec splitting on any of `delimiters`, for frames of at most `max_length` bytes
    /// (not counting the delimiter), keeping the delimiter on decoded frames.
    ///
    /// The encoder appends the first delimiter. Fails if `delimiters` is empty or one of
    /// them is the empty string.
    pub fn new<I, D>(delimiters: I, max_length: usize) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u8]>,
    {
        let delimiters: Vec<Box<[u8]>> = delimiters
            .into_iter()
            .map(|d| Box::from(d.as_ref()))
            .collect();
        if delimiters.is_empty() {
            return Err(ConfigError::new("no delimiter given"));
        }
        if delimiters.iter().any(|d| d.is_empty()) {
            return Err(ConfigError::new("empty delimiter"));
        }
        Ok(DelimiterCodec {
            delimiters,
            max_length,
            mode: DelimiterMode::Keep,
            scanned: 0,
        })
    }

    /// Sets whether decoded frames keep their delimiter.
    pub fn delimiter_mode(mut self, mode: DelimiterMode) -> Self {
        self.mode = mode;
        self
    }

    /// The longest accepted frame, not counting its delimiter.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The delimiters, in the order given to [`new`](DelimiterCodec::new).
    pub fn delimiters(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.delimiters.iter().map(|d| &d[..])
    }

    fn probe(&self, rest: &[u8]) -> Probe {
        let mut longest_match = None;
        let mut undecided = false;
        for delimiter in &self.delimiters {
            if rest.starts_with(delimiter) {
                longest_match = longest_match.max(Some(delimiter.len()));
            } else if delimiter.starts_with(rest) {
                undecided = true;
            }
        }
        match (undecided, longest_match) {
            (true, found) => Probe::Undecided(found),
            (false, Some(len)) => Probe::Found(len),
            (false, None) => Probe::None,
        }
    }

    /// Where the first frame ends: `(start of its delimiter, delimiter length)`.
    fn find_frame(
        &mut self,
        src: &BytesMut,
        eof: bool,
    ) -> Result<Option<(usize, usize)>, CodecError> {
        // A delimiter may start at index `max_length` at the latest (a frame of exactly
        // `max_length` bytes).
        let last_start = self.max_length;
        let mut start = self.scanned.min(src.len());
        while start < src.len() && start <= last_start {
            let delimiter_len = match self.probe(&src[start..]) {
                Probe::None => {
                    start += 1;
                    continue;
                }
                Probe::Found(len) => len,
                Probe::Undecided(Some(len)) if eof => len,
                Probe::Undecided(None) if eof => {
                    start += 1;
                    continue;
                }
                Probe::Undecided(_) => {
                    self.scanned = start;
                    return Ok(None);
                }
            };
            self.scanned = 0;
            return Ok(Some((start, delimiter_len)));
        }
        if start > last_start {
            self.scanned = 0;
            return Err(CodecError::frame_too_long(self.max_length));
        }
        self.scanned = start;
        Ok(None)
    }

    /// Consumes the frame whose delimiter starts at `start` and lends it out.
    fn take_frame<'a>(
        &self,
        src: &'a mut BytesMut,
        (start, delimiter_len): (usize, usize),
    ) -> &'a [u8] {
        let frame = split_front(src, start + delimiter_len);
        match self.mode {
            DelimiterMode::Keep => frame,
            DelimiterMode::Strip => &frame[..start],
        }
    }
}

impl Decoder for DelimiterCodec {
    type Item<'a> = &'a [u8];
    type Error = CodecError;

    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        Ok(self
            .find_frame(src, false)?
            .map(|at| self.take_frame(src, at)))
    }

    fn decode_eof<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        match self.find_frame(src, true)? {
            Some(at) => Ok(Some(self.take_frame(src, at))),
            None => {
                src.clear();
                self.scanned = 0;
                Ok(None)
            }
        }
    }
}

impl Encoder<&[u8]> for DelimiterCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if message.len() > self.max_length {
            return Err(CodecError::encode(
                "message longer than the maximum frame length",
            ));
        }
        let delimiter = &self.delimiters[0];
        dst.reserve(message.len() + delimiter.len());
        dst.put_slice(message);
        dst.put_slice(delimiter);
        Ok(())
    }
}

impl Encoder<Bytes> for DelimiterCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&message[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::decode_buffer;

    fn codec(delimiters: &[&[u8]], max_length: usize) -> DelimiterCodec {
        DelimiterCodec::new(delimiters.iter().copied(), max_length).unwrap()
    }

    #[test]
    fn rejects_empty_delimiter_lists_and_empty_delimiters() {
        let none: [&[u8]; 0] = [];
        assert!(DelimiterCodec::new(none, 8).is_err());
        let err = DelimiterCodec::new([&b"\n"[..], b""], 8).unwrap_err();
        assert_eq!(err.detail(), "empty delimiter");
    }

    #[test]
    fn earliest_delimiter_wins() {
        let mut codec = codec(&[b"XY", b"\n"], 16);
        let mut buf = BytesMut::from(&b"a\nbXYc\n"[..]);
        let frames = decode_buffer(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![&b"a\n"[..], &b"bXY"[..], &b"c\n"[..]]);
    }

    #[test]
    fn longest_delimiter_wins_at_equal_start() {
        for delimiters in [&[&b"\r"[..], b"\r\n"][..], &[&b"\r\n"[..], b"\r"][..]] {
            let mut codec = codec(delimiters, 16).delimiter_mode(DelimiterMode::Strip);
            let mut buf = BytesMut::from(&b"a\r\nb\rc\r"[..]);
            let frames = decode_buffer(&mut codec, &mut buf).unwrap();
            assert_eq!(frames, vec![&b"a"[..], &b"b"[..]]);
            // The last `\r` could still become `\r\n`: the decoder waits.
            assert_eq!(&buf[..], b"c\r");
            buf.extend_from_slice(b"\n");
            assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"c"[..]);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn waits_for_a_delimiter_split_across_reads() {
        let mut codec = codec(&[b"END"], 16);
        let mut buf = BytesMut::from(&b"abcEN"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"Dx");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abcEND"[..]);
        assert_eq!(&buf[..], b"x");
    }

    #[test]
    fn a_false_start_of_a_delimiter_is_content() {
        let mut codec = codec(&[b"END"], 16);
        let mut buf = BytesMut::from(&b"ENENDE"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"ENEND"[..]);
        assert_eq!(&buf[..], b"E");
    }

    #[test]
    fn zero_length_frames() {
        let mut codec = codec(&[b"\n"], 0).delimiter_mode(DelimiterMode::Strip);
        let mut buf = BytesMut::from(&b"\n\n"[..]);
        let frames = decode_buffer(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![&b""[..], &b""[..]]);
        buf.extend_from_slice(b"x");
        assert!(codec.decode(&mut buf).unwrap_err().is_frame_too_long());
    }

    #[test]
    fn a_frame_of_exactly_max_length_is_accepted() {
        let mut codec = codec(&[b"\r\n"], 4);
        let mut buf = BytesMut::from(&b"abcd\r"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abcd\r\n"[..]);
    }

    #[test]
    fn too_long_is_reported_before_the_delimiter_arrives() {
        let mut codec = codec(&[b"\r\n"], 4);
        let mut buf = BytesMut::from(&b"abcd"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"e");
        assert!(codec.decode(&mut buf).unwrap_err().is_frame_too_long());
    }

    #[test]
    fn too_long_waits_only_for_a_delimiter_that_may_start_at_max() {
        let mut codec = codec(&[b"\r\n"], 4);
        let mut buf = BytesMut::from(&b"abcd\r"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"x");
        assert!(codec.decode(&mut buf).unwrap_err().is_frame_too_long());
    }

    #[test]
    fn byte_at_a_time_is_linear_and_correct() {
        let mut codec = codec(&[b"\r\n", b"\n"], 10_000);
        let mut buf = BytesMut::new();
        for _ in 0..9_999 {
            buf.extend_from_slice(b"\r");
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
            // Resumes at the last byte, which may start `\r\n`.
            assert_eq!(codec.scanned, buf.len() - 1);
        }
        buf.extend_from_slice(b"\n");
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.len(), 10_000);
    }

    #[test]
    fn scanning_resumes_where_it_stopped() {
        let mut codec = codec(&[b"\r\n"], 100);
        let mut buf = BytesMut::new();
        for _ in 0..50 {
            buf.extend_from_slice(b"xy");
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
            assert_eq!(codec.scanned, buf.len());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 102);
        assert_eq!(codec.scanned, 0);
    }

    #[test]
    fn eof_takes_an_undecided_delimiter_and_discards_the_partial_frame() {
        let mut cr = codec(&[b"\r", b"\r\n"], 8);
        let mut buf = BytesMut::from(&b"one\r"[..]);
        assert_eq!(cr.decode(&mut buf).unwrap(), None);
        assert_eq!(cr.decode_eof(&mut buf).unwrap().unwrap(), &b"one\r"[..]);

        let mut end = codec(&[b"END"], 8);
        let mut buf = BytesMut::from(&b"twoEN"[..]);
        assert_eq!(end.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        assert_eq!(end.scanned, 0);
    }

    #[test]
    fn eof_skips_a_prefix_that_can_no_longer_complete() {
        let mut codec = codec(&[b"ab", b"b"], 8);
        let mut buf = BytesMut::from(&b"xab"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"xab"[..]);
        let mut buf = BytesMut::from(&b"xa"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        let mut buf = BytesMut::from(&b"aab"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"aab"[..]);
    }

    #[test]
    fn encoder_appends_the_first_delimiter_and_checks_length() {
        let mut codec = codec(&[b"\r\n", b"\n"], 3);
        let mut dst = BytesMut::from(&b">"[..]);
        codec.encode(&b"abc"[..], &mut dst).unwrap();
        codec.encode(Bytes::new(), &mut dst).unwrap();
        assert_eq!(&dst[..], b">abc\r\n\r\n");
        let err = codec.encode(&b"abcd"[..], &mut dst).unwrap_err();
        assert!(!err.is_frame_too_long() && !err.is_malformed());
        assert_eq!(&dst[..], b">abc\r\n\r\n");
    }
}
