//! The Redis protocol, RESP2: [`RespCodec`] decodes client requests and encodes
//! [`RespValue`] replies; [`RespRequestEncoder`] writes requests, as a client does.
//!
//! # Requests
//!
//! A client sends a command as an array of bulk strings, or as one inline line, the way
//! `redis-server` accepts both:
//!
//! ```text
//!   *2\r\n$3\r\nGET\r\n$3\r\nkey\r\n      → [b"GET", b"key"]
//!   PING\r\n                              → [b"PING"]
//!   SET k "two words"\r\n                 → [b"SET", b"k", b"two words"]
//! ```
//!
//! A frame is a [`Vec<Bytes>`] of the command's arguments. Each argument of an array request
//! is a slice of the bytes split off the read buffer: no argument is copied. Inline
//! arguments are slices too, unless quoting or escapes made them differ from the wire.
//!
//! Empty requests (`*0\r\n`, `*-1\r\n`, a blank inline line) are consumed and yield nothing,
//! as `redis-server` ignores them.
//!
//! # Limits
//!
//! Every limit in [`RespLimits`] is checked as soon as the number it bounds is known: an
//! array count or bulk length over its limit fails the moment its header line arrives,
//! before any of the announced bytes; capacity is never reserved for a declared length.
//! Header lines (`*N\r\n`, `$N\r\n`) longer than 32 bytes are malformed.
//!
//! | exceeded | error |
//! |---|---|
//! | [`max_bulk_len`](RespLimits::max_bulk_len) | [`CodecError::is_frame_too_long`], limit = that value |
//! | [`max_inline_len`](RespLimits::max_inline_len) | [`CodecError::is_frame_too_long`], limit = that value |
//! | [`max_request_len`](RespLimits::max_request_len) | [`CodecError::is_frame_too_long`], limit = that value |
//! | [`max_args`](RespLimits::max_args) | [`CodecError::is_malformed`] (`invalid multibulk length`) |
//!
//! The error details read like `redis-server`'s protocol errors, so a server may answer
//! `-ERR Protocol error: <detail>` (see [`CodecError::detail`]).
//!
//! # Partial requests
//!
//! The decoder remembers how far it got (the arguments already located, the length of the
//! bulk string it waits for, how much of an inline line it has scanned), so a request that
//! arrives in many small pieces costs time linear in its length.
//!
//! At end of stream, a trailing partial request is discarded.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{CodecError, Decoder, Encoder};

/// A header line (`*N\r\n`, `$N\r\n`) may hold at most this many bytes before its `\r\n`.
const MAX_HEADER_LINE: usize = 32;

/// How many argument slots are reserved before the arguments themselves arrive.
const INITIAL_ARGS: usize = 16;

/// The bounds a [`RespCodec`] enforces on requests.
///
/// There is no unbounded setting: every field must be given (or taken from
/// [`RespLimits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespLimits {
    /// The longest bulk string (one argument of an array request), in bytes.
    pub max_bulk_len: usize,
    /// The most arguments in one request (array elements or inline words).
    pub max_args: usize,
    /// The longest inline request line, in bytes, not counting its `\n` (and never more
    /// than `max_request_len`).
    pub max_inline_len: usize,
    /// The longest request as a whole, in bytes on the wire.
    pub max_request_len: usize,
}

impl Default for RespLimits {
    /// Bulk strings up to 1 MiB, 1024 arguments, inline lines up to 64 KiB (the limit
    /// `redis-server` uses), requests up to 16 MiB.
    fn default() -> Self {
        RespLimits {
            max_bulk_len: 1 << 20,
            max_args: 1024,
            max_inline_len: 64 << 10,
            max_request_len: 16 << 20,
        }
    }
}

/// How far the decoder got into the request at the front of the buffer.
#[derive(Debug, Clone, Default)]
enum Progress {
    /// Nothing of the current request has been looked at.
    #[default]
    Start,
    /// An inline request whose first `scanned` bytes hold no `\n`.
    Inline { scanned: usize },
    /// An array request: the count is read, `args` located, the next element starts at
    /// `pos`; `bulk` is its declared length once its `$N\r\n` line has been read.
    Array {
        remaining: usize,
        args: Vec<(usize, usize)>,
        pos: usize,
        bulk: Option<usize>,
    },
}

