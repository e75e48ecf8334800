//! Properties every decoder of this crate must have, checked with proptest:
//!
//! * (a) the outcome (frames, then the error or the bytes left over) is the same whatever the
//!   chunking of the input: at every split point (two and three reads) of small inputs and
//!   byte by byte, with `weft_codec::testing`'s assertion, and at random cuts of large ones;
//! * (b) what the matching encoder writes decodes back to the messages;
//! * (c) an oversize frame is rejected, and fed byte by byte the buffer never holds more
//!   than the maximum plus the framing bytes.
//!
//! `DelimiterCodec` and `LengthFieldCodec` are also compared with a naive model written
//! from their documentation. `RespCodec` and `HttpCodec` yield structured frames (argument
//! lists, requests); the same helpers run them.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::select;
use weft_codec::testing::assert_every_split_point_gives_the_same_frames_and_errors;
use weft_codec::{
    Bytes, BytesCodec, BytesMut, CodecError, CodecErrorKind, Decoder, DelimiterCodec,
    DelimiterMode, Detach, Encoder, Endianness, FixedLengthCodec, HttpCodec, HttpLimits,
    HttpRequest, HttpRequestEncoder, LengthFieldCodec, LengthPrepender, LineCodec, RespCodec,
    RespLimits, RespReplyCodec, RespRequestEncoder, RespValue, Version,
};

/// What decoding a whole stream produced: the frames in order, then either the error that
/// stopped decoding or the bytes left in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome<T = Bytes> {
    frames: Vec<T>,
    end: End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Error(CodecErrorKind),
    Rest(Vec<u8>),
}

/// A decoder whose frames these properties collect: each frame's owned form ([`Detach`]).
trait FrameDecoder: Decoder<Error = CodecError> {
    type Frame: Debug + PartialEq;
    fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Frame>, CodecError>;
    fn next_frame_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Frame>, CodecError>;
}

macro_rules! frame_decoder {
    ($($codec:ty => $frame:ty),* $(,)?) => {$(
        impl FrameDecoder for $codec {
            type Frame = $frame;
            fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<$frame>, CodecError> {
                Ok(self.decode(buf)?.map(Detach::detach))
            }
            fn next_frame_eof(&mut self, buf: &mut BytesMut) -> Result<Option<$frame>, CodecError> {
                Ok(self.decode_eof(buf)?.map(Detach::detach))
            }
        }
    )*};
}

frame_decoder!(
    BytesCodec => Bytes,
    DelimiterCodec => Bytes,
    FixedLengthCodec => Bytes,
    HttpCodec => HttpRequest,
    LengthFieldCodec => Bytes,
    LineCodec => Bytes,
    RespCodec => Vec<Bytes>,
    RespReplyCodec => RespValue,
);

/// Feeds `chunks` one at a time, decoding all it can after each; `observe` sees the buffer
/// right after each chunk is appended.
fn run_observed<'a, D: FrameDecoder>(
    decoder: &mut D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    mut observe: impl FnMut(&BytesMut),
) -> Outcome<D::Frame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        observe(&buf);
        loop {
            match decoder.next_frame(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        end: End::Error(e.kind()),
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        end: End::Rest(buf.to_vec()),
    }
}

fn run<'a, D: FrameDecoder>(
    decoder: &mut D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome<D::Frame> {
    run_observed(decoder, chunks, |_| {})
}

/// Decodes everything, then calls `decode_eof` until it is done: the frames a whole
/// conversation yields.
fn run_to_eof<D: FrameDecoder>(decoder: &mut D, input: &[u8]) -> Result<Vec<D::Frame>, CodecError> {
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.next_frame(&mut buf)? {
        frames.push(frame);
    }
    while let Some(frame) = decoder.next_frame_eof(&mut buf)? {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "decode_eof left {:?}", &buf[..]);
    Ok(frames)
}

/// `input` cut at the given positions (taken modulo its length, in any order).
fn cut<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// (a) for large inputs: one read and random cuts give the same outcome.
fn assert_cut_invariant<D: FrameDecoder>(make: impl Fn() -> D, input: &[u8], cuts: &[usize]) {
    let whole = run(&mut make(), [input]);
    assert_eq!(run(&mut make(), cut(input, cuts)), whole);
}

