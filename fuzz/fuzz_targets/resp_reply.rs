//! `RespReplyCodec`: config = max_bulk_len (0..=63), max_elements (0..=7), max_depth
//! (0..=3), max_reply_len (0..=255). Every reply re-encoded decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{BytesMut, Decoder, Encoder, ReplyLimits, RespCodec, RespReplyCodec, RespValue};
use weft_codec_fuzz::{feed_both, Input};

/// True when every line-kind string could be written back (no CR or LF inside).
fn writable(value: &RespValue) -> bool {
    match value {
        RespValue::Simple(b) | RespValue::Error(b) | RespValue::Double(b) => {
            !b.contains(&b'\r') && !b.contains(&b'\n')
        }
        RespValue::Array(items) | RespValue::Set(items) => items.iter().all(writable),
        RespValue::Map(pairs) => pairs.iter().all(|(k, v)| writable(k) && writable(v)),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let limits = ReplyLimits {
        max_bulk_len: usize::from(input.byte() % 64),
        max_elements: usize::from(input.byte() % 8),
        max_depth: usize::from(input.byte() % 4),
        max_reply_len: usize::from(input.byte()),
    };
    let (chunks, payload) = input.chunks();
    let make = || RespReplyCodec::new(limits);
    let outcome = feed_both(
        make,
        &chunks,
        payload,
        limits.max_reply_len,
        |_, consumed| {
            assert!(
                consumed <= limits.max_reply_len,
                "a reply of {consumed} bytes"
            );
        },
    );
    for value in outcome.frames.iter().filter(|v| writable(v)) {
        let mut wire = BytesMut::new();
        RespCodec::new(Default::default())
            .encode(value, &mut wire)
            .unwrap();
        let mut codec = RespReplyCodec::new(ReplyLimits {
            max_reply_len: usize::MAX / 2,
            ..limits
        });
        let again = codec.decode(&mut wire).unwrap().expect("a whole reply");
        // A RESP2 null array re-encodes as the null bulk: the same value.
        assert_eq!(&again, value);
        assert!(wire.is_empty());
    }
});
