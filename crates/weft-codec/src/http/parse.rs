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
    pub(super) body: BodyKind,
    /// An HTTP/1.1 request with `Expect: 100-continue` (RFC 9110 §10.1.1).
    pub(super) expect_continue: bool,
}

/// How the body of a request is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    /// `Content-Length` bytes (0 without the field).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

impl BodyKind {
    /// Whether any body byte is to come.
    pub(super) fn is_empty(self) -> bool {
        self == BodyKind::Length(0)
    }
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

/// Parses a header section (`head` is exactly it).
pub(super) fn parse_head(head: &[u8], limits: &HttpLimits) -> Result<Head, CodecError> {
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
    let (rl_start, rl_end) = request_line;
    let line = &head[rl_start..rl_end];
    // First, as the decoder does before the header section is complete: the target, from
    // the first space to the next space or line end, within its limit.
    if let Some(sp1) = line.iter().position(|&b| b == b' ') {
        let rest = &line[sp1 + 1..];
        let target_len = rest
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(rest.len());
        if target_len > limits.max_target_len {
            return Err(CodecError::uri_too_long(limits.max_target_len));
        }
    }
    if fields.len() > limits.max_headers {
        return Err(CodecError::headers_too_large(limits.max_headers));
    }
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
    check_target_form(method, target)?;
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
    let mut expect_continue = false;
    let mut codings = Codings::default();
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
            codings.add(value)?;
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if !valid_authority(value, false) {
                return Err(malformed("bad Host"));
            }
        }
        if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= value
                .split(|&b| b == b',')
                .any(|item| trim_ows(item).eq_ignore_ascii_case(b"100-continue"));
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
    let body = if codings.seen {
        // RFC 9112 §6.1 and §6.3: the smuggling-safe choices.
        if version == Version::Http10 {
            return Err(malformed("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if content_length.is_some() {
            return Err(malformed("both Transfer-Encoding and Content-Length"));
        }
        if !codings.chunked_last {
            return Err(malformed("chunked is not the final transfer coding"));
        }
        if codings.chunked > 1 {
            return Err(malformed("chunked applied more than once"));
        }
        if codings.other {
            return Err(CodecError::unsupported(
                "transfer coding other than chunked",
            ));
        }
        BodyKind::Chunked
    } else {
        // parse_length checked it against max_body_len, a usize.
        BodyKind::Length(content_length.unwrap_or(0) as usize)
    };
    Ok(Head {
        method: (rl_start, rl_start + sp1),
        target: (rl_start + sp1 + 1, rl_start + sp2),
        version,
        headers,
        body,
        expect_continue: expect_continue && version == Version::Http11,
    })
}

/// The transfer codings of a request, from its `Transfer-Encoding` fields in order.
#[derive(Debug, Default)]
struct Codings {
    seen: bool,
    chunked: usize,
    other: bool,
    chunked_last: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) -> Result<(), CodecError> {
        self.seen = true;
        for item in value.split(|&b| b == b',') {
            let item = trim_ows(item);
            if item.is_empty() {
                continue; // empty list elements are allowed (RFC 9110 §5.6.1)
            }
            let name = trim_ows(item.split(|&b| b == b';').next().unwrap_or_default());
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return Err(CodecError::malformed("bad Transfer-Encoding"));
            }
            self.chunked_last = name.eq_ignore_ascii_case(b"chunked");
            if self.chunked_last {
                self.chunked += 1;
            } else {
                self.other = true;
            }
        }
        Ok(())
    }
}

/// The four forms of RFC 9112 §3.2: `*` only for `OPTIONS`, the authority form exactly for
/// `CONNECT`, otherwise the origin form (`/...`) or the absolute form (`scheme:...`).
fn check_target_form(method: &[u8], target: &[u8]) -> Result<(), CodecError> {
    let malformed = CodecError::malformed;
    if method == b"CONNECT" {
        return if valid_authority(target, true) {
            Ok(())
        } else {
            Err(malformed("CONNECT needs an authority-form request target"))
        };
    }
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(())
        } else {
            Err(malformed(
                "asterisk-form request target is only for OPTIONS",
            ))
        };
    }
    if target.starts_with(b"/") || is_absolute_form(target) {
        Ok(())
    } else {
        Err(malformed("bad request target"))
    }
}