/// The largest the buffer gets when `input` arrives one byte at a time.
fn peak_buffer_byte_by_byte<D: FrameDecoder>(
    decoder: &mut D,
    input: &[u8],
) -> (Outcome<D::Frame>, usize) {
    let mut peak = 0;
    let outcome = run_observed(decoder, input.chunks(1), |buf| peak = peak.max(buf.len()));
    (outcome, peak)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// DelimiterCodec

const DELIMITER_SETS: &[&[&[u8]]] = &[
    &[b"\r\n", b"\n"],
    &[b"\n"],
    &[b"\r", b"\r\n"],
    &[b"ab", b"b", b"abb"],
    &[b"aba"],
];

fn delimiter_set() -> impl Strategy<Value = &'static [&'static [u8]]> {
    select(DELIMITER_SETS)
}

fn delimiter_mode() -> impl Strategy<Value = DelimiterMode> {
    prop_oneof![Just(DelimiterMode::Keep), Just(DelimiterMode::Strip)]
}

/// Bytes rich in delimiter material.
fn delimiter_input(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(select(&b"ab\r\nx"[..]), 0..max_len)
}

/// Bytes that are in none of the delimiters above.
fn plain_message(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(select(&b"xyz\x00\xff"[..]), 0..=max_len)
}

fn delimiter_codec(delimiters: &[&[u8]], max_length: usize, mode: DelimiterMode) -> DelimiterCodec {
    DelimiterCodec::new(delimiters.iter().copied(), max_length)
        .unwrap()
        .delimiter_mode(mode)
}

/// The documented rule, naively: a frame ends at the (start, delimiter) pair with the
/// smallest start, then the longest delimiter; a start is only decided once no longer
/// delimiter could still match there; more than `max` bytes with no possible start within
/// the first `max + 1` is an error.
fn delimiter_model(delimiters: &[&[u8]], max: usize, mode: DelimiterMode, input: &[u8]) -> Outcome {
    let mut frames = Vec::new();
    // The current frame starts at `pos`; `start` is the candidate delimiter start.
    let mut pos = 0;
    let mut start = 0;
    while start < input.len() || start - pos > max {
        if start - pos > max {
            return Outcome {
                frames,
                end: End::Error(CodecErrorKind::FrameTooLong { limit: max }),
            };
        }
        let rest = &input[start..];
        let could_grow = delimiters
            .iter()
            .any(|d| d.len() > rest.len() && d.starts_with(rest));
        if could_grow {
            break;
        }
        let longest = delimiters
            .iter()
            .filter(|d| rest.starts_with(d))
            .map(|d| d.len())
            .max();
        match longest {
            Some(len) => {
                let content_end = match mode {
                    DelimiterMode::Keep => start + len,
                    DelimiterMode::Strip => start,
                };
                frames.push(Bytes::copy_from_slice(&input[pos..content_end]));
                pos = start + len;
                start = pos;
            }
            None => start += 1,
        }
    }
    Outcome {
        frames,
        end: End::Rest(input[pos..].to_vec()),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn delimiter_small_inputs_any_split(
        delimiters in delimiter_set(),
        max in 0usize..10,
        mode in delimiter_mode(),
        input in delimiter_input(40),
    ) {
        let make = || delimiter_codec(delimiters, max, mode);
        assert_every_split_point_gives_the_same_frames_and_errors(make, &input, CodecError::kind);
        prop_assert_eq!(
            run(&mut make(), [&input[..]]),
            delimiter_model(delimiters, max, mode, &input)
        );
    }

    #[test]
    fn delimiter_large_inputs_random_cuts(
        delimiters in delimiter_set(),
        max in prop_oneof![0usize..8, 8usize..400],
        mode in delimiter_mode(),
        input in delimiter_input(3000),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let make = || delimiter_codec(delimiters, max, mode);
        assert_cut_invariant(make, &input, &cuts);
        prop_assert_eq!(
            run(&mut make(), [&input[..]]),
            delimiter_model(delimiters, max, mode, &input)
        );
    }

    #[test]
    fn delimiter_round_trip(
        delimiters in delimiter_set(),
        mode in delimiter_mode(),
        messages in prop::collection::vec(plain_message(16), 0..20),
    ) {
        let mut codec = delimiter_codec(delimiters, 16, mode);
        let mut wire = BytesMut::new();
        for message in &messages {
            codec.encode(&message[..], &mut wire).unwrap();
        }
        let frames = run_to_eof(&mut delimiter_codec(delimiters, 16, mode), &wire).unwrap();
        let expected: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| match mode {
                DelimiterMode::Keep => [&m[..], delimiters[0]].concat(),
                DelimiterMode::Strip => m.clone(),
            })
            .collect();
        prop_assert_eq!(frames, expected);
    }

    #[test]
    fn delimiter_bounded_buffer(
        delimiters in delimiter_set(),
        max in 0usize..32,
        mode in delimiter_mode(),
        prefix in delimiter_input(64),
        extra in 1usize..8,
    ) {
        let longest = delimiters.iter().map(|d| d.len()).max().unwrap();
        // Some frames, then an oversize one and its delimiter.
        let oversize = [&prefix[..], b"\n", &vec![b'x'; max + extra], delimiters[0]].concat();
        let mut codec = delimiter_codec(delimiters, max, mode);
        let (outcome, peak) = peak_buffer_byte_by_byte(&mut codec, &oversize);
        prop_assert_eq!(outcome.end, End::Error(CodecErrorKind::FrameTooLong { limit: max }));
        prop_assert!(peak <= max + longest, "peak {} > {} + {}", peak, max, longest);

        let mut codec = delimiter_codec(delimiters, max, mode);
        let (_, peak) = peak_buffer_byte_by_byte(&mut codec, &prefix);
        prop_assert!(peak <= max + longest, "peak {} > {} + {}", peak, max, longest);
    }
}

