//! Newline-delimited frames: [`LineCodec`].
//!
//! A line is the bytes up to and including the first `\n`. Bytes are opaque: `\0`, `\r`,
//! invalid UTF-8 and every other byte value pass through unchanged.

use bytes::{Bytes, BytesMut};

use crate::shared::SharedFrames;
use crate::{split_front, CodecError, Decoder, Encoder};

/// Whether decoded lines keep their `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminator {
    /// Frames end with the `\n` that ended the line (the default).
    #[default]
    Keep,
    /// The `\n` is removed from each frame (a `\r` before it is kept).
    Strip,
}

/// Splits a byte stream into lines, each at most `max_length` bytes long, not counting `\n`.
///
/// # Decoding
///
/// ```text
///   src:  h e l l o \n w o r
///         └── frame ──┘ └ left in src, scanned; next call resumes at `r`
/// ```
///
/// * A frame is the bytes up to the first `\n`, with the `\n` kept or stripped as configured,
///   lent out of the buffer (`&[u8]`) until the next call: a handler that keeps a line
///   copies it, and holds only its bytes. [`Shared`](crate::Shared) yields them as `Bytes`
///   that share the buffer instead.
/// * As soon as more than `max_length` bytes are buffered without a `\n`, decoding fails with
///   [`CodecError::is_frame_too_long`]; the decoder never waits for the end of an oversize
///   line and never buffers more than `max_length + 1` bytes of one.
/// * Bytes already scanned are not scanned again, so a long line arriving in many small
///   pieces costs time linear in its length.
/// * At end of stream, a trailing partial line (no `\n`) is discarded, on purpose and
///   silently: its [`decode_eof`](Decoder::decode_eof) drops it rather than have the
///   framework report it as truncated (a line protocol's last line without `\n` is not an
///   error; `line_echo`'s contract drops it).
///
/// # Encoding
///
/// The encoder writes the message and then a `\n`, unless the message already ends with one;
/// so a frame decoded with [`Terminator::Keep`] is echoed back byte for byte.
///
/// ```
/// use weft_codec::{BytesMut, Decoder, LineCodec};
///
/// let mut codec = LineCodec::new(16);
/// let mut buf = BytesMut::from(&b"one\ntw"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"one\n"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap(), None);
/// buf.extend_from_slice(b"o\n");
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"two\n"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct LineCodec {
    max_length: usize,
    terminator: Terminator,
    /// How many bytes at the front of the buffer are known to hold no `\n`.
    scanned: usize,
}

impl LineCodec {
    /// A codec for lines of at most `max_length` bytes (not counting `\n`) that keeps the
    /// terminator on decoded frames.
    pub fn new(max_length: usize) -> Self {
        LineCodec {
            max_length,
            terminator: Terminator::Keep,
            scanned: 0,
        }
    }

    /// Sets whether decoded frames keep their `\n`.
    pub fn terminator(mut self, terminator: Terminator) -> Self {
        self.terminator = terminator;
        self
    }

    /// The longest accepted line, not counting `\n`.
    pub fn max_length(&self) -> usize {
        self.max_length
    }
}

/// How many bytes [`find_newline`] scans itself before it hands the rest to `memchr`.
const SHORT_SCAN: usize = 64;

/// The index of the first `\n` in `hay`.
///
/// Most lines are short, and for a short line `memchr`'s set-up (choosing its vector
/// routine, aligning, the tail) costs more than the search: about 75 instructions for a
/// 64-byte line. So the first [`SHORT_SCAN`] bytes are looked at here, 16 at a time, in a
/// form the compiler turns into one SSE2 compare and mask per 16 bytes (about 9
/// instructions), and only the rest of a longer line goes to `memchr`.
///
/// On x86-64, when at least 64 bytes are there (the usual case in a pipelined batch, where
/// the next lines follow), the first 64 are compared in four SSE2 registers and their
/// masks joined into one `u64` (about 20 instructions, against about 45 for four rounds of
/// the portable loop with its search inside the round that hits).
#[inline]
fn find_newline(hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(head) = hay.first_chunk::<SHORT_SCAN>() {
        let newlines = newlines_in_64(head);
        if newlines != 0 {
            return Some(newlines.trailing_zeros() as usize);
        }
        return memchr::memchr(b'\n', &hay[SHORT_SCAN..]).map(|at| SHORT_SCAN + at);
    }
    let head = &hay[..hay.len().min(SHORT_SCAN)];
    let mut chunks = head.chunks_exact(16);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut any = 0u8;
        for &b in chunk {
            any |= u8::from(b == b'\n');
        }
        if any != 0 {
            let (lo, hi) = chunk.split_at(8);
            let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("8 bytes"));
            return Some(
                base + first_newline_in(word(lo)).unwrap_or_else(|| {
                    8 + first_newline_in(word(hi)).expect("the chunk holds a newline")
                }),
            );
        }
        base += 16;
    }
    if let Some(at) = chunks.remainder().iter().position(|&b| b == b'\n') {
        return Some(base + at);
    }
    memchr::memchr(b'\n', &hay[head.len()..]).map(|at| head.len() + at)
}

