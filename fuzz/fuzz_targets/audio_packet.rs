//! Audio datagrams: [`AudioPacket::decode`]. A datagram that decodes has a payload within the
//! limit, encodes back to the same bytes, and keeps its track, stream, sequence number, capture
//! time and payload when the server stamps it (only the media id changes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use livestage_proto::media::{AudioPacket, MAX_AUDIO_PAYLOAD};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = AudioPacket::decode(data) else {
        return;
    };
    assert!(packet.payload.len() <= MAX_AUDIO_PAYLOAD);
    assert_eq!(packet.encode(), data);
    let mut stamped = data.to_vec();
    AudioPacket::stamp(&mut stamped, packet.media_id ^ 0x5a5a);
    let again = AudioPacket::decode(&stamped).expect("a stamped datagram decodes");
    assert_eq!(again.media_id, packet.media_id ^ 0x5a5a);
    let restored = AudioPacket {
        media_id: packet.media_id,
        ..again
    };
    assert_eq!(restored, packet, "stamping changed more than the media id");
});