// ---------------------------------------------------------------------------------------
// LengthFieldCodec and LengthPrepender

#[derive(Debug, Clone)]
struct Layout {
    offset: usize,
    width: usize,
    endianness: Endianness,
    adjustment: isize,
    strip: usize,
    max: usize,
}

impl Layout {
    fn codec(&self) -> LengthFieldCodec {
        LengthFieldCodec::builder(self.max)
            .length_field_offset(self.offset)
            .length_field_width(self.width)
            .endianness(self.endianness)
            .length_adjustment(self.adjustment)
            .initial_bytes_to_strip(self.strip)
            .build()
            .unwrap()
    }

    fn header(&self) -> usize {
        self.offset + self.width
    }

    /// Writes one frame the way the documentation describes it: `offset` filler bytes, a
    /// field whose value plus the adjustment is the length of `body`, then `body`. Returns
    /// the frame and what the decoder should yield for it.
    fn frame(&self, body: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let value = (body.len() as isize - self.adjustment) as u64;
        let field = match self.endianness {
            Endianness::Big => value.to_be_bytes()[8 - self.width..].to_vec(),
            Endianness::Little => value.to_le_bytes()[..self.width].to_vec(),
        };
        let frame = [&vec![0xa5; self.offset][..], &field, body].concat();
        let expected = frame[self.strip..].to_vec();
        (frame, expected)
    }
}

fn endianness() -> impl Strategy<Value = Endianness> {
    prop_oneof![Just(Endianness::Big), Just(Endianness::Little)]
}

fn width() -> impl Strategy<Value = usize> {
    select(&[1usize, 2, 3, 4, 8][..])
}

/// Layouts whose frames (bodies of up to 100 bytes) always fit the field and the maximum.
fn layout() -> impl Strategy<Value = Layout> {
    (0usize..4, width(), endianness(), -4isize..=4).prop_flat_map(
        |(offset, width, endianness, adjustment)| {
            let header = offset + width;
            (0..=header).prop_map(move |strip| Layout {
                offset,
                width,
                endianness,
                adjustment,
                strip,
                max: header + 100,
            })
        },
    )
}

