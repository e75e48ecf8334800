//! `DelimiterCodec`: config = 1 to 3 delimiters of 1 to 3 fuzzer-chosen bytes each (drawn
//! from a small alphabet half the time, so delimiters share prefixes), max_length
//! (0..=63), mode (Keep/Strip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{Bytes, BytesMut, DelimiterCodec, DelimiterMode, Encoder};
use weft_codec_fuzz::{feed, feed_both, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let count = 1 + usize::from(input.byte() % 3);
    let mut delimiters: Vec<Vec<u8>> = Vec::new();
    for _ in 0..count {
        let spec = input.byte();
        let len = 1 + usize::from(spec % 3);
        let small_alphabet = spec & 4 != 0;
        let delimiter: Vec<u8> = (0..len)
            .map(|_| {
                let b = input.byte();
                if small_alphabet {
                    b"\r\nab"[usize::from(b % 4)]
                } else {
                    b
                }
            })
            .collect();
        delimiters.push(delimiter);
    }
    let max = usize::from(input.byte() % 64);
    let strip = input.byte() & 1 == 1;
    let mode = if strip {
        DelimiterMode::Strip
    } else {
        DelimiterMode::Keep
    };
    let (chunks, payload) = input.chunks();
    let longest = delimiters.iter().map(Vec::len).max().unwrap();
    let make = || {
        DelimiterCodec::new(&delimiters, max)
            .unwrap()
            .delimiter_mode(mode)
    };

    let check = |frame: &Bytes, consumed: usize| {
        if strip {
            assert!(
                frame.len() <= max,
                "frame of {} bytes, max {max}",
                frame.len()
            );
            assert!(consumed > frame.len() && consumed <= frame.len() + longest);
        } else {
            assert_eq!(consumed, frame.len());
            // Some delimiter ends the frame, content within max, and no delimiter starts
            // earlier in the frame (the earliest delimiter wins).
            let ok = delimiters.iter().any(|d| {
                let Some(content) = frame.len().checked_sub(d.len()) else {
                    return false;
                };
                frame.ends_with(d)
                    && content <= max
                    && (0..content).all(|p| !delimiters.iter().any(|e| frame[p..].starts_with(e)))
            });
            assert!(ok, "bad frame {frame:?} for delimiters {delimiters:?}");
        }
    };
    // At most `max` bytes plus a delimiter still undecided stay buffered.
    let outcome = feed_both(make, &chunks, payload, max + longest - 1, check);

    if !strip {
        // The frames are the front of the stream, and decode back to themselves.
        let wire: Vec<u8> = outcome.frames.iter().flat_map(|f| f.to_vec()).collect();
        assert!(
            payload.starts_with(&wire),
            "frames are not the front of the stream"
        );
        let again = feed(&mut make(), &[&wire[..]], usize::MAX, |_: &Bytes, _| {});
        assert_eq!(again.error, None);
        assert_eq!(again.frames, outcome.frames);
    } else if delimiters.len() == 1 {
        // With one delimiter, encoding the stripped frames gives the wire bytes back.
        let mut codec = make();
        let mut encoded = BytesMut::new();
        for frame in &outcome.frames {
            codec.encode(frame.clone(), &mut encoded).unwrap();
        }
        assert!(
            payload.starts_with(&encoded),
            "re-encoded frames differ from the stream"
        );
        let again = feed(&mut make(), &[&encoded[..]], usize::MAX, |_: &Bytes, _| {});
        assert_eq!(again.error, None);
        assert_eq!(again.frames, outcome.frames);
    }
});
