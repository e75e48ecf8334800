//! The [`Encoder`] trait: messages in, bytes out.

use bytes::BytesMut;

/// Writes messages of type `Item` as bytes.
///
/// The framework hands `encode` the connection's outbound buffer; an encoder appends the
/// encoded form of `item` to `dst` and leaves what was already there untouched. One encoder
/// may implement `Encoder` for several item types (for instance both `Bytes` and `&[u8]`).
pub trait Encoder<Item> {
    /// The error returned when `item` cannot be encoded.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends the encoding of `item` to `dst`.
    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), Self::Error>;
}
