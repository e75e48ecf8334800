//! `LineCodec`: config = max_length (0..=63), terminator (Keep/Strip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::line::Terminator;
use weft_codec::{Bytes, BytesMut, Encoder, LineCodec};
use weft_codec_fuzz::{feed, feed_both, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max = usize::from(input.byte() % 64);
    let strip = input.byte() & 1 == 1;
    let terminator = if strip {
        Terminator::Strip
    } else {
        Terminator::Keep
    };
    let (chunks, payload) = input.chunks();
    let make = || LineCodec::new(max).terminator(terminator);
    let check = |frame: &Bytes, consumed: usize| {
        // The line, not counting `\n`, is at most `max` bytes; it holds no other `\n`.
        let content = if strip {
            &frame[..]
        } else {
            assert_eq!(frame.last(), Some(&b'\n'), "kept line without its \\n");
            &frame[..frame.len() - 1]
        };
        assert!(
            content.len() <= max,
            "line of {} bytes, max {max}",
            content.len()
        );
        assert!(!content.contains(&b'\n'), "\\n inside a line");
        assert_eq!(consumed, content.len() + 1);
    };
    // At most `max` bytes of an incomplete line stay buffered.
    let outcome = feed_both(make, &chunks, payload, max, check);

    // The frames are the front of the stream, line by line.
    let mut wire = Vec::new();
    for frame in &outcome.frames {
        wire.extend_from_slice(frame);
        if strip {
            wire.push(b'\n');
        }
    }
    assert!(
        payload.starts_with(&wire),
        "frames are not the front of the stream"
    );

    // Re-encoding the frames and decoding them again gives them back.
    let mut codec = make();
    let mut encoded = BytesMut::new();
    for frame in &outcome.frames {
        codec.encode(frame.clone(), &mut encoded).unwrap();
    }
    assert_eq!(&encoded[..], &wire[..]);
    let again = feed(&mut make(), &[&encoded[..]], max, |_: &Bytes, _| {});
    assert_eq!(again.error, None);
    assert_eq!(again.frames, outcome.frames);
});
