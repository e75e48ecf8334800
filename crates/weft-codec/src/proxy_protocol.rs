//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a proxy or load balancer
//! sends first on a connection it opens to a backend, carrying the real client's address.
//!
//! [`decode`] reads one header from the front of a connection's first bytes (what a server
//! behind a balancer does; weft's `ServerBuilder::proxy_protocol` calls it before any byte
//! reaches the pipeline); [`encode_v2`] writes one (what a proxy sends, such as weft's
//! `proxy` sample with `--proxy-protocol-out`). The formats, from HAProxy's specification
//! (`doc/proxy-protocol.txt`):
//!
//! ```text
//! version 1, one line of printable US-ASCII, at most 107 bytes with its CRLF:
//!   PROXY TCP4 <src ip> <dst ip> <src port> <dst port>\r\n      (TCP6 the same, IPv6)
//!   PROXY UNKNOWN[ anything]\r\n                             (use the socket's addresses)
//!
//! version 2, binary:
//!   12 bytes  signature  \r\n\r\n\0\r\nQUIT\n
//!    1 byte   version 2 (high nibble) | command (low nibble: 0 LOCAL, 1 PROXY)
//!    1 byte   address family (high: 0 unspec, 1 IPv4, 2 IPv6, 3 unix)
//!             | transport (low: 0 unspec, 1 stream, 2 datagram)
//!    2 bytes  length of what follows, big-endian
//!   IPv4: src addr (4), dst addr (4), src port (2), dst port (2)          = 12 bytes
//!   IPv6: src addr (16), dst addr (16), src port (2), dst port (2)        = 36 bytes
//!   unix: src path (108), dst path (108)                                  = 216 bytes
//!   then TLVs to the end: type (1), length (2, big-endian), value
//! ```
//!
//! # What [`decode`] accepts
//!
//! * The first byte decides: `P` starts version 1, `\r` version 2, anything else is not a
//!   PROXY header ([`ProxyHeaderError::is_missing`]). A header is recognised, or refused, as
//!   early as its bytes allow: a wrong signature byte, version, command or family is an error
//!   at once, without waiting for the rest.
//! * Version 1: exactly the grammar above (single spaces, IPv4 as four decimal numbers
//!   without leading zeros, ports without leading zeros, IPv6 as the standard library parses
//!   it); a lone CR or LF, or a byte that is not printable, is malformed; no CRLF within 107
//!   bytes is too long. `UNKNOWN` ignores the rest of the line and carries no addresses.
//! * Version 2: `LOCAL` (a balancer's own connection, such as a health check) carries no
//!   addresses, whatever its address block holds, and its TLVs are not read. `PROXY` over
//!   IPv4 or IPv6 carries both addresses; over unix sockets or an unspecified family or
//!   transport it carries none (the receiver falls back to the socket's, as the
//!   specification allows), and only the first two have TLVs read. TLVs must tile the rest
//!   of the header exactly; a `CRC32C` TLV is verified.
//! * Size: a version 2 header may declare up to 16 + 65,535 bytes, but [`decode`] refuses
//!   one over [`V2_MAX_LEN`] (16 + 4,096) as too long, as soon as its length field arrives.
//!   The TLVs real senders add (ALPN, the authority, a 128-byte unique id, TLS details, a
//!   cloud endpoint id) come to a few hundred bytes; 4 KiB leaves ample room while keeping
//!   what a server buffers for a connection that has not yet said who it is to one page,
//!   not 64 KiB. [`MAX_LEN`] is the most any header takes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, CRLF included (`PROXY UNKNOWN` with two full IPv6
/// addresses and ports, as the specification counts it).
pub const V1_MAX_LEN: usize = 107;

/// The longest version 2 header [`decode`] accepts: the 16 fixed bytes and 4 KiB of
/// addresses and TLVs (see the module docs for why not the 64 KiB the format allows).
pub const V2_MAX_LEN: usize = 16 + 4096;

/// The most bytes any header [`decode`] accepts takes: what a server may have to buffer
/// before it knows.
pub const MAX_LEN: usize = V2_MAX_LEN;

