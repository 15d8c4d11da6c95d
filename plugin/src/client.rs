//! The [`Livestage`] resource: the client engine, voice and video playout, the optional
//! embedded server, and which channel entity each engine link belongs to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bevy::prelude::*;
use livestage_media::audio::LocalMix;
use livestage_net::Engine;
use livestage_net::playout::Playout;
use livestage_net::publish::{Publisher, VideoControls, VoiceControls};

/// Grant lists for [`Livestage::token`] and `livestage token --grants`.
pub mod grants {
    /// Watch and listen (only hosts send media and data messages).
    pub const AUDIENCE: &str = "join";
    /// Go on stage: publish voice, video and data.
    pub const HOST: &str = "join,publish-audio,publish-video,publish-data";
    /// A host who may also promote, demote, mute, kick and set hearing sets.
    pub const MODERATOR: &str = "join,publish-audio,publish-video,publish-data,moderator";
    /// A host who may also relay its tracks into other channels (PK, co-hosting across
    /// channels).
    pub const RELAYING_HOST: &str = "join,publish-audio,publish-video,publish-data,relay";
}

/// A server to connect to.
#[derive(Clone, Debug)]
pub struct RemoteServer {
    /// Its UDP address.
    pub addr: SocketAddr,
    /// PEM of its certificate (or of the CA that signed it).
    pub cert_pem: Vec<u8>,
    /// The name in its certificate (`localhost` for a `livestage serve --dev` certificate).
    pub server_name: String,
}

impl RemoteServer {
    /// A server at `addr` whose certificate (for the name `localhost`) is `cert_pem`.
    pub fn new(addr: SocketAddr, cert_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            addr,
            cert_pem: cert_pem.into(),
            server_name: "localhost".into(),
        }
    }
}

/// The client side of Livestage in a Bevy app. Inserted by
/// [`LivestagePlugin`](crate::LivestagePlugin); most games only read it for
/// [`Livestage::token`] (embedded server) or [`Livestage::server`].
#[derive(Resource)]
pub struct Livestage {
    pub(crate) engine: Arc<Engine>,
    pub(crate) playout: Playout,
    pub(crate) server: Option<RemoteServer>,
    #[cfg(feature = "embedded")]
    pub(crate) embedded: Option<livestage_server::Embedded>,
    /// Link name -> channel entity, and back.
    links: HashMap<String, Entity>,
    names: HashMap<Entity, String>,
    /// Running publishers (camera and voice) per channel entity.
    pub(crate) publishers: HashMap<Entity, Publisher>,
    /// Running screen shares per channel entity.
    pub(crate) screens: HashMap<Entity, Publisher>,
    /// Music and effects, pulled by every publisher and the playout.
    pub(crate) mix: LocalMix,
    /// The voice chain of every publisher (voice changer, capture and encode hooks).
    pub(crate) voice: VoiceControls,
    /// The picture processing (beauty, the local hook) of each channel's camera publisher.
    video: HashMap<Entity, VideoControls>,
}

impl Livestage {
    pub(crate) fn new(engine: Arc<Engine>, playout: Playout, server: Option<RemoteServer>) -> Self {
        let mix = LocalMix::new();
        playout.set_local_mix(Some(mix.local_tap()));
        Self {
            engine,
            playout,
            server,
            #[cfg(feature = "embedded")]
            embedded: None,
            links: HashMap::new(),
            names: HashMap::new(),
            publishers: HashMap::new(),
            screens: HashMap::new(),
            mix,
            voice: VoiceControls::default(),
            video: HashMap::new(),
        }
    }

    /// The server this app connects to.
    pub fn server(&self) -> Option<&RemoteServer> {
        self.server.as_ref()
    }

    /// Mints a token on the embedded server: `grants` is a comma-separated list of `join`,
    /// `publish-audio`, `publish-video`, `publish-data`, `moderator` (see [`grants`]); valid
    /// for `ttl_secs`.
    #[cfg(feature = "embedded")]
    pub fn token(
        &self,
        channel: &str,
        user: &str,
        grants: &str,
        ttl_secs: u64,
    ) -> anyhow::Result<String> {
        let Some(server) = &self.embedded else {
            anyhow::bail!(
                "tokens can only be minted here on the embedded server; get one from your backend"
            );
        };
        server.token(channel, user, grants, ttl_secs)
    }

    /// The embedded server's app secret, to mint tokens elsewhere (bots, a second process).
    #[cfg(feature = "embedded")]
    pub fn embedded_secret(&self) -> Option<&str> {
        self.embedded.as_ref().map(|e| e.secret.as_str())
    }

    /// Which output device plays remote voice (or why the null device does).
    pub fn audio_backend(&self) -> String {
        format!("{:?}", self.playout.backend())
    }

    /// Everything received so far from the participant with `media_id` in a channel entity
    /// (totals since joining, all its tracks added up), read now rather than once a second like
    /// [`MediaStats`](crate::MediaStats): what a game uses to prove who actually reached whom.
    pub fn received(
        &self,
        channel: Entity,
        media_id: u64,
    ) -> Option<livestage_net::playout::Stats> {
        self.link_of(channel)
            .and_then(|link| self.playout.participant_stats(link, media_id))
    }

    /// What this client's membership `channel` received from one track of the participant
    /// with `media_id`, once any of it arrived.
    pub fn received_track(
        &self,
        channel: Entity,
        media_id: u64,
        track: livestage_proto::track::TrackId,
    ) -> Option<livestage_net::playout::Stats> {
        self.link_of(channel)
            .and_then(|link| self.playout.stats(link, media_id, track))
    }

    /// The engine, for what the ECS API does not cover yet.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The engine link of a channel entity (one per entity, so two entities may join the same
    /// channel as different users).
    pub(crate) fn link_for(&mut self, entity: Entity, channel: &str) -> String {
        if let Some(old) = self.names.remove(&entity) {
            self.links.remove(&old);
        }
        let link = format!("{channel}#{}", entity.to_bits());
        self.links.insert(link.clone(), entity);
        self.names.insert(entity, link.clone());
        link
    }

    pub(crate) fn link_of(&self, entity: Entity) -> Option<&str> {
        self.names.get(&entity).map(String::as_str)
    }

    pub(crate) fn entity_of(&self, link: &str) -> Option<Entity> {
        self.links.get(link).copied()
    }

    /// The picture processing of `channel`'s camera publisher (made on first use; it outlives
    /// publishers, so a hook set before publishing applies when it starts).
    pub(crate) fn video_controls(&mut self, channel: Entity) -> VideoControls {
        self.video.entry(channel).or_default().clone()
    }

    pub(crate) fn video_controls_all(&self) -> impl Iterator<Item = (Entity, &VideoControls)> {
        self.video.iter().map(|(e, c)| (*e, c))
    }
}
