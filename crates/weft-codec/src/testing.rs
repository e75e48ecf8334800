//! Helpers for testing a [`Decoder`] on a bare [`BytesMut`]: no server, no socket.
//!
//! The framework appends what it reads to one buffer and calls
//! [`decode`](Decoder::decode) until `Ok(None)`; these helpers do the same, so a test sees
//! what a connection would:
//!
//! * [`decode_all`] feeds bytes in one piece and returns every frame;
//! * [`decode_chunked`] feeds them chunk by chunk, decoding all it can after each;
//! * [`decode_buffer`] decodes what a buffer holds and leaves the rest in it;
//! * [`assert_every_split_point_gives_the_same_frames`] checks that the frames do not depend
//!   on how the bytes were cut into reads, the bug a decoder is most likely to have (each
//!   place where it stops for more input is a place where one hides).
//!
//! They work with any [`Decoder`], not only this crate's, whose frames implement [`Detach`]:
//! they collect each frame's owned form (`Bytes` for a decoder that lends `&[u8]` lines, the
//! frame itself for one that yields owned frames).
//!
//! ```
//! use weft_codec::testing::{assert_every_split_point_gives_the_same_frames, decode_all};
//! use weft_codec::LineCodec;
//!
//! let input = b"one\ntwo\nthr";
//! let frames = decode_all(&mut LineCodec::new(16), input).unwrap();
//! assert_eq!(frames, vec![&b"one\n"[..], b"two\n"]);
//!
//! let whole = assert_every_split_point_gives_the_same_frames(|| LineCodec::new(16), input);
//! assert_eq!(whole.frames, frames);
//! assert_eq!(&whole.rest[..], b"thr");
//! ```

use std::fmt::Debug;

use bytes::BytesMut;

use crate::{Decoder, Detach};

/// Decodes every frame `buf` holds: calls [`decode`](Decoder::decode) until it returns
/// `Ok(None)` (or an error). What was not consumed stays in `buf`.
///
/// ```
/// use weft_codec::testing::decode_buffer;
/// use weft_codec::{BytesMut, LineCodec};
///
/// let mut codec = LineCodec::new(16);
/// let mut buf = BytesMut::from(&b"a\nb\nc"[..]);
/// assert_eq!(decode_buffer(&mut codec, &mut buf).unwrap(), vec![&b"a\n"[..], b"b\n"]);
/// assert_eq!(&buf[..], b"c");
/// buf.extend_from_slice(b"\n");
/// assert_eq!(decode_buffer(&mut codec, &mut buf).unwrap(), vec![&b"c\n"[..]]);
/// ```
pub fn decode_buffer<D: Decoder, F>(decoder: &mut D, buf: &mut BytesMut) -> Result<Vec<F>, D::Error>
where
    for<'f> D::Item<'f>: Detach<Owned = F>,
{
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(buf)? {
        frames.push(frame.detach());
    }
    Ok(frames)
}

/// Feeds `bytes` to `decoder` in one piece and decodes every frame. Bytes left over (a
/// partial frame) are dropped; use [`decode_buffer`] to look at them.
///
/// ```
/// use weft_codec::testing::decode_all;
/// use weft_codec::LineCodec;
///
/// let frames = decode_all(&mut LineCodec::new(16), b"a\nb\nc").unwrap();
/// assert_eq!(frames, vec![&b"a\n"[..], b"b\n"]);
/// assert!(decode_all(&mut LineCodec::new(2), b"a\nlong\n").is_err());
/// ```
pub fn decode_all<D: Decoder, F>(decoder: &mut D, bytes: &[u8]) -> Result<Vec<F>, D::Error>
where
    for<'f> D::Item<'f>: Detach<Owned = F>,
{
    decode_chunked(decoder, [bytes])
}

/// Feeds `chunks` to `decoder` one at a time, as successive reads from a socket, decoding
/// every frame it can after each. Stops at the first error.
///
/// ```
/// use weft_codec::testing::decode_chunked;
/// use weft_codec::LineCodec;
///
/// let chunks: [&[u8]; 3] = [b"a", b"\nb", b"\n"];
/// let frames = decode_chunked(&mut LineCodec::new(16), chunks).unwrap();
/// assert_eq!(frames, vec![&b"a\n"[..], b"b\n"]);
/// ```
pub fn decode_chunked<'a, D: Decoder, F>(
    decoder: &mut D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<F>, D::Error>
