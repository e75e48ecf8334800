//! A minimal HTTP/1.1 server codec: [`HttpCodec`] decodes [`HttpRequest`]s and encodes
//! [`HttpResponse`]s; [`HttpRequestEncoder`] writes requests, as a client does.
//!
//! # What is decoded
//!
//! ```text
//!   GET /index.html HTTP/1.1\r\n     request line: method SP target SP version
//!   Host: example.com\r\n            header fields: name ":" OWS value OWS
//!   Content-Length: 5\r\n
//!   \r\n                             end of the header section
//!   hello                            body: exactly Content-Length bytes
//! ```
//!
//! * Versions `HTTP/1.0` and `HTTP/1.1` (and `HTTP/1.x`, treated as 1.1). Lines may end
//!   with `\r\n` or a bare `\n`; empty lines before a request line are skipped.
//! * The body is `Content-Length` bytes (none without the header). Repeated or
//!   comma-separated `Content-Length` values must agree. A request with
//!   `Transfer-Encoding` (chunked bodies) is refused: this codec does not implement it.
//! * An HTTP/1.1 request must carry exactly one `Host` field.
//! * Requests are decoded one at a time, so pipelined requests simply come out in order.
//! * Zero-copy: the request is split off the read buffer once complete, and the method,
//!   target, header names and values and the body are slices of it.
//! * Keep-alive: [`HttpRequest::keep_alive`] applies the rules of RFC 9112 §9.3 (1.1: open
//!   unless `Connection: close`; 1.0: closed unless `Connection: keep-alive`). Closing is
//!   the handler's business: answer, then close.
//!
//! # Errors and the status they call for
//!
//! | error | when | answer |
//! |---|---|---|
//! | [`CodecError::is_headers_too_large`] | the header section passes [`HttpLimits::max_head_len`] bytes (noticed as soon as that many bytes arrived without its end), or has more than [`HttpLimits::max_headers`] fields | 431 |
//! | [`CodecError::is_frame_too_long`] | `Content-Length` is above [`HttpLimits::max_body_len`] (noticed on the header, before any body byte) | 413 |
//! | [`CodecError::is_unsupported`] | `Transfer-Encoding` is present | 501 |
//! | [`CodecError::is_malformed`] | anything else not following the grammar | 400 |
//!
//! Capacity is never reserved for a declared body length. After an error the stream
//! cannot be resynchronised: answer, then close.
//!
//! # Partial requests
//!
//! The decoder remembers how far it scanned for the end of the header section, and keeps
//! the parsed head while the body arrives, so a request arriving in small pieces costs time
//! linear in its length. At end of stream a trailing partial request is discarded.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{CodecError, Decoder, Encoder};

/// An HTTP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each response unless asked otherwise.
    Http10,
    /// HTTP/1.1: connections persist unless asked otherwise.
    Http11,
}

impl Version {
    fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bounds an [`HttpCodec`] enforces on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest header section (request line, fields and the empty line ending it), in
    /// bytes.
    pub max_head_len: usize,
    /// The most header fields in one request.
    pub max_headers: usize,
    /// The longest body (`Content-Length`), in bytes.
    pub max_body_len: usize,
}

impl Default for HttpLimits {
    /// Header sections up to 8 KiB with at most 100 fields; bodies up to 1 MiB.
    fn default() -> Self {
        HttpLimits {
            max_head_len: 8 << 10,
            max_headers: 100,
            max_body_len: 1 << 20,
        }
    }
}

/// One HTTP request: request line, header fields and body.
///
/// Decoded requests share the bytes they were read into; requests built with
/// [`HttpRequest::new`] are what [`HttpRequestEncoder`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    method: Bytes,
    target: Bytes,
    version: Version,
    headers: Vec<(Bytes, Bytes)>,
    body: Bytes,
}