/// A bit per byte of `chunk`, set where the byte is `\n` (bit `i` for byte `i`).
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
fn newlines_in_64(chunk: &[u8; SHORT_SCAN]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };

    let mask = |at: usize| {
        let part: &[u8; 16] = chunk[at..at + 16].try_into().expect("16 bytes");
        // SAFETY: the intrinsics are SSE2, which every x86-64 processor has (and this
        // target enables); `part` is 16 readable bytes, exactly what the unaligned load
        // reads, and `_mm_loadu_si128` has no alignment requirement.
        let found = unsafe {
            let bytes = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\n' as i8)))
        };
        u64::from(found as u16)
    };
    mask(0) | mask(16) << 16 | mask(32) << 32 | mask(48) << 48
}

/// The index of the first `\n` byte in the little-endian `word`: the lowest byte that is
/// zero after XOR with `\n` in every byte. (`x - 0x01..01` borrows through a zero byte into
/// the bytes above it only, so the lowest flagged byte is always a true zero.)
#[inline]
fn first_newline_in(word: u64) -> Option<usize> {
    let x = word ^ 0x0a0a_0a0a_0a0a_0a0a;
    let zero = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
    (zero != 0).then(|| zero.trailing_zeros() as usize / 8)
}

impl LineCodec {
    /// Where the first buffered line ends (the index of its `\n`), scanning each byte once
    /// across calls; an error once more than `max_length` bytes are buffered without one.
    #[inline]
    fn find_line_end(&mut self, src: &BytesMut) -> Result<Option<usize>, CodecError> {
        // A `\n` may stand at index `max_length` at the latest (a line of exactly
        // `max_length` bytes); nothing past that window needs to be looked at.
        let window_end = src.len().min(self.max_length.saturating_add(1));
        let start = self.scanned.min(window_end);
        match find_newline(&src[start..window_end]) {
            Some(offset) => {
                self.scanned = 0;
                Ok(Some(start + offset))
            }
            None if src.len() > self.max_length => {
                self.scanned = 0;
                Err(CodecError::frame_too_long(self.max_length))
            }
            None => {
                self.scanned = window_end;
                Ok(None)
            }
        }
    }

    /// How much of the line ending at `newline` the frame keeps: all of it, or all but the
    /// `\n`.
    #[inline]
    fn frame_len(&self, newline: usize) -> usize {
        match self.terminator {
            Terminator::Keep => newline + 1,
            Terminator::Strip => newline,
        }
    }

    /// Consumes the line ending at `newline` and lends it out, with or without its `\n`.
    #[inline]
    fn take_line<'a>(&self, src: &'a mut BytesMut, newline: usize) -> &'a [u8] {
        // A `match` on the two slices, not `[..self.frame_len(newline)]`: the slice by length
        // keeps a bounds check the compiler cannot drop (3 instructions per line in
        // `pipelined`, measured).
        let line = split_front(src, newline + 1);
        match self.terminator {
            Terminator::Keep => line,
            Terminator::Strip => &line[..newline],
        }
    }

    /// End of stream with no complete line: the partial one is dropped (see the type's
    /// documentation).
    fn drop_partial_line(&mut self, src: &mut BytesMut) {
        src.clear();
        self.scanned = 0;
    }
}

impl Decoder for LineCodec {
    type Item<'a> = &'a [u8];
    type Error = CodecError;

    #[inline]
    fn decode<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        Ok(self
            .find_line_end(src)?
            .map(|newline| self.take_line(src, newline)))
    }

    fn decode_eof<'a>(&mut self, src: &'a mut BytesMut) -> Result<Option<&'a [u8]>, CodecError> {
        match self.find_line_end(src)? {
            Some(newline) => Ok(Some(self.take_line(src, newline))),
            None => {
                self.drop_partial_line(src);
                Ok(None)
            }
        }
    }
}