/// The TLV types the specification registers (section 2.2), for [`ProxyHeader::tlv`].
pub mod tlv {
    /// Application-Layer Protocol Negotiation: the protocol in use (TLS ALPN's bytes).
    pub const ALPN: u8 = 0x01;
    /// The host name the client asked for (TLS SNI, say), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// A CRC32c of the whole header, computed with this field zeroed; verified by
    /// [`decode`](super::decode).
    pub const CRC32C: u8 = 0x03;
    /// Padding, to be ignored.
    pub const NOOP: u8 = 0x04;
    /// An opaque id of the connection (at most 128 bytes), for correlating logs.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS details of the client's connection (a client byte, a verify word, sub-TLVs).
    pub const SSL: u8 = 0x20;
    /// The network namespace's name, US-ASCII.
    pub const NETNS: u8 = 0x30;
}

/// Which format a header was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// The human-readable line.
    V1,
    /// The binary format.
    V2,
}

/// What a header says of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyCommand {
    /// Version 2 `LOCAL`: the proxy opened the connection for itself (a health check); its
    /// endpoints are the socket's own.
    Local,
    /// The connection is relayed on behalf of a client (version 1 always says this).
    Proxy,
}

/// The transport a header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyTransport {
    /// A stream (TCP; version 1's `TCP4` and `TCP6`).
    Stream,
    /// Datagrams (UDP).
    Datagram,
    /// Unspecified (version 1 `UNKNOWN`, version 2 `LOCAL` or an unspecified transport).
    Unspecified,
}

/// One decoded PROXY protocol header.
///
/// ```
/// use weft_codec::proxy_protocol::{decode, ProxyCommand, ProxyVersion};
///
/// let bytes = b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\nGET / HTTP/1.1\r\n";
/// let (header, len) = decode(bytes).unwrap().expect("complete");
/// assert_eq!(len, 45); // what follows is the client's first bytes
/// assert_eq!(header.version(), ProxyVersion::V1);
/// assert_eq!(header.command(), ProxyCommand::Proxy);
/// assert_eq!(header.source(), Some("192.0.2.7:51000".parse().unwrap()));
/// assert_eq!(header.destination(), Some("198.51.100.1:443".parse().unwrap()));
///
/// // Not complete yet: `None`, and the caller waits for more bytes.
/// assert_eq!(decode(&bytes[..20]).unwrap(), None);
/// // Not a PROXY header at all.
/// assert!(decode(b"GET / HTTP/1.1\r\n").unwrap_err().is_missing());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    version: ProxyVersion,
    command: ProxyCommand,
    transport: ProxyTransport,
    /// Source and destination, when the header carries addresses weft can represent.
    addresses: Option<(SocketAddr, SocketAddr)>,
    /// The TLV area, validated (each TLV complete, together exactly this long).
    tlvs: Vec<u8>,
}

impl ProxyHeader {
    /// The format it was sent in.
    pub fn version(&self) -> ProxyVersion {
        self.version
    }

    /// `LOCAL` or `PROXY`.
    pub fn command(&self) -> ProxyCommand {
        self.command
    }

    /// The transport it announces.
    pub fn transport(&self) -> ProxyTransport {
        self.transport
    }

    /// The client's address: `None` for a `LOCAL` header, version 1 `UNKNOWN`, and version 2
    /// headers over unix sockets or an unspecified family (the connection's own addresses
    /// stand then).
    pub fn source(&self) -> Option<SocketAddr> {
        self.addresses.map(|(source, _)| source)
    }

    /// The address the client connected to (the proxy's, usually); `None` when
    /// [`source`](ProxyHeader::source) is.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.addresses.map(|(_, destination)| destination)
    }

    /// Every TLV, in the order sent (version 2 only; empty otherwise).
    pub fn tlvs(&self) -> Tlvs<'_> {
        Tlvs { rest: &self.tlvs }
    }

    /// The value of the first TLV of type `kind` (see [`tlv`](mod@tlv) for the registered
    /// types; the custom range is `0xE0..=0xEF`).
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs().find(|t| t.kind() == kind).map(|t| t.value())
    }

    /// The `ALPN` TLV: the application protocol, as TLS negotiated it (`h2`, say).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(tlv::ALPN)
    }

    /// The `AUTHORITY` TLV: the host name the client asked for; `None` if absent or not
    /// UTF-8 (the bytes are still in [`tlv`](ProxyHeader::tlv)).
    pub fn authority(&self) -> Option<&str> {
        std::str::from_utf8(self.tlv(tlv::AUTHORITY)?).ok()
    }

    /// The `UNIQUE_ID` TLV: the proxy's id of this connection.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(tlv::UNIQUE_ID)
    }
}

