//! Control frames as the control stream carries them: `wire::frame_len` on every length
//! prefix, then `wire::decode` of the body as a [`Hello`], a [`ClientFrame`] and a
//! [`ServerFrame`]. Whatever decodes must encode back to a frame that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livestage_proto::wire::{self, ClientFrame, Hello, ServerFrame};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes `body` as `T`; a value that decodes re-encodes to a frame that decodes to it.
fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(body: &[u8]) {
    if let Ok(msg) = wire::decode::<T>(body) {
        let frame = wire::encode(&msg);
        let prefix: [u8; 4] = frame[..4].try_into().expect("a frame starts with 4 bytes");
        assert_eq!(u32::from_be_bytes(prefix) as usize, frame.len() - 4);
        let again: T = wire::decode(&frame[4..]).expect("an encoded frame decodes");
        assert_eq!(again, msg);
    }
}

fuzz_target!(|data: &[u8]| {
    // The whole input as one body, as the state machines receive it.
    roundtrip::<Hello>(data);
    roundtrip::<ClientFrame>(data);
    roundtrip::<ServerFrame>(data);
    // The input as a stream of frames, as the transport splits it: prefix, limit, body.
    let mut rest = data;
    while let Some((prefix, after)) = rest.split_first_chunk::<4>() {
        let Ok(len) = wire::frame_len(*prefix) else {
            assert!(u32::from_be_bytes(*prefix) as usize > wire::MAX_FRAME);
            break;
        };
        assert!(len <= wire::MAX_FRAME);
        let Some((body, after)) = after.split_at_checked(len) else {
            break;
        };
        roundtrip::<ClientFrame>(body);
        roundtrip::<ServerFrame>(body);
        rest = after;
    }
});