where
    for<'f> D::Item<'f>: Detach<Owned = F>,
{
    let decoded = decode_stream(decoder, chunks);
    match decoded.error {
        Some(error) => Err(error),
        None => Ok(decoded.frames),
    }
}

/// What feeding a stream to a decoder produced, as returned by
/// [`assert_every_split_point_gives_the_same_frames`].
#[derive(Debug)]
pub struct Decoded<T, E> {
    /// The frames, in order (those before the error, if there was one).
    pub frames: Vec<T>,
    /// The error that stopped decoding, if one did.
    pub error: Option<E>,
    /// What was left in the buffer: the start of a frame still arriving, or (after an
    /// error) whatever the decoder left there.
    pub rest: BytesMut,
}

/// Like [`decode_chunked`], keeping the frames before an error and the bytes left over.
fn decode_stream<'a, D: Decoder, F>(
    decoder: &mut D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded<F, D::Error>
where
    for<'f> D::Item<'f>: Detach<Owned = F>,
{
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let error = match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    frames.push(frame.detach());
                    continue;
                }
                Ok(None) => break,
                Err(error) => error,
            };
            return Decoded {
                frames,
                error: Some(error),
                rest: buf,
            };
        }
    }
    Decoded {
        frames,
        error: None,
        rest: buf,
    }
}

/// Asserts that `bytes` decode the same however they are cut into reads, and returns what
/// one read gives.
///
/// Each run uses a fresh decoder from `make_decoder`. The cuts tried are: two reads split
/// at every byte boundary (including an empty first or last read), three reads split at
/// every pair of boundaries, and one byte at a time. Each must give the same frames as one
/// read, end in an error exactly when one read does, and otherwise leave the same bytes in
/// the buffer. Errors are compared only by being errors; to compare them further, use
/// [`assert_every_split_point_gives_the_same_frames_and_errors`].
///
/// Three reads at every pair of boundaries take time cubic in the length of `bytes`: a few
/// hundred bytes are plenty.
///
/// # Panics
///
/// When a cut gives a different outcome; the message says which cut.
///
/// ```
/// use weft_codec::testing::assert_every_split_point_gives_the_same_frames;
/// use weft_codec::{Bytes, LineCodec};
///
/// let whole =
///     assert_every_split_point_gives_the_same_frames(|| LineCodec::new(4), b"ab\ncd\nef");
/// assert_eq!(whole.frames, vec![Bytes::from("ab\n"), Bytes::from("cd\n")]);
/// assert!(whole.error.is_none());
/// assert_eq!(&whole.rest[..], b"ef");
///
/// // An oversize line is an error however it arrives.
/// let whole = assert_every_split_point_gives_the_same_frames(|| LineCodec::new(4), b"ok\ntoo long\n");
/// assert_eq!(whole.frames.len(), 1);
/// assert!(whole.error.unwrap().is_frame_too_long());
/// ```
pub fn assert_every_split_point_gives_the_same_frames<D, F>(
    make_decoder: impl Fn() -> D,
    bytes: &[u8],
) -> Decoded<F, D::Error>
where
    D: Decoder,
    for<'f> D::Item<'f>: Detach<Owned = F>,
    F: PartialEq + Debug,
{
    assert_every_split_point_gives_the_same_frames_and_errors(make_decoder, bytes, |_| ())
}

