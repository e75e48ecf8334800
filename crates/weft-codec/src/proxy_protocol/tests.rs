//! The decoder, field by field, and every way a header can be refused.

use super::*;

/// A version 2 header: signature, `version_command`, `family`, then `body` with its length.
fn v2(version_command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(version_command);
    out.push(family);
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn ipv4_block() -> Vec<u8> {
    let mut block = vec![192, 0, 2, 7, 198, 51, 100, 1];
    block.extend_from_slice(&51000u16.to_be_bytes());
    block.extend_from_slice(&443u16.to_be_bytes());
    block
}

fn tlv_bytes(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Decodes a complete header, checking on the way that every prefix of it is `Ok(None)`
/// and that bytes after it change nothing.
fn complete(bytes: &[u8]) -> ProxyHeader {
    for cut in 0..bytes.len() {
        assert_eq!(decode(&bytes[..cut]), Ok(None), "prefix of {cut} bytes");
    }
    let (header, len) = decode(bytes).unwrap().expect("complete");
    assert_eq!(len, bytes.len());
    let mut more = bytes.to_vec();
    more.extend_from_slice(b"\x00GET / HTTP/1.1\r\n\r\n");
    assert_eq!(decode(&more), Ok(Some((header.clone(), len))));
    header
}

/// Decodes bytes that must be refused; every prefix is `Ok(None)` or the same refusal.
fn refused(bytes: &[u8]) -> ProxyHeaderError {
    let err = decode(bytes).expect_err("refused");
    for cut in 0..bytes.len() {
        match decode(&bytes[..cut]) {
            Ok(None) => {}
            Ok(Some(h)) => panic!("prefix of {cut} bytes decoded as {h:?}"),
            Err(e) => assert_eq!(e.is_missing(), err.is_missing(), "prefix of {cut}"),
        }
    }
    err
}

#[test]
fn v1_tcp4_carries_every_field() {
    let header = complete(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n");
    assert_eq!(header.version(), ProxyVersion::V1);
    assert_eq!(header.command(), ProxyCommand::Proxy);
    assert_eq!(header.transport(), ProxyTransport::Stream);
    assert_eq!(header.source(), Some("1.2.3.4:1111".parse().unwrap()));
    assert_eq!(header.destination(), Some("5.6.7.8:2222".parse().unwrap()));
    assert_eq!(header.tlvs().count(), 0);
    assert_eq!(header.alpn(), None);
}

#[test]
fn v1_tcp6_and_the_limits_of_its_numbers() {
    let header = complete(b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n");
    assert_eq!(header.source(), Some("[2001:db8::1]:0".parse().unwrap()));
    assert_eq!(header.destination(), Some("[::1]:65535".parse().unwrap()));
    let header = complete(b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n");
    assert_eq!(
        header.source(),
        Some("255.255.255.255:65535".parse().unwrap())
    );
}

#[test]
fn v1_unknown_carries_no_addresses_and_ignores_the_rest_of_its_line() {
    for line in [
        &b"PROXY UNKNOWN\r\n"[..],
        b"PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n",
        b"PROXY UNKNOWN whatever the sender put here\r\n",
    ] {
        let header = complete(line);
        assert_eq!(header.command(), ProxyCommand::Proxy);
        assert_eq!(header.transport(), ProxyTransport::Unspecified);
        assert_eq!(header.source(), None);
        assert_eq!(header.destination(), None);
    }
}

#[test]
fn v1_is_at_most_107_bytes_with_its_crlf() {
    let longest = format!("PROXY UNKNOWN {}\r\n", "x".repeat(107 - 16));
    assert_eq!(longest.len(), V1_MAX_LEN);
    complete(longest.as_bytes());
    let over = format!("PROXY UNKNOWN {}\r\n", "x".repeat(107 - 15));
    assert!(refused(over.as_bytes()).is_too_long());
    // Refused once 107 bytes arrived without a CRLF, not later.
    let endless = format!("PROXY UNKNOWN {}", "x".repeat(200));
    assert_eq!(decode(&endless.as_bytes()[..106]), Ok(None));
    assert!(decode(&endless.as_bytes()[..107])
        .unwrap_err()
        .is_too_long());
}

#[test]
fn v1_grammar_errors_are_malformed() {
    for line in [
        &b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\n"[..], // a lone LF
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\rX",     // a CR without LF
        b"PROXY TCP4  1.2.3.4 5.6.7.8 1111 2222\r\n",   // two spaces
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 \r\n",   // a trailing space
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1111\r\n",         // a field missing
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 3\r\n",  // a field too many
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1111 2222\r\n",   // a leading zero
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01111 2222\r\n",   // a leading zero in a port
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2222\r\n",   // a port too large
        b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2222\r\n",      // a sign
        b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",        // an octet too large
        b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",            // three octets
        b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",              // IPv6 under TCP4
        b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",              // IPv4 under TCP6
        b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",          // lower case
        b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",          // no such family
        b"PROXY UNKNOWNX\r\n",
        b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", // a tab
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n",
        b"PROXY \xff\r\n",
        b"PROXY \r\n",
    ] {
        let err = refused(line);
        assert!(
            err.is_malformed(),
            "{:?}: {err:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn bytes_that_do_not_begin_a_header_are_missing_at_once() {
    for bytes in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"PUT / HTTP/1.1\r\n", // a `P`, then not `ROXY `
        b"PROXYTCP4",
        b"\r\nGET",  // a CR, then not the signature
        b"\x16\x03", // a TLS hello
        b"hello\n",
        b"\0",
    ] {
        let err = refused(bytes);
        assert!(err.is_missing(), "{bytes:?}");
    }
    // One byte is enough to know.
    assert!(decode(b"G").unwrap_err().is_missing());
    assert_eq!(decode(b"P"), Ok(None));
    assert_eq!(decode(b"\r"), Ok(None));
}

#[test]
fn v2_ipv4_carries_every_field() {
    let header = complete(&v2(0x21, 0x11, &ipv4_block()));
    assert_eq!(header.version(), ProxyVersion::V2);
    assert_eq!(header.command(), ProxyCommand::Proxy);
    assert_eq!(header.transport(), ProxyTransport::Stream);
    assert_eq!(header.source(), Some("192.0.2.7:51000".parse().unwrap()));
    assert_eq!(
        header.destination(),
        Some("198.51.100.1:443".parse().unwrap())
    );
    let header = complete(&v2(0x21, 0x12, &ipv4_block()));
    assert_eq!(header.transport(), ProxyTransport::Datagram);
}

#[test]
fn v2_ipv6_and_encode_v2_round_trip() {
    let source: SocketAddr = "[2001:db8::7]:51000".parse().unwrap();
    let destination: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    let header = complete(&encode_v2(source, destination));
    assert_eq!(header.source(), Some(source));
    assert_eq!(header.destination(), Some(destination));
    let source: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let header = complete(&encode_v2(source, "127.0.0.1:7000".parse().unwrap()));
    assert_eq!(header.source(), Some(source));
}

#[test]
fn v2_local_keeps_no_addresses_whatever_its_block_holds() {
    let header = complete(&v2(0x20, 0x00, &[]));
    assert_eq!(header.command(), ProxyCommand::Local);
    assert_eq!(header.transport(), ProxyTransport::Unspecified);
    assert_eq!(header.source(), None);
    // A LOCAL header with an address block (and an unassigned family) is still LOCAL: its
    // block is skipped as a whole.
    let header = complete(&v2(0x20, 0x11, &ipv4_block()));
    assert_eq!(header.source(), None);
    let header = complete(&v2(0x20, 0xff, b"anything"));
    assert_eq!(header.command(), ProxyCommand::Local);
    assert_eq!(header.tlvs().count(), 0);
}

#[test]
fn v2_unix_and_unspecified_families_fall_back_to_the_socket() {
    let header = complete(&v2(0x21, 0x31, &[b'/'; 216]));
    assert_eq!(header.transport(), ProxyTransport::Stream);
    assert_eq!(header.source(), None);
    let header = complete(&v2(0x21, 0x00, b"ignored"));
    assert_eq!(header.transport(), ProxyTransport::Unspecified);
    assert_eq!(header.source(), None);
    let header = complete(&v2(0x21, 0x10, &ipv4_block()));
    assert_eq!(header.source(), None);
}

#[test]
fn v2_tlvs_are_read_in_order() {
    let mut body = ipv4_block();
    body.extend(tlv_bytes(tlv::ALPN, b"h2"));
    body.extend(tlv_bytes(tlv::AUTHORITY, b"example.com"));
    body.extend(tlv_bytes(tlv::NOOP, &[]));
    body.extend(tlv_bytes(tlv::UNIQUE_ID, &[7; 128]));
    body.extend(tlv_bytes(0xE0, b"custom"));
    body.extend(tlv_bytes(tlv::ALPN, b"second"));
    let header = complete(&v2(0x21, 0x11, &body));
    assert_eq!(header.source(), Some("192.0.2.7:51000".parse().unwrap()));
    assert_eq!(header.alpn(), Some(&b"h2"[..]), "the first of its type");
    assert_eq!(header.authority(), Some("example.com"));
    assert_eq!(header.unique_id(), Some(&[7; 128][..]));
    assert_eq!(header.tlv(0xE0), Some(&b"custom"[..]));
    assert_eq!(header.tlv(tlv::NOOP), Some(&b""[..]));
    assert_eq!(header.tlv(tlv::SSL), None);
    let kinds: Vec<u8> = header.tlvs().map(|t| t.kind()).collect();
    assert_eq!(kinds, [1, 2, 4, 5, 0xE0, 1]);

    let mut body = ipv4_block();
    body.extend(tlv_bytes(tlv::AUTHORITY, b"\xff\xfe"));
    let header = complete(&v2(0x21, 0x11, &body));
    assert_eq!(header.authority(), None, "not UTF-8");
    assert_eq!(header.tlv(tlv::AUTHORITY), Some(&b"\xff\xfe"[..]));
}

#[test]
fn v2_tlvs_cut_short_are_malformed() {
    for tail in [&[0x01][..], &[0x01, 0x00], &[0x01, 0x00, 0x03, b'h', b'2']] {
        let mut body = ipv4_block();
        body.extend_from_slice(tail);
        assert!(refused(&v2(0x21, 0x11, &body)).is_malformed(), "{tail:?}");
    }
}

#[test]
fn v2_crc32c_is_verified() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    let mut body = ipv4_block();
    body.extend(tlv_bytes(tlv::AUTHORITY, b"example.com"));
    body.extend(tlv_bytes(tlv::CRC32C, &[0; 4]));
    let mut bytes = v2(0x21, 0x11, &body);
    let crc = crc32c(&bytes);
    let at = bytes.len() - 4;
    bytes[at..].copy_from_slice(&crc.to_be_bytes());
    let header = complete(&bytes);
    assert_eq!(header.authority(), Some("example.com"));
    bytes[at] ^= 1;
    assert!(refused(&bytes).is_malformed());
    let mut body = ipv4_block();
    body.extend(tlv_bytes(tlv::CRC32C, &[0; 3]));
    assert!(refused(&v2(0x21, 0x11, &body)).is_malformed());
}

#[test]
fn v2_bad_version_command_family_and_short_blocks_are_malformed_at_once() {
    // Known from byte 13 or 14 on, before the length or the body arrive.
    for (version_command, family) in [(0x11, 0x11), (0x31, 0x11), (0x22, 0x11), (0x2f, 0x11)] {
        let bytes = v2(version_command, family, &ipv4_block());
        assert!(decode(&bytes[..13]).unwrap_err().is_malformed());
    }
    for family in [0x41, 0x13, 0xf1] {
        let bytes = v2(0x21, family, &ipv4_block());
        assert!(
            decode(&bytes[..14]).unwrap_err().is_malformed(),
            "{family:#x}"
        );
    }
    assert!(refused(&v2(0x21, 0x11, &ipv4_block()[..11])).is_malformed());
    assert!(refused(&v2(0x21, 0x21, &ipv4_block())).is_malformed());
    assert!(refused(&v2(0x21, 0x31, &[0; 215])).is_malformed());
}

#[test]
fn v2_over_its_cap_is_refused_as_soon_as_the_length_arrives() {
    let mut body = ipv4_block();
    body.extend(tlv_bytes(0xE0, &vec![0; V2_MAX_LEN - 16 - 12 - 3]));
    let largest = v2(0x21, 0x11, &body);
    assert_eq!(largest.len(), V2_MAX_LEN);
    assert_eq!(decode(&largest).unwrap().unwrap().1, V2_MAX_LEN);
    let mut bytes = V2_SIGNATURE.to_vec();
    bytes.extend_from_slice(&[0x21, 0x11]);
    bytes.extend_from_slice(&u16::try_from(V2_MAX_LEN - 16 + 1).unwrap().to_be_bytes());
    assert!(decode(&bytes).unwrap_err().is_too_long());
    assert_eq!(decode(&bytes[..15]), Ok(None));
    bytes[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(decode(&bytes).unwrap_err().is_too_long());
}

#[test]
fn errors_say_what_is_wrong() {
    let err = decode(b"GET /").unwrap_err();
    assert_eq!(err.to_string(), "not a PROXY protocol header");
    let err = decode(b"PROXY TCP4 1.2.3.4\n").unwrap_err();
    assert!(err.to_string().contains("version 1"), "{err}");
}

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
