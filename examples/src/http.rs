//! An HTTP/1.1 server that answers `Hello, World!`: the [`HelloHandler`], over the codec
//! [`hello_codec`] makes.
//!
//! * `GET`, `HEAD` and `POST` on any origin-form or absolute-form target get `200 OK`,
//!   `Content-Type: text/plain`, a `Date` and `Content-Length: 13` with the body
//!   `Hello, World!` (no body for `HEAD`). A request body (`Content-Length` or chunked) is
//!   read and discarded.
//! * `GET /whoami` (and `HEAD`) gets `200 OK`, `Content-Type: text/plain`, with the body
//!   `IP:PORT\n`: the client's address as the server sees it (`Context::peer_addr`: with
//!   `--proxy-protocol`, the PROXY header's source), IPv6 in brackets, such as
//!   `127.0.0.1:51000\n` or `[2001:db8::7]:51000\n`. Only that exact origin-form target:
//!   `/whoami?x` or `/whoami/` get `Hello, World!`.
//! * `OPTIONS` (`*` or a path) gets `204 No Content` with `Allow: GET, HEAD, POST, OPTIONS`
//!   (RFC 9110 §9.3.7). Any other method gets `405 Method Not Allowed` with the same
//!   `Allow` (RFC 9110 §15.5.6); `CONNECT` among them: this server opens no tunnels, and a
//!   2xx would tell the client one is open (RFC 9110 §9.3.6).
//! * `Expect: 100-continue` (RFC 9110 §10.1.1): when the body has not begun to arrive,
//!   `HTTP/1.1 100 Continue` is sent at once, then the final response once the body is
//!   read; a request that is to be refused (405) gets its final answer at once instead, with
//!   `Connection: close`, and its body is not read.
//! * Keep-alive: an HTTP/1.1 connection stays open unless the request says
//!   `Connection: close`; an HTTP/1.0 one only if it says `Connection: keep-alive` (and the
//!   response says so too). When the request asks to close, the response carries
//!   `Connection: close` and the connection closes once it is sent.
//! * Pipelining: requests are answered in order, the answers to one read batch leaving in
//!   one `send`.
//! * Errors, each answered with `Connection: close` and then a close after flushing:
//!   `400 Bad Request` for a malformed request (including a bad or missing `Host`, `*`
//!   with a method other than `OPTIONS`, and `Transfer-Encoding` with `Content-Length`),
//!   `414 URI Too Long` for a request target over its limit, `431 Request Header Fields Too
//!   Large` when the header section (or a chunked body's trailers) is over its limit,
//!   `413 Content Too Large` when the body is over the body limit (sent without reading
//!   the rest), `501 Not Implemented` for a transfer coding other than `chunked`.
//! * A connection idle for the server's read-idle time is closed.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use weft::codec::{CodecErrorKind, HttpCodec, HttpLimits, HttpRequest, HttpResponse, Version};
use weft::{Bytes, Context, Error, Handler, Idle};

/// The body of every successful answer.
pub const HELLO: &str = "Hello, World!";

/// The target that answers with the client's address instead of [`HELLO`].
pub const WHOAMI: &str = "/whoami";

/// The methods the hello server implements, as its `Allow` field lists them.
pub const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// The codec of the hello server: `limits`, and the heads of `Expect: 100-continue`
/// requests yielded before their bodies, for [`HelloHandler`] to answer `100 Continue`.
pub fn hello_codec(limits: HttpLimits) -> HttpCodec {
    HttpCodec::new(limits).with_continue_heads(true)
}

/// One connection of the hello server.
#[derive(Debug, Clone, Default)]
pub struct HelloHandler;

impl HelloHandler {
    /// A handler for one connection.
    pub fn new() -> Self {
        HelloHandler
    }
}

impl Handler for HelloHandler {
    type In<'a> = HttpRequest;
    type Out<'a> = HttpResponse;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, request: HttpRequest) {
        let method = request.method();
        let known = method == "GET" || method == "HEAD" || method == "POST";
        if request.awaits_continue() {
            if known {
                // RFC 9110 §10.1.1: ask for the body; the complete request comes next.
                ctx.write(HttpResponse::new(100));
            } else {
                // Refused on the head alone: answer now, and do not read the body.
                ctx.write(
                    method_not_allowed()
                        .with_header("Date", http_date())
                        .with_header("Connection", "close"),
                );
                ctx.close();
            }
            return;
        }
        let keep_alive = request.keep_alive();
        let whoami = (method == "GET" || method == "HEAD") && request.target() == WHOAMI;
        let mut response = if whoami {
            // The client's address as this server sees it: the PROXY header's source when
            // the server requires one.
            HttpResponse::new(200)
                .with_header("Content-Type", "text/plain")
                .with_body(format!("{}\n", ctx.peer_addr()))
        } else if known {
            HttpResponse::new(200)
                .with_header("Content-Type", "text/plain")
                .with_body(HELLO)
        } else if method == "OPTIONS" {
            HttpResponse::new(204).with_header("Allow", ALLOW)
        } else {
            method_not_allowed()
        };
        response = response.with_header("Date", http_date());
        if !keep_alive {
            response = response.with_header("Connection", "close");
        } else if request.version() == Version::Http10 {
            response = response.with_header("Connection", "keep-alive");
        }
        if method == "HEAD" {
            response = response.for_head_request();
        }
        ctx.write(response);
        if !keep_alive {
            ctx.close();
        }
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_truncated() {
            return; // the client closed mid-request: nobody to answer
        }
        let status = match error.codec_error().map(|e| e.kind()) {
            Some(CodecErrorKind::UriTooLong { .. }) => 414,
            Some(CodecErrorKind::HeadersTooLarge { .. }) => 431,
            Some(CodecErrorKind::FrameTooLong { .. }) => 413,
            Some(CodecErrorKind::Unsupported) => 501,
            _ => 400,
        };
        let response = HttpResponse::new(status)
            .with_header("Date", http_date())
            .with_header("Content-Type", "text/plain")
            .with_header("Connection", "close")
            .with_body(weft::codec::http::reason_phrase(status));
        ctx.write(response);
    }

    fn on_idle(&mut self, ctx: &mut Context<'_, Self>, _idle: Idle) {
        ctx.close();
    }
}

/// `405 Method Not Allowed` with the `Allow` field it must carry (RFC 9110 §15.5.6).
fn method_not_allowed() -> HttpResponse {
    HttpResponse::new(405)
        .with_header("Allow", ALLOW)
        .with_header("Content-Type", "text/plain")
        .with_body("Method Not Allowed")
}

thread_local! {
    /// The `Date` value of the current second, formatted once per second per thread.
    static DATE: RefCell<(u64, Bytes)> = const { RefCell::new((u64::MAX, Bytes::new())) };
}

/// The current time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), cached per second.
pub fn http_date() -> Bytes {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            *cached = (secs, Bytes::from(format_http_date(secs)));
        }
        cached.1.clone()
    })
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7).
pub fn format_http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date (year, month 1-12, day 1-31) of a count of days since
/// 1970-01-01, by counting 400-year eras from 0000-03-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            format_http_date(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            format_http_date(4_107_542_399),
            "Sun, 28 Feb 2100 23:59:59 GMT"
        );
    }
}
