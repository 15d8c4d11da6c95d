//! The video stream prefix: type byte, header length, [`VideoHeader`] (the rest of the stream
//! is the encoded frame). `livestage_net::media::read_video` reads it from a QUIC stream and is
//! not reachable sans-IO, so this target applies the same checks to a byte buffer before
//! calling `VideoHeader::decode`, and also decodes the whole input as a header body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livestage_proto::media::{MAX_VIDEO_HEADER, STREAM_VIDEO, VideoHeader};

/// A header that decodes re-encodes to a prefix that fits and decodes to it.
fn roundtrip(body: &[u8]) {
    if let Ok(header) = VideoHeader::decode(body) {
        let prefix = header.encode();
        assert_eq!(prefix[0], STREAM_VIDEO);
        assert_eq!(usize::from(prefix[1]), prefix.len() - 2);
        assert!(
            prefix.len() - 2 <= MAX_VIDEO_HEADER,
            "{header:?} encodes too long"
        );
        assert_eq!(VideoHeader::decode(&prefix[2..]), Ok(header));
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip(data);
    let Some((&[kind, len], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    if kind != STREAM_VIDEO || usize::from(len) > MAX_VIDEO_HEADER {
        return;
    }
    // The payload after the header is the encoded frame, read up to MAX_VIDEO_FRAME bytes.
    let Some((header, _frame)) = rest.split_at_checked(usize::from(len)) else {
        return;
    };
    roundtrip(header);
});
