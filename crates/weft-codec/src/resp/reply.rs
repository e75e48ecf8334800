//! The client side: [`RespReplyCodec`] decodes the replies a Redis server sends (RESP2, and
//! the RESP3 kinds), and encodes requests as [`RespRequestEncoder`] does.
//!
//! A reply is scanned once as its bytes arrive (the scan resumes where it stopped, so a
//! large reply trickling in is not rescanned from its start on every read), then split off
//! the buffer and built into a [`RespValue`] whose strings are slices of it: nothing is
//! copied. RESP3 pushes (`>`, pub/sub messages under protocol 3) decode as arrays; RESP3
//! verbatim strings (`=`) as bulk strings, with their format prefix; big numbers (`(`) as
//! doubles' text.
//!
//! Every number is bounded as soon as it is known ([`ReplyLimits`]): a bulk length over
//! `max_bulk_len`, an aggregate over `max_elements`, nesting deeper than `max_depth`, or a
//! reply over `max_reply_len` fails with [`CodecError::is_frame_too_long`] (or is malformed)
//! before the bytes it announces arrive.

use bytes::{Bytes, BytesMut};

use super::parse::parse_i64;
use super::RespValue;
use crate::{CodecError, Decoder, Encoder};

/// Bounds on the replies a [`RespReplyCodec`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// The longest bulk string.
    pub max_bulk_len: usize,
    /// The most elements of one array, set, push or map (a map's pairs count twice).
    pub max_elements: usize,
    /// The deepest nesting of aggregates.
    pub max_depth: usize,
    /// The longest whole reply, in bytes on the wire.
    pub max_reply_len: usize,
}

impl Default for ReplyLimits {
    /// 64 MiB bulks and replies, a million elements, nesting 32 deep.
    fn default() -> Self {
        ReplyLimits {
            max_bulk_len: 64 << 20,
            max_elements: 1 << 20,
            max_depth: 32,
            max_reply_len: 64 << 20,
        }
    }
}

/// Decodes Redis replies into [`RespValue`]s and encodes requests (`&[A]` of arguments, as
/// [`RespRequestEncoder`](super::RespRequestEncoder)): the codec of a client connection.
///
/// ```
/// use weft_codec::{BytesMut, Decoder, Encoder, RespReplyCodec, RespValue};
///
/// let mut codec = RespReplyCodec::default();
/// let mut wire = BytesMut::new();
/// codec.encode(&[&b"GET"[..], b"key"][..], &mut wire).unwrap();
/// assert_eq!(&wire[..], b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
///
/// let mut replies = BytesMut::from(&b"+OK\r\n*2\r\n$5\r\nhello\r\n:3\r\n$-1\r\n"[..]);
/// assert_eq!(codec.decode(&mut replies).unwrap(), Some(RespValue::simple("OK")));
/// assert_eq!(
///     codec.decode(&mut replies).unwrap(),
///     Some(RespValue::Array(vec![RespValue::Bulk("hello".into()), RespValue::Integer(3)]))
/// );
/// assert_eq!(codec.decode(&mut replies).unwrap(), Some(RespValue::Null));
/// assert_eq!(codec.decode(&mut replies).unwrap(), None); // nothing left
/// ```
#[derive(Debug, Clone, Default)]
pub struct RespReplyCodec {
    limits: ReplyLimits,
    scan: Scan,
}

/// How far the scan of the reply at the front of the buffer got.
#[derive(Debug, Clone, Default)]
struct Scan {
    /// Where the next element starts.
    pos: usize,
    /// Elements still due in each open aggregate, outermost first.
    open: Vec<usize>,
}

