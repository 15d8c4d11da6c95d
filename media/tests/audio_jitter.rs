//! The jitter buffer reorders, drops duplicates and late packets, survives sequence wrap,
//! stays bounded, says which slots to decode, recover or conceal, and sets its delay by
//! how long lost slots waited for a packet to rebuild them.
#![allow(clippy::unwrap_used)]

use livestage_media::audio::jitter::{Arrival, CAPACITY, REBUFFER_AFTER, Stats};
use livestage_media::audio::{JitterBuffer, Slot};

const TARGET_MS: u64 = 60;

/// A payload that names its sequence number.
fn payload(seq: u32) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

fn packet(seq: u32) -> Option<Slot> {
    Some(Slot::Packet(payload(seq)))
}

fn recover(later_seq: u32, distance: u32) -> Option<Slot> {
    Some(Slot::Recover {
        later: payload(later_seq),
        distance,
    })
}

/// Pushes `seqs` at `now_ms` and checks each is buffered.
fn push_all(jitter: &mut JitterBuffer, seqs: &[u32], now_ms: u64) {
    for &seq in seqs {
        assert_eq!(
            jitter.push(seq, payload(seq), now_ms),
            Arrival::Buffered,
            "seq {seq}"
        );
    }
}

#[test]
fn playout_starts_after_the_target_delay() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    assert_eq!(jitter.pop(0), None, "nothing before the first packet");
    push_all(&mut jitter, &[0], 1_000);
    assert_eq!(jitter.pop(1_000), None);
    assert_eq!(jitter.pop(1_000 + TARGET_MS - 1), None);
    assert!(!jitter.is_playing());
    assert_eq!(jitter.pop(1_000 + TARGET_MS), packet(0));
    assert!(jitter.is_playing());
}

#[test]
fn reordered_packets_play_in_sequence_order() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &[2, 0, 3, 1], 0);
    // Playout starts at the lowest sequence number, not the first to arrive.
    let played: Vec<_> = (0..4).map(|i| jitter.pop(TARGET_MS + 20 * i)).collect();
    assert_eq!(played, vec![packet(0), packet(1), packet(2), packet(3)]);
    assert_eq!(jitter.stats().played, 4);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &[0, 1], 0);
    assert_eq!(
        jitter.push(1, payload(1), 5),
        Arrival::Duplicate,
        "copy of a buffered one"
    );
    assert_eq!(jitter.pop(TARGET_MS), packet(0));
    assert_eq!(
        jitter.push(0, payload(0), 70),
        Arrival::Duplicate,
        "copy of a played one"
    );
    assert_eq!(jitter.pop(TARGET_MS + 20), packet(1));
    assert_eq!(
        jitter.pop(TARGET_MS + 40),
        Some(Slot::Missing),
        "each packet plays once"
    );
    let stats = jitter.stats();
    assert_eq!((stats.received, stats.duplicates, stats.played), (4, 2, 2));
}

#[test]
fn late_packets_are_dropped_and_counted() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &[0, 2, 3], 0);
    assert_eq!(jitter.pop(TARGET_MS), packet(0));
    assert_eq!(
        jitter.pop(TARGET_MS + 20),
        recover(2, 1),
        "slot 1 is recovered from packet 2"
    );
    assert_eq!(jitter.push(1, payload(1), TARGET_MS + 25), Arrival::Late);
    assert_eq!(jitter.pop(TARGET_MS + 40), packet(2));
    assert_eq!(jitter.pop(TARGET_MS + 60), packet(3));
    let stats = jitter.stats();
    assert_eq!(
        (stats.late, stats.played, stats.recovered, stats.concealed),
        (1, 3, 1, 0)
    );
}

#[test]
fn a_missing_slot_comes_with_the_nearest_later_packet_else_is_concealed() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &[10, 13], 0);
    let slots: Vec<_> = (0..5).map(|i| jitter.pop(TARGET_MS + 20 * i)).collect();
    assert_eq!(
        slots,
        vec![
            packet(10),
            recover(13, 2),
            recover(13, 1),
            packet(13),
            Some(Slot::Missing)
        ]
    );
    let stats = jitter.stats();
    assert_eq!((stats.played, stats.recovered, stats.concealed), (2, 2, 1));
}

