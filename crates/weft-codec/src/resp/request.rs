//! The request side: [`RespLimits`], the decoder ([`RespCodec`] and how far it got into
//! the request at the front of the buffer) and [`RespRequestEncoder`], which writes
//! requests as a client does.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{CodecError, Decoder, Encoder};

use super::parse::{header_line, split_inline};
use super::value::number_line;

/// The detail of a bulk string over [`RespLimits::max_bulk_len`], or of an array request
/// over [`RespLimits::max_request_len`]: `redis-server`'s words for a bulk length over its
/// `proto-max-bulk-len`.
const BULK_TOO_LONG: &str = "invalid bulk length";

/// The detail of an inline line over its limit, in `redis-server`'s words.
const INLINE_TOO_LONG: &str = "too big inline request";

/// `expected '$', got 'X'` for every printable ASCII `X`, one after another, each
/// [`EXPECTED_LEN`] bytes: the detail must be `'static`, and redis-server names the byte.
const EXPECTED_LEN: usize = 21;
const EXPECTED_TABLE: [u8; 95 * EXPECTED_LEN] = {
    let pattern = b"expected '$', got 'X'";
    let mut table = [0u8; 95 * EXPECTED_LEN];
    let mut i = 0;
    while i < 95 {
        let mut j = 0;
        while j < EXPECTED_LEN {
            table[i * EXPECTED_LEN + j] = pattern[j];
            j += 1;
        }
        table[i * EXPECTED_LEN + 19] = b' ' + i as u8;
        i += 1;
    }
    table
};
const EXPECTED_TEXT: &str = match std::str::from_utf8(&EXPECTED_TABLE) {
    Ok(text) => text,
    Err(_) => panic!("the table is ASCII"),
};

/// The detail for an array element that does not start with `$`: `expected '$', got 'X'`
/// as redis-server words it, or just `expected '$'` when `X` is not printable ASCII.
fn expected_bulk(marker: u8) -> &'static str {
    if (b' '..=b'~').contains(&marker) {
        let at = usize::from(marker - b' ') * EXPECTED_LEN;
        &EXPECTED_TEXT[at..at + EXPECTED_LEN]
    } else {
        "expected '$'"
    }
}

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

/// Decodes RESP2 requests into argument lists and encodes [`RespValue`](super::RespValue) replies.
///
/// See the [module documentation](super) for the accepted forms, the limits and the errors.
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
                        return Err(CodecError::malformed(expected_bulk(marker)));
                    }
                    let Some((len, next)) = header_line(src, *pos)? else {
                        return Ok(None);
                    };
                    if len < 0 {
                        return Err(CodecError::malformed("invalid bulk length"));
                    }
                    if len as u64 > limits.max_bulk_len as u64 {
                        return Err(CodecError::frame_too_long_because(
                            limits.max_bulk_len,
                            BULK_TOO_LONG,
                        ));
                    }
                    let len = len as usize;
                    if next + len + 2 > limits.max_request_len {
                        return Err(CodecError::frame_too_long_because(
                            limits.max_request_len,
                            BULK_TOO_LONG,
                        ));
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
                return Err(CodecError::frame_too_long_because(max, INLINE_TOO_LONG));
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

impl Decoder for RespCodec {
    type Item<'a> = Vec<Bytes>;
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
    use crate::resp::{test_args as args, test_codec as codec};
    use crate::testing::{
        assert_every_split_point_gives_the_same_frames, decode_all, decode_buffer,
    };

    fn decode_str(input: &[u8]) -> Result<Vec<Vec<Bytes>>, CodecError> {
        decode_all(&mut codec(), input)
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
    fn every_split_point_gives_the_same_frames() {
        let input: &[u8] =
            b"*2\r\n$4\r\nECHO\r\n$5\r\nhe\r\no\r\nPING\r\n*0\r\n  get \"k\"\n*1\r\n$3\r\nDBS";
        let whole = assert_every_split_point_gives_the_same_frames(codec, input);
        assert!(whole.error.is_none());
        assert_eq!(whole.frames.len(), 3);
        assert_eq!(&whole.rest[..], b"*1\r\n$3\r\nDBS");
    }

    #[test]
    fn limits_fail_as_soon_as_the_header_arrives() {
        // A bulk over max_bulk_len: the header alone is enough.
        let err = decode_str(b"*1\r\n$17\r\n").unwrap_err();
        assert_eq!(err, CodecError::frame_too_long_because(16, BULK_TOO_LONG));
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
        assert_eq!(err, CodecError::frame_too_long_because(64, BULK_TOO_LONG));
        // An inline line over max_inline_len, noticed before its end.
        let err = decode_str(&[b'x'; 33]).unwrap_err();
        assert_eq!(err, CodecError::frame_too_long_because(32, INLINE_TOO_LONG));
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
    fn eof_leaves_a_partial_request_to_be_reported_as_truncated() {
        let mut codec = codec();
        let mut buf = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(args(&["PING"])));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(codec.frame_in_progress(&buf));
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
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
        assert_eq!(decode_buffer(&mut codec(), &mut wire).unwrap(), requests);
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
