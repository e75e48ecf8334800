//! `proxy_protocol::decode`: no config bytes; chunk spec | payload.
//!
//! The framework reads a connection's first bytes until `decode` decides; this target does
//! the same chunk by chunk and compares with one call on the whole payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::proxy_protocol::{decode, encode_v2, ProxyVersion, MAX_LEN};
use weft_codec_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let (chunks, payload) = Input::new(data).chunks();
    let whole = decode(payload);

    // Chunk by chunk, stopping at the first decision, as a connection does.
    let mut buf = Vec::new();
    let mut chunked = Ok(None);
    for chunk in &chunks {
        buf.extend_from_slice(chunk);
        chunked = decode(&buf);
        if !matches!(chunked, Ok(None)) {
            break;
        }
    }
    match (&whole, &chunked) {
        // A decision on a prefix is the decision on the whole.
        (Ok(Some(a)), Ok(Some(b))) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.is_missing(), b.is_missing()),
        (_, Ok(None)) => assert!(buf.len() == payload.len(), "undecided before the end"),
        (whole, chunked) => panic!("whole {whole:?}, chunked {chunked:?}"),
    }
    if let Ok(None) = whole {
        assert!(
            payload.len() < MAX_LEN,
            "undecided after {} bytes",
            payload.len()
        );
    }

    if let Ok(Some((header, len))) = whole {
        assert!(len <= payload.len() && len <= MAX_LEN);
        // Every prefix shorter than the header is undecided.
        for cut in [0, len / 2, len - 1] {
            assert_eq!(decode(&payload[..cut]), Ok(None));
        }
        assert_eq!(header.source().is_some(), header.destination().is_some());
        // Re-encoding the addresses as version 2 gives them back (both of one family).
        if let (Some(source), Some(destination)) = (header.source(), header.destination()) {
            if source.is_ipv4() == destination.is_ipv4() {
                let again = encode_v2(source, destination);
                let (decoded, used) = decode(&again).unwrap().unwrap();
                assert_eq!(used, again.len());
                assert_eq!(decoded.source(), Some(source));
                assert_eq!(decoded.destination(), Some(destination));
                assert_eq!(decoded.version(), ProxyVersion::V2);
            }
        }
        // TLVs tile the area: iterating never stops early or reads past it.
        let total: usize = header.tlvs().map(|t| 3 + t.value().len()).sum();
        assert!(total <= len);
    }
});
