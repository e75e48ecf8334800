//! Chunked request bodies (RFC 9112 §7.1), decoded in place in the read buffer.
//!
//! ```text
//!   5;ext=1\r\n       chunk-size [ chunk-ext ] CRLF      (extensions are ignored)
//!   hello\r\n         chunk-data CRLF
//!   0\r\n             last-chunk
//!   Trailer: x\r\n    trailer fields                     (parsed, bounded, ignored)
//!   \r\n
//! ```
//!
//! Once the head is split off, the buffer holds only the body. Chunk data is moved down to
//! the front as it arrives, over the chunk-size lines already read, so the buffer is always
//! `[decoded body][consumed framing][unread bytes]`; the framing gap is closed at the end of
//! each call, so what stays buffered is the decoded body (at most `max_body_len`), plus an
//! incomplete chunk-size line (at most `max_chunk_line_len`) or trailer section (at most
//! `max_head_len`). Lines must end with `\r\n` here: no bare `\n`, which is where chunked
//! parsers are known to disagree.

use bytes::BytesMut;

use crate::CodecError;

use super::parse::{is_tchar, trim_ows};
use super::HttpLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a chunk-size line.
    Size,
    /// In a chunk's data, `left` bytes to go.
    Data { left: usize },
    /// After a chunk's data: its `\r\n`.
    DataEnd,
    /// In the trailer section: `len` bytes and `fields` fields read so far.
    Trailers { len: usize, fields: usize },
}

/// How far a chunked body has been read.
#[derive(Debug, Clone)]
pub(super) struct Chunked {
    /// The decoded body is `src[..written]`.
    written: usize,
    /// The next unread byte is `src[read]`.
    read: usize,
    /// Bytes of the current line (from `read`) already searched for its `\n`.
    scanned: usize,
    phase: Phase,
}

impl Chunked {
    pub(super) fn new() -> Self {
        Chunked {
            written: 0,
            read: 0,
            scanned: 0,
            phase: Phase::Size,
        }
    }

    /// Reads what `src` holds. `Some(n)` once the body is complete: it is `src[..n]`, and
    /// the bytes up to [`Chunked::consumed`] belong to it.
    pub(super) fn advance(
        &mut self,
        src: &mut BytesMut,
        limits: &HttpLimits,
    ) -> Result<Option<usize>, CodecError> {
        let done = self.advance_inner(src, limits)?;
        if !done && self.read > self.written {
            // Close the gap left by the framing read so far.
            src.copy_within(self.read.., self.written);
            src.truncate(src.len() - (self.read - self.written));
            self.read = self.written;
        }
        Ok(done.then_some(self.written))
    }

    /// How many bytes of `src` the complete body took (decoded body and framing).
    pub(super) fn consumed(&self) -> usize {
        self.read
    }

    /// The next line from `read`, without its `\r\n`, if it is complete within `max`
    /// bytes (counting the `\r\n`); `Err(())` if `max` bytes came without its end.
    fn line<'a>(&mut self, src: &'a [u8], max: usize) -> Result<Option<&'a [u8]>, ()> {
        let avail = &src[self.read..];
        let window = &avail[..avail.len().min(max)];
        match window[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = self.scanned + i;
                self.scanned = 0;
                Ok(Some(&avail[..nl + 1]))
            }
            None if avail.len() >= max => Err(()),
            None => {
                self.scanned = window.len();
                Ok(None)
            }
        }
    }

    fn advance_inner(
        &mut self,
        src: &mut BytesMut,
        limits: &HttpLimits,
    ) -> Result<bool, CodecError> {
        let malformed = CodecError::malformed;
        loop {
            match self.phase {
                Phase::Size => {
                    let max = limits.max_chunk_line_len;
                    let line = match self.line(src, max) {
                        Ok(Some(line)) => line,
                        Ok(None) => return Ok(false),
                        Err(()) => return Err(malformed("chunk-size line too long")),
                    };
                    let consumed = line.len();
                    let line = line
                        .strip_suffix(b"\r\n")
                        .ok_or(malformed("chunk-size line without CRLF"))?;
                    let size = parse_chunk_size(line, self.written, limits.max_body_len)?;
                    self.read += consumed;
                    self.phase = if size == 0 {
                        Phase::Trailers { len: 0, fields: 0 }
                    } else {
                        Phase::Data { left: size }
                    };
                }
                Phase::Data { left } => {
                    let n = left.min(src.len() - self.read);
                    if n == 0 {
                        return Ok(false);
                    }
                    src.copy_within(self.read..self.read + n, self.written);
                    self.written += n;
                    self.read += n;
                    self.phase = if n == left {
                        Phase::DataEnd
                    } else {
                        Phase::Data { left: left - n }
                    };
                }
                Phase::DataEnd => {
                    match src.get(self.read..self.read + 2) {
                        None if src.len() == self.read + 1 && src[self.read] == b'\r' => {
                            return Ok(false)
                        }
                        None if src.len() == self.read => return Ok(false),
                        Some(b"\r\n") => {}
                        _ => return Err(malformed("chunk data not followed by CRLF")),
                    }
                    self.read += 2;
                    self.phase = Phase::Size;
                }
                Phase::Trailers { len, fields } => {
                    let max = limits.max_head_len.saturating_sub(len);
                    let line = match self.line(src, max) {
                        Ok(Some(line)) => line,
                        Ok(None) => return Ok(false),
                        Err(()) => return Err(CodecError::headers_too_large(limits.max_head_len)),
                    };
                    let consumed = line.len();
                    let line = line
                        .strip_suffix(b"\r\n")
                        .ok_or(malformed("trailer line without CRLF"))?;
                    self.read += consumed;
                    if line.is_empty() {
                        return Ok(true);
                    }
                    check_trailer_field(line)?;
                    if fields + 1 > limits.max_headers {
                        return Err(CodecError::headers_too_large(limits.max_headers));
                    }
                    self.phase = Phase::Trailers {
                        len: len + consumed,
                        fields: fields + 1,
                    };
                }
            }
        }
    }
}

/// `chunk-size [ chunk-ext ]`: hex digits, then extensions that are checked for
/// characters only and ignored. The body so far (`written`) plus the size must stay within
/// `max_body`.
fn parse_chunk_size(line: &[u8], written: usize, max_body: usize) -> Result<usize, CodecError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(CodecError::malformed("bad chunk size"));
    }
    let ext = trim_ows(&line[digits..]);
    if !(ext.is_empty() || ext.starts_with(b";"))
        || ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(CodecError::malformed("bad chunk extension"));
    }
    let mut size: usize = 0;
    for &d in &line[..digits] {
        let value = (d as char).to_digit(16).unwrap_or_default() as usize;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(value))
            .filter(|&s| s <= max_body.saturating_sub(written))
            .ok_or(CodecError::frame_too_long(max_body))?;
    }
    Ok(size)
}

/// A trailer field: `name ":" value`, as in the header section.
fn check_trailer_field(line: &[u8]) -> Result<(), CodecError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(CodecError::malformed("trailer field without ':'"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(CodecError::malformed("bad trailer field name"));
    }
    if line[colon + 1..]
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(CodecError::malformed("control character in trailer field"));
    }
    Ok(())
}