impl HttpRequest {
    /// A request with no header fields and an empty body.
    pub fn new(method: impl Into<Bytes>, target: impl Into<Bytes>, version: Version) -> Self {
        HttpRequest {
            method: method.into(),
            target: target.into(),
            version,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header field.
    pub fn with_header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The method, such as `GET` (compare with `req.method() == "GET"`).
    pub fn method(&self) -> &Bytes {
        &self.method
    }

    /// The request target, such as `/index.html?q=1`.
    pub fn target(&self) -> &Bytes {
        &self.target
    }

    /// The protocol version of the request line.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields in the order received, names as sent (compare them without
    /// regard to case), values without surrounding white space.
    pub fn headers(&self) -> &[(Bytes, Bytes)] {
        &self.headers
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The body (empty without `Content-Length`).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the connection may carry another request after this one's response
    /// (RFC 9112 §9.3): for HTTP/1.1 unless a `Connection` field lists `close`; for HTTP/1.0
    /// only if one lists `keep-alive` (and none lists `close`).
    pub fn keep_alive(&self) -> bool {
        let mut close = false;
        let mut keep_alive = false;
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case(b"connection") {
                continue;
            }
            for option in value.split(|&b| b == b',') {
                let option = trim_ows(option);
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        !close && (self.version == Version::Http11 || keep_alive)
    }
}

/// Where a parsed request's parts lie in its frame.
#[derive(Debug, Clone)]
struct Head {
    method: (usize, usize),
    target: (usize, usize),
    version: Version,
    headers: Vec<[(usize, usize); 2]>,
    /// Where the body starts: the length of the header section.
    len: usize,
    body_len: usize,
}

#[derive(Debug, Clone)]
enum Progress {
    /// Looking for the end of the header section; the first `scanned` bytes hold none.
    Head { scanned: usize },
    /// The head is parsed; waiting for the whole body.
    Body(Head),
}

/// Decodes HTTP/1.x requests and encodes [`HttpResponse`]s.
///
/// See the [module documentation](self) for what is accepted and the errors.
///
/// ```
/// use weft_codec::http::{HttpCodec, HttpLimits, HttpResponse};
/// use weft_codec::{BytesMut, Decoder, Encoder};
///
/// let mut codec = HttpCodec::new(HttpLimits::default());
/// let mut buf = BytesMut::from(&b"GET /hi HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
/// let request = codec.decode(&mut buf).unwrap().unwrap();
/// assert!(request.method() == "GET" && request.target() == "/hi" && request.keep_alive());
///
/// let mut out = BytesMut::new();
/// codec.encode(HttpResponse::new(200).with_body("hello"), &mut out).unwrap();
/// assert_eq!(&out[..], b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
/// ```
#[derive(Debug, Clone)]
pub struct HttpCodec {
    limits: HttpLimits,
    progress: Progress,
}

impl HttpCodec {
    /// A codec enforcing `limits`.
    pub fn new(limits: HttpLimits) -> Self {
        HttpCodec {
            limits,
            progress: Progress::Head { scanned: 0 },
        }
    }

    /// The limits this codec enforces.
    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    fn decode_inner(&mut self, src: &mut BytesMut) -> Result<Option<HttpRequest>, CodecError> {
        if let Progress::Head { scanned } = self.progress {
            // Empty lines before a request line are ignored (RFC 9112 §2.2).
            let blank = src
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            let blank = if src[..blank].ends_with(b"\r") {
                blank - 1
            } else {
                blank
            };
            if blank > 0 {
                src.advance(blank);
                self.progress = Progress::Head { scanned: 0 };
                return self.decode_inner(src);
            }
            let max = self.limits.max_head_len;
            let window_end = src.len().min(max);
            let Some(len) = find_head_end(&src[..window_end], scanned) else {
                if src.len() >= max {
                    return Err(CodecError::headers_too_large(max));
                }
                // Resume one byte back: the end is a `\n` followed by `\r\n` or `\n`,
                // and a `\n` seen last time may begin it.
                self.progress = Progress::Head {
                    scanned: window_end.saturating_sub(2),
                };
                return Ok(None);
            };
            let head = parse_head(&src[..len], len, &self.limits)?;
            self.progress = Progress::Body(head);
        }
        let Progress::Body(head) = &self.progress else {
            unreachable!("the head was parsed above");
        };
        let total = head.len + head.body_len;
        if src.len() < total {
            return Ok(None);
        }
        let frame = src.split_to(total).freeze();
        let slice = |(start, end): (usize, usize)| frame.slice(start..end);
        let request = HttpRequest {
            method: slice(head.method),
            target: slice(head.target),
            version: head.version,
            headers: head
                .headers
                .iter()
                .map(|&[name, value]| (slice(name), slice(value)))
                .collect(),
            body: frame.slice(head.len..),
        };
        self.progress = Progress::Head { scanned: 0 };
        Ok(Some(request))
    }
}

/// The length of the header section in `buf` (through the empty line that ends it), looking
/// for `\n` from index `from` on.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
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
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses a header section of `len` bytes (`head` is exactly it).
fn parse_head(head: &[u8], len: usize, limits: &HttpLimits) -> Result<Head, CodecError> {
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

impl Decoder for HttpCodec {
    type Item = HttpRequest;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<HttpRequest>, CodecError> {
        // After an error the stream is corrupt; start from scratch if called again.
        self.decode_inner(src)
            .inspect_err(|_| self.progress = Progress::Head { scanned: 0 })
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<HttpRequest>, CodecError> {
        match self.decode(src)? {
            Some(request) => Ok(Some(request)),
            None => {
                src.clear();
                self.progress = Progress::Head { scanned: 0 };
                Ok(None)
            }
        }
    }
}

/// An HTTP/1.1 response: status, header fields and body.
///
/// The encoder writes `Content-Length` itself (except for 1xx, 204 and 304 responses), so
/// do not add it. To close the connection after a response, add `Connection: close` and
/// call the connection's close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    reason: Option<&'static str>,
    headers: Vec<(Bytes, Bytes)>,
    body: Bytes,
    omit_body: bool,
}

impl HttpResponse {
    /// A response with `status` (100 to 999), its standard reason phrase, no fields and an
    /// empty body.
    pub fn new(status: u16) -> Self {
        HttpResponse {
            status,
            reason: None,
            headers: Vec::new(),
            body: Bytes::new(),
            omit_body: false,
        }
    }

    /// Sets the reason phrase (by default the standard one for the status).
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Appends a header field.
    pub fn with_header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// For an answer to `HEAD`: `Content-Length` still gives the body's length, but the body
    /// itself is not written.
    pub fn for_head_request(mut self) -> Self {
        self.omit_body = true;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The header fields, in order.
    pub fn headers(&self) -> &[(Bytes, Bytes)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    fn reason(&self) -> &'static str {
        self.reason.unwrap_or_else(|| reason_phrase(self.status))
    }

    fn has_content_length(&self) -> bool {
        !(100..200).contains(&self.status) && self.status != 204 && self.status != 304
    }
}

/// The standard reason phrase for the common status codes, `""` for others.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Checks a field for what would break the framing: a name that is not a token, a value
/// with a control character other than tab.
fn check_field(name: &[u8], value: &[u8]) -> Result<(), CodecError> {
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(CodecError::encode("bad header field name"));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(CodecError::encode(
            "control character in header field value",
        ));
    }
    Ok(())
}

fn put_decimal(dst: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&digits[at..]);
}

fn put_fields(dst: &mut BytesMut, fields: &[(Bytes, Bytes)]) {
    for (name, value) in fields {
        dst.put_slice(name);
        dst.put_slice(b": ");
        dst.put_slice(value);
        dst.put_slice(b"\r\n");
    }
}

fn fields_len(fields: &[(Bytes, Bytes)]) -> usize {
    fields.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
}

impl Encoder<&HttpResponse> for HttpCodec {
    type Error = CodecError;

    /// Writes the response; fails, writing nothing, on a status outside 100..=999, a reason
    /// or field that would break the framing, or a `Content-Length` field given by hand.
    fn encode(&mut self, response: &HttpResponse, dst: &mut BytesMut) -> Result<(), CodecError> {
        if !(100..=999).contains(&response.status) {
            return Err(CodecError::encode("status code outside 100..=999"));
        }
        let reason = response.reason();
        if reason
            .bytes()
            .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(CodecError::encode("control character in reason phrase"));
        }
        for (name, value) in &response.headers {
            check_field(name, value)?;
            if name.eq_ignore_ascii_case(b"content-length") {
                return Err(CodecError::encode(
                    "Content-Length is written by the encoder",
                ));
            }
        }
        let body = if response.omit_body {
            &[][..]
        } else {
            &response.body[..]
        };
        dst.reserve(17 + reason.len() + fields_len(&response.headers) + 40 + body.len());
        dst.put_slice(b"HTTP/1.1 ");
        put_decimal(dst, u64::from(response.status));
        dst.put_u8(b' ');
        dst.put_slice(reason.as_bytes());
        dst.put_slice(b"\r\n");
        put_fields(dst, &response.headers);
        if response.has_content_length() {
            dst.put_slice(b"Content-Length: ");
            put_decimal(dst, response.body.len() as u64);
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
        if response.has_content_length() {
            dst.put_slice(body);
        }
        Ok(())
    }
}

impl Encoder<HttpResponse> for HttpCodec {
    type Error = CodecError;

    fn encode(&mut self, response: HttpResponse, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&response, dst)
    }
}

/// Writes requests as a client does: what it writes, [`HttpCodec`] decodes back to the same
/// request (plus the `Content-Length` field it adds).
///
/// A `Content-Length` field is added when the body is not empty and the request has none.
/// Fails, writing nothing, if a part would break the framing.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpRequestEncoder;

impl Encoder<&HttpRequest> for HttpRequestEncoder {
    type Error = CodecError;

    fn encode(&mut self, request: &HttpRequest, dst: &mut BytesMut) -> Result<(), CodecError> {
        if request.method.is_empty() || !request.method.iter().all(|&b| is_tchar(b)) {
            return Err(CodecError::encode("bad method"));
        }
        if request.target.is_empty() || !request.target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
            return Err(CodecError::encode("bad request target"));
        }
        let mut has_length = false;
        for (name, value) in &request.headers {
            check_field(name, value)?;
            has_length |= name.eq_ignore_ascii_case(b"content-length");
        }
        dst.reserve(
            request.method.len()
                + request.target.len()
                + 12
                + fields_len(&request.headers)
                + 40
                + request.body.len(),
        );
        dst.put_slice(&request.method);
        dst.put_u8(b' ');
        dst.put_slice(&request.target);
        dst.put_u8(b' ');
        dst.put_slice(request.version.as_str().as_bytes());
        dst.put_slice(b"\r\n");
        put_fields(dst, &request.headers);
        if !has_length && !request.body.is_empty() {
            dst.put_slice(b"Content-Length: ");
            put_decimal(dst, request.body.len() as u64);
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
        dst.put_slice(&request.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> HttpCodec {
        HttpCodec::new(HttpLimits {
            max_head_len: 128,
            max_headers: 4,
            max_body_len: 16,
        })
    }

    fn decode_all(
        codec: &mut HttpCodec,
        buf: &mut BytesMut,
    ) -> Result<Vec<HttpRequest>, CodecError> {
        let mut out = Vec::new();
        while let Some(request) = codec.decode(buf)? {
            out.push(request);
        }
        Ok(out)
    }

    fn decode_str(input: &[u8]) -> Result<Vec<HttpRequest>, CodecError> {
        decode_all(&mut codec(), &mut BytesMut::from(input))
    }

    #[test]
    fn pipelined_requests_with_and_without_bodies() {
        let input: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
POST /p?q=1 HTTP/1.1\r\nHost: a\r\ncontent-length:  5 \r\n\r\nhelloGET /x HTTP/1.0\n\n";
        let requests = decode_str(input).unwrap();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method(), "GET");
        assert_eq!(requests[0].target(), "/");
        assert_eq!(requests[0].header("HOST").unwrap(), "a");
        assert!(requests[0].body().is_empty());
        assert_eq!(requests[1].method(), "POST");
        assert_eq!(requests[1].target(), "/p?q=1");
        assert_eq!(requests[1].header("Content-Length").unwrap(), "5");
        assert_eq!(requests[1].body(), "hello");
        assert_eq!(requests[2].version(), Version::Http10);
        assert!(!requests[2].keep_alive());
    }

    #[test]
    fn parts_are_slices_of_the_read_buffer() {
        let mut buf =
            BytesMut::from(&b"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"[..]);
        let base = buf.as_ptr() as usize;
        let request = codec().decode(&mut buf).unwrap().unwrap();
        assert_eq!(request.target().as_ptr() as usize, base + 4);
        assert_eq!(request.body().as_ptr() as usize, base + 47);
    }

    #[test]
    fn keep_alive_rules() {
        let cases: [(&[u8], bool); 6] = [
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                false,
            ),
        ];
        for (input, keep_alive) in cases {
            let request = decode_str(input).unwrap().remove(0);
            assert_eq!(
                request.keep_alive(),
                keep_alive,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let requests = decode_str(b"\r\n\n\r\nGET / HTTP/1.0\r\n\r\n\r\n").unwrap();
        assert_eq!(requests.len(), 1);
    }

    #[test]
    fn every_split_point_gives_the_same_requests() {
        let input: &[u8] = b"\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-Y:\t z \r\n\r\n\
POST /b HTTP/1.1\nHost: x\nContent-Length: 3\n\nabcGET /c HTTP/1.1\r\nHo";
        let expected = decode_str(input).unwrap();
        assert_eq!(expected.len(), 2);
        for split in 0..=input.len() {
            let mut codec = codec();
            let mut buf = BytesMut::from(&input[..split]);
            let mut requests = decode_all(&mut codec, &mut buf).unwrap();
            buf.extend_from_slice(&input[split..]);
            requests.extend(decode_all(&mut codec, &mut buf).unwrap());
            assert_eq!(requests, expected, "split at {split}");
            assert_eq!(&buf[..], b"GET /c HTTP/1.1\r\nHo");
        }
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
    fn limits() {
        // Header section: exactly max_head_len bytes is accepted, one more is not, and the
        // error comes as soon as the limit is reached without the end.
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        head.resize(128 - 4, b'v');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(decode_str(&head).unwrap().len(), 1);
        head.insert(30, b'v');
        assert_eq!(
            decode_str(&head).unwrap_err(),
            CodecError::headers_too_large(128)
        );
        assert!(decode_str(&head[..128]).unwrap_err().is_headers_too_large());
        assert_eq!(decode_str(&head[..127]).unwrap(), Vec::new());
        // Too many fields.
        let many = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(
            decode_str(many).unwrap_err(),
            CodecError::headers_too_large(4)
        );
        // Body: over the limit fails on the header, before any body byte.
        let big = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n";
        assert_eq!(decode_str(big).unwrap_err(), CodecError::frame_too_long(16));
        let huge = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(decode_str(huge).unwrap_err().is_frame_too_long());
        // Chunked bodies are not implemented.
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(decode_str(chunked).unwrap_err().is_unsupported());
    }

    #[test]
    fn declared_body_reserves_nothing() {
        let mut codec = HttpCodec::new(HttpLimits {
            max_body_len: usize::MAX,
            ..HttpLimits::default()
        });
        let mut buf = BytesMut::with_capacity(128);
        buf.extend_from_slice(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387904\r\n\r\nab",
        );
        let capacity = buf.capacity();
        for _ in 0..3 {
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
        }
        assert_eq!(buf.capacity(), capacity);
    }

    #[test]
    fn eof_discards_a_partial_request() {
        let mut codec = codec();
        let mut buf = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n"[..]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_some());
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn responses_are_encoded() {
        let mut dst = BytesMut::new();
        let mut codec = codec();
        codec
            .encode(
                HttpResponse::new(404)
                    .with_header("Connection", "close")
                    .with_body("no"),
                &mut dst,
            )
            .unwrap();
        codec.encode(HttpResponse::new(204), &mut dst).unwrap();
        codec
            .encode(
                HttpResponse::new(200).with_body("abc").for_head_request(),
                &mut dst,
            )
            .unwrap();
        codec
            .encode(HttpResponse::new(599).with_reason("Custom"), &mut dst)
            .unwrap();
        assert_eq!(
            &dst[..],
            &b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\
HTTP/1.1 599 Custom\r\nContent-Length: 0\r\n\r\n"[..]
        );
        dst.clear();
        for bad in [
            HttpResponse::new(99),
            HttpResponse::new(200).with_header("A\r\nB", "x"),
            HttpResponse::new(200).with_header("A", "x\r\nB: y"),
            HttpResponse::new(200).with_header("content-length", "3"),
            HttpResponse::new(200).with_reason("a\nb"),
        ] {
            assert!(codec.encode(bad, &mut dst).unwrap_err().is_encode());
            assert!(dst.is_empty());
        }
    }

    #[test]
    fn request_encoder_round_trips() {
        let request = HttpRequest::new("POST", "/x", Version::Http11)
            .with_header("Host", "h")
            .with_body("body");
        let mut wire = BytesMut::new();
        HttpRequestEncoder.encode(&request, &mut wire).unwrap();
        let decoded = codec().decode(&mut wire).unwrap().unwrap();
        assert_eq!(decoded.method(), request.method());
        assert_eq!(decoded.body(), request.body());
        assert_eq!(decoded, request.with_header("Content-Length", "4"),);
    }
}
