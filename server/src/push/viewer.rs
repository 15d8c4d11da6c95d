//! A push's eyes and ears: a client of this very server, joined as audience over loopback
//! QUIC like any viewer, so the forwarding path stays decode-free and unaware of pushes. It
//! follows the roster, subscribes to exactly what the layout shows and mixes, and hands out
//! each shown user's newest picture and the mixed voice.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use crossbeam_channel::Receiver;
use livestage_media::audio::Format;
use livestage_net::Engine;
use livestage_net::engine::{ConnectionState, EventKind};
use livestage_net::playout::{self, Playout, VideoFrame};
use livestage_proto::client::RosterChange;
use livestage_proto::media::Layer;
use livestage_proto::push::Layout;
use livestage_proto::track::CAMERA;
use livestage_proto::wire::{Participant, Role};

use super::Context;
use crate::loopback;

/// Mixed voice frames (20 ms each) waiting for the encoder; the newest are dropped beyond it.
const VOICE_QUEUE: usize = 50;

/// A joined viewer of one channel.
pub struct Viewer {
    engine: Arc<Engine>,
    playout: Playout,
    channel: String,
    /// The hosts, by user id, with their media ids.
    hosts: HashMap<String, u64>,
    /// The mixed voice, one interleaved 20 ms frame at a time.
    pub voice: Receiver<Vec<f32>>,
    gone: Option<String>,
}

impl Viewer {
    /// Joins `channel` as `user` (audience) and waits until it is in.
    pub fn join(ctx: &Context, channel: &str, user: &str, channels: u16) -> anyhow::Result<Self> {
        let (engine, peers) = loopback::join(ctx, channel, user, "join", Role::Audience)
            .map_err(|e| anyhow::anyhow!("the push's viewer could not join: {e}"))?;
        let format = Format::new(48_000, channels).context("voice format")?;
        let (voice_tx, voice) = crossbeam_channel::bounded(VOICE_QUEUE);
        let config = playout::Config {
            format,
            device: false,
            voice: Some(voice_tx),
            ..playout::Config::default()
        };
        let playout = Playout::start(engine.clone(), config)?;
        let mut viewer = Self {
            engine,
            playout,
            channel: channel.to_owned(),
            hosts: HashMap::new(),
            voice,
            gone: None,
        };
        viewer.replace(&peers);
        Ok(viewer)
    }

    /// Follows the roster; subscribes to what `layout` needs from new or changed hosts.
    /// Returns why the viewer is out of the channel, once it is.
    pub fn poll(&mut self, layout: &Layout) -> Option<&str> {
        while let Ok(event) = self.engine.events().try_recv() {
            match event.kind {
                EventKind::Joined { peers, .. } => {
                    self.replace(&peers);
                    self.subscribe_all(layout);
                }
                EventKind::Roster(RosterChange::Replace(peers)) => {
                    self.replace(&peers);
                    self.subscribe_all(layout);
                }
                EventKind::Roster(RosterChange::Upsert(p)) => {
                    let new = self.place(&p);
                    if new {
                        self.subscribe(layout, &p.user);
                    }
                }
                EventKind::Roster(RosterChange::Gone(user)) => {
                    self.hosts.remove(&user);
                }
                EventKind::State {
                    state: ConnectionState::Disconnected,
                    error,
                } => {
                    let why = error.map_or_else(|| "left".to_owned(), |e| e.to_string());
                    self.gone = Some(why);
                }
                _ => {}
            }
        }
        self.gone.as_deref()
    }

    /// Subscribes to every host as `layout` needs: video for users shown, audio for users
    /// mixed, nothing from the others.
    pub fn subscribe_all(&self, layout: &Layout) {
        for user in self.hosts.keys() {
            self.subscribe(layout, user);
        }
    }

    fn subscribe(&self, layout: &Layout, user: &str) {
        let video = layout.shows(user).then_some(Layer::High);
        let audio = layout.audio.mixes(layout, user);
        self.engine.subscribe(&self.channel, user, audio, video);
    }

    /// The newest picture of `user`'s camera, if it is a host with video now.
    pub fn picture(&self, user: &str) -> Option<Arc<VideoFrame>> {
        let media_id = *self.hosts.get(user)?;
        self.playout.latest_video(&self.channel, media_id, CAMERA)
    }

    fn replace(&mut self, peers: &[Participant]) {
        self.hosts.clear();
        for p in peers {
            self.place(p);
        }
    }

    /// Records a participant; true when it is a host that was not known before.
    fn place(&mut self, p: &Participant) -> bool {
        if p.role != Role::Host {
            self.hosts.remove(&p.user);
            return false;
        }
        self.hosts.insert(p.user.clone(), p.media_id).is_none()
    }
}