/// The TLVs of a header ([`ProxyHeader::tlvs`]).
#[derive(Debug, Clone)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        // The area was validated by `decode`: every TLV is whole.
        let (kind, value, rest) = split_tlv(self.rest)?;
        self.rest = rest;
        Some(Tlv { kind, value })
    }
}

/// One type-length-value field of a version 2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    kind: u8,
    value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Its type (see [`tlv`](mod@tlv)).
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// Its value.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }
}

/// The first TLV of `area` and what follows it; `None` if `area` is empty or the TLV is
/// cut short.
fn split_tlv(area: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let [kind, hi, lo, rest @ ..] = area else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    (rest.len() >= len).then(|| (*kind, &rest[..len], &rest[len..]))
}

/// Why [`decode`] refused the bytes. The connection that sent them must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeaderError {
    kind: ErrorKind,
    detail: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Missing,
    Malformed,
    TooLong,
}

impl ProxyHeaderError {
    fn missing() -> Self {
        ProxyHeaderError {
            kind: ErrorKind::Missing,
            detail: "not a PROXY protocol header",
        }
    }

    fn malformed(detail: &'static str) -> Self {
        ProxyHeaderError {
            kind: ErrorKind::Malformed,
            detail,
        }
    }

    fn too_long(detail: &'static str) -> Self {
        ProxyHeaderError {
            kind: ErrorKind::TooLong,
            detail,
        }
    }

    /// The bytes do not begin like any PROXY header (a client that connected directly,
    /// say): the first byte is neither version 1's `P` nor version 2's signature.
    pub fn is_missing(&self) -> bool {
        self.kind == ErrorKind::Missing
    }

    /// The header is longer than [`decode`] accepts ([`V1_MAX_LEN`], [`V2_MAX_LEN`]).
    pub fn is_too_long(&self) -> bool {
        self.kind == ErrorKind::TooLong
    }

    /// It began as a header but breaks the format (neither missing nor too long).
    pub fn is_malformed(&self) -> bool {
        self.kind == ErrorKind::Malformed
    }
}

impl fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail)
    }
}

impl std::error::Error for ProxyHeaderError {}

/// Decodes the PROXY header at the front of `buf`: `Ok(Some((header, len)))` once it is
/// complete (`len` bytes; what follows is the connection's own data), `Ok(None)` while
/// every byte so far could still begin a valid header (read more; never once `buf` holds
/// [`MAX_LEN`] bytes), or an error as soon as the bytes cannot be one.
///
/// The outcome does not depend on how the bytes arrive: a prefix of a valid header is
/// `Ok(None)`, and bytes after a complete header do not change it.
pub fn decode(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    match buf.first() {
        None => Ok(None),
        Some(b'P') => decode_v1(buf),
        Some(b'\r') => decode_v2(buf),
        Some(_) => Err(ProxyHeaderError::missing()),
    }
}

const V1_PREFIX: &[u8] = b"PROXY ";

fn decode_v1(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    let seen = buf.len().min(V1_PREFIX.len());
    if buf[..seen] != V1_PREFIX[..seen] {
        // "P" then anything but "ROXY ": some other protocol (an HTTP `PUT`, say).
        return Err(ProxyHeaderError::missing());
    }
    for (i, &byte) in buf.iter().enumerate().take(V1_MAX_LEN) {
        match byte {
            b'\r' if i + 2 > V1_MAX_LEN => break,
            b'\r' => {
                return match buf.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => parse_v1(&buf[..i]).map(|header| Some((header, i + 2))),
                    Some(_) => Err(ProxyHeaderError::malformed(
                        "a CR not followed by LF in a version 1 header",
                    )),
                };
            }
            b' '..=b'~' => {}
            _ => {
                return Err(ProxyHeaderError::malformed(
                    "a byte that is not printable US-ASCII in a version 1 header",
                ))
            }
        }
    }
    if buf.len() >= V1_MAX_LEN {
        return Err(ProxyHeaderError::too_long(
            "no CRLF within the 107 bytes of a version 1 header",
        ));
    }
    Ok(None)
}

