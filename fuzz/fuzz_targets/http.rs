//! `HttpCodec`: config = max_head_len (2..=1025), max_headers (0..=15), max_body_len
//! (0..=255), max_target_len (0..=255), max_chunk_line_len (1..=64).
//!
//! max_head_len 1 (and 0) is left out: with it a lone `\r` (which may yet become a blank
//! line `\r\n`, skipped before a request) already fills the limit, so a stream cut after
//! `\r` fails where the same stream in one piece does not. No request fits in one byte,
//! so that limit is useless anyway; see docs/codecs.md, "Fuzzing".
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::http::Version;
use weft_codec::{BytesMut, Encoder, HttpCodec, HttpLimits, HttpRequest, HttpRequestEncoder};
use weft_codec_fuzz::{feed, feed_both, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let limits = HttpLimits {
        max_head_len: 2 + usize::from(input.u16() % 1024),
        max_headers: usize::from(input.byte() % 16),
        max_body_len: usize::from(input.byte()),
        max_target_len: usize::from(input.byte()),
        max_chunk_line_len: 1 + usize::from(input.byte() % 64),
    };
    let (chunks, payload) = input.chunks();
    let make = || HttpCodec::new(limits);
    let check = |request: &HttpRequest, consumed: usize| {
        assert!(request.headers().len() <= limits.max_headers);
        assert!(request.body().len() <= limits.max_body_len);
        assert!(consumed > request.body().len());
        assert!(!request.method().is_empty() && !request.target().is_empty());
        let hosts = request
            .headers()
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"host"))
            .count();
        assert!(hosts <= 1 && (hosts == 1 || request.version() == Version::Http10));
    };
    // Buffered while incomplete: less than max_head_len bytes of a header section, or part
    // of a body (the head is split off once parsed): Content-Length bytes, or the decoded
    // part of a chunked body and one incomplete chunk-size line or trailer section.
    let bound = limits.max_head_len
        + limits.max_body_len
        + limits.max_chunk_line_len.max(limits.max_head_len);
    let outcome = feed_both(make, &chunks, payload, bound, check);

    // Each request, written as a client writes it, decodes back to itself (under limits
    // wide enough for `: ` and `\r\n` where the original had `:` and `\n`, and for the one
    // chunk-size line a chunked body is written with).
    let wide = HttpLimits {
        max_head_len: 4 * limits.max_head_len + 64,
        max_chunk_line_len: 64,
        ..limits
    };
    for request in &outcome.frames {
        let mut encoded = BytesMut::new();
        HttpRequestEncoder.encode(request, &mut encoded).unwrap();
        let again = feed(
            &mut HttpCodec::new(wide),
            &[&encoded[..]],
            usize::MAX,
            |_: &HttpRequest, _| {},
        );
        assert_eq!(again.error, None, "{encoded:?}");
        assert_eq!(again.frames, vec![request.clone()]);
    }
});