#[test]
fn sequence_numbers_wrap() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    let seqs = [u32::MAX - 1, u32::MAX, 0, 1, 2];
    // Arrive reordered across the wrap.
    push_all(&mut jitter, &[u32::MAX - 1, 0, u32::MAX, 2, 1], 0);
    for (i, &seq) in seqs.iter().enumerate() {
        assert_eq!(
            jitter.pop(TARGET_MS + 20 * i as u64),
            packet(seq),
            "slot {i}"
        );
    }
    // And a pre-wrap packet arriving now is late, not far in the future.
    assert_eq!(jitter.push(u32::MAX - 2, payload(0), 200), Arrival::Late);
    assert_eq!(jitter.push(3, payload(3), 200), Arrival::Buffered);
    assert_eq!(jitter.pop(TARGET_MS + 100), packet(3));
}

#[test]
fn the_buffer_is_bounded_and_keeps_the_newest() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &(0..120).collect::<Vec<_>>(), 0);
    assert_eq!(jitter.len(), CAPACITY);
    assert_eq!(jitter.stats().overflow, 120 - CAPACITY as u64);
    let first_kept = 120 - CAPACITY as u32;
    assert_eq!(jitter.pop(TARGET_MS), packet(first_kept));

    // While playing, a packet far ahead (a jump in numbering) moves playout to it instead
    // of concealing everything in between.
    push_all(&mut jitter, &[5_000], TARGET_MS);
    assert!(jitter.len() <= CAPACITY);
    assert_eq!(jitter.pop(TARGET_MS + 20), packet(5_000));
    assert_eq!(
        jitter.push(119, payload(119), TARGET_MS + 20),
        Arrival::Late
    );
}

#[test]
fn playout_stops_when_the_sender_stops_and_restarts_with_the_target_delay() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &[0], 0);
    assert_eq!(jitter.pop(TARGET_MS), packet(0));
    let mut now = TARGET_MS;
    for _ in 0..REBUFFER_AFTER {
        now += 20;
        assert_eq!(jitter.pop(now), Some(Slot::Missing));
    }
    assert!(!jitter.is_playing());
    assert_eq!(
        jitter.pop(now + 20),
        None,
        "silence, not endless concealment"
    );
    assert_eq!(jitter.stats().rebuffers, 1);

    // The sender resumes where it stopped: old packets are late, new ones wait the target
    // delay again.
    now += 1_000;
    assert_eq!(jitter.push(3, payload(3), now), Arrival::Late);
    push_all(&mut jitter, &[60], now);
    assert_eq!(jitter.pop(now + TARGET_MS - 1), None);
    assert_eq!(jitter.pop(now + TARGET_MS), packet(60));
}

#[test]
fn a_sender_that_restarts_its_numbering_is_followed_after_a_pause() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    push_all(&mut jitter, &[10_000], 0);
    assert_eq!(jitter.pop(TARGET_MS), packet(10_000));
    let mut now = TARGET_MS;
    while jitter.pop(now + 20).is_some() {
        now += 20;
    }
    now += 500;
    push_all(&mut jitter, &[0, 1], now);
    assert_eq!(jitter.pop(now + TARGET_MS), packet(0));
    assert_eq!(jitter.pop(now + TARGET_MS + 20), packet(1));
}

#[test]
fn every_slot_is_counted_once() {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    // 0..40 with every third lost, 1 and 7 duplicated, 19 arriving after its slot.
    let mut now = 0;
    let mut slots = 0;
    for seq in 0..40u32 {
        if seq % 3 != 2 && seq != 19 {
            jitter.push(seq, payload(seq), now);
        }
        if seq == 1 || seq == 7 {
            jitter.push(seq, payload(seq), now);
        }
        if seq == 30 {
            jitter.push(19, payload(19), now);
        }
        if jitter.pop(now).is_some() {
            slots += 1;
        }
        now += 20;
    }
    let Stats {
        received,
        late,
        duplicates,
        played,
        recovered,
        concealed,
        overflow,
        stretched,
        ..
    } = jitter.stats();
    assert_eq!(played + recovered + concealed + stretched, slots);
    // A third of the packets lost, but each slot had a packet to rebuild it from in time
    // (19's came late, but 21's was there): the delay did not need to grow.
    assert_eq!(stretched, 0);
    // Each lost packet had a later one buffered; a third of the sender's frames due were lost.
    assert_eq!(concealed, 0);
    let due = played + recovered;
    assert!(
        recovered.abs_diff(due / 3) <= 1,
        "{due} due, {recovered} recovered"
    );
    assert_eq!((late, duplicates, overflow), (1, 2, 0));
    let on_time = (0..40).filter(|s| s % 3 != 2 && *s != 19).count() as u64;
    assert_eq!(received, on_time + 2 + 1);
}

