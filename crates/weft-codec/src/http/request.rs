//! The request side: [`HttpRequest`], the decoder ([`HttpCodec`] and how far it got into
//! the request at the front of the buffer) and [`HttpRequestEncoder`], which writes
//! requests as a client does.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{CodecError, Decoder, Encoder};

use super::chunked::Chunked;
use super::parse::{find_head_end, is_tchar, parse_head, trim_ows, BodyKind, Head};
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
    awaits_continue: bool,
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
            awaits_continue: false,
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

    /// The body: `Content-Length` bytes, or the decoded data of a chunked body (its
    /// chunk-size lines and trailers removed; the `Transfer-Encoding` field stays in
    /// [`headers`](HttpRequest::headers)). Empty without either, and in a request that
    /// [`awaits_continue`](HttpRequest::awaits_continue).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the request carries `Expect: 100-continue` (HTTP/1.1 only; RFC 9110
    /// §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self.headers.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case(b"expect")
                    && value
                        .split(|&b| b == b',')
                        .any(|item| trim_ows(item).eq_ignore_ascii_case(b"100-continue"))
            })
    }

    /// True for the head of a request announced before its body arrived: the codec was
    /// built [`with_continue_heads`](HttpCodec::with_continue_heads), the request asks for
    /// `Expect: 100-continue`, has a body, and no byte of it had arrived. The body is empty
    /// here; the same request comes again, complete and with this false, once the body is
    /// read. Answer it with `100 Continue` (then wait for the complete request) or with a
    /// final status and `Connection: close` (the body will not be read).
    pub fn awaits_continue(&self) -> bool {
        self.awaits_continue
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
    Head { scanned: usize, line: LineScan },
    /// The head is parsed and split off the buffer, which now begins with the body.
    Body {
        head: Head,
        frame: Bytes,
        chunked: Option<Chunked>,
    },
}

impl Progress {
    fn start() -> Self {
        Progress::Head {
            scanned: 0,
            line: LineScan::default(),
        }
    }
}

/// How far the request line has been scanned, to refuse a long request target early.
#[derive(Debug, Clone, Copy, Default)]
struct LineScan {
    /// Bytes of the request line looked at so far.
    pos: usize,
    /// The space before the target.
    sp1: Option<usize>,
    /// Where the target ends: the second space or the end of the line.
    target_end: Option<usize>,
}

impl LineScan {
    /// Scans `buf` (the front of the buffer); the target's length so far, if it began.
    fn target_len(&mut self, buf: &[u8]) -> Option<usize> {
        while self.target_end.is_none() && self.pos < buf.len() {
            match (buf[self.pos], self.sp1) {
                (b' ', None) => self.sp1 = Some(self.pos),
                (b' ' | b'\r' | b'\n', Some(_)) => self.target_end = Some(self.pos),
                (b'\n', None) => self.target_end = Some(self.pos),
                _ => {}
            }
            self.pos += 1;
        }
        let sp1 = self.sp1?;
        Some(self.target_end.unwrap_or(buf.len()) - sp1 - 1)
    }
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
    continue_heads: bool,
}

impl HttpCodec {
    /// A codec enforcing `limits`.
    pub fn new(limits: HttpLimits) -> Self {
        HttpCodec {
            limits,
            progress: Progress::start(),
            continue_heads: false,
        }
    }

    /// With `true`, a request carrying `Expect: 100-continue` whose body has not begun to
    /// arrive is yielded twice: first its head alone
    /// ([`HttpRequest::awaits_continue`]), so that the handler can send `100 Continue`
    /// (or refuse it) as RFC 9110 §10.1.1 requires, then complete. Off by default, since a
    /// handler unaware of it would answer twice.
    pub fn with_continue_heads(mut self, on: bool) -> Self {
        self.continue_heads = on;
        self
    }

