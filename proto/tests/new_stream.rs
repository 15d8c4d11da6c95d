//! A publisher that unpublishes and publishes again (or restarts) starts a new stream whose
//! counters start at 0 again: receivers recognise it by its stream id, start their reordering
//! afresh, and drop stragglers of the stream it replaced.
#![allow(clippy::unwrap_used)]

use livestage_proto::media::{AudioPacket, ENDED_STREAMS, Layer, Stream, Streams, VideoHeader};
use livestage_proto::reorder::Reorder;

const WAIT_MS: u64 = 150;

fn drain(r: &mut Reorder<(u32, u64)>, now: u64) -> Vec<(u32, u64)> {
    std::iter::from_fn(|| r.pop(now)).collect()
}

/// Pushes frames `frames` of `stream` at `now` (the first one a keyframe).
fn push(r: &mut Reorder<(u32, u64)>, stream: u32, frames: std::ops::Range<u64>, now: u64) {
    let first = frames.start;
    for f in frames {
        r.push(stream, f, f == first, (stream, f), now);
    }
}

#[test]
fn a_new_stream_restarts_the_frame_numbering_at_once() {
    let mut r = Reorder::new(WAIT_MS);
    push(&mut r, 7, 0..45, 0);
    assert_eq!(drain(&mut r, 0).len(), 45);
    // Published again: frame 0 of a new stream is released at once, not taken as late.
    push(&mut r, 8, 0..3, 2_000);
    assert_eq!(drain(&mut r, 2_000), vec![(8, 0), (8, 1), (8, 2)]);
    assert_eq!(r.stream(), Some(8));
    assert_eq!(r.skipped(), 0);
}

#[test]
fn a_new_stream_does_not_wait_for_the_gap_of_the_old_one() {
    let mut r = Reorder::new(WAIT_MS);
    push(&mut r, 1, 0..5, 0);
    r.push(1, 6, false, (1, 6), 0); // 5 never comes: the stream ended.
    assert_eq!(drain(&mut r, 0).len(), 5);
    push(&mut r, 2, 0..2, 10);
    assert_eq!(
        drain(&mut r, 10),
        vec![(2, 0), (2, 1)],
        "no wait for frame 5"
    );
    assert_eq!(r.skipped(), 1, "the old stream's held frame is given up");
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn stragglers_of_a_replaced_stream_are_dropped() {
    let mut r = Reorder::new(WAIT_MS);
    push(&mut r, 1, 0..10, 0);
    drain(&mut r, 0);
    push(&mut r, 2, 0..2, 10);
    // A frame of the first stream that was still on its way arrives after the new one began.
    r.push(1, 10, false, (1, 10), 11);
    r.push(2, 2, false, (2, 2), 12);
    assert_eq!(drain(&mut r, 12), vec![(2, 0), (2, 1), (2, 2)]);
    assert_eq!(r.stream(), Some(2), "the straggler did not switch back");
}

#[test]
fn a_restarted_stream_is_ordered_within_itself() {
    let mut r = Reorder::new(WAIT_MS);
    push(&mut r, 1, 0..30, 0);
    drain(&mut r, 0);
    // The new stream starts like a first one, at the first frame that arrives; frame 1 of it
    // is overtaken by frame 2 and is waited for.
    r.push(2, 0, true, (2, 0), 100);
    r.push(2, 2, false, (2, 2), 100);
    assert_eq!(drain(&mut r, 100), vec![(2, 0)]);
    assert_eq!(r.poll_timeout(), Some(100 + WAIT_MS));
    r.push(2, 1, false, (2, 1), 110);
    assert_eq!(drain(&mut r, 110), vec![(2, 1), (2, 2)]);
    assert_eq!(r.skipped(), 0);
}

#[test]
fn streams_tells_current_new_and_ended_within_its_bound() {
    let mut s = Streams::new();
    assert_eq!(s.current(), None);
    assert_eq!(s.check(5), Stream::New);
    assert_eq!(s.check(5), Stream::Current);
    assert_eq!(s.check(6), Stream::New);
    assert_eq!(s.check(5), Stream::Ended);
    assert_eq!(s.current(), Some(6));
    // Only the last ENDED_STREAMS replaced streams are remembered: memory stays bounded.
    for id in 100..100 + ENDED_STREAMS as u32 {
        assert_eq!(s.check(id), Stream::New);
    }
    assert_eq!(s.check(6), Stream::Ended, "still remembered");
    assert_eq!(s.check(5), Stream::New, "forgotten: long gone");
}

#[test]
fn the_stream_id_travels_in_both_headers() {
    let header = VideoHeader {
        media_id: 0,
        track: 0,
        layer: Layer::High,
        stream: 0x0102_0304,
        frame: 0,
        keyframe: true,
        capture_us: 1,
    };
    let encoded = header.encode();
    assert_eq!(
        VideoHeader::decode(&encoded[2..]).unwrap().stream,
        0x0102_0304
    );
    let packet = AudioPacket {
        media_id: 0,
        track: 0,
        stream: 0xa0b0_c0d0,
        seq: 0,
        capture_us: 1,
        payload: b"opus",
    };
    let mut datagram = packet.encode();
    // The server stamps the publisher's media id without touching the rest.
    AudioPacket::stamp(&mut datagram, 42);
    let stamped = AudioPacket::decode(&datagram).unwrap();
    assert_eq!((stamped.media_id, stamped.stream), (42, 0xa0b0_c0d0));
    assert_eq!(stamped.payload, b"opus");
}
