//! `LengthFieldCodec`: config = field offset (0..=4), width (1, 2, 3, 4, 8), byte order,
//! adjustment (-128..=127), max_frame_length (header + 0..=511), bytes to strip (0..=max);
//! configurations the builder rejects are skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{Bytes, BytesMut, Encoder, Endianness, LengthFieldCodec, LengthPrepender};
use weft_codec_fuzz::{feed, feed_both, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let offset = usize::from(input.byte() % 5);
    let width = [1, 2, 3, 4, 8][usize::from(input.byte() % 5)];
    let endianness = if input.byte() & 1 == 0 {
        Endianness::Big
    } else {
        Endianness::Little
    };
    let adjustment = isize::from(input.byte() as i8);
    let max = offset + width + usize::from(input.u16() % 512);
    // Half the time strip exactly the header, else anything up to max.
    let strip_spec = input.byte();
    let strip = if strip_spec & 1 == 0 {
        offset + width
    } else {
        usize::from(strip_spec >> 1) % (max + 1)
    };
    let (chunks, payload) = input.chunks();
    let builder = LengthFieldCodec::builder(max)
        .length_field_offset(offset)
        .length_field_width(width)
        .endianness(endianness)
        .length_adjustment(adjustment)
        .initial_bytes_to_strip(strip);
    let Ok(codec) = builder.build() else {
        return;
    };
    let make = || codec.clone();
    let header = offset + width;

    let check = |frame: &Bytes, consumed: usize| {
        assert!(consumed <= max, "frame of {consumed} bytes, max {max}");
        assert_eq!(consumed, frame.len() + strip);
    };
    // Less than one frame (at most max) stays buffered.
    let outcome = feed_both(make, &chunks, payload, max - 1, check);

    if strip == 0 {
        // Whole frames: the field announces each one's length, they are the front of the
        // stream, and they decode back to themselves.
        for frame in &outcome.frames {
            let field = &frame[offset..header];
            let mut value = [0u8; 8];
            match endianness {
                Endianness::Big => value[8 - width..].copy_from_slice(field),
                Endianness::Little => value[..width].copy_from_slice(field),
            }
            let value = match endianness {
                Endianness::Big => u64::from_be_bytes(value),
                Endianness::Little => u64::from_le_bytes(value),
            };
            assert_eq!(
                frame.len() as i128,
                header as i128 + i128::from(value) + adjustment as i128
            );
        }
        let wire: Vec<u8> = outcome.frames.iter().flat_map(|f| f.to_vec()).collect();
        assert!(
            payload.starts_with(&wire),
            "frames are not the front of the stream"
        );
        let again = feed(&mut make(), &[&wire[..]], max, |_: &Bytes, _| {});
        assert_eq!(again.error, None);
        assert_eq!(again.frames, outcome.frames);
    } else if offset == 0 && strip == width {
        // The layout LengthPrepender writes: re-encode the bodies, decode them again.
        let mut prepender = LengthPrepender::new(width)
            .unwrap()
            .endianness(endianness)
            .length_adjustment(-adjustment);
        let mut encoded = BytesMut::new();
        for frame in &outcome.frames {
            prepender.encode(frame.clone(), &mut encoded).unwrap();
        }
        assert!(
            payload.starts_with(&encoded),
            "re-encoded frames differ from the stream"
        );
        let again = feed(&mut make(), &[&encoded[..]], max, |_: &Bytes, _| {});
        assert_eq!(again.error, None);
        assert_eq!(again.frames, outcome.frames);
    }
});
