//! The line scan the tokio baselines share (`tokio-line-echo`, `tokio-rustls-echo`):
//! included by each with `#[path]`, so both frame exactly alike.

/// Initial read buffer capacity per connection.
pub(crate) const INITIAL_BUF: usize = 8 * 1024;
/// Free space made before a read when less than this is left.
pub(crate) const MIN_SPARE: usize = 1024;
/// The reply to a line longer than the limit.
pub(crate) const TOO_LONG: &[u8] = b"ERR line too long\n";

/// Finds where the complete lines in `buf` end, scanning for `\n` from `scanned` (the
/// bytes before it are known to hold none), and whether a line longer than `max_line`
/// (not counting its `\n`) was found, complete or not. Returns `(end of the last complete
/// line, too long)`; a too-long line stops the scan at the lines before it.
pub(crate) fn complete_lines(buf: &[u8], scanned: usize, max_line: usize) -> (usize, bool) {
    let mut line_start = 0;
    let mut from = scanned;
    while let Some(off) = memchr::memchr(b'\n', &buf[from..]) {
        let newline = from + off;
        if newline - line_start > max_line {
            return (line_start, true);
        }
        line_start = newline + 1;
        from = line_start;
    }
    (line_start, buf.len() - line_start > max_line)
}
