//! What one engine handle owns: the [`Engine`], its [`Playout`], the voice ring the audio
//! thread reads, the music and effects ([`LocalMix`]) and voice chain ([`VoiceControls`]) every
//! voice publisher shares, the video hooks (with the video chain every video publisher shares),
//! what is known of each joined channel, and the pump thread that turns the engine's events
//! into JSON, keeps the rosters and feeds the ring.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TrySendError, never, select};
use livestage_media::audio::hooks::HookFailure;
use livestage_media::audio::{Format, HookPoint, LocalMix};
use livestage_media::video::CustomSender;
use livestage_media::video::hooks::{Failure, Point};
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::playout::{self, Playout, PlayoutEvent};
use livestage_net::publish::{Publisher, VoiceControls};
use livestage_net::{Engine, Event};
use livestage_proto::client::RosterChange;
use livestage_proto::track::TrackId;
use livestage_proto::wire;
use livestage_proto::{Error as ProtoError, ErrorCode};

use crate::audio::{Mic, Resample, Ring};
use crate::error::{Error, LIVESTAGE_ERR_NOT_FOUND, LIVESTAGE_ERR_NOT_JOINED, Result};
use crate::events;
use crate::hooks::Installed;
use crate::video::Picture;
use crate::video_hooks;

/// How long freeing an engine waits for its channels to confirm the leave.
const LEAVE_WAIT: Duration = Duration::from_millis(800);

/// Events kept for a caller that has not taken them; past this its channel is left (see
/// `Pump::deliver`). A game polling every frame holds a handful.
pub(crate) const EVENT_QUEUE: usize = 16_384;

/// A joined channel as this client knows it.
#[derive(Default)]
pub(crate) struct Channel {
    /// Everyone seen in the channel (this client included), by user id: their media id.
    pub(crate) peers: HashMap<String, u64>,
    /// The video publishers by track id, each with the sender its frames are pushed into
    /// (none for a screen share, which captures its own).
    pub(crate) video: HashMap<TrackId, (Publisher, Option<CustomSender>)>,
    /// The voice publisher and its sender.
    pub(crate) audio: Option<(Publisher, Mic)>,
}

impl Channel {
    /// The user publishing under `media_id`.
    pub(crate) fn user_of(&self, media_id: u64) -> Option<&str> {
        self.peers
            .iter()
            .find(|&(_, &id)| id == media_id)
            .map(|(user, _)| user.as_str())
    }

    fn learn(&mut self, participant: &wire::Participant) {
        self.peers
            .insert(participant.user.clone(), participant.media_id);
    }

    /// Applies what the server and the path ask of a publisher (keyframes, voice protection)
    /// to this channel's.
    fn handle(&self, kind: &EventKind) {
        for (p, _) in self.video.values() {
            p.handle(kind);
        }
        if let Some((p, _)) = &self.audio {
            p.handle(kind);
        }
    }
}

/// The state the pump and the calls share.
#[derive(Default)]
pub(crate) struct Channels {
    /// Joined channels by name.
    pub(crate) joined: HashMap<String, Channel>,
    /// Per channel name, the memberships that were left but whose end was not reported yet;
    /// their end must not end a newer membership of the same name.
    leaving: HashMap<String, u32>,
    /// Channels left because the caller stopped taking events, in order; each is told as a
    /// `disconnected` event (`overloaded`) once the events queued before it are taken.
    overflowed: VecDeque<String>,
    /// Overflowed memberships whose end the engine has not reported yet: their events are
    /// dropped.
    silenced: HashSet<String>,
}

impl Channels {
    /// Counts off the end of a membership that was left (perhaps joined again since); false
    /// when none was.
    fn end_left(&mut self, name: &str) -> bool {
        match self.leaving.get_mut(name) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => drop(self.leaving.remove(name)),
            None => return false,
        }
        true
    }
}

