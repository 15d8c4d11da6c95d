//! The 20 ms audio clock: each remote voice track through its jitter buffer, loss recovery,
//! speaking detection, placement and volume into the mixer, and out to the device or caller.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use livestage_media::audio::remote::Outcome;
use livestage_media::audio::{
    self, HookInfo, HookPoint, HookRunner, Level, Mixer, Playback, RemoteVoice, SpeakingDetector,
};
use livestage_proto::media::{Stream, Streams};

use super::{Config, Key, PlayoutEvent, Shared, lock};

/// An audio packet on its way from the dispatcher to the audio clock.
pub(super) struct Voiced {
    pub key: Key,
    pub stream: u32,
    pub seq: u32,
    pub capture_us: u64,
    pub payload: Vec<u8>,
}

struct Voice {
    streams: Streams,
    remote: RemoteVoice,
    speaking: SpeakingDetector,
    frame: Vec<f32>,
    /// This voice's runner of the remote-voice hook, and which setting of it it runs.
    hook: Option<(u64, HookRunner)>,
}

impl Voice {
    fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            streams: Streams::new(),
            remote: RemoteVoice::new(config.format, config.jitter_ms)?,
            speaking: SpeakingDetector::new(Default::default()),
            frame: Vec::new(),
            hook: None,
        })
    }

    /// Takes in a packet of `stream`; a new stream starts the jitter buffer and decoder
    /// afresh (its sequence numbers start again at 0), an ended one is dropped.
    fn push(&mut self, config: &Config, packet: Voiced, now_ms: u64) {
        let Voiced {
            stream,
            seq,
            capture_us,
            payload,
            ..
        } = packet;
        let first = self.streams.current().is_none();
        match self.streams.check(stream) {
            Stream::Current => {}
            Stream::Ended => return,
            Stream::New if first => {}
            Stream::New => {
                if let Ok(remote) = RemoteVoice::new(config.format, config.jitter_ms) {
                    self.remote = remote;
                }
            }
        }
        self.remote.push(seq, payload, capture_us, now_ms);
    }
}

pub(super) fn play(
    config: Config,
    mut playback: Option<Playback>,
    packets: &Receiver<Voiced>,
    shared: &Mutex<Shared>,
    stop: &AtomicBool,
    events: &Sender<PlayoutEvent>,
) {
    let Ok(mut mixer) = Mixer::new(config.format) else {
        return;
    };
    let mut voices: HashMap<Key, Voice> = HashMap::new();
    let start = Instant::now();
    let silence = vec![0.0f32; config.format.frame_len()];
    let mut out = vec![0.0f32; config.format.frame_len()];
    let mut mono = Vec::with_capacity(config.format.samples_per_frame());
    for tick in 1u32.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let now_ms = start.elapsed().as_millis() as u64;
        while let Ok(packet) = packets.try_recv() {
            let voice = match voices.entry(packet.key.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => match Voice::new(&config) {
                    Ok(voice) => e.insert(voice),
                    Err(_) => continue,
                },
            };
            voice.push(&config, packet, now_ms);
        }
        let mut guard = lock(shared);
        // Through a plain reference, so stats and placement borrow as separate fields.
        let s = &mut *guard;
        for (key, voice) in &mut voices {
            let stats = s.stats.entry(key.clone()).or_default();
            if let Some(stream) = voice.streams.current() {
                stats.count_audio(stream);
            }
            let decoded = voice.remote.pop(now_ms);
            match decoded.as_ref().map(|f| f.outcome) {
                Some(Outcome::Played) => stats.audio_played += 1,
                Some(Outcome::Fec | Outcome::Dred) => stats.audio_recovered += 1,
                Some(Outcome::Concealed) => stats.audio_concealed += 1,
                Some(Outcome::Stretched) | None => {}
            }
            stats.audio_delay_ms = voice.remote.jitter().delay_ms();
            voice.frame = decoded.map_or_else(|| silence.clone(), |f| f.samples);
            let level = Level::measure(&voice.frame);
            stats.level_dbfs = level.dbfs;
            // The app's hook sees each voice as decoded, before volume and placement.
            if let Some(hook) = &s.remote_hook {
                if voice
                    .hook
                    .as_ref()
                    .is_none_or(|(set, _)| *set != s.remote_hook_set)
                {
                    voice.hook = HookRunner::new(Box::new(hook.clone()), config.format)
                        .ok()
                        .map(|r| (s.remote_hook_set, r));
                }
                if let Some((_, runner)) = &mut voice.hook {
                    let info = HookInfo {
                        point: HookPoint::RemoteVoice,
                        media_id: Some(key.1),
                        channel: Some(&key.0),
                    };
                    if let Err(reason) = runner.run(&mut voice.frame, &info) {
                        s.remote_hook = None;
                        voice.hook = None;
                        let _ = events.send(PlayoutEvent::HookRemoved {
                            point: HookPoint::RemoteVoice,
                            reason,
                        });
                    }
                }
            } else {
                voice.hook = None;
            }
            // Speaking and level describe the voice as sent; placement is what this ear hears.
            if let Some(placement) = s.placement.get(&key.1) {
                placement.apply(&mut voice.frame, config.format.channels);
            }
            let was = voice.speaking.is_speaking();
            if voice.speaking.update(level) != was {
                let speaking = !was;
                let _ = events.send(PlayoutEvent::Speaking {
                    channel: key.0.clone(),
                    media_id: key.1,
                    track: key.2,
                    speaking,
                });
            }
        }
        let inputs = voices.iter().map(|(key, v)| {
            (
                v.frame.as_slice(),
                s.volume.get(&key.1).copied().unwrap_or(1.0),
            )
        });
        if let Ok(mixed) = mixer.mix(inputs) {
            out.copy_from_slice(mixed);
            // The client's own music and effects (48 kHz only), then the app's playback hook.
            let music = match &mut s.local_mix {
                Some(tap) if config.format.sample_rate == 48_000 => {
                    tap.add_to(&mut out, config.format.channels)
                }
                _ => false,
            };
            if music {
                out.iter_mut()
                    .for_each(|x| *x = audio::mixer::soft_clip(*x));
            }
            if let Some(runner) = &mut s.playback_hook {
                let info = HookInfo {
                    point: HookPoint::Playback,
                    media_id: None,
                    channel: None,
                };
                if let Err(reason) = runner.run(&mut out, &info) {
                    s.playback_hook = None;
                    let _ = events.send(PlayoutEvent::HookRemoved {
                        point: HookPoint::Playback,
                        reason,
                    });
                }
            }
            if let Some(caller) = &config.voice {
                let _ = caller.try_send(out.clone());
            } else if let Some(playback) = &mut playback {
                playback.writer().write(&out);
            }
            // Exactly what plays, silence included, is the echo cancellers' reference.
            if config.format.sample_rate == 48_000 {
                s.echo.push(&out, config.format.channels, &mut mono);
            }
        }
        drop(guard);
        let next = start + Duration::from_millis(u64::from(tick) * 20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}
