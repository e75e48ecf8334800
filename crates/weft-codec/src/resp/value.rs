//! The reply side: [`RespValue`] and the encoder that writes it for [`RespCodec`], with the
//! number lines it shares with [`RespRequestEncoder`](super::RespRequestEncoder).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{CodecError, Encoder};

use super::RespCodec;

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
}
