//! The response side: [`HttpResponse`], the standard [`reason_phrase`]s, and the encoder
//! that writes responses for [`HttpCodec`], with the field writing it shares with
//! [`HttpRequestEncoder`](super::HttpRequestEncoder).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{CodecError, Encoder};

use super::parse::is_tchar;
use super::HttpCodec;

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
pub(super) fn check_field(name: &[u8], value: &[u8]) -> Result<(), CodecError> {
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

pub(super) fn put_decimal(dst: &mut BytesMut, mut n: u64) {
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

pub(super) fn put_fields(dst: &mut BytesMut, fields: &[(Bytes, Bytes)]) {
    for (name, value) in fields {
        dst.put_slice(name);
        dst.put_slice(b": ");
        dst.put_slice(value);
        dst.put_slice(b"\r\n");
    }
}

pub(super) fn fields_len(fields: &[(Bytes, Bytes)]) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_codec as codec;

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
}
