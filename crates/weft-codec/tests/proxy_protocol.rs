//! Properties of the PROXY protocol decoder, checked with proptest:
//!
//! * (a) the outcome does not depend on how the bytes arrive: every prefix of a complete
//!   header is `Ok(None)`, bytes after it change nothing, and every prefix of refused bytes
//!   is `Ok(None)` or refused too; it never needs more than `MAX_LEN` bytes to decide;
//! * (b) headers written from random addresses and TLVs (version 2 with `encode_v2` and by
//!   hand, version 1 as text) decode back to them;
//! * (c) arbitrary bytes never panic, and mostly begin no header.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use weft_codec::proxy_protocol::{
    decode, encode_v2, ProxyCommand, ProxyHeader, ProxyHeaderError, MAX_LEN, V2_SIGNATURE,
};

type Outcome = Result<Option<(ProxyHeader, usize)>, ProxyHeaderError>;

/// Checks (a) for `bytes` and returns its outcome.
fn consistent(bytes: &[u8]) -> Outcome {
    let outcome = decode(bytes);
    match &outcome {
        Ok(Some((_, len))) => {
            for cut in 0..*len {
                assert_eq!(decode(&bytes[..cut]), Ok(None), "prefix of {cut}");
            }
            for end in *len..bytes.len() {
                assert_eq!(decode(&bytes[..end]), outcome, "prefix of {end}");
            }
        }
        Ok(None) => assert!(
            bytes.len() < MAX_LEN,
            "undecided after {} bytes",
            bytes.len()
        ),
        Err(err) => {
            for cut in 0..bytes.len() {
                if let Err(early) = decode(&bytes[..cut]) {
                    assert_eq!(early.is_missing(), err.is_missing());
                } else {
                    assert_eq!(decode(&bytes[..cut]), Ok(None));
                }
            }
        }
    }
    outcome
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip.into(), port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip.into(), port)),
    ]
}

fn tlvs() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    // Any type but CRC32C (whose value must be the checksum).
    let kind = any::<u8>().prop_filter("not CRC32C", |&k| k != 0x03);
    proptest::collection::vec((kind, proptest::collection::vec(any::<u8>(), 0..40)), 0..6)
}

proptest! {
    #[test]
    fn encode_v2_decodes_back(source in socket_addr(), destination in socket_addr(),
                              tail in proptest::collection::vec(any::<u8>(), 0..20)) {
        let mut bytes = encode_v2(source, destination).to_vec();
        let len = bytes.len();
        bytes.extend_from_slice(&tail);
        let (header, used) = consistent(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, len);
        let canonical = |a: SocketAddr, other: SocketAddr| match (a.ip(), other.ip()) {
            (IpAddr::V4(v4), IpAddr::V6(_)) => SocketAddr::new(v4.to_ipv6_mapped().into(), a.port()),
            _ => a,
        };
        prop_assert_eq!(header.source(), Some(canonical(source, destination)));
        prop_assert_eq!(header.destination(), Some(canonical(destination, source)));
    }

    #[test]
    fn v2_tlvs_decode_back(tlvs in tlvs(), local in any::<bool>()) {
        let mut body = vec![10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x00, 0x50];
        for (kind, value) in &tlvs {
            body.push(*kind);
            body.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
            body.extend_from_slice(value);
        }
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[if local { 0x20 } else { 0x21 }, 0x11]);
        bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&body);
        let (header, _) = consistent(&bytes).unwrap().unwrap();
        if local {
            prop_assert_eq!(header.command(), ProxyCommand::Local);
            prop_assert_eq!(header.source(), None);
            prop_assert_eq!(header.tlvs().count(), 0);
        } else {
            prop_assert_eq!(header.source(), Some("10.0.0.1:8080".parse().unwrap()));
            let got: Vec<(u8, Vec<u8>)> =
                header.tlvs().map(|t| (t.kind(), t.value().to_vec())).collect();
            prop_assert_eq!(got, tlvs);
        }
    }

    #[test]
    fn v1_lines_decode_back(source in socket_addr(), dport in any::<u16>(),
                            tail in proptest::collection::vec(any::<u8>(), 0..20)) {
        let destination = match source.ip() {
            IpAddr::V4(_) => SocketAddr::new([10, 0, 0, 1].into(), dport),
            IpAddr::V6(_) => SocketAddr::new("2001:db8::1".parse::<IpAddr>().unwrap(), dport),
        };
        let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
        let line = format!("PROXY {family} {} {} {} {}\r\n",
            source.ip(), destination.ip(), source.port(), destination.port());
        let mut bytes = line.clone().into_bytes();
        bytes.extend_from_slice(&tail);
        let (header, used) = consistent(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, line.len());
        prop_assert_eq!(header.source(), Some(source));
        prop_assert_eq!(header.destination(), Some(destination));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = consistent(&bytes);
    }

    #[test]
    fn mutated_headers_never_panic(index in 0usize..40, byte in any::<u8>(),
                                   v1 in any::<bool>()) {
        let mut bytes = if v1 {
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nrest".to_vec()
        } else {
            let mut b = encode_v2("1.2.3.4:1111".parse().unwrap(), "5.6.7.8:2222".parse().unwrap()).to_vec();
            b.extend_from_slice(b"rest");
            b
        };
        let at = index % bytes.len();
        bytes[at] = byte;
        let _ = consistent(&bytes);
    }
}