/// Bodies long enough for the layout's adjustment (the field value must not be negative).
fn bodies(layout: &Layout, count: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    let min = layout.adjustment.max(0) as usize;
    prop::collection::vec(prop::collection::vec(any::<u8>(), min..=100), 0..count)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn length_field_frames_match_the_layout(
        (layout, bodies, trailing, cuts) in layout().prop_flat_map(|layout| {
            let bodies = bodies(&layout, 6);
            (Just(layout), bodies, prop::collection::vec(any::<u8>(), 0..12),
             prop::collection::vec(any::<usize>(), 0..30))
        })
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for body in &bodies {
            let (frame, yielded) = layout.frame(body);
            input.extend_from_slice(&frame);
            expected.push(Bytes::from(yielded));
        }
        let whole = run(&mut layout.codec(), [&input[..]]);
        prop_assert_eq!(&whole.frames, &expected);
        prop_assert_eq!(&whole.end, &End::Rest(Vec::new()));
        assert_cut_invariant(|| layout.codec(), &input, &cuts);

        // Arbitrary trailing bytes may start a frame, or be an error; either way the
        // chunking does not matter.
        input.extend_from_slice(&trailing);
        assert_cut_invariant(|| layout.codec(), &input, &cuts);
    }

    #[test]
    fn length_field_small_inputs_any_split(
        layout in layout(),
        input in prop::collection::vec(select(&[0u8, 1, 2, 3, 0x80, 0xff][..]), 0..40),
    ) {
        let layout = Layout { max: layout.header() + 6, ..layout };
        assert_every_split_point_gives_the_same_frames_and_errors(
            || layout.codec(),
            &input,
            CodecError::kind,
        );
    }

    #[test]
    fn length_prepender_round_trip(
        width in width(),
        endianness in endianness(),
        adjustment in -8isize..=8,
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 8..200), 0..10),
    ) {
        let mut prepender = LengthPrepender::new(width)
            .unwrap()
            .endianness(endianness)
            .length_adjustment(adjustment);
        let mut wire = BytesMut::new();
        for message in &messages {
            prepender.encode(Bytes::copy_from_slice(message), &mut wire).unwrap();
        }
        let mut codec = LengthFieldCodec::builder(width + 200)
            .length_field_width(width)
            .endianness(endianness)
            .length_adjustment(-adjustment)
            .initial_bytes_to_strip(width)
            .build()
            .unwrap();
        prop_assert_eq!(run_to_eof(&mut codec, &wire).unwrap(), messages);
    }

    #[test]
    fn length_field_bounded_buffer(
        layout in layout(),
        over in 1usize..20,
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 4..20), 0..3),
    ) {
        // One byte over the maximum, or more.
        let layout = Layout { max: layout.header() + 24, ..layout };
        let too_long_body = vec![7u8; 24 + over];
        let mut input = Vec::new();
        for body in bodies.iter().chain([&too_long_body]) {
            input.extend_from_slice(&layout.frame(body).0);
        }
        let (outcome, peak) = peak_buffer_byte_by_byte(&mut layout.codec(), &input);
        prop_assert_eq!(outcome.frames.len(), bodies.len());
        prop_assert_eq!(
            outcome.end,
            End::Error(CodecErrorKind::FrameTooLong { limit: layout.max })
        );
        prop_assert!(peak <= layout.max, "peak {} > max {}", peak, layout.max);
    }
}

// ---------------------------------------------------------------------------------------
// FixedLengthCodec, BytesCodec, LineCodec

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fixed_any_split_and_round_trip(
        length in 1usize..8,
        input in prop::collection::vec(any::<u8>(), 0..40),
        message_seed in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let make = || FixedLengthCodec::new(length).unwrap();
        assert_every_split_point_gives_the_same_frames_and_errors(make, &input, CodecError::kind);
        let whole = run(&mut make(), [&input[..]]);
        prop_assert!(whole.frames.iter().all(|f| f.len() == length));
        prop_assert_eq!(whole.frames.len(), input.len() / length);

        let messages: Vec<&[u8]> = message_seed.chunks_exact(length).collect();
        let mut wire = BytesMut::new();
        for message in &messages {
            make().encode(*message, &mut wire).unwrap();
        }
        prop_assert_eq!(run_to_eof(&mut make(), &wire).unwrap(), messages);

        let (_, peak) = peak_buffer_byte_by_byte(&mut make(), &input);
        prop_assert!(peak <= length);
        let wrong = vec![0u8; length + 1];
        prop_assert!(make().encode(&wrong[..], &mut wire).is_err());
    }

    #[test]
    fn bytes_chunks_concatenate_to_the_input(
        max in 1usize..16,
        input in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut wire = BytesMut::new();
        BytesCodec::new(max).unwrap().encode(&input[..], &mut wire).unwrap();
        prop_assert_eq!(&wire[..], &input[..]);
        let outcome = run(&mut BytesCodec::new(max).unwrap(), cut(&input, &cuts));
        prop_assert!(outcome.frames.iter().all(|f| !f.is_empty() && f.len() <= max));
        prop_assert_eq!(outcome.frames.concat(), input.clone());
        prop_assert_eq!(outcome.end, End::Rest(Vec::new()));
        let (_, peak) = peak_buffer_byte_by_byte(&mut BytesCodec::new(max).unwrap(), &input);
        prop_assert!(peak <= 1);
    }

    #[test]
    fn line_any_split_round_trip_and_bound(
        max in 0usize..12,
        input in prop::collection::vec(select(&b"ab\r\n"[..]), 0..40),
        messages in prop::collection::vec(plain_message(12), 0..10),
    ) {
        assert_every_split_point_gives_the_same_frames_and_errors(
            || LineCodec::new(max),
            &input,
            CodecError::kind,
        );
        let (_, peak) = peak_buffer_byte_by_byte(&mut LineCodec::new(max), &input);
        prop_assert!(peak <= max + 1);

        let mut wire = BytesMut::new();
        for message in &messages {
            LineCodec::new(12).encode(&message[..], &mut wire).unwrap();
        }
        let frames = run_to_eof(&mut LineCodec::new(12), &wire).unwrap();
        let expected: Vec<Vec<u8>> = messages.iter().map(|m| [&m[..], b"\n"].concat()).collect();
        prop_assert_eq!(frames, expected);
    }
}