impl SharedFrames for LineCodec {
    fn decode_shared(
        &mut self,
        src: &mut BytesMut,
        eof: bool,
    ) -> Result<Option<Bytes>, CodecError> {
        match self.find_line_end(src)? {
            Some(newline) => {
                let mut line = src.split_to(newline + 1);
                line.truncate(self.frame_len(newline));
                Ok(Some(line.freeze()))
            }
            None if eof => {
                self.drop_partial_line(src);
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

impl Encoder<&[u8]> for LineCodec {
    type Error = CodecError;

    #[inline]
    fn encode(&mut self, line: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(line);
        if line.last() != Some(&b'\n') {
            dst.extend_from_slice(b"\n");
        }
        Ok(())
    }
}

impl Encoder<Bytes> for LineCodec {
    type Error = CodecError;

    #[inline]
    fn encode(&mut self, line: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&line[..], dst)
    }
}

impl Encoder<&str> for LineCodec {
    type Error = CodecError;

    fn encode(&mut self, line: &str, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(line.as_bytes(), dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_every_split_point_gives_the_same_frames, decode_buffer};

    #[test]
    fn splits_pipelined_lines_and_keeps_the_rest() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"a\nbb\n\nccc"[..]);
        let frames = decode_buffer(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![&b"a\n"[..], &b"bb\n"[..], &b"\n"[..]]);
        assert_eq!(&buf[..], b"ccc");
    }

    #[test]
    fn strip_removes_only_the_newline() {
        let mut codec = LineCodec::new(8).terminator(Terminator::Strip);
        let mut buf = BytesMut::from(&b"hi\r\n\n"[..]);
        let frames = decode_buffer(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![&b"hi\r"[..], &b""[..]]);
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let input: Vec<u8> = b"alpha\n\nbe\x00ta\r\n\xff\xfe gamma\nrest".to_vec();
        let whole = assert_every_split_point_gives_the_same_frames(|| LineCodec::new(64), &input);
        assert!(whole.error.is_none());
        assert_eq!(&whole.rest[..], b"rest");
    }

    #[test]
    fn byte_at_a_time_is_linear_and_correct() {
        let mut codec = LineCodec::new(10_000);
        let mut buf = BytesMut::new();
        let line = vec![b'x'; 9_999];
        for &b in &line {
            buf.extend_from_slice(&[b]);
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
        }
        buf.extend_from_slice(b"\n");
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.len(), 10_000);
    }

    #[test]
    fn a_line_of_exactly_max_length_is_accepted() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"abcd\n"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"abcd\n"[..]);
    }

    #[test]
    fn too_long_is_reported_before_the_newline_arrives() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"abcd"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"e");
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(err.is_frame_too_long());
        assert_eq!(err.to_string(), "frame too long (limit 4 bytes)");
    }

    #[test]
    fn frames_before_an_oversize_line_are_still_decoded() {
        let mut codec = LineCodec::new(3);
        let mut buf = BytesMut::from(&b"ok\nwaytoolong\n"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"ok\n"[..]);
        assert!(codec.decode(&mut buf).unwrap_err().is_frame_too_long());
    }

    #[test]
    fn eof_discards_a_trailing_partial_line() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"one\ntwo"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"one\n"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn encoder_terminates_unterminated_lines_only() {
        let mut codec = LineCodec::new(8);
        let mut dst = BytesMut::new();
        codec.encode("hi", &mut dst).unwrap();
        codec
            .encode(Bytes::from_static(b"there\n"), &mut dst)
            .unwrap();
        codec.encode(&b""[..], &mut dst).unwrap();
        assert_eq!(&dst[..], b"hi\nthere\n\n");
    }

    #[test]
    fn find_newline_agrees_with_a_plain_search() {
        // Every length around the 16-byte chunks and the short-scan limit, the newline at
        // every position (or none), with other bytes that look alike (0x0b, 0x8a, 0x09).
        for len in 0..(SHORT_SCAN * 3) {
            for at in (0..len).map(Some).chain([None]) {
                let mut hay: Vec<u8> = (0..len).map(|i| [0x0b, 0x8a, 0x09, b'x'][i % 4]).collect();
                if let Some(at) = at {
                    hay[at] = b'\n';
                    if at + 3 < len {
                        hay[at + 3] = b'\n'; // only the first counts
                    }
                }
                assert_eq!(find_newline(&hay), at, "len {len}, newline at {at:?}");
            }
        }
    }

    #[test]
    fn all_byte_values_pass_through() {
        let mut codec = LineCodec::new(512);
        let line: Vec<u8> = (0..=255u8).filter(|&b| b != b'\n').chain([b'\n']).collect();
        let mut buf = BytesMut::from(&line[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &line[..]);
    }
}