/// Parses a version 1 line without its CRLF (printable ASCII, starting `PROXY `).
fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    let bad = || ProxyHeaderError::malformed("a version 1 header that breaks the grammar");
    let line = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut fields = line[V1_PREFIX.len()..].split(' ');
    let family = fields.next().ok_or_else(bad)?;
    let v6 = match family {
        "UNKNOWN" => {
            return Ok(ProxyHeader {
                version: ProxyVersion::V1,
                command: ProxyCommand::Proxy,
                transport: ProxyTransport::Unspecified,
                addresses: None,
                tlvs: Vec::new(),
            })
        }
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(bad()),
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(bad());
    };
    let ip = |text: &str| -> Result<IpAddr, ProxyHeaderError> {
        if v6 {
            text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad())
        } else {
            parse_v1_ipv4(text).map(IpAddr::V4).ok_or_else(bad)
        }
    };
    let port = |text: &str| parse_v1_number(text, 5).and_then(|n| u16::try_from(n).ok());
    let source = SocketAddr::new(ip(src)?, port(sport).ok_or_else(bad)?);
    let destination = SocketAddr::new(ip(dst)?, port(dport).ok_or_else(bad)?);
    Ok(ProxyHeader {
        version: ProxyVersion::V1,
        command: ProxyCommand::Proxy,
        transport: ProxyTransport::Stream,
        addresses: Some((source, destination)),
        tlvs: Vec::new(),
    })
}

/// A decimal number of 1 to `max_digits` digits, without a leading zero (but `0` itself).
fn parse_v1_number(text: &str, max_digits: usize) -> Option<u32> {
    let digits = text.as_bytes();
    if digits.is_empty() || digits.len() > max_digits || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    text.parse().ok()
}

/// Four decimal numbers of 0 to 255, without leading zeros, separated by single dots.
fn parse_v1_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        *octet = u8::try_from(parse_v1_number(parts.next()?, 3)?).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

fn decode_v2(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    let seen = buf.len().min(V2_SIGNATURE.len());
    if buf[..seen] != V2_SIGNATURE[..seen] {
        // A CR then anything but the signature: not a header (a stray blank line, say).
        return Err(ProxyHeaderError::missing());
    }
    let Some(&version_command) = buf.get(12) else {
        return Ok(None);
    };
    if version_command >> 4 != 2 {
        return Err(ProxyHeaderError::malformed(
            "a version 2 signature with a version other than 2",
        ));
    }
    let command = match version_command & 0x0f {
        0 => ProxyCommand::Local,
        1 => ProxyCommand::Proxy,
        _ => {
            return Err(ProxyHeaderError::malformed(
                "an unassigned version 2 command",
            ))
        }
    };
    let Some(&family_transport) = buf.get(13) else {
        return Ok(None);
    };
    let (family, transport) = (family_transport >> 4, family_transport & 0x0f);
    if command == ProxyCommand::Proxy && (family > 3 || transport > 2) {
        return Err(ProxyHeaderError::malformed(
            "an unassigned version 2 address family or transport",
        ));
    }
    let Some(len) = buf.get(14..16) else {
        return Ok(None);
    };
    let total = 16 + usize::from(u16::from_be_bytes([len[0], len[1]]));
    if total > V2_MAX_LEN {
        return Err(ProxyHeaderError::too_long(
            "a version 2 header longer than 16 + 4096 bytes",
        ));
    }
    let Some(header) = buf.get(..total) else {
        return Ok(None);
    };
    let body = &header[16..];
    if command == ProxyCommand::Local {
        // The block (family included) is to be skipped, whatever it holds.
        let local = ProxyHeader {
            version: ProxyVersion::V2,
            command,
            transport: ProxyTransport::Unspecified,
            addresses: None,
            tlvs: Vec::new(),
        };
        return Ok(Some((local, total)));
    }
    let transport = match transport {
        1 => ProxyTransport::Stream,
        2 => ProxyTransport::Datagram,
        _ => ProxyTransport::Unspecified,
    };
    let address_len = match (family, transport) {
        (_, ProxyTransport::Unspecified) | (0, _) => None,
        (1, _) => Some(12),
        (2, _) => Some(36),
        _ => Some(216), // unix sockets
    };
    let Some(address_len) = address_len else {
        // An unspecified family or transport: the addresses are to be ignored, and so is
        // what follows them (their length is unknown).
        let unspecified = ProxyHeader {
            version: ProxyVersion::V2,
            command,
            transport: ProxyTransport::Unspecified,
            addresses: None,
            tlvs: Vec::new(),
        };
        return Ok(Some((unspecified, total)));
    };
    if body.len() < address_len {
        return Err(ProxyHeaderError::malformed(
            "a version 2 address block shorter than its family needs",
        ));
    }
    let (block, tlvs) = body.split_at(address_len);
    let addresses = match family {
        1 => {
            let ip = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&block[at..at + 4]).unwrap());
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            Some((
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            ))
        }
        2 => {
            let ip = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&block[at..at + 16]).unwrap());
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            Some((
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            ))
        }
        _ => None, // unix socket paths: the connection's own addresses stand
    };
    check_tlvs(header, 16 + address_len)?;
    Ok(Some((
        ProxyHeader {
            version: ProxyVersion::V2,
            command,
            transport,
            addresses,
            tlvs: tlvs.to_vec(),
        },
        total,
    )))
}