// ---------------------------------------------------------------------------------------
// RespCodec and RespRequestEncoder

fn resp_limits(max_bulk_len: usize) -> RespLimits {
    RespLimits {
        max_bulk_len,
        max_args: 6,
        max_inline_len: 24,
        max_request_len: 200,
    }
}

/// Streams rich in RESP material: valid pieces, quotes, stray markers and line ends.
fn resp_input(max_tokens: usize) -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"*1\r\n", b"*2\r\n", b"*0\r\n", b"*-1\r\n", b"$1\r\n", b"$0\r\n", b"$3\r\n", b"$9\r\n",
        b"a", b"bc", b"\r\n", b"\n", b" ", b"\"", b"'", b"\\", b"*", b"$", b"-", b"PING", b"x\"y",
        b"\r",
    ];
    prop::collection::vec(select(TOKENS), 0..max_tokens).prop_map(|t| t.concat())
}

/// Argument lists of bytes that often look like RESP themselves.
fn resp_requests(count: usize) -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let arg = prop::collection::vec(select(&b"ab*$\r\n \"\x00\xff"[..]), 0..12);
    prop::collection::vec(prop::collection::vec(arg, 1..6), 0..count)
}

fn resp_wire(requests: &[Vec<Vec<u8>>]) -> BytesMut {
    let mut wire = BytesMut::new();
    for request in requests {
        RespRequestEncoder.encode(&request[..], &mut wire).unwrap();
    }
    wire
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn resp_small_inputs_any_split(input in resp_input(14), max_bulk in 0usize..6) {
        assert_every_split_point_gives_the_same_frames_and_errors(
            || RespCodec::new(resp_limits(max_bulk)),
            &input,
            CodecError::kind,
        );
    }

    #[test]
    fn resp_large_inputs_random_cuts(
        requests in resp_requests(40),
        noise in resp_input(20),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut input = resp_wire(&requests).to_vec();
        let make = || RespCodec::new(resp_limits(12));
        assert_cut_invariant(make, &input, &cuts);
        input.extend_from_slice(&noise);
        assert_cut_invariant(make, &input, &cuts);
    }

    #[test]
    fn resp_round_trip(requests in resp_requests(20)) {
        let wire = resp_wire(&requests);
        let frames = run_to_eof(&mut RespCodec::new(resp_limits(12)), &wire).unwrap();
        prop_assert_eq!(frames, requests);
    }

    #[test]
    fn resp_oversize_is_rejected_on_its_header(
        requests in resp_requests(4),
        max_bulk in 0usize..12,
        over in 1usize..1000,
    ) {
        // Valid requests, then one whose last argument is over the limit; only the header
        // of that argument is sent: the error must not wait for its bytes.
        let mut input = resp_wire(&requests).to_vec();
        input.extend_from_slice(format!("*2\r\n$1\r\nx\r\n${}\r\n", max_bulk + over).as_bytes());
        let limits = resp_limits(max_bulk.max(12));
        let limits = RespLimits { max_bulk_len: max_bulk, ..limits };
        let valid = requests.iter().filter(|r| r.iter().all(|a| a.len() <= max_bulk)).count();
        let (outcome, peak) = peak_buffer_byte_by_byte(&mut RespCodec::new(limits), &input);
        if valid == requests.len() {
            prop_assert_eq!(outcome.end, End::Error(CodecErrorKind::FrameTooLong { limit: max_bulk }));
        } else {
            prop_assert!(matches!(outcome.end, End::Error(_)));
        }
        prop_assert!(peak <= limits.max_request_len, "peak {}", peak);

        // An inline line: the buffer never holds more than the limit plus its `\n`.
        let line = vec![b'x'; limits.max_inline_len + over];
        let (outcome, peak) = peak_buffer_byte_by_byte(&mut RespCodec::new(limits), &line);
        prop_assert_eq!(
            outcome.end,
            End::Error(CodecErrorKind::FrameTooLong { limit: limits.max_inline_len })
        );
        prop_assert!(peak <= limits.max_inline_len + 1);
    }
}