/// One engine handle.
pub(crate) struct Client {
    pub(crate) engine: Arc<Engine>,
    pub(crate) playout: Arc<Playout>,
    /// The mixed voice for the app's audio callback; `None` when a device plays it.
    pub(crate) voice: Option<Arc<Ring>>,
    /// The format the playout mixes in (48 kHz, the caller's channels).
    pub(crate) mix_format: Format,
    /// Music and effects: the playout plays the local side, every voice publisher sends the
    /// publish side.
    pub(crate) mix: Arc<LocalMix>,
    /// The voice chain of every voice publisher (voice changer, capture and encode hooks).
    pub(crate) controls: VoiceControls,
    /// The C audio hooks installed now.
    pub(crate) hooks: Arc<Installed>,
    /// The C video hooks and renderers installed now, and the video chain of every video
    /// publisher.
    pub(crate) video_hooks: Arc<video_hooks::Installed>,
    channels: Arc<Mutex<Channels>>,
    /// Events as JSON, in order.
    events: Receiver<String>,
    /// An event the caller's buffer was too small for, handed out first next time.
    pub(crate) pending: Mutex<Option<String>>,
    /// The newest picture fetched per (channel, user, track).
    pub(crate) pictures: Mutex<HashMap<(String, String, TrackId), Picture>>,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<()>>,
}

/// How the engine plays remote voice.
pub(crate) enum Output {
    /// Into a ring the app reads at this rate and channel count.
    Caller {
        /// Samples per second per channel.
        sample_rate: u32,
        /// 1 or 2.
        channels: u16,
    },
    /// On the system's output device (or the null device when there is none).
    Device,
}

/// The rate the mixer runs at (music, effects and the voice changer are 48 kHz); the voice
/// for other rates is resampled from it.
pub(crate) const MIX_RATE: u32 = 48_000;

