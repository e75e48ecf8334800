//! `FixedLengthCodec`: config = frame_length (1..=64).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{Bytes, BytesMut, Encoder, FixedLengthCodec};
use weft_codec_fuzz::{feed_both, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let length = 1 + usize::from(input.byte() % 64);
    let (chunks, payload) = input.chunks();
    let make = || FixedLengthCodec::new(length).unwrap();
    let check = |frame: &Bytes, consumed: usize| {
        assert_eq!(frame.len(), length);
        assert_eq!(consumed, length);
    };
    // Less than one frame stays buffered.
    let outcome = feed_both(make, &chunks, payload, length - 1, check);
    // It never fails on the stream itself; a partial last frame is truncated at its end.
    let truncated = payload.len() % length != 0;
    assert_eq!(
        outcome.error.map(|e| e.is_truncated()),
        truncated.then_some(true)
    );
    assert_eq!(outcome.frames.len(), payload.len() / length);

    // The frames are the stream, and re-encode to it.
    let mut codec = make();
    let mut encoded = BytesMut::new();
    for frame in &outcome.frames {
        codec.encode(frame.clone(), &mut encoded).unwrap();
    }
    assert_eq!(&encoded[..], &payload[..outcome.frames.len() * length]);
});
