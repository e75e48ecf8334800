//! The reply side: [`RespValue`] and the encoder that writes it for [`RespCodec`], with the
//! number lines it shares with [`RespRequestEncoder`](super::RespRequestEncoder).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{CodecError, Encoder};

use super::RespCodec;

/// A reply: the RESP2 kinds, and the RESP3 kinds a server sends once a client has asked
/// for protocol 3 (`HELLO 3`).
///
/// The encoder writes each kind as it is; a server that speaks both protocols builds one
/// value and calls [`RespValue::into_resp2`] or [`RespValue::into_resp3`] for the
/// connection's protocol, which turn the kinds the other protocol lacks into their
/// counterparts the way `redis-server` does (a map becomes a flat array of keys and values
/// in RESP2; a null becomes `_` in RESP3).
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
    /// RESP3 `_\r\n`: the null (of any kind). RESP2 has no such value: see
    /// [`RespValue::into_resp2`].
    Nil,
    /// RESP3 `%N\r\n` followed by N keys, each followed by its value.
    Map(Vec<(RespValue, RespValue)>),
    /// RESP3 `~N\r\n` followed by the members.
    Set(Vec<RespValue>),
    /// RESP3 `,1.5\r\n`: a double, held as its text (`inf`, `-inf` and `nan` included);
    /// build one with [`RespValue::double`]. Must not contain `\r` or `\n`.
    Double(Bytes),
    /// RESP3 `#t\r\n` or `#f\r\n`.
    Boolean(bool),
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

    /// A double, written as `redis-server` writes one: `inf`, `-inf`, `nan`, or the
    /// shortest decimal that reads back as the same number.
    pub fn double(value: f64) -> Self {
        let text = if value.is_nan() {
            "nan".to_string()
        } else if value.is_infinite() {
            if value > 0.0 { "inf" } else { "-inf" }.to_string()
        } else {
            // Rust's `Display` for f64 is the shortest round-tripping decimal, never in
            // exponent form; `1` for 1.0.
            format!("{value}")
        };
        RespValue::Double(Bytes::from(text))
    }

    /// The value as a RESP2 client reads it, as `redis-server` answers a RESP2 client:
    /// [`Nil`](RespValue::Nil) becomes the null bulk string, a map a flat array of keys and
    /// values, a set an array, a double a bulk string of its text, a boolean `:1` or `:0`.
    /// RESP2 values are kept as they are.
    pub fn into_resp2(self) -> Self {
        match self {
            RespValue::Nil => RespValue::Null,
            RespValue::Map(pairs) => RespValue::Array(
                pairs
                    .into_iter()
                    .flat_map(|(k, v)| [k.into_resp2(), v.into_resp2()])
                    .collect(),
            ),
            RespValue::Set(items) | RespValue::Array(items) => {
                RespValue::Array(items.into_iter().map(RespValue::into_resp2).collect())
            }
            RespValue::Double(text) => RespValue::Bulk(text),
            RespValue::Boolean(b) => RespValue::Integer(i64::from(b)),
            other => other,
        }
    }

    /// The value as a RESP3 client reads it: the null bulk string
    /// ([`Null`](RespValue::Null)) becomes [`Nil`](RespValue::Nil), in arrays, maps and
    /// sets too; everything else is kept.
    pub fn into_resp3(self) -> Self {
        match self {
            RespValue::Null => RespValue::Nil,
            RespValue::Array(items) => {
                RespValue::Array(items.into_iter().map(RespValue::into_resp3).collect())
            }
            RespValue::Set(items) => {
                RespValue::Set(items.into_iter().map(RespValue::into_resp3).collect())
            }
            RespValue::Map(pairs) => RespValue::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into_resp3(), v.into_resp3()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// How many bytes [`RespCodec`] writes for this value.
    pub fn encoded_len(&self) -> usize {
        match self {
            RespValue::Simple(s) | RespValue::Error(s) => 1 + s.len() + 2,
            RespValue::Integer(n) => 1 + decimal_len(*n) + 2,
            RespValue::Bulk(b) => 1 + decimal_len(b.len() as i64) + 2 + b.len() + 2,
            RespValue::Null => 5,
            RespValue::Array(items) | RespValue::Set(items) => {
                1 + decimal_len(items.len() as i64)
                    + 2
                    + items.iter().map(RespValue::encoded_len).sum::<usize>()
            }
            RespValue::Nil => 3,
            RespValue::Map(pairs) => {
                1 + decimal_len(pairs.len() as i64)
                    + 2
                    + pairs
                        .iter()
                        .map(|(k, v)| k.encoded_len() + v.encoded_len())
                        .sum::<usize>()
            }
            RespValue::Double(text) => 1 + text.len() + 2,
            RespValue::Boolean(_) => 4,
        }
    }

    /// Checks that every line-framed part is free of `\r` and `\n`.
    fn check(&self) -> Result<(), CodecError> {
        match self {
            RespValue::Simple(s) | RespValue::Error(s) | RespValue::Double(s)
                if s.iter().any(|&b| b == b'\r' || b == b'\n') =>
            {
                Err(CodecError::encode(
                    "CR or LF in a simple string, error or double",
                ))
            }
            RespValue::Array(items) | RespValue::Set(items) => {
                items.iter().try_for_each(RespValue::check)
            }
            RespValue::Map(pairs) => pairs.iter().try_for_each(|(k, v)| {
                k.check()?;
                v.check()
            }),
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
            RespValue::Nil => dst.put_slice(b"_\r\n"),
            RespValue::Map(pairs) => {
                number_line(dst, b'%', pairs.len() as i64);
                for (key, value) in pairs {
                    key.write(dst);
                    value.write(dst);
                }
            }
            RespValue::Set(items) => {
                number_line(dst, b'~', items.len() as i64);
                for item in items {
                    item.write(dst);
                }
            }
            RespValue::Double(text) => line(dst, b',', text),
            RespValue::Boolean(b) => dst.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
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

pub(super) fn number_line(dst: &mut BytesMut, marker: u8, n: i64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::test_codec as codec;

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
    fn resp3_values_are_encoded() {
        let value = RespValue::Map(vec![
            (RespValue::Bulk(Bytes::from_static(b"k")), RespValue::Nil),
            (
                RespValue::simple("s"),
                RespValue::Set(vec![RespValue::Integer(1), RespValue::Boolean(true)]),
            ),
            (RespValue::double(1.5), RespValue::Boolean(false)),
        ]);
        let mut dst = BytesMut::new();
        codec().encode(&value, &mut dst).unwrap();
        let expected: &[u8] = b"%3\r\n$1\r\nk\r\n_\r\n+s\r\n~2\r\n:1\r\n#t\r\n,1.5\r\n#f\r\n";
        assert_eq!(&dst[..], expected);
        assert_eq!(value.encoded_len(), expected.len());
    }

    #[test]
    fn doubles_are_written_as_redis_writes_them() {
        let text = |v: f64| match RespValue::double(v) {
            RespValue::Double(t) => String::from_utf8(t.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(1.0), "1");
        assert_eq!(text(-0.25), "-0.25");
        assert_eq!(text(f64::INFINITY), "inf");
        assert_eq!(text(f64::NEG_INFINITY), "-inf");
        assert_eq!(text(f64::NAN), "nan");
        assert_eq!(text(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn values_convert_to_each_protocol() {
        let bulk = |s: &'static str| RespValue::Bulk(Bytes::from_static(s.as_bytes()));
        let value = RespValue::Map(vec![
            (bulk("a"), RespValue::Null),
            (
                bulk("b"),
                RespValue::Set(vec![RespValue::Boolean(true), RespValue::double(2.5)]),
            ),
        ]);
        assert_eq!(
            value.clone().into_resp2(),
            RespValue::Array(vec![
                bulk("a"),
                RespValue::Null,
                bulk("b"),
                RespValue::Array(vec![RespValue::Integer(1), bulk("2.5")]),
            ])
        );
        assert_eq!(
            value.into_resp3(),
            RespValue::Map(vec![
                (bulk("a"), RespValue::Nil),
                (
                    bulk("b"),
                    RespValue::Set(vec![RespValue::Boolean(true), RespValue::double(2.5)]),
                ),
            ])
        );
        // RESP2 values stay byte-identical through into_resp2.
        let old = RespValue::Array(vec![RespValue::Null, RespValue::Integer(3), bulk("x")]);
        assert_eq!(old.clone().into_resp2(), old);
        assert_eq!(RespValue::Nil.into_resp2(), RespValue::Null);
    }

    #[test]
    fn a_double_with_a_line_break_is_refused() {
        let mut dst = BytesMut::new();
        let bad = RespValue::Double(Bytes::from_static(b"1\r\n"));
        assert!(codec().encode(bad, &mut dst).is_err());
        assert!(dst.is_empty());
    }
}
