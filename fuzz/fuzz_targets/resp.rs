//! `RespCodec`: config = max_bulk_len (0..=63), max_args (0..=7), max_inline_len (0..=127),
//! max_request_len (0..=255).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{Bytes, BytesMut, Encoder, RespCodec, RespLimits, RespRequestEncoder};
use weft_codec_fuzz::{feed, feed_both, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let limits = RespLimits {
        max_bulk_len: usize::from(input.byte() % 64),
        max_args: usize::from(input.byte() % 8),
        max_inline_len: usize::from(input.byte() % 128),
        max_request_len: usize::from(input.byte()),
    };
    let (chunks, payload) = input.chunks();
    let make = || RespCodec::new(limits);
    let longest_arg = limits.max_bulk_len.max(limits.max_inline_len);
    let check = |args: &Vec<Bytes>, _consumed: usize| {
        assert!(!args.is_empty(), "empty requests are skipped, not yielded");
        assert!(
            args.len() <= limits.max_args,
            "{} args, max {}",
            args.len(),
            limits.max_args
        );
        for arg in args {
            assert!(arg.len() <= longest_arg, "argument of {} bytes", arg.len());
        }
    };
    // Buffered while incomplete: an inline line of at most max_inline_len bytes, or an
    // array request of at most max_request_len bytes plus one header line (`$N\r` is at
    // most 34 bytes before its `\n`).
    let bound = limits.max_inline_len.max(limits.max_request_len + 34);
    let outcome = feed_both(make, &chunks, payload, bound, check);

    // Each request, written as a client writes it, decodes back to the same arguments
    // (under limits wide enough for the longer array form of an inline request).
    let wide = RespLimits {
        max_bulk_len: longest_arg,
        max_args: limits.max_args,
        max_inline_len: 0,
        max_request_len: usize::MAX / 2,
    };
    for args in &outcome.frames {
        let mut encoded = BytesMut::new();
        RespRequestEncoder.encode(&args[..], &mut encoded).unwrap();
        let again = feed(
            &mut RespCodec::new(wide),
            &[&encoded[..]],
            usize::MAX,
            |_: &Vec<Bytes>, _| {},
        );
        assert_eq!(again.error, None);
        assert_eq!(again.frames, vec![args.clone()]);
    }
});
