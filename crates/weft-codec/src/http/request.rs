//! The request side: [`HttpRequest`], the decoder ([`HttpCodec`] and how far it got into
//! the request at the front of the buffer) and [`HttpRequestEncoder`], which writes
//! requests as a client does.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{CodecError, Decoder, Encoder};

use super::parse::{find_head_end, is_tchar, parse_head, trim_ows, Head};
use super::response::{check_field, fields_len, put_decimal, put_fields};
use super::{HttpLimits, Version};

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

#[derive(Debug, Clone)]
enum Progress {
    /// Looking for the end of the header section; the first `scanned` bytes hold none.
    Head { scanned: usize },
    /// The head is parsed; waiting for the whole body.
    Body(Head),
}

/// Decodes HTTP/1.x requests and encodes [`HttpResponse`](super::HttpResponse)s.
///
/// See the [module documentation](super) for what is accepted and the errors.
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

impl Decoder for HttpCodec {
    type Item = HttpRequest;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<HttpRequest>, CodecError> {
        // After an error the stream is corrupt; start from scratch if called again.
        self.decode_inner(src)
            .inspect_err(|_| self.progress = Progress::Head { scanned: 0 })
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
    use crate::http::test_codec as codec;
    use crate::testing::{assert_every_split_point_gives_the_same_frames, decode_all};

    fn decode_str(input: &[u8]) -> Result<Vec<HttpRequest>, CodecError> {
        decode_all(&mut codec(), input)
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
        let whole = assert_every_split_point_gives_the_same_frames(codec, input);
        assert!(whole.error.is_none());
        assert_eq!(whole.frames.len(), 2);
        assert_eq!(&whole.rest[..], b"GET /c HTTP/1.1\r\nHo");
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
    fn eof_leaves_a_partial_request_to_be_reported_as_truncated() {
        let mut codec = codec();
        let mut buf = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n"[..]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_some());
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(codec.frame_in_progress(&buf));
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