impl Client {
    /// Starts an engine, its playout and the pump.
    pub(crate) fn start(output: Output) -> Result<Self> {
        let engine = Arc::new(Engine::new().map_err(Error::internal)?);
        let (voice_tx, voice_rx) = crossbeam_channel::bounded(16);
        let (config, ring, resample) = match output {
            Output::Device => {
                let config = playout::Config::default();
                (config, None, None)
            }
            Output::Caller {
                sample_rate,
                channels,
            } => {
                let mixed = Format {
                    sample_rate: MIX_RATE,
                    channels,
                };
                let resample = if sample_rate == MIX_RATE {
                    None
                } else {
                    Some(Resample::new(MIX_RATE, sample_rate, channels)?)
                };
                let config = playout::Config {
                    format: mixed,
                    voice: Some(voice_tx),
                    ..playout::Config::default()
                };
                let ring = Arc::new(Ring::new(sample_rate, channels));
                (config, Some(ring), resample)
            }
        };
        let mix_format = config.format;
        let playout = Arc::new(Playout::start(engine.clone(), config).map_err(Error::internal)?);
        let mix = Arc::new(LocalMix::new());
        playout.set_local_mix(Some(mix.local_tap()));
        let controls = VoiceControls::default();
        let hooks = Arc::new(Installed::default());
        let video_hooks = Arc::new(video_hooks::Installed::new(playout.clone()));
        let channels = Arc::new(Mutex::new(Channels::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (events_tx, events) = crossbeam_channel::bounded(EVENT_QUEUE);
        let pump = Pump {
            engine: engine.clone(),
            engine_events: engine.events().clone(),
            playout_events: playout.events().clone(),
            hook_failures: controls.failures().clone(),
            video_failures: video_hooks.controls.failures().clone(),
            mix: mix.clone(),
            hooks: hooks.clone(),
            video_hooks: video_hooks.clone(),
            voice: voice_rx,
            ring: ring.clone(),
            resample,
            channels: channels.clone(),
            events: events_tx,
            stop: stop.clone(),
        };
        let pump = std::thread::Builder::new()
            .name("livestage-ffi-pump".into())
            .spawn(move || pump.run())
            .map_err(Error::internal)?;
        Ok(Self {
            engine,
            playout,
            voice: ring,
            mix_format,
            mix,
            controls,
            hooks,
            video_hooks,
            channels,
            events,
            pending: Mutex::new(None),
            pictures: Mutex::new(HashMap::new()),
            stop,
            pump: Some(pump),
        })
    }

    /// The joined channels; a short lock, never taken on the audio thread.
    pub(crate) fn channels(&self) -> MutexGuard<'_, Channels> {
        lock(&self.channels)
    }

    /// Runs `f` on a joined channel.
    pub(crate) fn channel<R>(&self, name: &str, f: impl FnOnce(&mut Channel) -> R) -> Result<R> {
        let mut channels = self.channels();
        let channel = channels
            .joined
            .get_mut(name)
            .ok_or_else(|| not_joined(name))?;
        Ok(f(channel))
    }

    /// The media id `user` publishes under in a joined `channel`.
    pub(crate) fn media_id(&self, channel: &str, user: &str) -> Result<u64> {
        self.channel(channel, |c| c.peers.get(user).copied())?
            .ok_or_else(|| {
                Error::new(
                    LIVESTAGE_ERR_NOT_FOUND,
                    format!(
                        "no participant {user:?} in channel {channel:?} (not joined yet, left, \
                         or hidden from this client)"
                    ),
                )
            })
    }

    /// Marks `name` joined (replacing an earlier membership and its publishers).
    pub(crate) fn joined(&self, name: &str) {
        let mut channels = self.channels();
        // A new membership supersedes an overflowed one the caller was not told about yet.
        channels.overflowed.retain(|c| c != name);
        channels.silenced.remove(name);
        let old = channels.joined.insert(name.to_owned(), Channel::default());
        drop(channels);
        drop(old); // Stops its publishers, outside the lock.
    }

    /// Marks `name` left and returns what it held, to drop outside the lock.
    pub(crate) fn left(&self, name: &str) -> Result<Channel> {
        let mut channels = self.channels();
        let channel = channels
            .joined
            .remove(name)
            .ok_or_else(|| not_joined(name))?;
        *channels.leaving.entry(name.to_owned()).or_default() += 1;
        Ok(channel)
    }

    /// The next event as JSON, if any: what is queued, then the end of any channel left
    /// because the queue was full.
    pub(crate) fn next_event(&self) -> Option<String> {
        take_event(&self.events, &self.channels)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The app may free what its hooks use once this returns.
        self.hooks.close_all();
        self.video_hooks.close_all();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
        // Leave every channel and give the server a moment to confirm, so peers see a clean
        // departure instead of a timeout; publishers stop when their channel is dropped.
        let channels: Vec<String> = std::mem::take(&mut self.channels().joined)
            .into_keys()
            .collect();
        for name in &channels {
            self.engine.leave(name);
        }
        let mut open = channels.len();
        let until = Instant::now() + LEAVE_WAIT;
        while open > 0 {
            let left = until.saturating_duration_since(Instant::now());
            let Ok(event) = self.engine.events().recv_timeout(left) else {
                break;
            };
            if let EventKind::State {
                state: ConnectionState::Disconnected,
                ..
            } = event.kind
            {
                open -= 1;
            }
        }
    }
}

/// The next queued event, or else the end of a channel left because the queue was full.
fn take_event(events: &Receiver<String>, channels: &Mutex<Channels>) -> Option<String> {
    events.try_recv().ok().or_else(|| {
        let channel = lock(channels).overflowed.pop_front()?;
        let msg = format!("{EVENT_QUEUE} events were not taken; left the channel");
        let kind = EventKind::State {
            state: ConnectionState::Disconnected,
            error: Some(ProtoError::new(ErrorCode::Overloaded, msg)),
        };
        events::engine_event(&Event { channel, kind }, None)
    })
}

/// `LIVESTAGE_ERR_NOT_JOINED` for `channel`.
pub(crate) fn not_joined(channel: &str) -> Error {
    Error::new(
        LIVESTAGE_ERR_NOT_JOINED,
        format!(
            "not joined to channel {channel:?}: call livestage_join first (a channel that was \
             left, or whose session ended, must be joined again)"
        ),
    )
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps behind these locks stay consistent between statements, so a panic elsewhere
    // cannot leave them torn.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The thread between the engine and the calls.
struct Pump {
    engine: Arc<Engine>,
    engine_events: Receiver<Event>,
    playout_events: Receiver<PlayoutEvent>,
    /// Capture and encode hooks the voice threads removed.
    hook_failures: Receiver<(HookPoint, HookFailure)>,
    /// Local video hooks the video threads removed.
    video_failures: Receiver<Failure>,
    mix: Arc<LocalMix>,
    hooks: Arc<Installed>,
    video_hooks: Arc<video_hooks::Installed>,
    voice: Receiver<Vec<f32>>,
    ring: Option<Arc<Ring>>,
    resample: Option<Resample>,
    channels: Arc<Mutex<Channels>>,
    events: crossbeam_channel::Sender<String>,
    stop: Arc<AtomicBool>,
}

impl Pump {
    fn run(mut self) {
        // A source that closes (no voice when a device plays it) is replaced by one that
        // never fires, so the others keep flowing.
        let mut engine_events = std::mem::replace(&mut self.engine_events, never());
        let mut playout_events = std::mem::replace(&mut self.playout_events, never());
        let mut hook_failures = std::mem::replace(&mut self.hook_failures, never());
        let mut video_failures = std::mem::replace(&mut self.video_failures, never());
        let mut voice = std::mem::replace(&mut self.voice, never());
        while !self.stop.load(Ordering::Relaxed) {
            select! {
                recv(engine_events) -> event => match event {
                    Ok(event) => self.on_event(event),
                    Err(_) => engine_events = never(),
                },
                recv(playout_events) -> event => match event {
                    Ok(event) => self.on_playout(event),
                    Err(_) => playout_events = never(),
                },
                recv(hook_failures) -> failure => match failure {
                    Ok((point, reason)) => self.on_hook_removed(point, &reason),
                    Err(_) => hook_failures = never(),
                },
                recv(video_failures) -> failure => match failure {
                    Ok(reason) => {
                        if self.video_hooks.local_failed() {
                            let json = events::video_hook_removed(Point::Local, None, false, &reason);
                            self.deliver(json, None);
                        }
                    }
                    Err(_) => video_failures = never(),
                },
                recv(voice) -> frame => match frame {
                    Ok(frame) => self.on_voice(&frame),
                    Err(_) => voice = never(),
                },
                default(Duration::from_millis(50)) => {}
            }
            // Music and effects report through a queue of their own, polled as often.
            for event in self.mix.poll_events() {
                self.deliver(events::mix_event(&event), None);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let json = {
            let mut channels = lock(&self.channels);
            let ended = matches!(
                event.kind,
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    ..
                }
            );
            if let Some(channel) = channels.joined.get_mut(&event.channel) {
                match &event.kind {
                    EventKind::Joined { me, peers, .. } => {
                        channel.learn(me);
                        peers.iter().for_each(|p| channel.learn(p));
                    }
                    // The client session's roster, mirrored.
                    EventKind::Roster(RosterChange::Upsert(p)) => channel.learn(p),
                    EventKind::Roster(RosterChange::Replace(all)) => {
                        all.iter().for_each(|p| channel.learn(p))
                    }
                    EventKind::Roster(RosterChange::Gone(user)) => {
                        channel.peers.remove(user);
                    }
                    kind => channel.handle(kind),
                }
            }
            if channels.silenced.contains(&event.channel) {
                // The rest of a membership already ended for the caller.
                if ended {
                    channels.silenced.remove(&event.channel);
                    channels.end_left(&event.channel);
                }
                return;
            }
            let json = events::engine_event(&event, channels.joined.get(&event.channel));
            // The session ended by itself: later calls on this channel are refused.
            if ended && !channels.end_left(&event.channel) {
                let gone = channels.joined.remove(&event.channel);
                drop(channels);
                drop(gone);
            }
            json
        };
        if let Some(json) = json {
            self.deliver(json, Some(&event.channel));
        }
    }

    /// Queues an event for the caller. A caller that stops taking events must not grow memory
    /// without bound: when the queue is full, the event's channel is left (its view of the
    /// channel would be wrong from here on) and its end told after what is queued; an event of
    /// no joined channel is dropped.
    fn deliver(&mut self, json: String, channel: Option<&str>) {
        let Err(TrySendError::Full(_)) = self.events.try_send(json) else {
            return;
        };
        let Some(name) = channel else {
            return;
        };
        let mut channels = lock(&self.channels);
        let Some(gone) = channels.joined.remove(name) else {
            return;
        };
        *channels.leaving.entry(name.to_owned()).or_default() += 1;
        channels.overflowed.push_back(name.to_owned());
        channels.silenced.insert(name.to_owned());
        drop(channels);
        drop(gone); // Stops its publishers, outside the lock.
        tracing::warn!("{EVENT_QUEUE} events not taken; leaving channel {name:?}");
        self.engine.leave(name);
    }

    /// A hook failed and the engine removed it: its C function is not called again from the
    /// moment the caller can read the event.
    fn on_hook_removed(&mut self, point: HookPoint, reason: &HookFailure) {
        self.hooks.removed(point);
        self.deliver(events::hook_removed(point, reason), None);
    }

    /// A remote video hook or renderer failed and the engine removed it: its C function is
    /// not called again from the moment the caller can read the event. Nothing is told when
    /// the app had removed it first.
    fn on_video_hook_removed(
        &mut self,
        target: Option<(String, u64, TrackId)>,
        renderer: bool,
        reason: &Failure,
    ) {
        let at = target.as_ref().map(|(c, m, t)| (c.as_str(), *m, *t));
        let Some(user) = self.video_hooks.remote_failed(at, renderer) else {
            return;
        };
        let remote = at
            .zip(user.as_deref())
            .map(|((channel, media_id, track), user)| events::VideoTarget {
                channel,
                user,
                media_id,
                track,
            });
        let json = events::video_hook_removed(Point::Remote, remote, renderer, reason);
        self.deliver(json, None);
    }

    fn on_playout(&mut self, event: PlayoutEvent) {
        match event {
            PlayoutEvent::HookRemoved { point, reason } => self.on_hook_removed(point, &reason),
            PlayoutEvent::VideoHookRemoved {
                target,
                renderer,
                reason,
            } => self.on_video_hook_removed(target, renderer, &reason),
            speaking @ PlayoutEvent::Speaking { .. } => {
                let channels = lock(&self.channels);
                let json = events::playout_event(&speaking, &channels.joined);
                drop(channels);
                if let Some(json) = json {
                    self.deliver(json, None);
                }
            }
        }
    }

    fn on_voice(&mut self, frame: &[f32]) {
        let Some(ring) = &self.ring else {
            return;
        };
        match &mut self.resample {
            Some(resample) => resample.push(frame, |out| ring.write(out)),
            None => ring.write(frame),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn audience(channel: &str, count: u32) -> Event {
        let kind = EventKind::Server(wire::Event::Audience { count });
        Event {
            channel: channel.into(),
            kind,
        }
    }

    fn ended(channel: &str) -> Event {
        let kind = EventKind::State {
            state: ConnectionState::Disconnected,
            error: None,
        };
        Event {
            channel: channel.into(),
            kind,
        }
    }

    #[test]
    fn a_caller_that_stops_taking_events_is_left_and_told_why_after_what_was_queued() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let channels = Arc::new(Mutex::new(Channels::default()));
        for name in ["lobby", "hall"] {
            lock(&channels)
                .joined
                .insert(name.into(), Channel::default());
        }
        let engine = Arc::new(Engine::new().unwrap());
        let config = playout::Config {
            device: false,
            ..playout::Config::default()
        };
        let playout = Playout::start(engine.clone(), config).unwrap();
        let mut pump = Pump {
            engine,
            engine_events: never(),
            playout_events: never(),
            hook_failures: never(),
            video_failures: never(),
            mix: Arc::new(LocalMix::new()),
            hooks: Arc::default(),
            video_hooks: Arc::new(video_hooks::Installed::new(Arc::new(playout))),
            voice: never(),
            ring: None,
            resample: None,
            channels: channels.clone(),
            events: tx,
            stop: Arc::new(AtomicBool::new(false)),
        };
        for count in 1..=4 {
            pump.on_event(audience("lobby", count));
        }
        // The queue stays at its bound; the channel whose event did not fit is left.
        assert_eq!(rx.len(), 2);
        assert!(!lock(&channels).joined.contains_key("lobby"));
        assert!(lock(&channels).joined.contains_key("hall"));
        // The rest of that membership is not told, up to and including the engine's end.
        pump.on_event(ended("lobby"));
        assert!(lock(&channels).silenced.is_empty());
        assert!(lock(&channels).leaving.is_empty());

        let taken: Vec<String> = std::iter::from_fn(|| take_event(&rx, &channels)).collect();
        assert_eq!(taken.len(), 3, "{taken:#?}");
        assert!(taken[0].contains(r#""count":1"#), "{}", taken[0]);
        assert!(taken[1].contains(r#""count":2"#), "{}", taken[1]);
        assert!(
            taken[2].contains(r#""state":"disconnected""#),
            "{}",
            taken[2]
        );
        assert!(taken[2].contains(r#""code":"overloaded""#), "{}", taken[2]);
        assert!(taken[2].contains(r#""channel":"lobby""#), "{}", taken[2]);

        // Another channel's events flow as before.
        pump.on_event(audience("hall", 7));
        assert!(take_event(&rx, &channels).unwrap().contains(r#""count":7"#));
        assert_eq!(take_event(&rx, &channels), None);
    }
}