/// Decodes RESP2 requests into argument lists and encodes [`RespValue`] replies.
///
/// See the [module documentation](self) for the accepted forms, the limits and the errors.
///
/// ```
/// use weft_codec::resp::{RespCodec, RespLimits, RespValue};
/// use weft_codec::{Bytes, BytesMut, Decoder, Encoder};
///
/// let mut codec = RespCodec::new(RespLimits::default());
/// let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), vec![&b"ECHO"[..], b"hi"]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), vec![&b"PING"[..]]);
///
/// let mut out = BytesMut::new();
/// codec.encode(RespValue::Bulk(Bytes::from_static(b"hi")), &mut out).unwrap();
/// assert_eq!(&out[..], b"$2\r\nhi\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct RespCodec {
    limits: RespLimits,
    progress: Progress,
}

impl RespCodec {
    /// A codec enforcing `limits`.
    pub fn new(limits: RespLimits) -> Self {
        RespCodec {
            limits,
            progress: Progress::Start,
        }
    }

    /// The limits this codec enforces.
    pub fn limits(&self) -> RespLimits {
        self.limits
    }

    /// Decodes an array request; `src[0]` is `*`.
    fn decode_array(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, CodecError> {
        let limits = self.limits;
        if let Progress::Start = self.progress {
            let Some((count, next)) = header_line(src, 0)? else {
                return Ok(None);
            };
            if count <= 0 {
                // `*0` and `*-1`: nothing to run, as redis-server does.
                let _ = src.split_to(next);
                return Ok(Some(Vec::new()));
            }
            if count as u64 > limits.max_args as u64 {
                return Err(CodecError::malformed("invalid multibulk length"));
            }
            let count = count as usize;
            self.progress = Progress::Array {
                remaining: count,
                args: Vec::with_capacity(count.min(INITIAL_ARGS)),
                pos: next,
                bulk: None,
            };
        }
        let Progress::Array {
            remaining,
            args,
            pos,
            bulk,
        } = &mut self.progress
        else {
            unreachable!("decode_array is only called for array requests");
        };
        while *remaining > 0 {
            let len = match *bulk {
                Some(len) => len,
                None => {
                    let Some(&marker) = src.get(*pos) else {
                        return Ok(None);
                    };
                    if marker != b'$' {
                        return Err(CodecError::malformed("expected '$'"));
                    }
                    let Some((len, next)) = header_line(src, *pos)? else {
                        return Ok(None);
                    };
                    if len < 0 {
                        return Err(CodecError::malformed("invalid bulk length"));
                    }
                    if len as u64 > limits.max_bulk_len as u64 {
                        return Err(CodecError::frame_too_long(limits.max_bulk_len));
                    }
                    let len = len as usize;
                    if next + len + 2 > limits.max_request_len {
                        return Err(CodecError::frame_too_long(limits.max_request_len));
                    }
                    *pos = next;
                    *bulk = Some(len);
                    len
                }
            };
            let end = *pos + len;
            if src.len() < end + 2 {
                return Ok(None);
            }
            if &src[end..end + 2] != b"\r\n" {
                return Err(CodecError::malformed("bulk string not followed by CRLF"));
            }
            args.push((*pos, len));
            *pos = end + 2;
            *bulk = None;
            *remaining -= 1;
        }
        let frame = src.split_to(*pos).freeze();
        let args = args
            .iter()
            .map(|&(start, len)| frame.slice(start..start + len))
            .collect();
        self.progress = Progress::Start;
        Ok(Some(args))
    }

    /// Decodes an inline request; `src[0]` is not `*`.
    fn decode_inline(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, CodecError> {
        // An inline request is a whole request too: both limits apply.
        let max = self.limits.max_inline_len.min(self.limits.max_request_len);
        let scanned = match self.progress {
            Progress::Inline { scanned } => scanned,
            _ => 0,
        };
        let window_end = src.len().min(max.saturating_add(1));
        let start = scanned.min(window_end);
        let Some(offset) = memchr::memchr(b'\n', &src[start..window_end]) else {
            if src.len() > max {
                return Err(CodecError::frame_too_long(max));
            }
            self.progress = Progress::Inline {
                scanned: window_end,
            };
            return Ok(None);
        };
        let newline = start + offset;
        self.progress = Progress::Start;
        let line = src.split_to(newline + 1).freeze();
        let args = split_inline(&line.slice(..newline))?;
        if args.len() > self.limits.max_args {
            return Err(CodecError::malformed("invalid multibulk length"));
        }
        Ok(Some(args))
    }
}

/// Reads the header line starting at `src[at]` (`*N\r\n` or `$N\r\n`): its number and the
/// index just past its `\r\n`, or `None` while it is incomplete.
fn header_line(src: &[u8], at: usize) -> Result<Option<(i64, usize)>, CodecError> {
    let digits_start = at + 1;
    let window = &src[digits_start.min(src.len())..src.len().min(at + MAX_HEADER_LINE + 2)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if src.len() >= at + MAX_HEADER_LINE + 2 {
            return Err(CodecError::malformed("length line too long"));
        }
        return Ok(None);
    };
    let end = digits_start + cr;
    if src.len() < end + 2 {
        return Ok(None);
    }
    if src[end + 1] != b'\n' {
        return Err(CodecError::malformed("length line not ended by CRLF"));
    }
    let bad = || {
        if src[at] == b'*' {
            CodecError::malformed("invalid multibulk length")
        } else {
            CodecError::malformed("invalid bulk length")
        }
    };
    let number = parse_i64(&src[digits_start..end]).ok_or_else(bad)?;
    Ok(Some((number, end + 2)))
}

/// A decimal integer: an optional `-`, then at least one digit; no `+`, no spaces.
fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline line into arguments the way `redis-server` does: words separated by
/// white space; `"…"` with the escapes `\n \r \t \b \a \\ \" \xHH`; `'…'` with `\'`; a
/// closing quote must be followed by white space or the end of the line.
fn split_inline(line: &Bytes) -> Result<Vec<Bytes>, CodecError> {
    let unbalanced = || CodecError::malformed("unbalanced quotes in request");
    let bytes = &line[..];
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Ok(args);
        }
        let start = i;
        // `owned` is only used once a quote makes the argument differ from the wire.
        let mut owned: Option<Vec<u8>> = None;
        loop {
            match bytes.get(i) {
                None => break,
                Some(&b) if is_space(b) => break,
                Some(&quote @ (b'"' | b'\'')) => {
                    let arg = owned.get_or_insert_with(|| bytes[start..i].to_vec());
                    i += 1;
                    loop {
                        let &b = bytes.get(i).ok_or_else(unbalanced)?;
                        i += 1;
                        if b == quote {
                            break;
                        }
                        if b != b'\\' || i == bytes.len() {
                            arg.push(b);
                            continue;
                        }
                        let next = bytes[i];
                        if quote == b'\'' {
                            if next == b'\'' {
                                arg.push(b'\'');
                                i += 1;
                            } else {
                                arg.push(b'\\');
                            }
                            continue;
                        }
                        i += 1;
                        match next {
                            b'x' => {
                                let hex = bytes
                                    .get(i..i + 2)
                                    .and_then(|h| Some(hex_value(h[0])? << 4 | hex_value(h[1])?));
                                match hex {
                                    Some(v) => {
                                        arg.push(v);
                                        i += 2;
                                    }
                                    None => arg.push(b'x'),
                                }
                            }
                            b'n' => arg.push(b'\n'),
                            b'r' => arg.push(b'\r'),
                            b't' => arg.push(b'\t'),
                            b'b' => arg.push(b'\x08'),
                            b'a' => arg.push(b'\x07'),
                            other => arg.push(other),
                        }
                    }
                    if bytes.get(i).is_some_and(|&b| !is_space(b)) {
                        return Err(unbalanced());
                    }
                }
                Some(&b) => {
                    if let Some(arg) = owned.as_mut() {
                        arg.push(b);
                    }
                    i += 1;
                }
            }
        }
        args.push(match owned {
            Some(arg) => Bytes::from(arg),
            None => line.slice(start..i),
        });
    }
}