/// [`assert_every_split_point_gives_the_same_frames`], and the errors must also agree in
/// `error_kind`: pass [`CodecError::kind`](crate::CodecError::kind) for this crate's
/// errors, or a clone of the error to compare it whole.
///
/// ```
/// use weft_codec::testing::assert_every_split_point_gives_the_same_frames_and_errors;
/// use weft_codec::{CodecError, CodecErrorKind, LineCodec};
///
/// let whole = assert_every_split_point_gives_the_same_frames_and_errors(
///     || LineCodec::new(4),
///     b"ok\ntoo long\n",
///     CodecError::kind,
/// );
/// assert_eq!(whole.error.unwrap().kind(), CodecErrorKind::FrameTooLong { limit: 4 });
/// ```
pub fn assert_every_split_point_gives_the_same_frames_and_errors<D, F, K>(
    make_decoder: impl Fn() -> D,
    bytes: &[u8],
    error_kind: impl Fn(&D::Error) -> K,
) -> Decoded<F, D::Error>
where
    D: Decoder,
    for<'f> D::Item<'f>: Detach<Owned = F>,
    F: PartialEq + Debug,
    K: PartialEq + Debug,
{
    let whole = decode_stream(&mut make_decoder(), [bytes]);
    // What must agree: the frames, the error's kind, and the rest when there was no error.
    let summary = |decoded: &Decoded<F, D::Error>| {
        let rest = match decoded.error {
            None => Some(decoded.rest.to_vec()),
            Some(_) => None,
        };
        (decoded.error.as_ref().map(&error_kind), rest)
    };
    let expected = summary(&whole);
    let check = |chunks: &[&[u8]], cut: &dyn Fn() -> String| {
        let decoded = decode_stream(&mut make_decoder(), chunks.iter().copied());
        assert_eq!(decoded.frames, whole.frames, "frames differ: {}", cut());
        assert_eq!(summary(&decoded), expected, "end differs: {}", cut());
    };
    // The simplest cuts first, so that a failure names the simplest one.
    for i in 0..=bytes.len() {
        let (head, tail) = bytes.split_at(i);
        check(&[head, tail], &|| format!("split at {i}"));
    }
    for i in 0..=bytes.len() {
        for j in i..=bytes.len() {
            let (head, rest) = bytes.split_at(i);
            let (middle, tail) = rest.split_at(j - i);
            check(&[head, middle, tail], &|| format!("split at {i} and {j}"));
        }
    }
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    check(&bytewise, &|| "byte by byte".to_string());
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CodecError, LineCodec};

    /// Yields everything buffered once at least two bytes are there: what it yields depends
    /// on how the input was cut.
    #[derive(Debug)]
    struct EverythingBuffered;

    impl Decoder for EverythingBuffered {
        type Item<'a> = BytesMut;
        type Error = CodecError;

        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
            if src.len() < 2 {
                return Ok(None);
            }
            Ok(Some(src.split()))
        }
    }

    #[test]
    fn decode_chunked_keeps_the_partial_frame_between_chunks() {
        let chunks: [&[u8]; 4] = [b"", b"ab", b"\nc", b"d\n"];
        let frames = decode_chunked(&mut LineCodec::new(8), chunks).unwrap();
        assert_eq!(frames, vec![&b"ab\n"[..], b"cd\n"]);
    }

    #[test]
    fn an_error_ends_decoding() {
        let err = decode_chunked(&mut LineCodec::new(2), [&b"a\nabc\nb\n"[..]]).unwrap_err();
        assert!(err.is_frame_too_long());
        let decoded = decode_stream(&mut LineCodec::new(2), [&b"a\nabc"[..], b"\nb\n"]);
        assert_eq!(decoded.frames, vec![&b"a\n"[..]]);
        assert!(decoded.error.is_some());
    }

    #[test]
    fn the_split_assertion_passes_for_a_correct_decoder() {
        let whole = assert_every_split_point_gives_the_same_frames_and_errors(
            || LineCodec::new(3),
            b"\nab\nabcd\n",
            CodecError::kind,
        );
        assert_eq!(whole.frames, vec![&b"\n"[..], b"ab\n"]);
        assert!(whole.error.unwrap().is_frame_too_long());
        // The empty input: one empty read, and nothing to split.
        let whole = assert_every_split_point_gives_the_same_frames(|| LineCodec::new(3), b"");
        assert!(whole.frames.is_empty() && whole.rest.is_empty());
    }

    #[test]
    #[should_panic(expected = "frames differ: split at 2")]
    fn the_split_assertion_catches_a_decoder_that_depends_on_the_cut() {
        assert_every_split_point_gives_the_same_frames(|| EverythingBuffered, b"xyz");
    }
}
