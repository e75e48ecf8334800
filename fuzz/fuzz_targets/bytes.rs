//! `BytesCodec`: config = max_chunk (1..=64). Where chunks are cut depends on the reads,
//! so the chunked and whole feeds are compared by their concatenation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{Bytes, BytesCodec, BytesMut, Encoder};
use weft_codec_fuzz::{feed, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max = 1 + usize::from(input.byte() % 64);
    let (chunks, payload) = input.chunks();
    let check = |frame: &Bytes, consumed: usize| {
        assert!(!frame.is_empty() && frame.len() <= max);
        assert_eq!(consumed, frame.len());
    };
    let make = || BytesCodec::new(max).unwrap();
    // Nothing stays buffered: every byte makes a frame.
    let chunked = feed(&mut make(), &chunks, 0, check);
    let whole = feed(&mut make(), &[payload], 0, check);
    assert_eq!(chunked.error, None, "BytesCodec never fails");
    assert_eq!(whole.error, None, "BytesCodec never fails");
    let joined: Vec<u8> = chunked.frames.iter().flat_map(|f| f.to_vec()).collect();
    assert_eq!(&joined[..], payload);
    let joined: Vec<u8> = whole.frames.iter().flat_map(|f| f.to_vec()).collect();
    assert_eq!(&joined[..], payload);

    let mut codec = make();
    let mut encoded = BytesMut::new();
    for frame in &chunked.frames {
        codec.encode(frame.clone(), &mut encoded).unwrap();
    }
    assert_eq!(&encoded[..], payload);
});