impl Decoder for RespCodec {
    type Item = Vec<Bytes>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, CodecError> {
        loop {
            let Some(&first) = src.first() else {
                return Ok(None);
            };
            let result = if first == b'*' {
                self.decode_array(src)
            } else {
                self.decode_inline(src)
            };
            // Whatever the decoder had located belongs to a stream that is now corrupt.
            let args = result.inspect_err(|_| self.progress = Progress::Start)?;
            match args {
                // An empty request was consumed; look at what follows.
                Some(args) if args.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                src.clear();
                self.progress = Progress::Start;
                Ok(None)
            }
        }
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespValue {
    /// `+OK\r\n`: a status line; must not contain `\r` or `\n`.
    Simple(Bytes),
    /// `-ERR message\r\n`: an error line, starting with its code; must not contain `\r` or
    /// `\n`.
    Error(Bytes),
    /// `:42\r\n`.
    Integer(i64),
    /// `$5\r\nhello\r\n`: binary-safe bytes.
    Bulk(Bytes),
    /// `$-1\r\n`: the null bulk string (a missing key).
    Null,
    /// `*N\r\n` followed by the elements.
    Array(Vec<RespValue>),
}

impl RespValue {
    /// A simple string from static text, such as `RespValue::simple("OK")`.
    pub fn simple(text: &'static str) -> Self {
        RespValue::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// An error reply, such as `RespValue::error("ERR syntax error")`.
    pub fn error(message: impl Into<Bytes>) -> Self {
        RespValue::Error(message.into())
    }

    /// How many bytes [`RespCodec`] writes for this value.
    pub fn encoded_len(&self) -> usize {
        match self {
            RespValue::Simple(s) | RespValue::Error(s) => 1 + s.len() + 2,
            RespValue::Integer(n) => 1 + decimal_len(*n) + 2,
            RespValue::Bulk(b) => 1 + decimal_len(b.len() as i64) + 2 + b.len() + 2,
            RespValue::Null => 5,
            RespValue::Array(items) => {
                1 + decimal_len(items.len() as i64)
                    + 2
                    + items.iter().map(RespValue::encoded_len).sum::<usize>()
            }
        }
    }

    /// Checks that every line-framed part is free of `\r` and `\n`.
    fn check(&self) -> Result<(), CodecError> {
        match self {
            RespValue::Simple(s) | RespValue::Error(s)
                if s.iter().any(|&b| b == b'\r' || b == b'\n') =>
            {
                Err(CodecError::encode("CR or LF in a simple string or error"))
            }
            RespValue::Array(items) => items.iter().try_for_each(RespValue::check),
            _ => Ok(()),
        }
    }

    fn write(&self, dst: &mut BytesMut) {
        match self {
            RespValue::Simple(s) => line(dst, b'+', s),
            RespValue::Error(s) => line(dst, b'-', s),
            RespValue::Integer(n) => number_line(dst, b':', *n),
            RespValue::Bulk(b) => {
                number_line(dst, b'$', b.len() as i64);
                dst.put_slice(b);
                dst.put_slice(b"\r\n");
            }
            RespValue::Null => dst.put_slice(b"$-1\r\n"),
            RespValue::Array(items) => {
                number_line(dst, b'*', items.len() as i64);
                for item in items {
                    item.write(dst);
                }
            }
        }
    }
}

fn decimal_len(n: i64) -> usize {
    let mut len = usize::from(n < 0) + 1;
    let mut n = n.unsigned_abs();
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn line(dst: &mut BytesMut, marker: u8, text: &[u8]) {
    dst.put_u8(marker);
    dst.put_slice(text);
    dst.put_slice(b"\r\n");
}

fn number_line(dst: &mut BytesMut, marker: u8, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    dst.put_u8(marker);
    if n < 0 {
        dst.put_u8(b'-');
    }
    dst.put_slice(&digits[at..]);
    dst.put_slice(b"\r\n");
}

impl Encoder<&RespValue> for RespCodec {
    type Error = CodecError;

    /// Writes the reply; fails, writing nothing, if a simple string or error holds `\r` or
    /// `\n`.
    fn encode(&mut self, value: &RespValue, dst: &mut BytesMut) -> Result<(), CodecError> {
        value.check()?;
        dst.reserve(value.encoded_len());
        value.write(dst);
        Ok(())
    }
}

impl Encoder<RespValue> for RespCodec {
    type Error = CodecError;

    fn encode(&mut self, value: RespValue, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&value, dst)
    }
}

/// Writes requests as a client does: an array of bulk strings.
///
/// What it writes, [`RespCodec`] decodes back to the same arguments. An empty request
/// writes nothing (the server would ignore it).
///
/// ```
/// use weft_codec::resp::RespRequestEncoder;
/// use weft_codec::{BytesMut, Encoder};
///
/// let mut out = BytesMut::new();
/// RespRequestEncoder.encode(&[&b"GET"[..], b"k"][..], &mut out).unwrap();
/// assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RespRequestEncoder;

impl<A: AsRef<[u8]>> Encoder<&[A]> for RespRequestEncoder {
    type Error = CodecError;

    fn encode(&mut self, args: &[A], dst: &mut BytesMut) -> Result<(), CodecError> {
        if args.is_empty() {
            return Ok(());
        }
        number_line(dst, b'*', args.len() as i64);
        for arg in args {
            let arg = arg.as_ref();
            number_line(dst, b'$', arg.len() as i64);
            dst.put_slice(arg);
            dst.put_slice(b"\r\n");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> RespCodec {
        RespCodec::new(RespLimits {
            max_bulk_len: 16,
            max_args: 4,
            max_inline_len: 32,
            max_request_len: 64,
        })
    }

    fn decode_all(
        codec: &mut RespCodec,
        buf: &mut BytesMut,
    ) -> Result<Vec<Vec<Bytes>>, CodecError> {
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(buf)? {
            out.push(frame);
        }
        Ok(out)
    }

    fn decode_str(input: &[u8]) -> Result<Vec<Vec<Bytes>>, CodecError> {
        decode_all(&mut codec(), &mut BytesMut::from(input))
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn arrays_and_inline_requests() {
        let frames =
            decode_str(b"*1\r\n$4\r\nPING\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
                .unwrap();
        assert_eq!(
            frames,
            vec![args(&["PING"]), args(&["PING"]), args(&["SET", "k", ""])]
        );
    }

    #[test]
    fn array_arguments_are_binary_safe_and_share_the_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\na\r\nb\r\n$2\r\n\x00\xff\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let frame = codec().decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame, vec![&b"a\r\nb"[..], b"\x00\xff"]);
        assert_eq!(frame[0].as_ptr() as usize, base + 8, "sliced, not copied");
    }

    #[test]
    fn empty_requests_are_skipped() {
        let frames = decode_str(b"*0\r\n*-1\r\n\r\n   \r\n\nPING\n").unwrap();
        assert_eq!(frames, vec![args(&["PING"])]);
    }

    #[test]
    fn inline_quoting_follows_redis() {
        let mut codec = RespCodec::new(RespLimits::default());
        let mut buf = BytesMut::from(&b"set \"a b\" 'c\\'d' \"\\x41\\n\" x\"y z\"\r\n"[..]);
        let frames = decode_all(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![args(&["set", "a b", "c'd", "A\n", "xy z"])]);
        for bad in [&b"get \"abc\n"[..], b"get 'a\n", b"get \"a\"b\n"] {
            let err = decode_str(bad).unwrap_err();
            assert_eq!(err.detail(), "unbalanced quotes in request");
        }
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let input: &[u8] =
            b"*2\r\n$4\r\nECHO\r\n$5\r\nhe\r\no\r\nPING\r\n*0\r\n  get \"k\"\n*1\r\n$3\r\nDBS";
        let expected = decode_str(input).unwrap();
        assert_eq!(expected.len(), 3);
        for split in 0..=input.len() {
            let mut codec = codec();
            let mut buf = BytesMut::from(&input[..split]);
            let mut frames = decode_all(&mut codec, &mut buf).unwrap();
            buf.extend_from_slice(&input[split..]);
            frames.extend(decode_all(&mut codec, &mut buf).unwrap());
            assert_eq!(frames, expected, "split at {split}");
            assert_eq!(&buf[..], b"*1\r\n$3\r\nDBS");
        }
    }

    #[test]
    fn limits_fail_as_soon_as_the_header_arrives() {
        // A bulk over max_bulk_len: the header alone is enough.
        let err = decode_str(b"*1\r\n$17\r\n").unwrap_err();
        assert_eq!(err, CodecError::frame_too_long(16));
        // Exactly max_bulk_len is fine.
        let ok = decode_str(b"*1\r\n$16\r\n0123456789abcdef\r\n").unwrap();
        assert_eq!(ok.len(), 1);
        // Too many arguments: the count line alone is enough.
        let err = decode_str(b"*5\r\n").unwrap_err();
        assert_eq!(err.detail(), "invalid multibulk length");
        let err = decode_str(b"a b c d e\n").unwrap_err();
        assert_eq!(err.detail(), "invalid multibulk length");
        // The whole request over max_request_len.
        let err =
            decode_str(b"*4\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n$16\r\n")
                .unwrap_err();
        assert_eq!(err, CodecError::frame_too_long(64));
        // An inline line over max_inline_len, noticed before its end.
        let err = decode_str(&[b'x'; 33]).unwrap_err();
        assert_eq!(err, CodecError::frame_too_long(32));
        assert_eq!(decode_str(&[b'x'; 32]).unwrap(), Vec::<Vec<Bytes>>::new());
    }

    #[test]
    fn huge_declared_lengths_reserve_nothing() {
        let mut codec = RespCodec::new(RespLimits {
            max_bulk_len: usize::MAX,
            max_args: usize::MAX,
            max_inline_len: 64,
            max_request_len: usize::MAX,
        });
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"*9223372036854775807\r\n$9223372036854775807\r\nab");
        for _ in 0..3 {
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
        }
        assert!(buf.capacity() <= 64, "capacity {}", buf.capacity());
    }

    #[test]
    fn malformed_headers() {
        for (input, detail) in [
            (&b"*x\r\n"[..], "invalid multibulk length"),
            (b"*1\r\n$-1\r\n", "invalid bulk length"),
            (b"*1\r\n$+3\r\n", "invalid bulk length"),
            (b"*99999999999999999999\r\n", "invalid multibulk length"),
            (b"*1\r\n:3\r\n", "expected '$'"),
            (b"*1\r\n$1\r\nab\r\n", "bulk string not followed by CRLF"),
            (b"*1\rx", "length line not ended by CRLF"),
            (
                b"*000000000000000000000000000000001",
                "length line too long",
            ),
        ] {
            assert_eq!(decode_str(input).unwrap_err().detail(), detail, "{input:?}");
        }
    }

    #[test]
    fn eof_discards_a_partial_request() {
        let mut codec = codec();
        let mut buf = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(args(&["PING"])));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(args(&["PING"])));
    }

    #[test]
    fn replies_are_encoded() {
        let value = RespValue::Array(vec![
            RespValue::simple("OK"),
            RespValue::error("ERR no"),
            RespValue::Integer(-42),
            RespValue::Integer(i64::MIN),
            RespValue::Bulk(Bytes::from_static(b"a\r\nb")),
            RespValue::Null,
            RespValue::Array(Vec::new()),
        ]);
        let mut dst = BytesMut::new();
        codec().encode(&value, &mut dst).unwrap();
        let expected: &[u8] = b"*7\r\n+OK\r\n-ERR no\r\n:-42\r\n:-9223372036854775808\r\n\
$4\r\na\r\nb\r\n$-1\r\n*0\r\n";
        assert_eq!(&dst[..], expected);
        assert_eq!(value.encoded_len(), expected.len());

        let bad = RespValue::Array(vec![RespValue::Simple(Bytes::from_static(b"a\nb"))]);
        dst.clear();
        assert!(codec().encode(bad, &mut dst).is_err());
        assert!(dst.is_empty());
    }

    #[test]
    fn request_encoder_round_trips() {
        let requests = [
            args(&["SET", "k", "v\r\n"]),
            args(&[""]),
            args(&["GET", "k"]),
        ];
        let mut wire = BytesMut::new();
        for request in &requests {
            RespRequestEncoder.encode(&request[..], &mut wire).unwrap();
        }
        RespRequestEncoder
            .encode(&[] as &[Bytes], &mut wire)
            .unwrap();
        assert_eq!(decode_all(&mut codec(), &mut wire).unwrap(), requests);
        assert!(wire.is_empty());
    }

    #[test]
    fn an_inline_request_is_bounded_by_the_request_limit_too() {
        let mut codec = RespCodec::new(RespLimits {
            max_inline_len: 1024,
            max_request_len: 8,
            ..RespLimits::default()
        });
        let mut buf = BytesMut::from(&b"PING abcdefgh\r\n"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(err.is_frame_too_long());
        let mut ok = BytesMut::from(&b"PING\r\n"[..]);
        let mut codec = RespCodec::new(RespLimits {
            max_inline_len: 1024,
            max_request_len: 8,
            ..RespLimits::default()
        });
        assert_eq!(
            codec.decode(&mut ok).unwrap().unwrap(),
            vec![Bytes::from_static(b"PING")]
        );
    }
}