// ---------------------------------------------------------------------------------------
// HttpCodec and HttpRequestEncoder

fn http_limits() -> HttpLimits {
    HttpLimits {
        max_head_len: 96,
        max_headers: 4,
        max_body_len: 8,
        max_target_len: 12,
        max_chunk_line_len: 12,
    }
}

/// Streams rich in HTTP material: request lines, fields, bodies, stray line ends.
fn http_input(max_tokens: usize) -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"POST /p HTTP/1.0\n",
        b"GET /x HTTP/1.1\r\nHost: h\r\n",
        b"Host: h\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: 9\r\n",
        b"X: y\r\n",
        b"Connection: close\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Expect: 100-continue\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"CONNECT h:1 HTTP/1.1\r\n",
        b"GET /aaaaaaaaaaaaaaaa",
        b"Host: h/p\r\n",
        b"3;x=y\r\n",
        b"0\r\n",
        b"abc\r\n",
        b"T: v\r\n",
        b"\r\n",
        b"\n",
        b"abc",
        b" ",
        b":",
        b"\r",
    ];
    prop::collection::vec(select(TOKENS), 0..max_tokens).prop_map(|t| t.concat())
}

fn http_request() -> impl Strategy<Value = HttpRequest> {
    let method = select(&["GET", "POST", "PUT", "X-CUSTOM"][..]);
    let target = "/[a-z0-9/?=&%]{0,10}";
    let version = prop_oneof![Just(Version::Http10), Just(Version::Http11)];
    let field = ("[A-Za-z][A-Za-z0-9-]{0,6}", "[ -~]{0,8}")
        .prop_filter("no framing fields", |(n, _)| {
            !["host", "content-length", "transfer-encoding"].contains(&&*n.to_ascii_lowercase())
        })
        .prop_map(|(n, v)| (n, v.trim_matches(' ').to_string()));
    let fields = prop::collection::vec(field, 0..3);
    let body = prop::collection::vec(any::<u8>(), 0..=8);
    (method, target, version, fields, body).prop_map(|(method, target, version, fields, body)| {
        let mut request = HttpRequest::new(method, target, version).with_header("Host", "h");
        for (name, value) in fields {
            request = request.with_header(name, value);
        }
        request.with_body(body)
    })
}

