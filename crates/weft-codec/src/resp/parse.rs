//! Reading the wire format: the header lines (`*N\r\n`, `$N\r\n`) of array requests, and
//! inline lines split into arguments the way `redis-server` splits them.

use bytes::Bytes;

use crate::CodecError;

/// A header line (`*N\r\n`, `$N\r\n`) may hold at most this many bytes before its `\r\n`.
const MAX_HEADER_LINE: usize = 32;

/// Reads the header line starting at `src[at]` (`*N\r\n` or `$N\r\n`): its number and the
/// index just past its `\r\n`, or `None` while it is incomplete.
pub(super) fn header_line(src: &[u8], at: usize) -> Result<Option<(i64, usize)>, CodecError> {
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
pub(super) fn parse_i64(digits: &[u8]) -> Option<i64> {
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
pub(super) fn split_inline(line: &Bytes) -> Result<Vec<Bytes>, CodecError> {
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

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::resp::{test_args as args, test_codec as codec, RespCodec, RespLimits};
    use crate::testing::{decode_all, decode_buffer};

    fn decode_str(input: &[u8]) -> Result<Vec<Vec<Bytes>>, CodecError> {
        decode_all(&mut codec(), input)
    }

    #[test]
    fn inline_quoting_follows_redis() {
        let mut codec = RespCodec::new(RespLimits::default());
        let mut buf = BytesMut::from(&b"set \"a b\" 'c\\'d' \"\\x41\\n\" x\"y z\"\r\n"[..]);
        let frames = decode_buffer(&mut codec, &mut buf).unwrap();
        assert_eq!(frames, vec![args(&["set", "a b", "c'd", "A\n", "xy z"])]);
        for bad in [&b"get \"abc\n"[..], b"get 'a\n", b"get \"a\"b\n"] {
            let err = decode_str(bad).unwrap_err();
            assert_eq!(err.detail(), "unbalanced quotes in request");
        }
    }

    #[test]
    fn malformed_headers() {
        for (input, detail) in [
            (&b"*x\r\n"[..], "invalid multibulk length"),
            (b"*1\r\n$-1\r\n", "invalid bulk length"),
            (b"*1\r\n$+3\r\n", "invalid bulk length"),
            (b"*99999999999999999999\r\n", "invalid multibulk length"),
            (b"*1\r\n:3\r\n", "expected '$', got ':'"),
            (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
            (b"*1\r\n\x01\r\n", "expected '$'"),
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
}