/// Runs a sender of one packet per 20 ms for `slots` slots through `lost` (by sequence
/// number), arriving `delay_of(seq)` ms late; returns the buffer and how many slots were
/// concealed after `settle` slots.
fn run(
    slots: u32,
    settle: u32,
    lost: impl Fn(u32) -> bool,
    delay_of: impl Fn(u32) -> u64,
) -> (JitterBuffer, u64) {
    let mut jitter = JitterBuffer::new(TARGET_MS);
    let mut arrivals: Vec<(u64, u32)> = (0..slots)
        .filter(|&seq| !lost(seq))
        .map(|seq| (u64::from(seq) * 20 + delay_of(seq), seq))
        .collect();
    arrivals.sort();
    let mut arrivals = arrivals.into_iter().peekable();
    let mut concealed_after = 0;
    for tick in 0..u64::from(slots) + 50 {
        let now = tick * 20 + 3;
        while let Some((_, seq)) = arrivals.next_if(|(at, _)| *at <= now) {
            jitter.push(seq, payload(seq), now);
        }
        let slot = jitter.pop(now);
        if matches!(slot, Some(Slot::Missing))
            && tick > u64::from(settle)
            && tick < u64::from(slots)
        {
            concealed_after += 1;
        }
    }
    (jitter, concealed_after)
}

#[test]
fn the_delay_grows_to_outlast_bursts_and_no_further() {
    // Bursts of 8 lost packets every 50: at the target delay (3 slots) the first slots of a
    // burst have nothing to rebuild them from at their turn.
    let (jitter, concealed) = run(3_000, 1_000, |seq| seq % 50 < 8, |_| 5);
    let delay = jitter.delay_ms();
    assert_eq!(
        concealed, 0,
        "bursts rebuilt once settled; delay {delay} ms"
    );
    assert!(
        (160..=260).contains(&delay),
        "about a burst's length (8 slots), not the most allowed: {delay} ms"
    );
}

#[test]
fn a_playout_that_started_on_a_late_packet_comes_back_down() {
    // The first ten packets came together, the first of them 200 ms late; the rest on time.
    let late_start = |seq: u32| {
        if seq < 10 {
            200 - u64::from(seq) * 20
        } else {
            5
        }
    };
    let (jitter, concealed) = run(2_000, 0, |_| false, late_start);
    assert_eq!(concealed, 0);
    assert!(
        jitter.stats().skipped >= 8,
        "the 200 ms extra were dropped: {:?}",
        jitter.stats()
    );
    assert!(jitter.delay_ms() <= 60, "delay {} ms", jitter.delay_ms());
}

#[test]
fn any_arrival_pattern_keeps_the_buffer_bounded_and_every_slot_counted_once() {
    use livestage_media::audio::jitter::MAX_DELAY_MS;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    for seed in 0..300 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut jitter = JitterBuffer::new(rng.gen_range(0..=200));
        let mut now: u64 = rng.gen_range(0..u64::from(u32::MAX));
        let mut seq: u32 = rng.r#gen();
        let mut slots = 0;
        for _ in 0..2_000 {
            match rng.gen_range(0..10) {
                // Mostly the next packets, some lost, some late, duplicated or far off.
                0..=4 => {
                    seq = seq.wrapping_add(rng.gen_range(1..=3));
                    jitter.push(seq, payload(seq), now);
                }
                5 => {
                    let back = seq.wrapping_sub(rng.gen_range(0..80));
                    jitter.push(back, payload(back), now);
                }
                6 => {
                    let far = seq.wrapping_add(rng.gen_range(0..u32::MAX));
                    jitter.push(far, payload(far), now);
                }
                7 => jitter.set_reach(rng.gen_range(0..100)),
                _ => {}
            }
            if jitter.pop(now).is_some() {
                slots += 1;
            }
            now += rng.gen_range(0..=40);
            assert!(jitter.len() <= CAPACITY, "seed {seed}");
            assert!(
                jitter.wanted_delay_ms() <= MAX_DELAY_MS.max(jitter.target_delay_ms()),
                "seed {seed}: wants {} ms",
                jitter.wanted_delay_ms()
            );
        }
        let s = jitter.stats();
        assert_eq!(
            s.played + s.recovered + s.concealed + s.stretched,
            slots,
            "seed {seed}: {s:?}"
        );
    }
}
