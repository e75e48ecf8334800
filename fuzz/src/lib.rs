//! Shared harness for the `weft_codec` fuzz targets.
//!
//! Every target reads its input as
//!
//! ```text
//!   config bytes (target-specific) | chunk spec | payload
//!   chunk spec = mode byte (bits 0-2: number of cut lengths n, bit 3: feed the remainder
//!                one byte at a time), then n bytes, each the length of one chunk
//! ```
//!
//! and feeds the payload to a fresh decoder twice: chunk by chunk, and in one piece.
//! [`feed`] checks the invariants every decoder shares; the targets compare the two runs and
//! check what is specific to their codec.

use weft_codec::{BytesMut, CodecError, Decoder, Detach};

/// The fuzz input, consumed from the front.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the raw fuzz input.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte, or 0 once the input is exhausted.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes as a little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Reads the chunk spec; returns the payload cut into chunks, and the whole payload.
    pub fn chunks(mut self) -> (Vec<&'a [u8]>, &'a [u8]) {
        let mode = self.byte();
        let cuts: Vec<usize> = (0..mode & 7).map(|_| usize::from(self.byte())).collect();
        let payload = self.data;
        let mut rest = payload;
        let mut chunks = Vec::new();
        for cut in cuts {
            // Empty chunks are kept: a decode call with no new bytes must be harmless.
            let (chunk, tail) = rest.split_at(cut.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        if mode & 8 != 0 {
            chunks.extend(rest.chunks(1));
        } else {
            chunks.push(rest);
        }
        (chunks, payload)
    }
}

/// What feeding a stream to a decoder produced: the frames in order (those from
/// `decode_eof` last), and the error that ended the stream, if any.
#[derive(Debug, PartialEq)]
pub struct Outcome<T> {
    /// Every frame yielded, by `decode` and then by `decode_eof`.
    pub frames: Vec<T>,
    /// The first error; nothing is fed after it.
    pub error: Option<CodecError>,
}

/// Feeds `chunks` to `codec` the way the framework does: append a chunk, call `decode`
/// until `Ok(None)`; at the end call `decode_eof` until `Ok(None)`. Stops at the first error.
///
/// Checks on the way:
/// * a frame always consumes at least one byte (otherwise the framework would spin);
/// * after `Ok(None)` the buffer holds at most `bound` bytes (the codec's documented bound
///   on what it buffers of one incomplete frame);
/// * after `decode_eof` returned `Ok(None)` the buffer is empty, or holds a frame in
///   progress, which the framework reports as truncated (and so does the outcome's error);
/// * `check(frame, consumed)` for every frame, with the bytes that call consumed.
pub fn feed<D, O, F>(codec: &mut D, chunks: &[&[u8]], bound: usize, mut check: F) -> Outcome<O>
where
    D: Decoder<Error = CodecError>,
    for<'f> D::Item<'f>: Detach<Owned = O>,
    F: FnMut(&O, usize),
{
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            // A frame may borrow `buf`: it is detached (copied, if lent) before `buf` is
            // looked at again.
            let step = match codec.decode(&mut buf) {
                Ok(Some(frame)) => Ok(Some(frame.detach())),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            };
            match step {
                Ok(Some(frame)) => {
                    assert!(buf.len() < before, "a frame consumed no bytes");
                    check(&frame, before - buf.len());
                    frames.push(frame);
                }
                Ok(None) => {
                    assert!(buf.len() <= before, "decode grew the buffer");
                    assert!(
                        buf.len() <= bound,
                        "{} bytes buffered after Ok(None), bound {bound}",
                        buf.len()
                    );
                    break;
                }
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                    }
                }
            }
        }
    }
    loop {
        let before = buf.len();
        let step = match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => Ok(Some(frame.detach())),
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        match step {
            Ok(Some(frame)) => {
                assert!(buf.len() < before, "a frame at eof consumed no bytes");
                check(&frame, before - buf.len());
                frames.push(frame);
            }
            Ok(None) => {
                // The framework's end-of-stream rule: a frame in progress is truncated.
                let truncated = codec.frame_in_progress(&buf);
                assert!(
                    truncated || buf.is_empty(),
                    "decode_eof left {} bytes that are no frame in progress",
                    buf.len()
                );
                return Outcome {
                    frames,
                    error: truncated.then(CodecError::truncated),
                };
            }
            Err(error) => {
                return Outcome {
                    frames,
                    error: Some(error),
                }
            }
        }
    }
}

/// Feeds `chunks` and the whole payload to two fresh codecs made by `make` and asserts both
/// runs yield the same frames and the same first error. Returns the chunked outcome.
pub fn feed_both<D, O, M, F>(
    make: M,
    chunks: &[&[u8]],
    payload: &[u8],
    bound: usize,
    mut check: F,
) -> Outcome<O>
where
    D: Decoder<Error = CodecError>,
    for<'f> D::Item<'f>: Detach<Owned = O>,
    O: PartialEq + std::fmt::Debug,
    M: Fn() -> D,
    F: FnMut(&O, usize),
{
    let chunked = feed(&mut make(), chunks, bound, &mut check);
    let whole = feed(&mut make(), &[payload], bound, &mut check);
    assert_eq!(chunked, whole, "chunked and whole feeds disagree");
    chunked
}
