//! The PROXY protocol (HAProxy's, version 2): the header a proxy or load balancer sends
//! first on a connection it opens to a backend, carrying the real client's address.
//!
//! Only encoding is here for now (what a proxy sends, such as weft's `proxy` sample with
//! `--proxy-protocol-out`). The binary layout, from HAProxy's specification
//! (`doc/proxy-protocol.txt`, section 2.2):
//!
//! ```text
//!   12 bytes  signature  \r\n\r\n\0\r\nQUIT\n
//!    1 byte   version 2 (high nibble) | command (low nibble: 0 LOCAL, 1 PROXY)
//!    1 byte   address family (high: 1 IPv4, 2 IPv6) | transport (low: 1 stream)
//!    2 bytes  length of what follows, big-endian
//!   IPv4: src addr (4), dst addr (4), src port (2), dst port (2)          = 12 bytes
//!   IPv6: src addr (16), dst addr (16), src port (2), dst port (2)        = 36 bytes
//! ```

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// A version 2 `PROXY` header for a TCP connection from `source` (the client) to
/// `destination` (the address the client connected to). When one address is IPv4 and
/// the other IPv6, both are sent as IPv6 (the IPv4 one mapped).
///
/// ```
/// use weft_codec::proxy_protocol::{encode_v2, V2_SIGNATURE};
///
/// let header = encode_v2("192.0.2.7:51000".parse().unwrap(), "198.51.100.1:443".parse().unwrap());
/// assert_eq!(header.len(), 16 + 12);
/// assert_eq!(&header[..12], &V2_SIGNATURE);
/// assert_eq!(header[12], 0x21); // version 2, PROXY
/// assert_eq!(header[13], 0x11); // IPv4, stream
/// assert_eq!(&header[16..20], &[192, 0, 2, 7]);
/// assert_eq!(&header[24..26], &51000u16.to_be_bytes());
/// ```
pub fn encode_v2(source: SocketAddr, destination: SocketAddr) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + 36);
    out.put_slice(&V2_SIGNATURE);
    out.put_u8(0x21);
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            out.put_u8(0x11);
            out.put_u16(12);
            out.put_slice(&src.octets());
            out.put_slice(&dst.octets());
        }
        (src, dst) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.put_u8(0x21);
            out.put_u16(36);
            out.put_slice(&v6(src).octets());
            out.put_slice(&v6(dst).octets());
        }
    }
    out.put_u16(source.port());
    out.put_u16(destination.port());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_and_mixed_families_use_the_ipv6_layout() {
        let header = encode_v2(
            "[2001:db8::1]:1234".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
        );
        assert_eq!(header.len(), 16 + 36);
        assert_eq!(header[13], 0x21);
        assert_eq!(&header[14..16], &36u16.to_be_bytes());
        assert_eq!(
            &header[32..48],
            &"::ffff:127.0.0.1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!(&header[48..50], &1234u16.to_be_bytes());
        assert_eq!(&header[50..52], &80u16.to_be_bytes());
    }
}