    /// The limits this codec enforces.
    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    fn decode_inner(&mut self, src: &mut BytesMut) -> Result<Option<HttpRequest>, CodecError> {
        if let Progress::Head { scanned, mut line } = self.progress {
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
                self.progress = Progress::start();
                return self.decode_inner(src);
            }
            let max = self.limits.max_head_len;
            let window_end = src.len().min(max);
            let Some(len) = find_head_end(&src[..window_end], scanned) else {
                let target = line.target_len(&src[..window_end]);
                let max_target = self.limits.max_target_len;
                if target.is_some_and(|t| t > max_target)
                    || (src.len() >= max && target.is_some() && line.target_end.is_none())
                {
                    return Err(CodecError::uri_too_long(max_target));
                }
                if src.len() >= max {
                    return Err(CodecError::headers_too_large(max));
                }
                // Resume one byte back: the end is a `\n` followed by `\r\n` or `\n`,
                // and a `\n` seen last time may begin it.
                self.progress = Progress::Head {
                    scanned: window_end.saturating_sub(2),
                    line,
                };
                return Ok(None);
            };
            let head = parse_head(&src[..len], &self.limits)?;
            let frame = src.split_to(len).freeze();
            let chunked = (head.body == BodyKind::Chunked).then(Chunked::new);
            let announce = self.continue_heads
                && head.expect_continue
                && !head.body.is_empty()
                && src.is_empty();
            self.progress = Progress::Body {
                head,
                frame,
                chunked,
            };
            if announce {
                let Progress::Body { head, frame, .. } = &self.progress else {
                    unreachable!("just set");
                };
                let mut request = build(head, frame, Bytes::new());
                request.awaits_continue = true;
                return Ok(Some(request));
            }
        }
        let Progress::Body {
            head,
            frame,
            chunked,
        } = &mut self.progress
        else {
            unreachable!("the head was parsed above");
        };
        let body = match (head.body, chunked) {
            (_, Some(chunked)) => {
                let Some(len) = chunked.advance(src, &self.limits)? else {
                    return Ok(None);
                };
                let body = src.split_to(len).freeze();
                src.advance(chunked.consumed() - len);
                body
            }
            (BodyKind::Length(len), None) => {
                if src.len() < len {
                    return Ok(None);
                }
                src.split_to(len).freeze()
            }
            (BodyKind::Chunked, None) => unreachable!("chunked bodies have their state"),
        };
        let request = build(head, frame, body);
        self.progress = Progress::start();
        Ok(Some(request))
    }
}

/// The request whose parsed head is `head`, from its header section `frame`.
fn build(head: &Head, frame: &Bytes, body: Bytes) -> HttpRequest {
    let slice = |(start, end): (usize, usize)| frame.slice(start..end);
    HttpRequest {
        method: slice(head.method),
        target: slice(head.target),
        version: head.version,
        headers: head
            .headers
            .iter()
            .map(|&[name, value]| (slice(name), slice(value)))
            .collect(),
        body,
        awaits_continue: false,
    }
}

impl Decoder for HttpCodec {
    type Item<'a> = HttpRequest;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<HttpRequest>, CodecError> {
        // After an error the stream is corrupt; start from scratch if called again.
        self.decode_inner(src)
            .inspect_err(|_| self.progress = Progress::start())
    }

    /// The head of a request is kept in the codec once parsed, so a request is in progress
    /// while its body is awaited even if no body byte is buffered.
    fn frame_in_progress(&self, src: &BytesMut) -> bool {
        !src.is_empty() || matches!(self.progress, Progress::Body { .. })
    }
}

