//! Reading the wire format: where the header section ends, and what its request line and
//! fields say (positions in the frame, checked against the grammar and the limits).

use crate::CodecError;

use super::{HttpLimits, Version};

/// Where a parsed request's parts lie in its frame.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub(super) method: (usize, usize),
    pub(super) target: (usize, usize),
    pub(super) version: Version,
    pub(super) headers: Vec<[(usize, usize); 2]>,
    /// Where the body starts: the length of the header section.
    pub(super) len: usize,
    pub(super) body_len: usize,
}

/// The length of the header section in `buf` (through the empty line that ends it), looking
/// for `\n` from index `from` on.
pub(super) fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(offset) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + offset;
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// A `tchar` of RFC 9110 §5.6.2: what methods and field names are made of.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses a header section of `len` bytes (`head` is exactly it).
pub(super) fn parse_head(head: &[u8], len: usize, limits: &HttpLimits) -> Result<Head, CodecError> {
    let malformed = CodecError::malformed;
    // Lines as (start, end) without their terminators; the last one is the empty line.
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in head.iter().enumerate() {
        if b == b'\n' {
            let end = if i > start && head[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            lines.push((start, end));
            start = i + 1;
        }
    }
    let (request_line, fields) = match &lines[..] {
        [first, fields @ .., _empty] => (*first, fields),
        _ => return Err(malformed("no request line")),
    };
    if fields.len() > limits.max_headers {
        return Err(CodecError::headers_too_large(limits.max_headers));
    }

    let (rl_start, rl_end) = request_line;
    let line = &head[rl_start..rl_end];
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(malformed("bad request line"))?;
    let sp2 = sp1
        + 1
        + line[sp1 + 1..]
            .iter()
            .position(|&b| b == b' ')
            .ok_or(malformed("bad request line"))?;
    let method = &line[..sp1];
    let target = &line[sp1 + 1..sp2];
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(malformed("bad method"));
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(malformed("bad request target"));
    }
    let version = match &line[sp2 + 1..] {
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Version::Http11
        }
        _ => return Err(malformed("bad HTTP version")),
    };

    let mut headers = Vec::with_capacity(fields.len());
    let mut content_length: Option<u64> = None;
    let mut hosts = 0;
    for &(start, end) in fields {
        let field = &head[start..end];
        let colon = field
            .iter()
            .position(|&b| b == b':')
            .ok_or(malformed("header field without ':'"))?;
        let name = &field[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            // Also catches obsolete line folding and white space before the colon.
            return Err(malformed("bad header field name"));
        }
        let raw = &field[colon + 1..];
        let value = trim_ows(raw);
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(malformed("control character in header field value"));
        }
        let value_start = start + colon + 1 + (raw.len() - trim_ows_start(raw).len());
        headers.push([
            (start, start + colon),
            (value_start, value_start + value.len()),
        ]);
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(CodecError::unsupported("Transfer-Encoding"));
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',') {
                let n = parse_length(trim_ows(item), limits.max_body_len)?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(malformed("conflicting Content-Length"));
                }
                content_length = Some(n);
            }
        }
    }
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(malformed("HTTP/1.1 needs exactly one Host field"));
    }
    // parse_length checked it against max_body_len, a usize.
    let body_len = content_length.unwrap_or(0) as usize;
    if len.checked_add(body_len).is_none() {
        return Err(CodecError::frame_too_long(limits.max_body_len));
    }
    Ok(Head {
        method: (rl_start, rl_start + sp1),
        target: (rl_start + sp1 + 1, rl_start + sp2),
        version,
        headers,
        len,
        body_len,
    })
}

fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// A `Content-Length` value: digits only; above `max` is a body too long.
fn parse_length(digits: &[u8], max: usize) -> Result<u64, CodecError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CodecError::malformed("bad Content-Length"));
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(CodecError::frame_too_long(max))?;
    }
    if n > max as u64 {
        return Err(CodecError::frame_too_long(max));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use crate::http::test_codec as codec;
    use crate::testing::decode_all;
    use crate::CodecError;

    use crate::http::HttpRequest;

    fn decode_str(input: &[u8]) -> Result<Vec<HttpRequest>, CodecError> {
        decode_all(&mut codec(), input)
    }

    #[test]
    fn malformed_requests() {
        for (input, detail) in [
            (&b"GET /\r\n\r\n"[..], "bad request line"),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "bad request target"),
            (b"GET / HTTP/2.0\r\n\r\n", "bad HTTP version"),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "bad method"),
            (
                b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                "bad header field name",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
                "header field without ':'",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n fold: x\r\n\r\n",
                "bad header field name",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
                "control character in header field value",
            ),
            (
                b"GET / HTTP/1.1\r\n\r\n",
                "HTTP/1.1 needs exactly one Host field",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                "HTTP/1.1 needs exactly one Host field",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n",
                "conflicting Content-Length",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                "bad Content-Length",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
                "bad Content-Length",
            ),
        ] {
            let err = decode_str(input).unwrap_err();
            assert!(err.is_malformed(), "{err}");
            assert_eq!(err.detail(), detail, "{:?}", String::from_utf8_lossy(input));
        }
        let ok =
            decode_str(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nxy").unwrap();
        assert_eq!(ok[0].body(), "xy");
    }
}
