//! The media dispatcher and the video decoders: one thread takes the engine's media, hands
//! voice to the audio clock at once (video never delays it) and each video track layer to a
//! decoding thread of its own through a bounded queue, so many tracks decode in parallel and
//! a slow one only loses its own frames.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use livestage_media::video;
use livestage_proto::media::{Layer, Stream, Streams, VideoHeader};

use super::video_hooks::TrackHooks;
use super::voice::Voiced;
use super::{Key, Shared, VideoFrame, lock};
use crate::engine::{Engine, MediaEvent, MediaKind, now_us};

/// Least time between two keyframe requests for one track layer.
const KEYFRAME_RETRY: Duration = Duration::from_millis(250);
/// Encoded frames waiting for one track layer's decoder at most; beyond it frames are dropped
/// (counted in [`Stats::video_dropped`](super::Stats::video_dropped)) until the next keyframe.
pub const TRACK_QUEUE: usize = 8;
/// A track layer with no frame for this long has its decoder thread stopped (unpublished,
/// switched to the other layer, or its publisher left).
const IDLE: Duration = Duration::from_secs(5);

/// One track layer's decoder thread, as the dispatcher sees it.
struct Worker {
    frames: Sender<(VideoHeader, Bytes)>,
    thread: JoinHandle<()>,
    last: Instant,
    /// Frames were dropped: later ones do not decode until a keyframe.
    skipping: bool,
    asked: Option<Instant>,
}

/// Runs until `stop`: dispatches media from `engine`, stopping idle decoders as it goes.
pub(super) fn dispatch(
    engine: &Arc<Engine>,
    shared: &Arc<Mutex<Shared>>,
    stop: &AtomicBool,
    voice: &Sender<Voiced>,
) {
    let mut workers: HashMap<(Key, Layer), Worker> = HashMap::new();
    let mut swept = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if swept.elapsed() >= IDLE {
            swept = Instant::now();
            // Dropping a worker's sender ends its thread once its queue is drained.
            workers.retain(|_, w| w.last.elapsed() < IDLE);
        }
        let Ok(MediaEvent {
            channel,
            media_id,
            track,
            kind,
        }) = engine.media().recv_timeout(Duration::from_millis(50))
        else {
            continue;
        };
        let key = (channel, media_id, track);
        match kind {
            MediaKind::Audio {
                stream,
                seq,
                capture_us,
                payload,
            } => {
                let packet = Voiced {
                    key,
                    stream,
                    seq,
                    capture_us,
                    payload: payload.to_vec(),
                };
                if let Err(TrySendError::Full(packet)) = voice.try_send(packet) {
                    let mut s = lock(shared);
                    s.stats.entry(packet.key).or_default().audio_dropped += 1;
                }
            }
            MediaKind::Video { header, data } => {
                let worker = match workers.entry((key.clone(), header.layer)) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => match spawn(engine, shared, key.clone()) {
                        Ok(w) => e.insert(w),
                        Err(_) => continue,
                    },
                };
                worker.last = Instant::now();
                if worker.skipping && !header.keyframe {
                    lock(shared).stats.entry(key).or_default().video_dropped += 1;
                    continue;
                }
                match worker.frames.try_send((header, data)) {
                    Ok(()) => worker.skipping = false,
                    Err(_) => {
                        worker.skipping = true;
                        lock(shared)
                            .stats
                            .entry(key.clone())
                            .or_default()
                            .video_dropped += 1;
                        if worker.asked.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
                            worker.asked = Some(Instant::now());
                            engine.request_keyframe(&key.0, key.1, key.2, header.layer);
                        }
                    }
                }
            }
        }
    }
    // Close every queue first so the threads all stop together, then wait for them.
    let threads: Vec<JoinHandle<()>> = workers.into_values().map(|w| w.thread).collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Starts the decoder thread of one track layer; it stops when its queue closes (the
/// dispatcher drops the sender when the track goes idle or playout stops).
fn spawn(engine: &Arc<Engine>, shared: &Arc<Mutex<Shared>>, key: Key) -> anyhow::Result<Worker> {
    let (tx, rx) = crossbeam_channel::bounded(TRACK_QUEUE);
    let decoder = video::Decoder::new()?;
    let (engine, shared) = (engine.clone(), shared.clone());
    let thread = std::thread::Builder::new()
        .name(format!("livestage-decode-{}-{}", key.1, key.2))
        .spawn(move || decode(&engine, &shared, key, decoder, &rx))?;
    Ok(Worker {
        frames: tx,
        thread,
        last: Instant::now(),
        skipping: false,
        asked: None,
    })
}

/// Decodes one track layer's frames until its queue closes.
fn decode(
    engine: &Engine,
    shared: &Mutex<Shared>,
    key: Key,
    mut decoder: video::Decoder,
    frames: &Receiver<(VideoHeader, Bytes)>,
) {
    let mut streams = Streams::new();
    let mut asked: Option<Instant> = None;
    let mut hooks = TrackHooks::new(key.clone());
    loop {
        let (header, data) = match frames.recv_timeout(IDLE) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let first = streams.current().is_none();
        match streams.check(header.stream) {
            Stream::Current => {}
            Stream::Ended => continue,
            Stream::New => {
                // A new publication: its keyframe starts a fresh decoder and counters.
                if !first {
                    match video::Decoder::new() {
                        Ok(d) => decoder = d,
                        Err(_) => continue,
                    }
                    asked = None;
                }
                let mut s = lock(shared);
                s.stats
                    .entry(key.clone())
                    .or_default()
                    .count_video(header.stream);
            }
        }
        match decoder.decode(&data) {
            Ok(Some(mut picture)) => {
                hooks.refresh(&lock(shared).video_hooks);
                if hooks.any() {
                    if !hooks.run_hook(&mut picture, &header, shared) {
                        continue; // The hook dropped it.
                    }
                    hooks.render(&picture, &header, shared);
                }
                let frame = VideoFrame {
                    media_id: key.1,
                    track: key.2,
                    layer: header.layer,
                    stream: header.stream,
                    frame: header.frame,
                    capture_us: header.capture_us,
                    decoded_us: now_us(),
                    picture: Arc::new(picture),
                };
                let mut s = lock(shared);
                let stats = s.stats.entry(key.clone()).or_default();
                stats.video_frames += 1;
                stats.video_bytes += data.len() as u64;
                s.video.insert(key.clone(), Arc::new(frame));
            }
            Ok(None) => {}
            Err(_) => {
                lock(shared)
                    .stats
                    .entry(key.clone())
                    .or_default()
                    .video_errors += 1;
                if asked.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
                    asked = Some(Instant::now());
                    engine.request_keyframe(&key.0, key.1, key.2, header.layer);
                }
            }
        }
    }
}