/// Checks that the TLVs from `at` tile the rest of `header` exactly, and verifies a
/// `CRC32C` TLV over the whole header.
fn check_tlvs(header: &[u8], at: usize) -> Result<(), ProxyHeaderError> {
    let mut rest = &header[at..];
    let mut crc_at = None;
    while !rest.is_empty() {
        let Some((kind, value, tail)) = split_tlv(rest) else {
            return Err(ProxyHeaderError::malformed(
                "a version 2 TLV cut short by the header's length",
            ));
        };
        if kind == tlv::CRC32C {
            if value.len() != 4 {
                return Err(ProxyHeaderError::malformed(
                    "a CRC32C TLV whose value is not 4 bytes",
                ));
            }
            crc_at.get_or_insert(header.len() - rest.len() + 3);
        }
        rest = tail;
    }
    if let Some(at) = crc_at {
        let sent = u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let crc = crc32c_update(!0, &header[..at]);
        let crc = crc32c_update(crc, &[0; 4]);
        let crc = !crc32c_update(crc, &header[at + 4..]);
        if crc != sent {
            return Err(ProxyHeaderError::malformed(
                "a version 2 header whose CRC32C does not match",
            ));
        }
    }
    Ok(())
}

/// The CRC32c (Castagnoli, reflected polynomial 0x82F63B78) table, built at compile time.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Runs the CRC32c register `crc` over `bytes` (start with `!0`, finish with `!`).
fn crc32c_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    crc
}

/// The CRC32c of `bytes`, as the `CRC32C` TLV carries it.
///
/// ```
/// assert_eq!(weft_codec::proxy_protocol::crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(bytes: &[u8]) -> u32 {
    !crc32c_update(!0, bytes)
}

/// A version 2 `PROXY` header for a TCP connection from `source` (the client) to
/// `destination` (the address the client connected to). When one address is IPv4 and
/// the other IPv6, both are sent as IPv6 (the IPv4 one mapped).
///
/// ```
/// use weft_codec::proxy_protocol::{decode, encode_v2, V2_SIGNATURE};
///
/// let source = "192.0.2.7:51000".parse().unwrap();
/// let header = encode_v2(source, "198.51.100.1:443".parse().unwrap());
/// assert_eq!(header.len(), 16 + 12);
/// assert_eq!(&header[..12], &V2_SIGNATURE);
/// assert_eq!(header[12], 0x21); // version 2, PROXY
/// assert_eq!(header[13], 0x11); // IPv4, stream
/// assert_eq!(&header[16..20], &[192, 0, 2, 7]);
/// assert_eq!(&header[24..26], &51000u16.to_be_bytes());
/// assert_eq!(decode(&header).unwrap().unwrap().0.source(), Some(source));
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
mod tests;