/// Writes requests as a client does: what it writes, [`HttpCodec`] decodes back to the same
/// request (plus the `Content-Length` field it adds).
///
/// A `Content-Length` field is added when the body is not empty and the request has
/// neither it nor `Transfer-Encoding`. With a `Transfer-Encoding` field, the body is written
/// chunked (one chunk, then the last chunk). Fails, writing nothing, if a part would break
/// the framing.
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
        let mut chunked = false;
        for (name, value) in &request.headers {
            check_field(name, value)?;
            has_length |= name.eq_ignore_ascii_case(b"content-length");
            chunked |= name.eq_ignore_ascii_case(b"transfer-encoding");
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
        if !has_length && !chunked && !request.body.is_empty() {
            dst.put_slice(b"Content-Length: ");
            put_decimal(dst, request.body.len() as u64);
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
        if chunked {
            if !request.body.is_empty() {
                dst.put_slice(format!("{:x}\r\n", request.body.len()).as_bytes());
                dst.put_slice(&request.body);
                dst.put_slice(b"\r\n");
            }
            dst.put_slice(b"0\r\n\r\n");
        } else {
            dst.put_slice(&request.body);
        }
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
        // Transfer codings other than chunked are not implemented.
        let gzip = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert!(decode_str(gzip).unwrap_err().is_unsupported());
    }

    #[test]
    fn request_target_limit_is_414_and_distinct_from_the_head_limit() {
        // RFC 9112 §3: max_target_len is 32 in the test codec.
        let ok = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "t".repeat(31));
        assert_eq!(decode_str(ok.as_bytes()).unwrap().len(), 1);
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "t".repeat(32));
        assert_eq!(
            decode_str(long.as_bytes()).unwrap_err(),
            CodecError::uri_too_long(32)
        );
        // Noticed as soon as the target passes the limit, before the line ends.
        let partial = format!("GET /{}", "t".repeat(32));
        assert!(decode_str(partial.as_bytes())
            .unwrap_err()
            .is_uri_too_long());
        assert_eq!(decode_str(&partial.as_bytes()[..33]).unwrap(), Vec::new());
        // A request line alone filling the head limit is about its target too.
        let mut codec = HttpCodec::new(HttpLimits {
            max_target_len: 1000,
            ..codec().limits()
        });
        let line = format!("GET /{}", "t".repeat(200));
        assert!(decode_all(&mut codec, line.as_bytes())
            .unwrap_err()
            .is_uri_too_long());
    }

    fn chunked(body: &str) -> Vec<u8> {
        format!("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
            .into_bytes()
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        // RFC 9112 §7.1: extensions ignored, trailers parsed then ignored.
        let mut input = chunked("5;a=b;c\r\nhello\r\n1 ; x=\"y\"\r\n!\r\n0\r\nT: v\r\n\r\n");
        input.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        let requests = decode_str(&input).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].body(), "hello!");
        assert_eq!(requests[0].header("transfer-encoding").unwrap(), "chunked");
        assert_eq!(requests[1].target(), "/next");
        let empty = decode_str(&chunked("000\r\n\r\n")).unwrap();
        assert!(empty[0].body().is_empty());
        let whole = assert_every_split_point_gives_the_same_frames(codec, &input);
        assert!(whole.error.is_none() && whole.rest.is_empty());
        assert_eq!(whole.frames, requests);
    }

    #[test]
    fn chunked_errors() {
        for (body, check) in [
            ("x\r\n", CodecError::is_malformed as fn(&CodecError) -> bool),
            ("5\nhello\r\n0\r\n\r\n", CodecError::is_malformed),
            ("5\r\nhelloXX0\r\n\r\n", CodecError::is_malformed),
            ("5 x\r\n", CodecError::is_malformed),
            ("0\r\nbad trailer\r\n\r\n", CodecError::is_malformed),
            // The chunk-size line limit (16 in the test codec).
            ("1;aaaaaaaaaaaaaaaaaaaaaa", CodecError::is_malformed),
            // Over max_body_len (16): noticed on the size, before the data.
            ("11\r\n", CodecError::is_frame_too_long),
            ("8\r\n12345678\r\n9\r\n", CodecError::is_frame_too_long),
            ("fffffffffffff\r\n", CodecError::is_frame_too_long),
            // Trailers: at most max_headers (4) fields, max_head_len (128) bytes.
            (
                "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n",
                CodecError::is_headers_too_large,
            ),
        ] {
            let err = decode_str(&chunked(body)).unwrap_err();
            assert!(check(&err), "{body:?}: {err}");
        }
        let long_trailer = format!("0\r\nA: {}", "v".repeat(200));
        assert!(decode_str(&chunked(&long_trailer))
            .unwrap_err()
            .is_headers_too_large());
        // Exactly max_body_len is fine.
        let ok = decode_str(&chunked("8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")).unwrap();
        assert_eq!(ok[0].body().len(), 16);
    }

    #[test]
    fn chunked_buffering_is_bounded() {
        // Many tiny chunks: the buffer holds the decoded body and at most one line.
        let mut codec = codec();
        let mut buf = BytesMut::from(&chunked("")[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        for _ in 0..16 {
            buf.extend_from_slice(b"1;ext=aaaaaa\r\nx\r\n");
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
            assert!(buf.len() <= 16, "{buf:?}");
            assert!(codec.frame_in_progress(&buf));
        }
        buf.extend_from_slice(b"0\r\n\r\n");
        let request = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(request.body(), &"x".repeat(16)[..]);
        assert!(buf.is_empty() && !codec.frame_in_progress(&buf));
    }

    #[test]
    fn transfer_encoding_framing_rules() {
        let te = |value: &str, extra: &str, version: &str| {
            let input = format!(
                "POST / {version}\r\nHost: a\r\nTransfer-Encoding: {value}\r\n{extra}\r\n0\r\n\r\n"
            );
            decode_str(input.as_bytes())
        };
        // RFC 9112 §6.3: both fields is a smuggling attempt; chunked must be last.
        let err = te("chunked", "Content-Length: 3\r\n", "HTTP/1.1").unwrap_err();
        assert_eq!(err.detail(), "both Transfer-Encoding and Content-Length");
        let err = te("chunked, gzip", "", "HTTP/1.1").unwrap_err();
        assert_eq!(err.detail(), "chunked is not the final transfer coding");
        assert!(te("gzip", "", "HTTP/1.1").unwrap_err().is_malformed());
        assert!(te("chunked, chunked", "", "HTTP/1.1")
            .unwrap_err()
            .is_malformed());
        assert!(te("x y", "", "HTTP/1.1").unwrap_err().is_malformed());
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
        assert!(te("chunked", "", "HTTP/1.0").unwrap_err().is_malformed());
        // A coding before chunked that is not implemented: 501.
        assert!(te("gzip, chunked", "", "HTTP/1.1")
            .unwrap_err()
            .is_unsupported());
        assert!(te("gzip", "Transfer-Encoding: chunked\r\n", "HTTP/1.1")
            .unwrap_err()
            .is_unsupported());
        assert_eq!(te("Chunked", "", "HTTP/1.1").unwrap().len(), 1);
    }

    #[test]
    fn expect_continue_heads() {
        // RFC 9110 §10.1.1: with continue heads on, the head comes first.
        let head =
            b"PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
        let mut codec = codec().with_continue_heads(true);
        let mut buf = BytesMut::from(&head[..]);
        let first = codec.decode(&mut buf).unwrap().unwrap();
        assert!(first.awaits_continue() && first.expects_continue());
        assert!(first.body().is_empty() && first.target() == "/u");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(codec.frame_in_progress(&buf));
        buf.extend_from_slice(b"abc");
        let full = codec.decode(&mut buf).unwrap().unwrap();
        assert!(!full.awaits_continue() && full.expects_continue());
        assert_eq!(full.body(), "abc");
        // Body already there, no body, or the option off: no announcement.
        let mut with_body = head.to_vec();
        with_body.extend_from_slice(b"abc");
        let all = decode_all(&mut codec.clone(), &with_body).unwrap();
        assert_eq!(all.len(), 1);
        let no_body = b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";
        assert!(!decode_all(&mut codec.clone(), no_body).unwrap()[0].awaits_continue());
        assert_eq!(decode_str(&with_body).unwrap().len(), 1);
        assert_eq!(decode_str(head).unwrap(), Vec::new());
        // Chunked too.
        let mut codec = codec.clone();
        let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"[..]);
        assert!(codec.decode(&mut buf).unwrap().unwrap().awaits_continue());
        buf.extend_from_slice(b"2\r\nhi\r\n0\r\n\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().body(), "hi");
    }

    #[test]
    fn chunked_request_encoder_round_trips() {
        let request = HttpRequest::new("POST", "/x", Version::Http11)
            .with_header("Host", "h")
            .with_header("Transfer-Encoding", "chunked")
            .with_body("body");
        let mut wire = BytesMut::new();
        HttpRequestEncoder.encode(&request, &mut wire).unwrap();
        assert!(wire.ends_with(b"\r\n\r\n4\r\nbody\r\n0\r\n\r\n"));
        assert_eq!(decode_str(&wire).unwrap(), vec![request]);
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
        // (Splitting the head off leaves less, never more.)
        assert!(buf.capacity() <= capacity);
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