impl RespReplyCodec {
    /// A codec with these limits.
    pub fn new(limits: ReplyLimits) -> Self {
        RespReplyCodec {
            limits,
            scan: Scan::default(),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> ReplyLimits {
        self.limits
    }

    /// Scans on from where the last call stopped; the reply's length once complete. More
    /// than `max_reply_len` bytes buffered without a complete reply is a reply too long.
    fn scan(&mut self, src: &[u8]) -> Result<Option<usize>, CodecError> {
        match self.scan_on(src)? {
            None if src.len() > self.limits.max_reply_len => Err(
                CodecError::frame_too_long_because(self.limits.max_reply_len, "reply too long"),
            ),
            done => Ok(done),
        }
    }

    fn scan_on(&mut self, src: &[u8]) -> Result<Option<usize>, CodecError> {
        let limits = self.limits;
        if src.len() < self.scan.pos {
            self.scan = Scan::default(); // the buffer was cleared under us: start over
        }
        loop {
            let at = self.scan.pos;
            if at > limits.max_reply_len {
                return Err(CodecError::frame_too_long_because(
                    limits.max_reply_len,
                    "reply too long",
                ));
            }
            let Some(&marker) = src.get(at) else {
                return Ok(None);
            };
            let Some(line_end) = find_crlf(src, at + 1, limits)? else {
                return Ok(None);
            };
            let line = &src[at + 1..line_end];
            let next = line_end + 2;
            // Elements this one opens (an aggregate), or None for a complete scalar.
            let opens = match marker {
                b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_' => {
                    if marker == b':' && parse_i64(line).is_none() {
                        return Err(CodecError::malformed("invalid integer reply"));
                    }
                    self.scan.pos = next;
                    None
                }
                b'$' | b'=' | b'!' => {
                    let len = parse_i64(line)
                        .ok_or_else(|| CodecError::malformed("invalid bulk length"))?;
                    if len < 0 {
                        if len != -1 {
                            return Err(CodecError::malformed("invalid bulk length"));
                        }
                        self.scan.pos = next;
                    } else {
                        let len = usize::try_from(len).unwrap_or(usize::MAX);
                        if len > limits.max_bulk_len {
                            return Err(CodecError::frame_too_long_because(
                                limits.max_bulk_len,
                                "invalid bulk length",
                            ));
                        }
                        let end = next + len;
                        if src.len() < end + 2 {
                            if end > limits.max_reply_len {
                                return Err(CodecError::frame_too_long_because(
                                    limits.max_reply_len,
                                    "reply too long",
                                ));
                            }
                            return Ok(None);
                        }
                        if &src[end..end + 2] != b"\r\n" {
                            return Err(CodecError::malformed("bulk string not ended by CRLF"));
                        }
                        self.scan.pos = end + 2;
                    }
                    None
                }
                b'*' | b'~' | b'>' | b'%' => {
                    let n = parse_i64(line)
                        .ok_or_else(|| CodecError::malformed("invalid multibulk length"))?;
                    self.scan.pos = next;
                    if n < 0 {
                        if n != -1 || marker != b'*' {
                            return Err(CodecError::malformed("invalid multibulk length"));
                        }
                        None
                    } else {
                        let n = usize::try_from(n).unwrap_or(usize::MAX);
                        let n = if marker == b'%' {
                            n.saturating_mul(2)
                        } else {
                            n
                        };
                        if n > limits.max_elements {
                            return Err(CodecError::malformed("too many elements in a reply"));
                        }
                        (n > 0).then_some(n)
                    }
                }
                _ => return Err(CodecError::malformed("unknown reply type")),
            };
            match opens {
                Some(n) => {
                    if self.scan.open.len() >= limits.max_depth {
                        return Err(CodecError::malformed("reply nested too deep"));
                    }
                    self.scan.open.push(n);
                }
                None => {
                    // One element done: close every aggregate it completes.
                    loop {
                        match self.scan.open.last_mut() {
                            None => return Ok(Some(self.scan.pos)),
                            Some(left) => {
                                *left -= 1;
                                if *left > 0 {
                                    break;
                                }
                                self.scan.open.pop();
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The index of the `\r` of the line starting at `from`, or `None` while incomplete.
fn find_crlf(src: &[u8], from: usize, limits: ReplyLimits) -> Result<Option<usize>, CodecError> {
    // Simple lines (status, error, numbers) are short; a long one is a broken server.
    const MAX_LINE: usize = 64 * 1024;
    let window = &src[from.min(src.len())..src.len().min(from + MAX_LINE + 2)];
    match window.iter().position(|&b| b == b'\r') {
        Some(cr) => {
            let cr = from + cr;
            match src.get(cr + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some(cr)),
                Some(_) => Err(CodecError::malformed("line not ended by CRLF")),
            }
        }
        None if window.len() >= MAX_LINE + 2 || from > limits.max_reply_len => {
            Err(CodecError::malformed("reply line too long"))
        }
        None => Ok(None),
    }
}

/// Builds the value at `frame[at..]` (scanned and valid); returns it and where it ends.
fn build(frame: &Bytes, at: usize) -> (RespValue, usize) {
    let cr = at
        + 1
        + frame[at + 1..]
            .iter()
            .position(|&b| b == b'\r')
            .expect("scanned");
    let line = frame.slice(at + 1..cr);
    let next = cr + 2;
    let number = || parse_i64(&line).expect("scanned");
    match frame[at] {
        b'+' => (RespValue::Simple(line), next),
        b'-' => (RespValue::Error(line), next),
        b':' => (RespValue::Integer(number()), next),
        b',' | b'(' => (RespValue::Double(line), next),
        b'#' => (RespValue::Boolean(&line[..] == b"t"), next),
        b'_' => (RespValue::Nil, next),
        b'$' | b'=' | b'!' => {
            let len = number();
            if len < 0 {
                return (RespValue::Null, next);
            }
            let end = next + len as usize;
            let bytes = frame.slice(next..end);
            let value = if frame[at] == b'!' {
                RespValue::Error(bytes)
            } else {
                RespValue::Bulk(bytes)
            };
            (value, end + 2)
        }
        marker => {
            let n = number();
            if n < 0 {
                return (RespValue::Null, next);
            }
            let n = n as usize;
            let mut pos = next;
            if marker == b'%' {
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let (k, after) = build(frame, pos);
                    let (v, after) = build(frame, after);
                    pairs.push((k, v));
                    pos = after;
                }
                return (RespValue::Map(pairs), pos);
            }
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let (v, after) = build(frame, pos);
                items.push(v);
                pos = after;
            }
            let value = if marker == b'~' {
                RespValue::Set(items)
            } else {
                RespValue::Array(items)
            };
            (value, pos)
        }
    }
}

impl Decoder for RespReplyCodec {
    type Item<'a> = RespValue;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RespValue>, CodecError> {
        let Some(len) = self.scan(src)? else {
            return Ok(None);
        };
        self.scan = Scan {
            pos: 0,
            open: std::mem::take(&mut self.scan.open),
        };
        let frame = src.split_to(len).freeze();
        let (value, end) = build(&frame, 0);
        debug_assert_eq!(end, len);
        Ok(Some(value))
    }
}

impl<A: AsRef<[u8]>> Encoder<&[A]> for RespReplyCodec {
    type Error = CodecError;

    fn encode(&mut self, args: &[A], dst: &mut BytesMut) -> Result<(), CodecError> {
        super::RespRequestEncoder.encode(args, dst)
    }
}

impl<A: AsRef<[u8]>> Encoder<Vec<A>> for RespReplyCodec {
    type Error = CodecError;

    fn encode(&mut self, args: Vec<A>, dst: &mut BytesMut) -> Result<(), CodecError> {
        super::RespRequestEncoder.encode(&args[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(wire: &[u8]) -> Result<Vec<RespValue>, CodecError> {
        let mut codec = RespReplyCodec::default();
        let mut buf = BytesMut::from(wire);
        let mut out = Vec::new();
        while let Some(v) = codec.decode(&mut buf)? {
            out.push(v);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(out)
    }

    #[test]
    fn every_kind_decodes() {
        let wire = b"+OK\r\n-ERR no\r\n:-7\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n_\r\n,1.5\r\n#t\r\n\
%1\r\n+k\r\n:1\r\n~2\r\n:1\r\n:2\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n\
*2\r\n*1\r\n+a\r\n*0\r\n";
        let values = decode_all(wire).unwrap();
        assert_eq!(
            values,
            vec![
                RespValue::simple("OK"),
                RespValue::error("ERR no"),
                RespValue::Integer(-7),
                RespValue::Bulk(Bytes::new()),
                RespValue::Null,
                RespValue::Null,
                RespValue::Array(vec![]),
                RespValue::Nil,
                RespValue::Double("1.5".into()),
                RespValue::Boolean(true),
                RespValue::Map(vec![(RespValue::simple("k"), RespValue::Integer(1))]),
                RespValue::Set(vec![RespValue::Integer(1), RespValue::Integer(2)]),
                RespValue::Array(vec![
                    RespValue::Bulk("message".into()),
                    RespValue::Bulk("ch".into()),
                    RespValue::Bulk("x".into()),
                ]),
                RespValue::Array(vec![
                    RespValue::Array(vec![RespValue::simple("a")]),
                    RespValue::Array(vec![]),
                ]),
            ]
        );
    }

    #[test]
    fn a_reply_split_anywhere_decodes_the_same() {
        let wire: &[u8] = b"*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n+x\r\n$-1\r\n+next\r\n";
        let whole = decode_all(wire).unwrap();
        for cut in 0..wire.len() {
            let mut codec = RespReplyCodec::default();
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(v) = codec.decode(&mut buf).unwrap() {
                got.push(v);
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(v) = codec.decode(&mut buf).unwrap() {
                got.push(v);
            }
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn limits_and_garbage_fail_early() {
        let limits = ReplyLimits {
            max_bulk_len: 10,
            max_elements: 3,
            max_depth: 2,
            max_reply_len: 100,
        };
        let fails = |wire: &[u8]| {
            let mut codec = RespReplyCodec::new(limits);
            codec.decode(&mut BytesMut::from(wire)).is_err()
        };
        assert!(fails(b"$11\r\n"), "a bulk over the limit, before its bytes");
        assert!(fails(b"*4\r\n"), "too many elements");
        assert!(fails(b"*1\r\n*1\r\n*1\r\n"), "too deep");
        assert!(fails(b"?x\r\n"), "an unknown type");
        assert!(fails(b":12a\r\n"), "a bad integer");
        assert!(fails(b"$3\r\nabcd\r\n"), "a bulk without its CRLF");
        assert!(fails(b"$-2\r\n"), "a negative length");
        assert!(fails(b"+ok\rx"), "a line without LF");
        let mut codec = RespReplyCodec::new(limits);
        assert_eq!(
            codec
                .decode(&mut BytesMut::from(&b"$10\r\n0123"[..]))
                .unwrap(),
            None
        );
    }
}