fn http_wire(requests: &[HttpRequest]) -> BytesMut {
    let mut wire = BytesMut::new();
    for request in requests {
        HttpRequestEncoder.encode(request, &mut wire).unwrap();
    }
    wire
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn http_small_inputs_any_split(input in http_input(8)) {
        assert_every_split_point_gives_the_same_frames_and_errors(
            || HttpCodec::new(http_limits()),
            &input,
            CodecError::kind,
        );
    }

    #[test]
    fn http_large_inputs_random_cuts(
        requests in prop::collection::vec(http_request(), 0..20),
        noise in http_input(10),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut input = http_wire(&requests).to_vec();
        let make = || HttpCodec::new(HttpLimits { max_head_len: 256, ..http_limits() });
        assert_cut_invariant(make, &input, &cuts);
        input.extend_from_slice(&noise);
        assert_cut_invariant(make, &input, &cuts);
    }

    #[test]
    fn http_round_trip(requests in prop::collection::vec(http_request(), 0..10)) {
        let wire = http_wire(&requests);
        let make = || HttpCodec::new(HttpLimits { max_head_len: 256, ..http_limits() });
        let decoded = run_to_eof(&mut make(), &wire).unwrap();
        let expected: Vec<HttpRequest> = requests
            .into_iter()
            .map(|r| {
                if r.body().is_empty() {
                    r
                } else {
                    let len = r.body().len().to_string();
                    r.with_header("Content-Length", len)
                }
            })
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn http_oversize_is_rejected_early(
        requests in prop::collection::vec(http_request(), 0..3),
        over in 1usize..200,
    ) {
        let limits = HttpLimits { max_head_len: 256, ..http_limits() };
        let prefix = http_wire(&requests).to_vec();

        // A header section that never ends: rejected once max_head_len bytes are buffered.
        let mut input = prefix.clone();
        input.extend_from_slice(b"GET / HTTP/1.1\r\nX: ");
        input.extend(std::iter::repeat_n(b'v', limits.max_head_len + over));
        let (outcome, peak) = peak_buffer_byte_by_byte(&mut HttpCodec::new(limits), &input);
        prop_assert_eq!(outcome.frames.len(), requests.len());
        prop_assert_eq!(
            outcome.end,
            End::Error(CodecErrorKind::HeadersTooLarge { limit: limits.max_head_len })
        );
        prop_assert!(peak <= limits.max_head_len, "peak {}", peak);

        // A body over the limit: rejected on the header, before any body byte.
        let mut input = prefix;
        input.extend_from_slice(
            format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", 8 + over)
                .as_bytes(),
        );
        let outcome = run(&mut HttpCodec::new(limits), input.chunks(1));
        prop_assert_eq!(outcome.frames.len(), requests.len());
        prop_assert_eq!(outcome.end, End::Error(CodecErrorKind::FrameTooLong { limit: 8 }));
    }
}

/// A chunked request with `body` cut into chunks of `sizes` (cycled; a size 0 ends the
/// chunks early), each chunk-size line with an extension when `ext`, then `trailers`.
fn chunked_wire(body: &[u8], sizes: &[usize], ext: bool, trailers: usize) -> Vec<u8> {
    let mut wire = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = body;
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let ext = if ext { ";e=\"v\"" } else { "" };
        wire.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
        wire.extend_from_slice(&rest[..n]);
        wire.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    wire.extend_from_slice(b"0\r\n");
    for i in 0..trailers {
        wire.extend_from_slice(format!("T{i}: v\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

proptest! {
    #![proptest_config(config())]

    /// RFC 9112 §7.1: a chunked body decodes to its data however the stream is split, and
    /// buffers no more than the decoded body and one chunk-size line (or the head).
    #[test]
    fn http_chunked_bodies_at_every_split_point(
        body in prop::collection::vec(any::<u8>(), 0..40),
        sizes in prop::collection::vec(0usize..12, 1..6),
        ext in any::<bool>(),
        trailers in 0usize..3,
        then_get in any::<bool>(),
    ) {
        let limits = HttpLimits {
            max_head_len: 256,
            max_body_len: 40,
            max_chunk_line_len: 16,
            ..http_limits()
        };
        let make = || HttpCodec::new(limits);
        let mut input = chunked_wire(&body, &sizes, ext, trailers);
        if then_get {
            input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        }
        let whole = assert_every_split_point_gives_the_same_frames_and_errors(
            make,
            &input,
            CodecError::kind,
        );
        prop_assert!(whole.error.is_none(), "{:?}", whole.error);
        prop_assert!(whole.rest.is_empty());
        prop_assert_eq!(whole.frames.len(), 1 + usize::from(then_get));
        prop_assert_eq!(&whole.frames[0].body()[..], &body[..]);

        let (outcome, peak) = peak_buffer_byte_by_byte(&mut make(), &input);
        prop_assert_eq!(outcome.frames, whole.frames);
        prop_assert!(peak <= limits.max_head_len.max(body.len() + limits.max_chunk_line_len) + 1);
    }

    /// A chunked body over `max_body_len` fails on the size that passes it, however split.
    #[test]
    fn http_chunked_oversize_is_rejected_on_the_size(
        body in prop::collection::vec(any::<u8>(), 9..30),
        sizes in prop::collection::vec(1usize..12, 1..6),
    ) {
        let input = chunked_wire(&body, &sizes, false, 0);
        let whole = assert_every_split_point_gives_the_same_frames_and_errors(
            || HttpCodec::new(http_limits()),
            &input,
            CodecError::kind,
        );
        prop_assert_eq!(whole.error.map(|e| e.kind()), Some(CodecErrorKind::FrameTooLong { limit: 8 }));
    }
}

proptest! {
    #![proptest_config(config())]

    /// With continue heads on, however the stream is cut: each head yielded early is
    /// followed by the same request complete, and the complete requests are those decoded
    /// without the option (RFC 9110 §10.1.1).
    #[test]
    fn http_continue_heads_only_add_heads(
        requests in prop::collection::vec(http_request(), 0..8),
        expect in prop::collection::vec(any::<bool>(), 8),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let requests: Vec<HttpRequest> = requests
            .into_iter()
            .zip(&expect)
            .map(|(r, &e)| if e { r.with_header("Expect", "100-continue") } else { r })
            .collect();
        let wire = http_wire(&requests);
        let limits = HttpLimits { max_head_len: 256, ..http_limits() };
        let plain = run(&mut HttpCodec::new(limits), [&wire[..]]);
        let with = run(&mut HttpCodec::new(limits).with_continue_heads(true), cut(&wire, &cuts));
        prop_assert_eq!(&with.end, &plain.end);
        let mut complete = Vec::new();
        let mut pending: Option<HttpRequest> = None;
        for request in with.frames {
            if request.awaits_continue() {
                prop_assert!(request.expects_continue() && request.body().is_empty());
                prop_assert!(pending.replace(request).is_none());
            } else {
                if let Some(head) = pending.take() {
                    prop_assert_eq!(head.headers(), request.headers());
                    prop_assert!(!request.body().is_empty());
                }
                complete.push(request);
            }
        }
        prop_assert_eq!(complete, plain.frames);
    }
}

/// The helpers themselves: `cut` keeps every byte, in order.
#[test]
fn cut_covers_the_input() {
    let input = b"abcdef";
    let cuts = [3, 0, 13];
    let pieces = cut(input, &cuts);
    assert_eq!(pieces.concat(), input);
    assert_eq!(pieces, vec![&b"abc"[..], b"def"]);
}

// ---------------------------------------------------------------------------------------
// RespReplyCodec

fn reply_value() -> impl Strategy<Value = weft_codec::RespValue> {
    use weft_codec::RespValue;
    let text = "[a-zA-Z0-9 ]{0,12}".prop_map(|s| Bytes::from(s.into_bytes()));
    let leaf = prop_oneof![
        text.clone().prop_map(RespValue::Simple),
        text.clone().prop_map(RespValue::Error),
        any::<i64>().prop_map(RespValue::Integer),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| RespValue::Bulk(b.into())),
        Just(RespValue::Null),
        Just(RespValue::Nil),
        any::<bool>().prop_map(RespValue::Boolean),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(weft_codec::RespValue::Array),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(weft_codec::RespValue::Set),
            proptest::collection::vec((inner.clone(), inner), 0..3)
                .prop_map(weft_codec::RespValue::Map),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    /// Replies written by the server-side encoder decode back to themselves, whatever the
    /// reads' boundaries.
    #[test]
    fn resp_replies_round_trip_over_any_cuts(
        values in proptest::collection::vec(reply_value(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = BytesMut::new();
        for v in &values {
            RespCodec::new(RespLimits::default()).encode(v, &mut wire).unwrap();
        }
        let got = run(&mut weft_codec::RespReplyCodec::default(), cut(&wire, &cuts));
        prop_assert_eq!(got.frames, values);
        prop_assert_eq!(got.end, End::Rest(Vec::new()));
    }

    /// Garbage never panics, and never leaves more than the reply limit buffered.
    #[test]
    fn resp_reply_garbage_is_bounded(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let limits = weft_codec::ReplyLimits { max_reply_len: 64, ..Default::default() };
        let (_, peak) = peak_buffer_byte_by_byte(&mut weft_codec::RespReplyCodec::new(limits), &input);
        prop_assert!(peak <= 65, "peak {}", peak);
    }
}