/// `scheme "://" ...` (RFC 3986 §3.1: a letter, then letters, digits, `+`, `-`, `.`). An
/// authority (`//`) is required, so that `host:port` is not taken for a scheme and a path.
fn is_absolute_form(target: &[u8]) -> bool {
    let Some(colon) = target.iter().position(|&b| b == b':') else {
        return false;
    };
    let scheme = &target[..colon];
    target[colon + 1..].starts_with(b"//")
        && scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2), with a non-empty host, at
/// most 5 port digits, and no comma (a comma is what a list of several `Host` values
/// combined into one looks like). With `port_required`, the authority form of `CONNECT`
/// (RFC 9112 §3.2.3): `uri-host ":" port` with a non-empty port.
pub(super) fn valid_authority(value: &[u8], port_required: bool) -> bool {
    let (host, rest) = if value.starts_with(b"[") {
        match value.iter().position(|&b| b == b']') {
            Some(end) => (&value[..=end], &value[end + 1..]),
            None => return false,
        }
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        (&value[..end], &value[end..])
    };
    let port_ok = match rest {
        [] => !port_required,
        [b':', port @ ..] => {
            port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && !(port_required && port.is_empty())
        }
        _ => false,
    };
    port_ok && !host.is_empty() && (valid_ip_literal(host) || valid_reg_name(host))
}

/// `[` IPv6address or IPvFuture `]`, loosely: the characters they are made of.
fn valid_ip_literal(host: &[u8]) -> bool {
    let Some(inner) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) else {
        return false;
    };
    match inner {
        [b'v' | b'V', rest @ ..] => {
            let dot = rest.iter().position(|&b| b == b'.').unwrap_or(0);
            dot > 0
                && rest[..dot].iter().all(u8::is_ascii_hexdigit)
                && rest.len() > dot + 1
                && rest[dot + 1..]
                    .iter()
                    .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
        }
        _ => {
            inner.contains(&b':')
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
    }
}

/// A reg-name (which covers IPv4 addresses): unreserved, percent-encoded and sub-delims
/// characters, except `,`.
fn valid_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if b == b'%' {
            if !host
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(is_unreserved(b) || (is_sub_delim(b) && b != b',')) {
            return false;
        }
        i += 1;
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
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

    #[test]
    fn host_is_validated() {
        // RFC 9110 §7.2 (Host = uri-host [ ":" port ]) and RFC 9112 §3.2.
        let request = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        for good in [
            "a",
            "example.com:8080",
            "127.0.0.1",
            "[::1]:80",
            "[v1.x]",
            "h:",
            "a%41b",
            "x-y_z~",
        ] {
            assert!(decode_str(request(good).as_bytes()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "h/path",
            "h, other.example.com",
            "h,other",
            "h:80:90",
            "h:x",
            "h:123456",
            "[::1",
            "[zz]",
            "user@h",
            "%4",
            ":80",
        ] {
            let err = decode_str(request(bad).as_bytes()).unwrap_err();
            assert_eq!(err.detail(), "bad Host", "{bad:?}");
        }
        // HTTP/1.0 without Host is fine; with a bad one it is not.
        assert!(decode_str(b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n").is_err());
    }

    #[test]
    fn request_target_forms() {
        // RFC 9112 §3.2.
        let request = |line: &str| format!("{line} HTTP/1.1\r\nHost: a\r\n\r\n");
        for good in [
            "GET /x?y",
            "GET http://a/x",
            "OPTIONS *",
            "OPTIONS /",
            "CONNECT example.com:443",
            "CONNECT [::1]:443",
        ] {
            assert!(decode_str(request(good).as_bytes()).is_ok(), "{good}");
        }
        for (bad, detail) in [
            ("GET *", "asterisk-form request target is only for OPTIONS"),
            (
                "CONNECT example.com",
                "CONNECT needs an authority-form request target",
            ),
            (
                "CONNECT /",
                "CONNECT needs an authority-form request target",
            ),
            (
                "CONNECT a:",
                "CONNECT needs an authority-form request target",
            ),
            ("GET example.com:80", "bad request target"),
            ("GET x", "bad request target"),
            ("GET 1http://a/", "bad request target"),
            ("GET urn:x", "bad request target"),
        ] {
            let err = decode_str(request(bad).as_bytes()).unwrap_err();
            assert_eq!(err.detail(), detail, "{bad:?}");
        }
    }
}
