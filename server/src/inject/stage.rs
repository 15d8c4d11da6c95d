//! What every inject does with the channel, whatever it plays: joins as the host
//! `inject-<name>` over loopback, publishes a video and a sound track of source `inject`,
//! follows the engine (a kick ends the inject), takes the manager's commands, and leaves.

use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};
use livestage_media::audio::Format;
use livestage_media::video::{CustomSender, CustomSource, I420, Scaler};
use livestage_net::Engine;
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::publish::{Audio, AudioSender, AudioSource, CustomAudio, Publisher, Video};
use livestage_proto::inject;
use livestage_proto::push::{FailReason, UrlState};
use livestage_proto::track::{CAMERA, Kind, MICROPHONE, Source, Track};
use livestage_proto::wire::Role;
use tracing::warn;

use super::{Command, Job, failed};
use crate::loopback::{self, JoinError};

/// The inject's participant in the channel.
pub(super) struct Stage {
    engine: Arc<Engine>,
    channel: String,
    /// The video and the sound publisher (a stream's sound may start after its video).
    publishers: Vec<Publisher>,
}

/// What the engine said since the last look.
#[derive(Debug, PartialEq)]
pub(super) enum Heard {
    /// Nothing that matters.
    Nothing,
    /// The video track ended (a file played to its end).
    VideoEnded,
    /// The participant is out of the channel (kicked): the inject's final state.
    Gone(UrlState),
}

impl Stage {
    /// Joins the channel of `job` as its participant, with the grants its tracks need.
    pub fn join(job: &Job, with_sound: bool) -> Result<Self, UrlState> {
        let (channel, name) = (&job.key.0, &job.key.1);
        let user = inject::user_of(name);
        let grants = if with_sound {
            "join,publish-audio,publish-video"
        } else {
            "join,publish-video"
        };
        let (engine, _) =
            loopback::join(&job.ctx, channel, &user, grants, Role::Host).map_err(|e| match e {
                JoinError::Refused(e) => failed(FailReason::Refused, format!("{user}: {e}")),
                JoinError::Failed(why) => failed(FailReason::Internal, why),
            })?;
        Ok(Self {
            engine,
            channel: channel.clone(),
            publishers: Vec::new(),
        })
    }

    /// Starts publishing `video` and `audio` (either may come later, in another call).
    pub fn publish(&mut self, video: Option<Video>, audio: Option<Audio>) -> Result<(), UrlState> {
        let publisher = Publisher::start_with(self.engine.clone(), &self.channel, video, audio)
            .map_err(|e| failed(FailReason::Internal, format!("{e:#}")))?;
        self.publishers.push(publisher);
        Ok(())
    }

    /// Hands the engine's events to the publisher and says what happened.
    pub fn follow(&mut self) -> Heard {
        let mut heard = Heard::Nothing;
        while let Ok(event) = self.engine.events().try_recv() {
            for publisher in &self.publishers {
                publisher.handle(&event.kind);
            }
            match event.kind {
                EventKind::TrackEnded { track: CAMERA, .. } => heard = Heard::VideoEnded,
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    error,
                } => {
                    let why = error.map_or_else(|| "disconnected".to_owned(), |e| e.to_string());
                    let message = format!("the inject's participant left the channel: {why}");
                    return Heard::Gone(failed(FailReason::Refused, message));
                }
                _ => {}
            }
        }
        heard
    }

    /// Stops publishing and leaves.
    pub fn leave(self) {
        for publisher in self.publishers {
            if let Err(e) = publisher.stop() {
                warn!(
                    channel = self.channel,
                    "the inject's publisher stopped with: {e:#}"
                );
            }
        }
        self.engine.leave(&self.channel);
    }
}

/// Applies the manager's commands to `volume`; `Some` once the inject is to stop.
pub(super) fn obey(commands: &Receiver<Command>, volume: &mut f32) -> Option<UrlState> {
    loop {
        match commands.try_recv() {
            Ok(Command::Volume(percent)) => *volume = f32::from(percent) / 100.0,
            // The manager is gone (the server is stopping) or asked to stop.
            Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return Some(UrlState::Stopped),
            Err(TryRecvError::Empty) => return None,
        }
    }
}

/// The video track every inject publishes.
pub(super) fn video_track() -> Track {
    let mut track = Track::new(CAMERA, Kind::Video, Source::Inject);
    track.name = "inject".into();
    track
}

/// The sound track every inject publishes, fed 48 kHz stereo through the returned sender.
pub(super) fn sound_track() -> anyhow::Result<(Audio, AudioSender)> {
    let (custom, sender) = CustomAudio::new(Format::STEREO_48K)?;
    let mut audio = Audio::new(AudioSource::Custom(custom));
    audio.track = Track::new(MICROPHONE, Kind::Audio, Source::Inject);
    audio.track.name = "inject".into();
    Ok((audio, sender))
}

/// Decoded pictures on their way to the encoder at a fixed size (what a re-encoded inject
/// asked for): each is scaled to it unless it already fits.
pub(super) struct Pictures {
    sender: CustomSender,
    scaler: Scaler,
}

impl Pictures {
    /// A custom video source of `size` and the end that feeds it.
    pub fn new(size: (u32, u32)) -> Result<(CustomSource, Self), String> {
        let (source, sender) = CustomSource::new(size.0, size.1).map_err(|e| e.to_string())?;
        let pictures = Self {
            sender,
            scaler: Scaler::new(),
        };
        Ok((source, pictures))
    }

    /// Offers `picture`, captured at `capture_us`.
    pub fn offer(&mut self, picture: I420, capture_us: u64) {
        let (w, h) = self.sender.size();
        let scaled = if picture.size() == (w, h) {
            Ok(picture)
        } else {
            self.scaler.scale(&picture, w, h)
        };
        match scaled {
            Ok(picture) => {
                let _ = self.sender.push_i420(picture, capture_us);
            }
            Err(e) => warn!("cannot scale the inject's picture: {e}"),
        }
    }
}
